import Foundation
import NeoTensor
import NeoNN

/// Sizes of a Whisper audio encoder.
public struct WhisperEncoderConfig: Sendable, Equatable, Codable {
    public var melBins: Int
    public var width: Int
    public var layers: Int
    public var heads: Int
    /// Positions available: 1500 feature frames = 30 s of audio at 50 frames/s.
    public var maxPositions: Int

    public init(melBins: Int = 80, width: Int, layers: Int, heads: Int, maxPositions: Int = 1500) {
        self.melBins = melBins
        self.width = width
        self.layers = layers
        self.heads = heads
        self.maxPositions = maxPositions
    }

    /// tiny / tiny.en.
    public static let tiny = WhisperEncoderConfig(width: 384, layers: 4, heads: 6)
    public static let base = WhisperEncoderConfig(width: 512, layers: 6, heads: 8)
    public static let small = WhisperEncoderConfig(width: 768, layers: 12, heads: 12)

    /// Log-mel frames one window may hold (two per position: conv2 has stride 2).
    public var maxMelFrames: Int { 2 * maxPositions }
}

/// One pre-LayerNorm Transformer block of the Whisper encoder. Names follow the Hugging Face
/// checkpoint (`self_attn.q_proj` → `qProj`, …); the key projection has no bias.
public final class WhisperEncoderLayer: Module {
    public let selfAttnLayerNorm: LayerNorm
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let outProj: Linear
    public let finalLayerNorm: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let heads: Int

    public init(width: Int, heads: Int, generator: Generator) {
        self.heads = heads
        selfAttnLayerNorm = LayerNorm(width)
        qProj = Linear(width, width, generator: generator)
        kProj = Linear(width, width, bias: false, generator: generator)
        vProj = Linear(width, width, generator: generator)
        outProj = Linear(width, width, generator: generator)
        finalLayerNorm = LayerNorm(width)
        fc1 = Linear(width, 4 * width, generator: generator)
        fc2 = Linear(4 * width, width, generator: generator)
    }

    /// x [T, width] → [T, width]: x + attn(ln(x)), then + mlp(ln(·)). Forward only (the
    /// encoder is frozen): attention and GELU run through the inference kernels, which keep
    /// nothing for a backward pass.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let d = x.shape[1]
        let h = layerNorm(x, weight: selfAttnLayerNorm.weight?.value, bias: selfAttnLayerNorm.bias?.value, eps: selfAttnLayerNorm.eps)
        // q, k, v in one sgemm: weights stacked [3d, d], the key's bias zero.
        let w = Tensor.concat([qProj.weight.value, kProj.weight.value, vProj.weight.value], dim: 0)
        let b = Tensor.concat([qProj.bias!.value, Tensor.zeros([d]), vProj.bias!.value], dim: 0)
        let attention = selfAttentionForward(linear(h, weight: w, bias: b), heads: heads)
        let x1 = x + linear(attention, weight: outProj.weight.value, bias: outProj.bias?.value)
        let h2 = layerNorm(x1, weight: finalLayerNorm.weight?.value, bias: finalLayerNorm.bias?.value, eps: finalLayerNorm.eps)
        let hidden = geluInPlace(linear(h2, weight: fc1.weight.value, bias: fc1.bias?.value))
        return x1 + linear(hidden, weight: fc2.weight.value, bias: fc2.bias?.value)
    }
}

/// Whisper's audio encoder: conv1d(mels→d, k3) + GELU, conv1d(d→d, k3, stride 2) + GELU,
/// plus sinusoidal positions (`positions`), then pre-LayerNorm Transformer blocks and a final LayerNorm
/// (`ln_post`). It runs on any window of up to 3000 log-mel frames (30 s), using the first
/// ⌈frames/2⌉ positions.
public final class WhisperEncoder: Module {
    public let config: WhisperEncoderConfig
    public let conv1: Conv1d
    public let conv2: Conv1d
    public let layers: [WhisperEncoderLayer]
    /// Whisper's `ln_post` (Hugging Face: `encoder.layer_norm`).
    public let layerNorm: LayerNorm
    /// [maxPositions, width], not a parameter: Whisper's sinusoids, replaced on loading by the
    /// checkpoint's stored copy when it has one (released checkpoints hold them rounded to
    /// float16, up to 2.4e-4 off, and the pretrained model runs with those values).
    public let positions: Tensor

    /// A randomly initialised encoder (load weights with `WhisperWeights`).
    public init(config: WhisperEncoderConfig, generator: Generator = Generator(seed: 0)) {
        precondition(config.width % config.heads == 0 && config.width % 2 == 0, "WhisperEncoder: width \(config.width) must be even and divisible by heads \(config.heads)")
        self.config = config
        conv1 = Conv1d(config.melBins, config.width, kernelSize: 3, padding: 1, generator: generator)
        conv2 = Conv1d(config.width, config.width, kernelSize: 3, stride: 2, padding: 1, generator: generator)
        layers = (0..<config.layers).map { _ in WhisperEncoderLayer(width: config.width, heads: config.heads, generator: generator) }
        layerNorm = LayerNorm(config.width)
        positions = WhisperEncoder.sinusoids(length: config.maxPositions, channels: config.width)
        super.init()
        freeze()
        eval()
    }

    /// Whisper's positional table: for i < C/2, timescale_i = exp(−i·ln(10000)/(C/2 − 1));
    /// row t = [sin(t·timescale), cos(t·timescale)]. Computed in double, stored as float.
    public static func sinusoids(length: Int, channels: Int) -> Tensor {
        let half = channels / 2
        let increment = log(10_000.0) / Double(half - 1)
        let t = Tensor.empty([length, channels])
        let p = t.data
        for i in 0..<half {
            let inv = exp(-increment * Double(i))
            for pos in 0..<length {
                let a = Double(pos) * inv
                p[pos &* channels &+ i] = Float(sin(a))
                p[pos &* channels &+ half &+ i] = Float(cos(a))
            }
        }
        return t
    }

    /// Feature frames produced for `melFrames` log-mel frames: ⌈melFrames / 2⌉.
    public static func outputFrames(melFrames: Int) -> Int { (melFrames - 1) / 2 + 1 }

    /// All hidden states for one window, each [⌈frames/2⌉, width]:
    /// - index 0: the stem, GELU(conv2(GELU(conv1(mel)))) + positions (the input to block 0);
    /// - index i in 1..<layers: the output of block i−1 (the residual stream, no norm);
    /// - index `layers`: ln_post applied to the last block's output (the encoder's output, as
    ///   Whisper returns it and as Hugging Face's `hidden_states[-1]`).
    /// `logMel` is [melBins, frames] with 1 ≤ frames ≤ 3000. No gradient is recorded.
    public func hiddenStates(_ logMel: Tensor) -> [Tensor] {
        precondition(logMel.rank == 2 && logMel.shape[0] == config.melBins, "WhisperEncoder: log-mel has shape \(logMel.shape), expected [\(config.melBins), frames]")
        let frames = logMel.shape[1]
        precondition(frames >= 1 && frames <= config.maxMelFrames, "WhisperEncoder: \(frames) log-mel frames; a window holds 1…\(config.maxMelFrames)")
        return noGrad {
            var states: [Tensor] = []
            let x0 = geluInPlace(conv1(logMel.unsqueeze(0)))                   // [1, d, T]
            let x1 = geluInPlace(conv2(x0))                                     // [1, d, T']
            let stem = x1.squeeze(0).mT                                         // [T', d]
            var x = stem + positions.slice(dim: 0, start: 0, end: stem.shape[0])
            states.append(x)
            for (i, layer) in layers.enumerated() {
                x = layer(x)
                states.append(i == layers.count - 1
                    ? NeoTensor.layerNorm(x, weight: layerNorm.weight?.value, bias: layerNorm.bias?.value, eps: layerNorm.eps)
                    : x)
            }
            return states
        }
    }

    /// The encoder output (ln_post of the last block), [⌈frames/2⌉, width].
    public func callAsFunction(_ logMel: Tensor) -> Tensor { hiddenStates(logMel).last! }
}
