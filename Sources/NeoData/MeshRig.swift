import HeadRender

/// The head-model rig: articulations drive the mesh's ARKit face units and head pose, and the
/// 70 motion numbers are read back from the posed mesh: the 21 keypoint vertices' offsets from
/// rest in the head's own frame (units of the head's chin-to-crown height), then scale,
/// translation and pitch/yaw/roll. The same `FaceControls` pose the rendered frames, so motion
/// and pixels agree by construction.
public struct MeshRig: FaceRig {
    public let model: HeadModel
    /// Face-unit displacement of each keypoint: [unit][keypoint][axis], already in head heights.
    let unitAtKeypoint: [Float]
    public let unitLength: Float

    public init(model: HeadModel) {
        self.model = model
        unitLength = model.headHeight
        let U = HeadModel.unitNames.count, K = HeadModel.keypointCount
        var table = [Float](repeating: 0, count: U * K * 3)
        var slot: [Int32: Int] = [:]
        for (k, v) in model.keypoints.enumerated() { slot[v] = k }
        let u = model.units
        for t in 0..<U {
            for r in u.offsets[t]..<u.offsets[t + 1] {
                guard let k = slot[u.index[r]] else { continue }
                for a in 0..<3 { table[(t * K + k) * 3 + a] = u.delta[3 * r + a] / unitLength }
            }
        }
        unitAtKeypoint = table
    }

    public var name: String { "mesh" }

    /// The face units and pose of frame `t`.
    public static func controls(_ a: Articulation, _ t: Int, unitLength: Float) -> FaceControls {
        var c = FaceControls()
        @inline(__always) func set(_ name: String, _ v: Float) { c.units[FaceControls.unit(name)] += max(0, min(1.2, v)) }
        let j = a.jaw[t], o = a.open[t], w = a.width[t], r = a.round[t], smile = a.smile[t], b = a.brow[t]
        set("jawOpen", j)
        // Lip opening beyond the jaw's: lift the upper lip and drop the lower; pressed lips close
        // against the jaw (p, b, m).
        if o >= 0 {
            for s in ["Left", "Right"] { set("mouthUpperUp" + s, 0.5 * o); set("mouthLowerDown" + s, 0.7 * o) }
        } else {
            set("mouthClose", min(j, -2.5 * o))
            for s in ["Left", "Right"] { set("mouthPress" + s, -2.5 * o) }
        }
        if w >= 0 { for s in ["Left", "Right"] { set("mouthStretch" + s, 0.7 * w) } } else { set("mouthPucker", -0.8 * w) }
        set("mouthFunnel", 0.7 * r); set("mouthPucker", 0.5 * r)
        for s in ["Left", "Right"] {
            if smile >= 0 { set("mouthSmile" + s, 0.75 * smile); set("cheekSquint" + s, 0.35 * smile) } else { set("mouthFrown" + s, -1.5 * smile) }
            if b >= 0 { set("browOuterUp" + s, 0.8 * b) } else { set("browDown" + s, -1.2 * b) }
            let ap = a.aperture[t]
            if ap >= 0 { set("eyeWide" + s, 1.2 * ap) } else { set("eyeSquint" + s, -1.5 * ap) }
            set("eyeBlink" + s, a.close[t])
        }
        if b >= 0 { set("browInnerUp", 0.9 * b) }
        // Gaze: +x is the face's left (the viewer's right): the left eye looks out, the right in.
        let gx = a.gazeX[t], gy = a.gazeY[t]
        if gx >= 0 { set("eyeLookOutLeft", 0.8 * gx); set("eyeLookInRight", 0.8 * gx) } else { set("eyeLookInLeft", -0.8 * gx); set("eyeLookOutRight", -0.8 * gx) }
        for s in ["Left", "Right"] { if gy >= 0 { set("eyeLookUp" + s, 0.8 * gy) } else { set("eyeLookDown" + s, -0.8 * gy) } }
        c.pitch = a.pitch[t]; c.yaw = a.yaw[t]; c.roll = a.roll[t]
        c.scale = a.scale[t]
        c.translation = SIMD3(a.translation[3 * t], a.translation[3 * t + 1], a.translation[3 * t + 2]) * unitLength
        return c
    }

    /// Keypoint offsets of a set of face-unit weights (63 numbers, head heights).
    public func offsets(_ units: [Float]) -> [Float] {
        let K = HeadModel.keypointCount
        var out = [Float](repeating: 0, count: K * 3)
        for (u, w) in units.enumerated() where w != 0 {
            let base = u * K * 3
            for i in 0..<(K * 3) { out[i] += w * unitAtKeypoint[base + i] }
        }
        return out
    }

    public func motion(_ a: Articulation, style: IdentityStyle) -> [Float] {
        let D = FaceKeypoint.dimension
        var motion = [Float](repeating: 0, count: a.frames * D)
        motion.withUnsafeMutableBufferPointer { mb in
            let m = mb.baseAddress!
            for t in 0..<a.frames {
                let f = m + t * D
                let o = offsets(MeshRig.controls(a, t, unitLength: unitLength).units)
                for i in 0..<63 { f[i] = o[i] }
                Performer.writePose(a, t, into: f)
            }
        }
        return motion
    }
}
