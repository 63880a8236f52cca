import Foundation
/// Where the features of one shaped head are (from its keypoint vertices), and the procedural
/// masks painted from them: hair, brows, lips, mouth cavity, ears. Masks take rest-space
/// positions, so they stay glued to the skin whatever the expression.
struct FaceLandmarks: Sendable {
    var eyeY: Float, browY: Float, chinY: Float
    var seamY: Float, upperLipY: Float, lowerLipY: Float, lipZ: Float, cornerX: Float
    var browInner: SIMD3<Float>, browOuter: SIMD3<Float>
    var cheeks: (SIMD3<Float>, SIMD3<Float>)
    var eyeCentres: (SIMD3<Float>, SIMD3<Float>)
    var eyeForward: (SIMD3<Float>, SIMD3<Float>)
    var eyeRadius: Float
    static let headCentreZ: Float = 0.55

    init(model: HeadModel, positions p: [Float]) {
        func at(_ k: Int) -> SIMD3<Float> { let v = Int(model.keypoints[k]); return SIMD3(p[3 * v], p[3 * v + 1], p[3 * v + 2]) }
        eyeY = 0.5 * (at(9).y + at(10).y)
        browY = 0.25 * (at(1).y + at(2).y + at(3).y + at(4).y)
        chinY = at(6).y
        seamY = at(17).y; upperLipY = at(14).y; lowerLipY = at(12).y; lipZ = at(17).z
        cornerX = 0.5 * (abs(at(19).x) + abs(at(20).x))
        // Brows mirrored to |x|: the mean of both sides.
        let li = at(1), ri = at(3), lo = at(2), ro = at(4)
        browInner = SIMD3(0.5 * (abs(li.x) + abs(ri.x)), 0.5 * (li.y + ri.y), 0.5 * (li.z + ri.z))
        browOuter = SIMD3(0.5 * (abs(lo.x) + abs(ro.x)), 0.5 * (lo.y + ro.y), 0.5 * (lo.z + ro.z))
        cheeks = (at(7), at(8))
        // Eye centres: the mean of each eyeball's vertices; forward: toward its front keypoint.
        var sum = [SIMD3<Float>](repeating: .zero, count: 3), cnt = [Float](repeating: 0, count: 3)
        var radius: Float = 0
        for v in 0..<model.vertexCount {
            let part = Int(model.vertexParts[v])
            if part == 1 || part == 2 { sum[part] += SIMD3(p[3 * v], p[3 * v + 1], p[3 * v + 2]); cnt[part] += 1 }
        }
        let cPlus = sum[1] / max(1, cnt[1]), cMinus = sum[2] / max(1, cnt[2])
        for v in 0..<model.vertexCount where model.vertexParts[v] == 1 {
            let d = SIMD3(p[3 * v], p[3 * v + 1], p[3 * v + 2]) - cPlus
            radius = max(radius, (d * d).sum().squareRoot())
        }
        eyeCentres = (cPlus, cMinus)
        eyeRadius = radius
        func unit(_ v: SIMD3<Float>) -> SIMD3<Float> { v / max(1e-6, (v * v).sum().squareRoot()) }
        eyeForward = (unit(at(10) - cPlus), unit(at(9) - cMinus))
    }

    @inline(__always) static func smooth(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
        let t = min(1, max(0, (x - e0) / (e1 - e0)))
        return t * t * (3 - 2 * t)
    }

    /// 1 on the ears (kept free of hair so they show when the head turns).
    @inline(__always) func ear(_ p: SIMD3<Float>) -> Float {
        FaceLandmarks.smooth(0.66, 0.74, abs(p.x)) * FaceLandmarks.smooth(eyeY - 0.75, eyeY - 0.6, p.y)
            * (1 - FaceLandmarks.smooth(eyeY + 0.2, eyeY + 0.32, p.y)) * FaceLandmarks.smooth(-0.25, -0.1, p.z)
    }

    /// Hair coverage 0…1: above a hairline that runs from the forehead over the temples to the nape.
    @inline(__always) func hairMask(_ p: SIMD3<Float>, identity: HeadIdentity) -> Float {
        if identity.hairCoverage <= 0 { return 0 }
        let a = abs(atan2(p.x, p.z - FaceLandmarks.headCentreZ)) / .pi
        let front = browY + identity.hairline + identity.hairPart * p.x * 0.15
        let side = eyeY + 0.2 - 0.3 * identity.hairCoverage
        let back = eyeY - 0.1 - 0.75 * identity.hairCoverage
        let line = a < 0.5 ? front + (side - front) * FaceLandmarks.smooth(0, 0.5, a)
                           : side + (back - side) * FaceLandmarks.smooth(0.5, 1, a)
        return FaceLandmarks.smooth(line - 0.03, line + 0.06, p.y) * (1 - ear(p))
    }

    /// Eyebrow density 0…1.
    @inline(__always) func browMask(_ p: SIMD3<Float>, thickness: Float) -> Float {
        let x = abs(p.x)
        let t = (x - browInner.x + 0.04) / (browOuter.x - browInner.x + 0.1)
        if t < 0 || t > 1 || p.z < browInner.z - 0.4 { return 0 }
        let yb = browInner.y + (browOuter.y - browInner.y) * t + 0.02 + 0.035 * sin(Float.pi * t)
        let h = 0.032 * (1.25 - 0.6 * t) * thickness
        return (1 - FaceLandmarks.smooth(0.55 * h, h, abs(p.y - yb))) * FaceLandmarks.smooth(0, 0.15, t) * (1 - FaceLandmarks.smooth(0.85, 1, t))
    }

    /// Lip colour weight 0…1 (outer and inner lip surfaces).
    @inline(__always) func lipMask(_ p: SIMD3<Float>) -> Float {
        let t = abs(p.x) / (cornerX * 1.04)
        if t >= 1 || p.z < lipZ - 0.2 { return 0 }
        let s = 1 - t * t
        let bow = 0.012 * exp(-(p.x * p.x) / 0.0015)
        let top = seamY + (upperLipY - seamY + 0.025) * pow(s, 0.55) - bow
        let bottom = seamY - (seamY - lowerLipY) * 1.75 * pow(s, 0.7)
        return FaceLandmarks.smooth(bottom - 0.004, bottom + 0.012, p.y) * (1 - FaceLandmarks.smooth(top - 0.012, top + 0.004, p.y))
    }

    /// 1 on the skin lining the mouth: near the mouth, with its normal pointing into the mouth
    /// rather than out of the face (decided per vertex on the rest mesh).
    func cavity(_ p: SIMD3<Float>, normal n: SIMD3<Float>) -> Float {
        if abs(p.x) > cornerX * 1.5 || p.y < chinY - 0.15 || p.y > upperLipY + 0.25 || p.z > lipZ + 0.1 { return 0 }
        let centre = SIMD3<Float>(0, seamY, lipZ - 0.45)
        let d = p - centre
        let inward = -(n * d).sum() / max(1e-6, (d * d).sum().squareRoot())
        return FaceLandmarks.smooth(-0.1, 0.3, inward)
    }
}
