import Foundation
import NeoTensor

/// Renders one identity's head: poses the mesh from `FaceControls`, rasterises it with a
/// z-buffer at 2×2 supersampling (rows split across threads), shades each covered sample once
/// (deferred: triangle id and barycentrics first, then shading) and box-filters to uint8 RGB.
///
/// Not thread-safe: one renderer per thread; its buffers are reused from frame to frame.
public final class HeadRenderer: @unchecked Sendable {
    public let model: HeadModel
    public let identity: HeadIdentity
    public let size: Int
    let ss: Int  // supersampled side
    let threads: Int

    // Per vertex: the identity's rest shape (hair volume included), and attributes glued to the mesh.
    let shaped: [Float]
    /// 1 on the mouth's lining (shaded dark and occluded), 0 on the outer skin.
    let cavity: [Float]
    /// Rotation weight of each vertex: 1 on the head, falling to 0 down the neck.
    let neckWeight: [Float]
    let pivot: SIMD3<Float>
    let looks: FaceLandmarks
    let skinTexture: [Float]
    static let textureSide = 256
    let background: [Float]

    // Per frame.
    var posed: [Float]
    var normals: [Float]
    var screen: [Float]   // x, y (supersampled pixels), 1/w per vertex
    var depth: [Float]
    var triangle: [Int32]
    var bary: [Float]
    var colour: [Float]

    /// Camera: at `eye`, looking along −z, focal length in supersampled pixels.
    let eye: SIMD3<Float>
    let focal: Float

    public init(model: HeadModel, identity: HeadIdentity, size: Int, threads: Int = EngineContext.current.threads) throws {
        guard [64, 128, 256].contains(size) || (size >= 16 && size <= 1024) else {
            throw HeadRenderError("frame size \(size) is outside 16…1024 px")
        }
        self.model = model; self.identity = identity; self.size = size; self.ss = 2 * size; self.threads = max(1, threads)
        let n = model.vertexCount
        var rest = model.vertices
        var weights = [Float](repeating: 0, count: model.shapes.count)
        for sw in identity.shapeWeights where sw.target < weights.count { weights[sw.target] = sw.weight }
        weights.withUnsafeBufferPointer { w in rest.withUnsafeMutableBufferPointer { model.shapes.accumulate(w.baseAddress!, into: $0.baseAddress!) } }
        let looks = FaceLandmarks(model: model, positions: rest)
        self.looks = looks
        // Hair: push the scalp out along its normal by the identity's volume.
        let restNormals = HeadRenderer.vertexNormals(model: model, positions: rest)
        var shaped = rest
        for v in 0..<n where model.vertexParts[v] == 0 {
            let p = SIMD3(rest[3 * v], rest[3 * v + 1], rest[3 * v + 2])
            let h = looks.hairMask(p, identity: identity) * identity.hairVolume
            if h > 0 { for k in 0..<3 { shaped[3 * v + k] += h * restNormals[3 * v + k] } }
        }
        self.shaped = shaped
        cavity = (0..<n).map { v in
            guard model.vertexParts[v] == 0 else { return 0 }
            let p = SIMD3(rest[3 * v], rest[3 * v + 1], rest[3 * v + 2])
            return looks.cavity(p, normal: SIMD3(restNormals[3 * v], restNormals[3 * v + 1], restNormals[3 * v + 2]))
        }
        let neck = model.joints[0], head = model.joints[1]
        pivot = SIMD3(0, 0.5 * (neck.y + head.y) + 0.35, head.z)
        neckWeight = (0..<n).map { v in
            let y = rest[3 * v + 1]
            let t = min(1, max(0, (y - (looks.chinY - 0.9)) / 0.9))
            return t * t * (3 - 2 * t)
        }
        skinTexture = HeadRenderer.makeSkinTexture(identity: identity)
        let ss = 2 * size
        // Camera aimed at the head's centre, offset by the identity's framing.
        let target = SIMD3<Float>(0, looks.eyeY - 0.05, 0.6)
        eye = SIMD3(target.x - identity.frameOffset.x * identity.cameraDistance,
                    target.y - identity.frameOffset.y * identity.cameraDistance, target.z + identity.cameraDistance)
        focal = Float(ss) / 2 / tan(identity.fieldOfView / 2)
        background = HeadRenderer.makeBackground(identity: identity, side: ss)
        posed = [Float](repeating: 0, count: 3 * n)
        normals = posed
        screen = posed
        depth = [Float](repeating: 0, count: ss * ss)
        triangle = [Int32](repeating: -1, count: ss * ss)
        bary = [Float](repeating: 0, count: 2 * ss * ss)
        colour = [Float](repeating: 0, count: 3 * ss * ss)
    }

    // MARK: posing

    /// Poses the mesh for `c` into `posed` (world decimetres) and returns nothing; the posed
    /// positions are what the renderer draws and what `keypoints` reads.
    public func pose(_ c: FaceControls) {
        precondition(c.units.count == HeadModel.unitNames.count, "FaceControls.units must hold \(HeadModel.unitNames.count) weights")
        let n = model.vertexCount
        shaped.withUnsafeBufferPointer { s in posed.withUnsafeMutableBufferPointer { p in p.baseAddress!.update(from: s.baseAddress!, count: 3 * n) } }
        c.units.withUnsafeBufferPointer { w in posed.withUnsafeMutableBufferPointer { model.units.accumulate(w.baseAddress!, into: $0.baseAddress!) } }
        let full = rotation(pitch: c.pitch, yaw: c.yaw, roll: c.roll)
        let pv = pivot, t = c.translation, s = c.scale
        posed.withUnsafeMutableBufferPointer { pb in
            neckWeight.withUnsafeBufferPointer { wb in
                let p = pb.baseAddress!, w = wb.baseAddress!
                var v = 0
                while v < n {
                    let k = v &* 3
                    let q = SIMD3(p[k], p[k &+ 1], p[k &+ 2]) - pv
                    let wv = w[v]
                    let r = wv >= 0.999 ? full : rotation(pitch: c.pitch * wv, yaw: c.yaw * wv, roll: c.roll * wv)
                    let o = SIMD3((r.0 * q).sum(), (r.1 * q).sum(), (r.2 * q).sum()) * s + pv + t
                    p[k] = o.x; p[k &+ 1] = o.y; p[k &+ 2] = o.z
                    v &+= 1
                }
            }
        }
    }

    /// Posed position of vertex `v` (after `pose`).
    @inline(__always) public func posedPosition(_ v: Int) -> SIMD3<Float> { SIMD3(posed[3 * v], posed[3 * v + 1], posed[3 * v + 2]) }

    /// Projection of a world point to output-frame pixels (x right, y down; pixel centres at +0.5).
    @inline(__always) public func project(_ p: SIMD3<Float>) -> SIMD2<Float> {
        let q = p - eye
        let iz = 1 / -q.z
        let half = Float(ss) / 2
        return SIMD2(half + focal * q.x * iz, half - focal * q.y * iz) / 2
    }

    /// The 21 keypoints of the posed mesh projected into the output frame, 2 floats each.
    public func keypoints() -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(2 * model.keypoints.count)
        for k in model.keypoints { let p = project(posedPosition(Int(k))); out.append(p.x); out.append(p.y) }
        return out
    }

    /// For each output pixel of the last rendered frame, the share (0…1) of its samples that
    /// show the inside of the mouth: teeth, tongue or the mouth's lining.
    public func mouthInteriorCoverage() -> [Float] {
        var out = [Float](repeating: 0, count: size * size)
        for y in 0..<ss {
            for x in 0..<ss {
                let t = Int(triangle[y * ss + x])
                guard t >= 0 else { continue }
                let part = model.faceParts[t]
                var inside = part >= 3
                if part == 0 {
                    let c = (cavity[Int(model.faces[3 * t])] + cavity[Int(model.faces[3 * t + 1])] + cavity[Int(model.faces[3 * t + 2])]) / 3
                    inside = c > 0.5
                }
                if inside { out[(y / 2) * size + x / 2] += 0.25 }
            }
        }
        return out
    }

    /// The triangle seen at output pixel (x, y) of the last frame (its top-left sample), −1 for background.
    public func triangle(atPixel x: Int, _ y: Int) -> Int { Int(triangle[(2 * y) * ss + 2 * x]) }

    // MARK: rendering

    /// Renders `c` into `rgb` (size×size×3 bytes, row-major from the top).
    public func render(_ c: FaceControls, into rgb: UnsafeMutablePointer<UInt8>) {
        pose(c)
        computeNormals()
        projectVertices()
        rasterise()
        shade()
        resolve(into: rgb)
    }

    /// Renders `c` and returns the frame's bytes.
    public func render(_ c: FaceControls) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size * size * 3)
        out.withUnsafeMutableBufferPointer { render(c, into: $0.baseAddress!) }
        return out
    }

    static func vertexNormals(model: HeadModel, positions: [Float]) -> [Float] {
        var nrm = [Float](repeating: 0, count: positions.count)
        accumulateNormals(faces: model.faces, positions: positions, into: &nrm)
        return nrm
    }

    static func accumulateNormals(faces: [Int32], positions: [Float], into nrm: inout [Float]) {
        let count = nrm.count
        nrm.withUnsafeMutableBufferPointer { nb in
            positions.withUnsafeBufferPointer { pb in
                faces.withUnsafeBufferPointer { fb in
                    let n = nb.baseAddress!, p = pb.baseAddress!, f = fb.baseAddress!
                    n.update(repeating: 0, count: count)
                    var t = 0
                    let tris = fb.count / 3
                    while t < tris {
                        let a = Int(f[3 &* t]) &* 3, b = Int(f[3 &* t &+ 1]) &* 3, c = Int(f[3 &* t &+ 2]) &* 3
                        let pa = SIMD3(p[a], p[a &+ 1], p[a &+ 2]), pb2 = SIMD3(p[b], p[b &+ 1], p[b &+ 2]), pc = SIMD3(p[c], p[c &+ 1], p[c &+ 2])
                        let e1 = pb2 - pa, e2 = pc - pa
                        // Area-weighted face normal.
                        let fn = SIMD3(e1.y * e2.z - e1.z * e2.y, e1.z * e2.x - e1.x * e2.z, e1.x * e2.y - e1.y * e2.x)
                        for i in [a, b, c] { n[i] += fn.x; n[i &+ 1] += fn.y; n[i &+ 2] += fn.z }
                        t &+= 1
                    }
                    var i = 0
                    while i < count {
                        let v = SIMD3(n[i], n[i &+ 1], n[i &+ 2])
                        let l = (v * v).sum().squareRoot()
                        if l > 1e-12 { n[i] = v.x / l; n[i &+ 1] = v.y / l; n[i &+ 2] = v.z / l }
                        i &+= 3
                    }
                }
            }
        }
    }

    func computeNormals() { HeadRenderer.accumulateNormals(faces: model.faces, positions: posed, into: &normals) }

    func projectVertices() {
        let n = model.vertexCount
        let half = Float(ss) / 2, f = focal, e = eye
        posed.withUnsafeBufferPointer { pb in
            screen.withUnsafeMutableBufferPointer { sb in
                let p = pb.baseAddress!, s = sb.baseAddress!
                var v = 0
                while v < n {
                    let k = v &* 3
                    let qx = p[k] - e.x, qy = p[k &+ 1] - e.y, qz = p[k &+ 2] - e.z
                    let iw = 1 / max(1e-3, -qz)
                    s[k] = half + f * qx * iw; s[k &+ 1] = half - f * qy * iw; s[k &+ 2] = iw
                    v &+= 1
                }
            }
        }
    }

    /// Z-buffer pass: each thread owns a band of rows and walks every triangle overlapping it,
    /// keeping per sample the nearest triangle (1/w largest) and its screen barycentrics.
    func rasterise() {
        let side = ss
        // One band per thread: every band walks all triangles, so more bands only add setup work.
        let bands = min(threads, side)
        let tris = model.faces.count / 3
        depth.withUnsafeMutableBufferPointer { db in
            triangle.withUnsafeMutableBufferPointer { tb in
                bary.withUnsafeMutableBufferPointer { bb in
                    screen.withUnsafeBufferPointer { sb in
                        model.faces.withUnsafeBufferPointer { fb in
                            nonisolated(unsafe) let d = db.baseAddress!, tri = tb.baseAddress!, ba = bb.baseAddress!
                            nonisolated(unsafe) let s = sb.baseAddress!, f = fb.baseAddress!
                            DispatchQueue.concurrentPerform(iterations: bands) { band in
                                let y0 = side &* band / bands, y1 = side &* (band &+ 1) / bands
                                d.advanced(by: y0 &* side).update(repeating: 0, count: (y1 &- y0) &* side)
                                tri.advanced(by: y0 &* side).update(repeating: -1, count: (y1 &- y0) &* side)
                                var t = 0
                                while t < tris {
                                    let a = Int(f[3 &* t]) &* 3, b = Int(f[3 &* t &+ 1]) &* 3, c = Int(f[3 &* t &+ 2]) &* 3
                                    HeadRenderer.rasteriseTriangle(
                                        t, SIMD3(s[a], s[a &+ 1], s[a &+ 2]), SIMD3(s[b], s[b &+ 1], s[b &+ 2]), SIMD3(s[c], s[c &+ 1], s[c &+ 2]),
                                        rows: y0, y1, side: side, depth: d, triangle: tri, bary: ba)
                                    t &+= 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func rasteriseTriangle(_ t: Int, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>, rows y0: Int, _ y1: Int, side: Int,
                                  depth: UnsafeMutablePointer<Float>, triangle: UnsafeMutablePointer<Int32>, bary: UnsafeMutablePointer<Float>) {
        let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
        if abs(area) < 1e-8 { return }
        let minY = max(y0, Int((min(a.y, b.y, c.y) - 0.5).rounded(.up)))
        let maxY = min(y1 &- 1, Int((max(a.y, b.y, c.y) - 0.5).rounded(.down)))
        if minY > maxY { return }
        let minX = max(0, Int((min(a.x, b.x, c.x) - 0.5).rounded(.up)))
        let maxX = min(side &- 1, Int((max(a.x, b.x, c.x) - 0.5).rounded(.down)))
        if minX > maxX { return }
        let inv = 1 / area
        // Barycentrics of b and c are affine in the sample position; step them along each row.
        let w1dx = (c.y - a.y) * inv, w2dx = (a.y - b.y) * inv
        var y = minY
        while y <= maxY {
            let py = Float(y) + 0.5, px = Float(minX) + 0.5
            var w1 = ((px - a.x) * (c.y - a.y) - (py - a.y) * (c.x - a.x)) * inv
            var w2 = ((py - a.y) * (b.x - a.x) - (px - a.x) * (b.y - a.y)) * inv
            let row = y &* side
            var x = minX
            while x <= maxX {
                let w0 = 1 - w1 - w2
                if w0 >= 0 && w1 >= 0 && w2 >= 0 {
                    let iw = w0 * a.z + w1 * b.z + w2 * c.z
                    let i = row &+ x
                    if iw > depth[i] {
                        depth[i] = iw; triangle[i] = Int32(truncatingIfNeeded: t)
                        bary[2 &* i] = w1; bary[2 &* i &+ 1] = w2
                    }
                }
                w1 += w1dx; w2 += w2dx
                x &+= 1
            }
            y &+= 1
        }
    }
}
