import NeoNN
import NeoTensor

/// All-layer audio fusion: every hidden state of the audio encoder (stem output and each
/// layer's output) → one token per motion frame.
///
/// 1. Each layer's hidden state is layer-normalised (no affine) per feature frame, so layers
///    whose activations have very different scales (deep Whisper layers grow) weigh in by the
///    learned weights alone.
/// 2. A learned softmax-weighted sum over the layers (`layerLogits`, zero at init: the plain
///    mean). The weighted sum was chosen over per-layer-norm-then-concat because its cost and
///    size do not grow with the number of layers, and the learned weights are readable
///    (`layerWeights`).
/// 3. Adjacent feature frames (50 fps) are paired by concatenation, 2W numbers per motion frame
///    (25 fps).
/// 4. Projection to the model width: Linear(2W → C) → GELU → Linear(C → C).
public final class AudioFusion: Module {
    /// Unnormalised log-weights of the layers, `[layers]`.
    public let layerLogits: Parameter
    public let proj1: Linear
    public let proj2: Linear
    public let layers: Int
    public let audioWidth: Int
    public let width: Int

    public init(layers: Int, audioWidth: Int, width: Int, generator: Generator) {
        self.layers = layers
        self.audioWidth = audioWidth
        self.width = width
        layerLogits = Parameter(Tensor.zeros([layers]))
        proj1 = Linear(2 * audioWidth, width, generator: generator)
        proj2 = Linear(width, width, generator: generator)
    }

    /// The current softmax weights of the layers.
    public var layerWeights: [Float] { noGrad { layerLogits.value.softmax(dim: 0).toArray() } }

    /// hidden states `[B, layers, 2N, W]` → audio tokens `[B, N, C]`.
    public func callAsFunction(_ hidden: Tensor) -> Tensor {
        ensure(hidden.rank == 4 && hidden.shape[1] == layers && hidden.shape[3] == audioWidth && hidden.shape[2] % 2 == 0,
               "AudioFusion: hidden states must be [B, \(layers), 2N, \(audioWidth)] (an even number of 50 fps feature frames), got \(hidden.shape)")
        let b = hidden.shape[0], frames2 = hidden.shape[2]
        let normed = layerNorm(hidden, weight: nil, bias: nil, eps: 1e-5)
        let weights = layerLogits.value.softmax(dim: 0).reshape([1, layers])
        // [1, L] · [B, L, 2N·W] → [B, 1, 2N·W]: one small GEMM per batch element.
        let fused = weights.matmul(normed.reshape([b, layers, frames2 * audioWidth]))
        let paired = fused.reshape([b, frames2 / 2, 2 * audioWidth])
        return proj2(proj1(paired).gelu(approximate: true))
    }
}

/// Identity features from a reference motion clip of the speaker: a per-frame Linear(D → E) and
/// SiLU, mean and standard deviation over the frames (how the speaker holds their face and how
/// much it moves), then Linear(2E → C).
public final class IdentityEncoder: Module {
    public let frame: Linear
    public let out: Linear
    public let latentDim: Int

    public init(latentDim: Int, hidden: Int, width: Int, generator: Generator) {
        self.latentDim = latentDim
        frame = Linear(latentDim, hidden, generator: generator)
        out = Linear(2 * hidden, width, generator: generator)
    }

    /// clip `[B, R, D]` (R ≥ 1 frames) → `[B, C]`.
    public func callAsFunction(_ clip: Tensor) -> Tensor {
        ensure(clip.rank == 3 && clip.shape[2] == latentDim && clip.shape[1] >= 1,
               "IdentityEncoder: reference clip must be [B, R ≥ 1, \(latentDim)], got \(clip.shape)")
        let f = frame(clip).silu()
        let mean = f.mean(axes: [1])
        let std = (f.variance(axes: [1], correction: 0) + 1e-5).sqrt()
        return out(Tensor.concat([mean, std], dim: 1))
    }
}
