import Foundation
import NeoTensor
import NeoNN

/// The motion of one frame in VOCAL's layout, as tensors over a batch of N frames: `[0..<3K]`
/// expression offsets δ of K keypoints (x, y, z), `[3K]` scale s, `[3K+1..<3K+4]` translation t,
/// `[3K+4..<3K+7]` pitch, yaw, roll in degrees.
public enum MotionLayout {
    /// Splits motion [N, 3K+7] into (δ [N, K, 3], s [N, 1, 1], t [N, 1, 3], pose [N, 3]).
    public static func split(_ motion: Tensor, keypoints k: Int) -> (expression: Tensor, scale: Tensor, translation: Tensor, pose: Tensor) {
        ensure(motion.rank == 2 && motion.shape[1] == 3 * k + 7,
               "motion must be [N, \(3 * k + 7)] (\(k) keypoints), got shape \(motion.shape)")
        let n = motion.shape[0]
        let p = motion.split([3 * k, 1, 3, 3], dim: 1)
        return (p[0].reshape([n, k, 3]), p[1].reshape([n, 1, 1]), p[2].reshape([n, 1, 3]), p[3])
    }

    /// Rotation matrices R [N, 3, 3] from pitch, yaw and roll in degrees [N, 3], for row-vector
    /// keypoints (x·R): R = (Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ, the convention of LivePortrait-based
    /// motion, so the angles mean the same as in the motion VOCAL is trained on.
    public static func rotation(_ pose: Tensor) -> Tensor {
        ensure(pose.rank == 2 && pose.shape[1] == 3, "rotation: pose must be [N, 3] (pitch, yaw, roll), got \(pose.shape)")
        let n = pose.shape[0]
        let radians = pose * Float(Double.pi / 180)
        let c = radians.cos(), s = radians.sin()
        let zero = Tensor.zeros([n]), one = Tensor.ones([n])
        func col(_ t: Tensor, _ i: Int) -> Tensor { t.slice(dim: 1, start: i, end: i + 1).reshape([n]) }
        func matrix(_ e: [Tensor]) -> Tensor { Tensor.stack(e, dim: 1).reshape([n, 3, 3]) }
        let cp = col(c, 0), sp = col(s, 0), cy = col(c, 1), sy = col(s, 1), cr = col(c, 2), sr = col(s, 2)
        let rx = matrix([one, zero, zero, zero, cp, -sp, zero, sp, cp])
        let ry = matrix([cy, zero, sy, zero, one, zero, -sy, zero, cy])
        let rz = matrix([cr, -sr, zero, sr, cr, zero, zero, zero, one])
        return rz.matmul(ry).matmul(rx).transpose(1, 2)
    }

    /// Random plausible motions [count, 3K+7] for tests and benchmarks: expression offsets
    /// N(0, 0.02²), scale N(1, 0.05²), translation N(0, 0.03²), pose uniform within ±20 degrees.
    public static func plausible(count n: Int, keypoints k: Int = 21, generator g: Generator) -> Tensor {
        var v = [Float]()
        v.reserveCapacity(n * (3 * k + 7))
        for _ in 0..<n {
            for _ in 0..<(3 * k) { v.append(Float(g.nextNormal() * 0.02)) }
            v.append(Float(1 + g.nextNormal() * 0.05))
            for _ in 0..<3 { v.append(Float(g.nextNormal() * 0.03)) }
            for _ in 0..<3 { v.append(Float((g.nextUniform() * 2 - 1) * 20)) }
        }
        return Tensor(v, shape: [n, 3 * k + 7])
    }

    /// Keypoints x = s·(x_c·R + δ) + t of canonical keypoints x_c [N, K, 3] under motion
    /// [N, 3K+7] → [N, K, 3], in the volume's normalised (x, y, z) coordinates.
    public static func transform(canonical: Tensor, motion: Tensor) -> Tensor {
        let k = canonical.shape[1]
        ensure(canonical.rank == 3 && canonical.shape[2] == 3 && canonical.shape[0] == motion.shape[0],
               "transform: canonical keypoints must be [N, K, 3] with N matching motion \(motion.shape), got \(canonical.shape)")
        let m = split(motion, keypoints: k)
        return (canonical.matmul(rotation(m.pose)) + m.expression) * m.scale + m.translation
    }
}

/// What the motion encoder predicts for a batch of N images.
public struct MotionPrediction {
    /// The 70-number motion [N, 3K+7] (pose as the expectation over the bins, in degrees).
    public let motion: Tensor
    /// Pose bin logits [N, 3, bins] (pitch, yaw, roll).
    public let poseLogits: Tensor
    /// Canonical keypoints x_c [N, K, 3] of the person in the image.
    public let canonical: Tensor
    /// Keypoints of the image: `MotionLayout.transform(canonical, motion)`.
    public var keypoints: Tensor { MotionLayout.transform(canonical: canonical, motion: motion) }
}

/// Motion encoder M: image → its motion in VOCAL's layout plus the canonical keypoints. A stack
/// of stride-2 conv blocks down to 4×4, global average pooling, a hidden layer, and one linear
/// layer holding every head: pose bins (3 × bins), δ (3K), scale (as 1 + output), translation
/// (3), canonical keypoints (3K, through tanh so they stay inside the volume).
public final class MotionEncoder: Module {
    let blocks: [ConvNormReLU2d]
    let hidden: Linear
    let heads: Linear
    let keypoints: Int, bins: Int
    /// Centres of the pose bins in degrees [bins] (constant).
    let binCentres: Tensor
    let binDegrees: Float

    public init(_ config: PictarConfig, generator: Generator) {
        var blocks: [ConvNormReLU2d] = []
        var c = 3, size = config.imageSize, i = 0
        while size > 4 {
            let w = config.motionChannels << Swift.min(i, 3)
            blocks.append(ConvNormReLU2d(c, w, stride: 2, generator: generator))
            c = w; size /= 2; i += 1
        }
        self.blocks = blocks
        keypoints = config.keypoints; bins = config.poseBins
        hidden = Linear(c, 4 * c, generator: generator)
        heads = Linear(4 * c, 3 * config.poseBins + 6 * config.keypoints + 4, generator: generator)
        binDegrees = Float(config.poseBinDegrees)
        binCentres = Tensor((0..<config.poseBins).map { (Float($0) + 0.5 - Float(config.poseBins) / 2) * Float(config.poseBinDegrees) })
    }

    /// The pose bin of an angle in degrees (clamped to the first and last bins).
    public func poseBin(_ degrees: Float) -> Int {
        Swift.max(0, Swift.min(bins - 1, Int((degrees / binDegrees + Float(bins) / 2).rounded(.down))))
    }

    public func callAsFunction(_ image: Tensor) -> MotionPrediction {
        var h = image
        for b in blocks { h = b(h) }
        let n = image.shape[0]
        let features = h.mean(axes: [2, 3])
        let out = heads(hidden(features).relu())
        let k = keypoints
        let p = out.split([3 * bins, 3 * k, 1, 3, 3 * k], dim: 1)
        let logits = p[0].reshape([n, 3, bins])
        let pose = (logits.softmax(dim: -1) * binCentres).sum(axes: [-1])
        let motion = Tensor.concat([p[1], p[2] + 1, p[3], pose], dim: 1)
        return MotionPrediction(motion: motion, poseLogits: logits, canonical: p[4].tanh().reshape([n, k, 3]))
    }
}
