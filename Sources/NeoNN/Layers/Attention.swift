import Foundation
import NeoTensor

/// Multi-head self-attention on `[B, T, dim]`: a fused QKV projection (`qkv`, dim → 3·H·Dh),
/// optional RMS-norm of q and k over the head dimension (`qNorm`, `kNorm`, shared by the heads),
/// optional rotary embedding of q and k, scaled dot-product attention, and an output projection
/// (`proj`, H·Dh → dim).
public final class MultiHeadAttention: Module {
    public let qkv: Linear
    public let proj: Linear
    public let qNorm: RMSNorm?
    public let kNorm: RMSNorm?
    public let rotary: RotaryEmbedding?
    public let dim: Int
    public let heads: Int
    public let headDim: Int

    /// - Parameters:
    ///   - headDim: defaults to dim/heads.
    ///   - qkNorm: RMS-normalise q and k per head (learned gain of size headDim each).
    ///   - rotaryDim: rotate the first `rotaryDim` numbers of each q/k head vector (nil: no rotary).
    public init(dim: Int, heads: Int, headDim: Int? = nil, qkNorm: Bool = false, rotaryDim: Int? = nil,
                rotaryBase: Double = 10_000, bias: Bool = true, generator: Generator) {
        let hd = headDim ?? dim / heads
        ensure(heads > 0 && hd > 0 && (headDim != nil || dim % heads == 0),
                     "MultiHeadAttention: dim \(dim) is not divisible into \(heads) heads")
        if let r = rotaryDim { ensure(r <= hd, "MultiHeadAttention: rotaryDim \(r) exceeds headDim \(hd)") }
        self.dim = dim
        self.heads = heads
        self.headDim = hd
        qkv = Linear(dim, 3 * heads * hd, bias: bias, generator: generator)
        qNorm = qkNorm ? RMSNorm(hd) : nil
        kNorm = qkNorm ? RMSNorm(hd) : nil
        rotary = rotaryDim.map { RotaryEmbedding(rotaryDim: $0, base: rotaryBase) }
        proj = Linear(heads * hd, dim, bias: bias, generator: generator)
    }

    /// q, k, v as contiguous `[B, H, T, Dh]`, q and k normed and rotated when configured.
    /// `positions` (length T, default 0..<T) are the rotary positions.
    public func projectQKV(_ x: Tensor, positions: [Float]? = nil) -> (q: Tensor, k: Tensor, v: Tensor) {
        ensure(x.rank == 3 && x.shape[2] == dim, "MultiHeadAttention(dim \(dim)): input must be [B, T, \(dim)], got \(x.shape)")
        let b = x.shape[0], t = x.shape[1]
        // One copy puts q, k and v each in [B, H, T, Dh] order.
        let all = qkv(x).reshape([b, t, 3, heads, headDim]).permute([2, 0, 3, 1, 4]).contiguous()
        var q = all.slice(dim: 0, start: 0, end: 1).squeeze(0)
        var k = all.slice(dim: 0, start: 1, end: 2).squeeze(0)
        let v = all.slice(dim: 0, start: 2, end: 3).squeeze(0)
        if let qNorm { q = qNorm(q) }
        if let kNorm { k = kNorm(k) }
        if let rotary {
            let pos = positions ?? (0..<t).map(Float.init)
            ensure(pos.count == t, "MultiHeadAttention: \(pos.count) positions for \(t) tokens")
            let (c, s) = rotary.tables(pos)
            q = applyRotary(q, cos: c, sin: s)
            k = applyRotary(k, cos: c, sin: s)
        }
        return (q, k, v)
    }

    /// Heads `[B, H, T, Dh]` back to `[B, T, dim]` through the output projection.
    public func projectOut(_ o: Tensor) -> Tensor {
        let b = o.shape[0], t = o.shape[2]
        return proj(o.permute([0, 2, 1, 3]).reshape([b, t, heads * headDim]))
    }

    public var scale: Float { 1 / Float(Double(headDim).squareRoot()) }

    /// Self-attention. `mask` is added to the scores and must broadcast to `[B, H, T, T]`
    /// (−∞ blocks a key); `positions` are the rotary positions of the tokens.
    public func callAsFunction(_ x: Tensor, mask: Tensor? = nil, positions: [Float]? = nil) -> Tensor {
        let (q, k, v) = projectQKV(x, positions: positions)
        return projectOut(scaledDotProductAttention(q, k, v, mask: mask, scale: scale))
    }
}

/// Joint attention over several token streams (SD3 MMDiT): each stream has its own QKV and
/// output projections (and q/k norms), under `streams.0`, `streams.1`, …; the streams' q, k and v
/// are concatenated along the tokens, one softmax runs over all tokens of all streams, and the
/// result is split back per stream.
public final class JointAttention: Module {
    public let streams: [MultiHeadAttention]
    public let heads: Int
    public let headDim: Int

    /// `dims`: the model width of each stream; they share `heads` × `headDim` (default
    /// dims[0]/heads) in attention.
    public init(dims: [Int], heads: Int, headDim: Int? = nil, qkNorm: Bool = false, rotaryDim: Int? = nil,
                rotaryBase: Double = 10_000, bias: Bool = true, generator: Generator) {
        ensure(!dims.isEmpty, "JointAttention: needs at least one stream")
        let hd = headDim ?? dims[0] / heads
        streams = dims.map {
            MultiHeadAttention(dim: $0, heads: heads, headDim: hd, qkNorm: qkNorm, rotaryDim: rotaryDim,
                               rotaryBase: rotaryBase, bias: bias, generator: generator)
        }
        self.heads = heads
        self.headDim = hd
    }

    /// - Parameters:
    ///   - xs: one `[B, Tᵢ, dimᵢ]` tensor per stream (same B).
    ///   - positions: rotary positions per stream (default 0..<Tᵢ each, so token i of every
    ///     stream shares position i).
    ///   - mask: added to the joint scores, broadcastable to `[B, H, ΣTᵢ, ΣTᵢ]`, tokens ordered
    ///     stream by stream.
    /// - Returns: one `[B, Tᵢ, dimᵢ]` tensor per stream.
    public func callAsFunction(_ xs: [Tensor], positions: [[Float]]? = nil, mask: Tensor? = nil) -> [Tensor] {
        ensure(xs.count == streams.count, "JointAttention: \(xs.count) inputs for \(streams.count) streams")
        if let positions { ensure(positions.count == streams.count, "JointAttention: \(positions.count) position lists for \(streams.count) streams") }
        var qs: [Tensor] = [], ks: [Tensor] = [], vs: [Tensor] = []
        for (i, s) in streams.enumerated() {
            let (q, k, v) = s.projectQKV(xs[i], positions: positions?[i])
            qs.append(q); ks.append(k); vs.append(v)
        }
        let lengths = xs.map { $0.shape[1] }
        if streams.count == 1 {
            return [streams[0].projectOut(scaledDotProductAttention(qs[0], ks[0], vs[0], mask: mask, scale: streams[0].scale))]
        }
        let o = scaledDotProductAttention(Tensor.concat(qs, dim: 2), Tensor.concat(ks, dim: 2), Tensor.concat(vs, dim: 2), mask: mask, scale: streams[0].scale)
        return zip(streams, o.split(lengths, dim: 2)).map { $0.projectOut($1) }
    }
}
