import Foundation
import NeoTensor

/// Sparse vertex offsets of named targets: target t moves vertex `index[r]` by
/// `delta[3r..<3r+3]` for r in offsets[t]..<offsets[t+1] (MakeHuman decimetres).
public struct SparseTargets: Sendable {
    public var names: [String]
    public var offsets: [Int]
    public var index: [Int32]
    public var delta: [Float]

    public init(names: [String], offsets: [Int], index: [Int32], delta: [Float]) {
        self.names = names; self.offsets = offsets; self.index = index; self.delta = delta
    }

    public var count: Int { names.count }
    public func find(_ name: String) -> Int? { names.firstIndex(of: name) }

    /// Adds Σ_t weights[t]·target_t to `positions` (3 floats per vertex).
    func accumulate(_ weights: UnsafePointer<Float>, into positions: UnsafeMutablePointer<Float>) {
        index.withUnsafeBufferPointer { ib in
            delta.withUnsafeBufferPointer { db in
                let idx = ib.baseAddress!, d = db.baseAddress!
                for t in 0..<names.count {
                    let w = weights[t]
                    if w == 0 { continue }
                    var r = offsets[t]
                    let end = offsets[t &+ 1]
                    while r < end {
                        let v = Int(idx[r]) &* 3, k = r &* 3
                        positions[v] += w * d[k]; positions[v &+ 1] += w * d[k &+ 1]; positions[v &+ 2] += w * d[k &+ 2]
                        r &+= 1
                    }
                }
            }
        }
    }
}

/// Parse errors and bad asset contents, with the file named.
public struct HeadRenderError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The converted head: rest mesh (head, neck, eyes, teeth, tongue) in MakeHuman decimetres with
/// x to the face's left, y up, z forward; the 52 ARKit face units; head-shape targets; the joints
/// the renderer pivots on; and the 21 motion keypoints as vertex indices.
public struct HeadModel: Sendable {
    public enum Part: Int32, Sendable { case skin = 0, eyePlusX = 1, eyeMinusX = 2, upperTeeth = 3, lowerTeeth = 4, tongue = 5 }
    /// The ARKit blendshape names, in the order `FaceControls.units` uses.
    public static let unitNames = [
        "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
        "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
        "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
        "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
        "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
        "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
        "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
        "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
        "noseSneerLeft", "noseSneerRight", "tongueOut",
    ]
    public static let keypointCount = 21

    public let vertexCount: Int
    /// Rest positions, 3 per vertex.
    public let vertices: [Float]
    /// Triangles (3 vertex indices each), their UV corners and parts.
    public let faces: [Int32]
    public let faceUVs: [Int32]
    public let faceParts: [Int32]
    /// UVs normalised so the skin's UV box fills [0, 1]².
    public let uvs: [Float]
    /// Face units reordered to `unitNames`.
    public let units: SparseTargets
    public let shapes: SparseTargets
    /// neck, head, jaw, eye (+x), eye (−x), mouth.
    public let joints: [SIMD3<Float>]
    public let keypoints: [Int32]
    /// Part of each vertex (the part of any triangle using it).
    public let vertexParts: [Int32]

    public init(vertices: [Float], faces: [Int32], faceUVs: [Int32], faceParts: [Int32], uvs: [Float],
                units: SparseTargets, shapes: SparseTargets, joints: [SIMD3<Float>], keypoints: [Int32]) throws {
        let n = vertices.count / 3
        guard vertices.count == n * 3, n > 0 else { throw HeadRenderError("head model: vertices are not 3 per row") }
        guard faces.count % 3 == 0, faces.count == faceUVs.count, faces.count / 3 == faceParts.count else {
            throw HeadRenderError("head model: faces, face UVs and parts disagree in length")
        }
        guard faces.allSatisfy({ $0 >= 0 && Int($0) < n }) else { throw HeadRenderError("head model: a face uses a vertex out of range") }
        guard uvs.count % 2 == 0, faceUVs.allSatisfy({ $0 >= 0 && Int($0) < uvs.count / 2 }) else {
            throw HeadRenderError("head model: a face uses a UV out of range")
        }
        guard faceParts.allSatisfy({ Part(rawValue: $0) != nil }) else { throw HeadRenderError("head model: unknown part id") }
        guard joints.count == 6 else { throw HeadRenderError("head model: expected 6 joints, found \(joints.count)") }
        guard keypoints.count == HeadModel.keypointCount, keypoints.allSatisfy({ $0 >= 0 && Int($0) < n }) else {
            throw HeadRenderError("head model: expected \(HeadModel.keypointCount) keypoint vertices in range")
        }
        for t in [units, shapes] {
            guard t.offsets.count == t.names.count + 1, t.offsets.last == t.index.count, t.delta.count == 3 * t.index.count,
                  t.index.allSatisfy({ $0 >= 0 && Int($0) < n }) else {
                throw HeadRenderError("head model: malformed sparse targets")
            }
        }
        // Reorder the face units to the canonical ARKit list so callers index them by constant.
        var names: [String] = [], offs = [0], idx: [Int32] = [], del: [Float] = []
        for name in HeadModel.unitNames {
            guard let t = units.find(name) else { throw HeadRenderError("head model: face unit '\(name)' missing") }
            for r in units.offsets[t]..<units.offsets[t + 1] {
                idx.append(units.index[r]); del.append(contentsOf: units.delta[3 * r..<3 * r + 3])
            }
            names.append(name); offs.append(idx.count)
        }
        var parts = [Int32](repeating: 0, count: n)
        for f in 0..<faceParts.count where faceParts[f] != 0 {
            for k in 0..<3 { parts[Int(faces[3 * f + k])] = faceParts[f] }
        }
        // Normalise the skin's UV box to the unit square so the skin texture's pixels land on the head.
        var lo = SIMD2<Float>(repeating: .infinity), hi = SIMD2<Float>(repeating: -.infinity)
        for f in 0..<faceParts.count where faceParts[f] == 0 {
            for k in 0..<3 {
                let u = Int(faceUVs[3 * f + k])
                let p = SIMD2(uvs[2 * u], uvs[2 * u + 1])
                lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p)
            }
        }
        let span = pointwiseMax(hi - lo, SIMD2(repeating: 1e-6))
        var normUV = uvs
        for i in 0..<uvs.count / 2 {
            normUV[2 * i] = min(1, max(0, (uvs[2 * i] - lo.x) / span.x))
            normUV[2 * i + 1] = min(1, max(0, (uvs[2 * i + 1] - lo.y) / span.y))
        }
        self.vertexCount = n; self.vertices = vertices; self.faces = faces; self.faceUVs = faceUVs
        self.faceParts = faceParts; self.uvs = normUV
        self.units = SparseTargets(names: names, offsets: offs, index: idx, delta: del)
        self.shapes = shapes; self.joints = joints; self.keypoints = keypoints; self.vertexParts = parts
    }

    @inline(__always) public func restPosition(_ v: Int) -> SIMD3<Float> {
        SIMD3(vertices[3 * v], vertices[3 * v + 1], vertices[3 * v + 2])
    }

    /// Chin-to-crown height of the rest skin: the unit of the motion keypoint offsets.
    public var headHeight: Float {
        var top = -Float.infinity
        for v in 0..<vertexCount where vertexParts[v] == 0 { top = max(top, vertices[3 * v + 1]) }
        return top - restPosition(Int(keypoints[6])).y
    }
}
