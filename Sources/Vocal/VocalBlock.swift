import NeoNN
import NeoTensor

/// One stream's layers inside an MMDiT block: adaLN-Zero modulation from the conditioning
/// vector, QKV projection with per-head RMS-norm of q and k, output projection and MLP.
///
/// A `keysOnly` stream (the audio stream of the last block, as SD3's last context block) only
/// offers keys and values to the motion stream: its tokens are not read after the last block,
/// so it has no queries, output projection or MLP, and its modulation gives shift and scale only.
public final class VocalStream: Module {
    /// SiLU(c) → 6·C (shift₁, scale₁, gate₁, shift₂, scale₂, gate₂), or 2·C when keys-only.
    /// Zero-initialised: the block starts as the identity.
    public let modulation: Linear
    /// C → 3·C (q, k, v), or 2·C (k, v) when keys-only.
    public let qkv: Linear
    public let qNorm: RMSNorm?
    public let kNorm: RMSNorm
    public let proj: Linear?
    public let mlp: MLP?
    public let keysOnly: Bool
    public let width: Int
    public let heads: Int
    public let headDim: Int

    public init(width: Int, heads: Int, mlpHidden: Int, keysOnly: Bool, generator g: Generator) {
        self.keysOnly = keysOnly
        self.width = width
        self.heads = heads
        headDim = width / heads
        modulation = Linear(width, (keysOnly ? 2 : 6) * width, generator: g, weightInit: .zeros, biasInit: .zeros)
        qkv = Linear(width, (keysOnly ? 2 : 3) * width, generator: g, weightInit: .xavierUniform())
        qNorm = keysOnly ? nil : RMSNorm(headDim)
        kNorm = RMSNorm(headDim)
        proj = keysOnly ? nil : Linear(width, width, generator: g, weightInit: .xavierUniform(), biasInit: .zeros)
        mlp = keysOnly ? nil : MLP(width, hidden: mlpHidden, activation: .geluTanh, generator: g)
    }

    /// The modulation vectors for conditioning `silu(c)` `[B, C]`: 6 (or 2) tensors `[B, C]`.
    public func modulationVectors(_ conditioning: Tensor) -> [Tensor] {
        modulation(conditioning).split(Array(repeating: width, count: keysOnly ? 2 : 6), dim: 1)
    }

    /// Tokens `[B, T, C]` (already normalised and modulated) → q (nil when keys-only), k, v as
    /// `[B, H, T, Dh]`, q and k RMS-normed (not yet rotated).
    public func project(_ h: Tensor) -> (q: Tensor?, k: Tensor, v: Tensor) {
        let b = h.shape[0], t = h.shape[1]
        let parts = keysOnly ? 2 : 3
        // One copy puts q, k and v each in [B, H, T, Dh] order.
        let all = qkv(h).reshape([b, t, parts, heads, headDim]).permute([2, 0, 3, 1, 4]).contiguous()
        func part(_ i: Int) -> Tensor { all.slice(dim: 0, start: i, end: i + 1).squeeze(0) }
        if keysOnly { return (nil, kNorm(part(0)), part(1)) }
        return (qNorm!(part(0)), kNorm(part(1)), part(2))
    }
}

/// Rotary cos/sin tables for the joint token sequence of a forward pass, computed once and
/// shared by all blocks.
public struct RotaryTables: @unchecked Sendable {
    public let cos: Tensor
    public let sin: Tensor
    /// Tables of the first `count` tokens (the motion stream, for keys-only blocks).
    public func prefix(_ count: Int) -> RotaryTables {
        count == cos.shape[0] ? self
            : RotaryTables(cos: cos.slice(dim: 0, start: 0, end: count).contiguous(),
                           sin: sin.slice(dim: 0, start: 0, end: count).contiguous())
    }
    public init(cos: Tensor, sin: Tensor) { self.cos = cos; self.sin = sin }
}

/// SD3-style MMDiT block over the motion stream (noisy motion tokens, preceded by any reference
/// and prefix tokens) and the audio stream. Each stream is normalised and modulated by its own
/// adaLN vectors; attention is joint (the streams' q, k, v concatenated along the tokens, one
/// softmax over all of them, split back); each stream then adds its gated output projection and
/// gated MLP. With zero gates (their initial value) the block is the identity.
public final class VocalBlock: Module {
    public let motion: VocalStream
    public let audio: VocalStream
    public let width: Int
    public let heads: Int
    public let headDim: Int

    public init(width: Int, heads: Int, mlpHidden: Int, last: Bool, generator g: Generator) {
        self.width = width
        self.heads = heads
        headDim = width / heads
        motion = VocalStream(width: width, heads: heads, mlpHidden: mlpHidden, keysOnly: false, generator: g)
        audio = VocalStream(width: width, heads: heads, mlpHidden: mlpHidden, keysOnly: last, generator: g)
    }

    private static func norm(_ x: Tensor) -> Tensor { layerNorm(x, weight: nil, bias: nil, eps: 1e-6) }

    /// Joint attention of already modulated tokens: returns each stream's attention output with
    /// heads merged, `[B, Tᵢ, C]`, before the output projections (nil for a keys-only audio
    /// stream). `rotary` covers the joint sequence (motion tokens then audio tokens); `mask`
    /// is added to the scores and broadcasts to `[B, H, Tq, Tm + Ta]`. One fused op
    /// (`NeoTensor.jointAttention`): per-head RMS-norm and rotation of q and k, the joint
    /// softmax attention and the split back into the streams, with the same numbers as
    /// `project` → `applyRotary` → concat → `scaledDotProductAttention` → split.
    public func jointAttention(motion hm: Tensor, audio ha: Tensor, rotary: RotaryTables, mask: Tensor?) -> (motion: Tensor, audio: Tensor?) {
        func stream(_ s: VocalStream, _ h: Tensor) -> JointAttentionStream {
            JointAttentionStream(qkv: s.qkv(h), queries: !s.keysOnly, qNorm: s.qNorm.map { normWeight($0) }, kNorm: normWeight(s.kNorm))
        }
        let outs = NeoTensor.jointAttention([stream(motion, hm), stream(audio, ha)], heads: heads, eps: motion.kNorm.eps,
                                            cos: rotary.cos, sin: rotary.sin, mask: mask, scale: 1 / Float(Double(headDim).squareRoot()))
        return (outs[0], outs.count > 1 ? outs[1] : nil)
    }

    /// An RMS-norm's weight (ones for a norm without one).
    private func normWeight(_ n: RMSNorm) -> Tensor { n.weight?.value ?? Tensor.ones([n.dim]) }

    /// - Parameters:
    ///   - motion: `[B, Tm, C]` motion-stream tokens; `audio`: `[B, Ta, C]`.
    ///   - conditioning: SiLU of the conditioning vector, `[B, C]`.
    /// - Returns: the new streams (audio nil after a keys-only audio stream).
    public func callAsFunction(motion x: Tensor, audio a: Tensor, conditioning: Tensor,
                               rotary: RotaryTables, mask: Tensor?) -> (motion: Tensor, audio: Tensor?) {
        let mm = motion.modulationVectors(conditioning)
        let ma = audio.modulationVectors(conditioning)
        let hm = adaLNModulate(VocalBlock.norm(x), shift: mm[0], scale: mm[1])
        let ha = adaLNModulate(VocalBlock.norm(a), shift: ma[0], scale: ma[1])
        let (om, oa) = jointAttention(motion: hm, audio: ha, rotary: rotary, mask: mask)
        var x = gatedResidual(x, gate: mm[2], motion.proj!(om))
        x = gatedResidual(x, gate: mm[5], motion.mlp!(adaLNModulate(VocalBlock.norm(x), shift: mm[3], scale: mm[4])))
        guard let oa else { return (x, nil) }
        var y = gatedResidual(a, gate: ma[2], audio.proj!(oa))
        y = gatedResidual(y, gate: ma[5], audio.mlp!(adaLNModulate(VocalBlock.norm(y), shift: ma[3], scale: ma[4])))
        return (x, y)
    }
}

/// The output layer: LayerNorm, adaLN modulation (shift, scale) from the conditioning vector,
/// Linear(C → D). Both linears are zero-initialised, so the model starts by predicting v = 0.
public final class VocalFinalLayer: Module {
    public let modulation: Linear
    public let out: Linear
    public let width: Int

    public init(width: Int, latentDim: Int, generator g: Generator) {
        self.width = width
        modulation = Linear(width, 2 * width, generator: g, weightInit: .zeros, biasInit: .zeros)
        out = Linear(width, latentDim, generator: g, weightInit: .zeros, biasInit: .zeros)
    }

    public func callAsFunction(_ x: Tensor, conditioning: Tensor) -> Tensor {
        let m = modulation(conditioning).split([width, width], dim: 1)
        return out(adaLNModulate(layerNorm(x, weight: nil, bias: nil, eps: 1e-6), shift: m[0], scale: m[1]))
    }
}
