import Foundation
import NeoNN
import NeoTensor

/// Rotary cos/sin tables `[T, rotaryDim/2]` inside a graph.
public struct ONNXRotaryTables: Sendable {
    public let cos: ONNXValue
    public let sin: ONNXValue
    public let rotaryDim: Int
}

/// How NeoNN's layers are written as ONNX nodes. Each emitter computes what the layer's
/// `callAsFunction` computes, in the same order of operations where the order changes the
/// rounding (trigonometric tables in float64 as ours, GELU as ½x(1 + erf(x/√2))).
extension ONNXGraph {
    // MARK: Linear layers

    /// y = x·Wᵀ + b over the last dim of an input of any rank (MatMul with the transposed weight,
    /// then Add). The weight initializer keeps the parameter's `[out, in]` layout.
    public func linear(_ l: Linear, _ x: ONNXValue) -> ONNXValue {
        let wt = transpose(parameter(l.weight), [1, 0])
        let y = matMul(x, wt)
        return l.bias.map { add(y, parameter($0)) } ?? y
    }

    /// The same for a 2-D input `[B, in]`, as one Gemm node (transB).
    public func linear2D(_ l: Linear, _ x: ONNXValue) -> ONNXValue {
        gemm(x, parameter(l.weight), l.bias.map { parameter($0) }, transB: true)
    }

    // MARK: Activations

    public func activation(_ a: Activation, _ x: ONNXValue) -> ONNXValue {
        switch a {
        case .gelu: return gelu(x, approximate: false)
        case .geluTanh: return gelu(x, approximate: true)
        case .silu: return silu(x)
        case .relu: return relu(x)
        case .identity: return x
        }
    }

    /// GELU from Erf (exact) or Tanh (approximate), which every opset-17 runtime has (the Gelu
    /// operator arrived in opset 20).
    public func gelu(_ x: ONNXValue, approximate: Bool) -> ONNXValue {
        if approximate {
            // ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
            let cube = mul(mul(x, x), x)
            let u = mul(add(x, mul(cube, 0.044_715)), Float((2 / Double.pi).squareRoot()))
            return mul(mul(x, 0.5), add(tanh(u), 1))
        }
        // ½x(1 + erf(x/√2))
        let e = erf(mul(x, Float(0.5.squareRoot())))
        return mul(mul(x, 0.5), add(e, 1))
    }

    /// x·σ(x).
    public func silu(_ x: ONNXValue) -> ONNXValue { mul(x, sigmoid(x)) }

    // MARK: Normalisation

    /// LayerNorm over the last dim (LayerNormalization, opset 17). Without an affine weight the
    /// operator's required scale is a constant of ones.
    public func layerNorm(_ n: LayerNorm, _ x: ONNXValue) -> ONNXValue {
        let scale = n.weight.map { parameter($0) } ?? constant([Float](repeating: 1, count: n.dim), shape: [n.dim])
        return layerNormalization(x, scale: scale, bias: n.bias.map { parameter($0) }, epsilon: n.eps)
    }

    /// Plain layer normalisation (no gain, no bias) over a last dim of size `dim`.
    public func layerNorm(_ x: ONNXValue, dim: Int, eps: Float) -> ONNXValue {
        layerNormalization(x, scale: constant([Float](repeating: 1, count: dim), shape: [dim]), bias: nil, epsilon: eps)
    }

    /// x / √(mean(x²) + eps) · weight over the last dim (composite: Pow, ReduceMean, Sqrt, Div).
    public func rmsNorm(_ n: RMSNorm, _ x: ONNXValue) -> ONNXValue {
        let ms = reduceMean(pow(x, 2), axes: [-1], keepDims: true)
        let y = div(x, sqrt(add(ms, n.eps)))
        return n.weight.map { mul(y, parameter($0)) } ?? y
    }

    // MARK: MLP

    /// fc2(act(fc1(x)) [· gate(x)]); dropout is the identity at inference.
    public func mlp(_ m: MLP, _ x: ONNXValue) -> ONNXValue {
        var h = scope("fc1") { activation(m.activation, linear(m.fc1, x)) }
        if let gate = m.gate { h = mul(h, scope("gate") { linear(gate, x) }) }
        return scope("fc2") { linear(m.fc2, h) }
    }

    /// The same on a 2-D input `[B, in]` (Gemm nodes).
    public func mlp2D(_ m: MLP, _ x: ONNXValue) -> ONNXValue {
        var h = scope("fc1") { activation(m.activation, linear2D(m.fc1, x)) }
        if let gate = m.gate { h = mul(h, scope("gate") { linear2D(gate, x) }) }
        return scope("fc2") { linear2D(m.fc2, h) }
    }

    // MARK: Positions

    /// Positions 0, 1, …, T−1 (float `[T]`) for the tokens along `axis` of `x`.
    public func positions(alongAxis axis: Int, of x: ONNXValue) -> ONNXValue {
        range(start: int64([0], scalar: true), limit: scalarOf(dim(x, axis)))
    }

    /// Angles p·f for float positions `[T]` and frequencies f as `[T, F]`: float64 when the
    /// graph's `float64Tables` is set (ours computes these tables in Double), float32 otherwise.
    private func angles(_ positions: ONNXValue, frequencies: [Double]) -> ONNXValue {
        if float64Tables {
            let p = unsqueeze(cast(positions, to: .double), [1])
            return mul(p, constant(doubles: frequencies, shape: [1, frequencies.count]))
        }
        return mul(unsqueeze(positions, [1]), constant(frequencies.map(Float.init), shape: [1, frequencies.count]))
    }

    /// A float32 table from angles made by `angles`.
    private func table(_ x: ONNXValue) -> ONNXValue { float64Tables ? cast(x, to: .float) : x }

    /// Rotary tables for float positions `[T]` (θᵢ = base^(−2i/rotaryDim)).
    public func rotaryTables(positions: ONNXValue, rotaryDim: Int, base: Double) -> ONNXRotaryTables {
        let half = rotaryDim / 2
        let theta = (0..<half).map { Foundation.pow(base, -2.0 * Double($0) / Double(rotaryDim)) }
        let a = angles(positions, frequencies: theta)
        return ONNXRotaryTables(cos: table(cos(a)), sin: table(sin(a)), rotaryDim: rotaryDim)
    }

    /// Rotary embedding (half-split pairs (i, i + R/2) of the first R numbers) of `x` `[…, T, D]`.
    public func applyRotary(_ x: ONNXValue, _ t: ONNXRotaryTables, headDim: Int) -> ONNXValue {
        let half = t.rotaryDim / 2
        let x1 = slice(x, axis: -1, start: 0, end: half)
        let x2 = slice(x, axis: -1, start: half, end: t.rotaryDim)
        let r1 = sub(mul(x1, t.cos), mul(x2, t.sin))
        let r2 = add(mul(x2, t.cos), mul(x1, t.sin))
        if t.rotaryDim == headDim { return concat([r1, r2], axis: -1) }
        return concat([r1, r2, slice(x, axis: -1, start: t.rotaryDim, end: headDim)], axis: -1)
    }

    /// Sinusoidal features of float values `[B]` (NeoNN's `sinusoidalEmbedding`), `[B, dim]`.
    public func sinusoidalEmbedding(_ values: ONNXValue, dim: Int, maxPeriod: Double, cosFirst: Bool) -> ONNXValue {
        let half = dim / 2
        let freq = (0..<half).map { Foundation.exp(-Foundation.log(maxPeriod) * Double($0) / Double(half)) }
        let a = angles(values, frequencies: freq)
        let (c, s) = (cos(a), sin(a))
        var parts = cosFirst ? [c, s] : [s, c]
        // An odd width gets a zero last column (a − a keeps the angles' element type).
        if dim % 2 == 1 { parts.append(sub(sliceColumn(a), sliceColumn(a))) }
        return table(concat(parts, axis: 1))
    }

    private func sliceColumn(_ x: ONNXValue) -> ONNXValue { slice(x, axis: 1, start: 0, end: 1) }

    /// DiT timestep embedding of `t` `[B]` (float): sinusoidal features of t·timeScale, then the MLP.
    public func timestepEmbedding(_ e: TimestepEmbedding, _ t: ONNXValue) -> ONNXValue {
        let scaled = mul(t, e.timeScale)
        let features = sinusoidalEmbedding(scaled, dim: e.frequencyDim, maxPeriod: e.maxPeriod, cosFirst: true)
        return scope("mlp") { mlp2D(e.mlp, features) }
    }

    // MARK: Attention

    /// softmax(q·kᵀ·scale + mask)·v on `[B, H, T, D]` operands; `mask` broadcasts to the scores.
    public func attention(_ q: ONNXValue, _ k: ONNXValue, _ v: ONNXValue, mask: ONNXValue?, scale: Float) -> ONNXValue {
        var scores = mul(matMul(q, transpose(k, [0, 1, 3, 2])), scale)
        if let mask { scores = add(scores, mask) }
        return matMul(softmax(scores, axis: -1), v)
    }

    /// Splits a fused projection `[B, T, parts·H·Dh]` into `parts` tensors `[B, H, T, Dh]`.
    public func splitHeads(_ fused: ONNXValue, parts: Int, heads: Int, headDim: Int) -> [ONNXValue] {
        let r = reshape(fused, [0, 0, parts, heads, headDim])
        return (0..<parts).map { i in transpose(gather(r, int64([i], scalar: true), axis: 2), [0, 2, 1, 3]) }
    }

    /// Heads `[B, H, T, Dh]` back to `[B, T, H·Dh]`.
    public func mergeHeads(_ o: ONNXValue, width: Int) -> ONNXValue {
        reshape(transpose(o, [0, 2, 1, 3]), [0, 0, width])
    }

    /// q, k, v of `MultiHeadAttention.projectQKV` (normed and rotated as configured; `tables`
    /// must cover the tokens of `x` when the layer has a rotary embedding).
    public func projectQKV(_ m: MultiHeadAttention, _ x: ONNXValue, tables: ONNXRotaryTables?) -> (q: ONNXValue, k: ONNXValue, v: ONNXValue) {
        let fused = scope("qkv") { linear(m.qkv, x) }
        let parts = splitHeads(fused, parts: 3, heads: m.heads, headDim: m.headDim)
        var q = parts[0], k = parts[1]
        if let n = m.qNorm { q = scope("qNorm") { rmsNorm(n, q) } }
        if let n = m.kNorm { k = scope("kNorm") { rmsNorm(n, k) } }
        if m.rotary != nil {
            guard let tables else { preconditionFailure("ONNXGraph.projectQKV: the layer is rotary but no tables were given") }
            q = applyRotary(q, tables, headDim: m.headDim)
            k = applyRotary(k, tables, headDim: m.headDim)
        }
        return (q, k, parts[2])
    }

    /// Rotary tables for `m` at positions 0..<T of `x` `[B, T, dim]`, or nil when it has none.
    public func defaultTables(_ m: MultiHeadAttention, for x: ONNXValue) -> ONNXRotaryTables? {
        m.rotary.map { rotaryTables(positions: positions(alongAxis: 1, of: x), rotaryDim: $0.rotaryDim, base: $0.base) }
    }

    /// `MultiHeadAttention` on `x` `[B, T, dim]` at positions 0..<T.
    public func multiHeadAttention(_ m: MultiHeadAttention, _ x: ONNXValue, mask: ONNXValue? = nil) -> ONNXValue {
        let tables = defaultTables(m, for: x)
        let (q, k, v) = projectQKV(m, x, tables: tables)
        let o = attention(q, k, v, mask: mask, scale: m.scale)
        return scope("proj") { linear(m.proj, mergeHeads(o, width: m.heads * m.headDim)) }
    }

    /// `JointAttention` over streams `[B, Tᵢ, dimᵢ]`, each at positions 0..<Tᵢ.
    public func jointAttention(_ j: JointAttention, _ xs: [ONNXValue], mask: ONNXValue? = nil) -> [ONNXValue] {
        precondition(xs.count == j.streams.count, "ONNXGraph.jointAttention: \(xs.count) inputs for \(j.streams.count) streams")
        var qs: [ONNXValue] = [], ks: [ONNXValue] = [], vs: [ONNXValue] = []
        for (i, s) in j.streams.enumerated() {
            scope("streams.\(i)") {
                let (q, k, v) = projectQKV(s, xs[i], tables: defaultTables(s, for: xs[i]))
                qs.append(q); ks.append(k); vs.append(v)
            }
        }
        let width = j.heads * j.headDim
        if xs.count == 1 {
            let o = attention(qs[0], ks[0], vs[0], mask: mask, scale: j.streams[0].scale)
            return [scope("streams.0.proj") { linear(j.streams[0].proj, mergeHeads(o, width: width)) }]
        }
        let o = attention(concat(qs, axis: 2), concat(ks, axis: 2), concat(vs, axis: 2), mask: mask, scale: j.streams[0].scale)
        let lengths = concat(xs.map { dim($0, 1) }, axis: 0)
        let parts = split(o, sizes: lengths, count: xs.count, axis: 2)
        return j.streams.enumerated().map { i, s in scope("streams.\(i).proj") { linear(s.proj, mergeHeads(parts[i], width: width)) } }
    }

    /// Split with sizes computed in the graph (1-D int64 of length `count`).
    public func split(_ x: ONNXValue, sizes: ONNXValue, count: Int, axis: Int) -> [ONNXValue] {
        node("Split", [x, sizes], ["axis": .int(axis)], outputs: count)
    }

    // MARK: adaLN

    /// x·(1 + scale) + shift with per-sample vectors `[B, C]` against tokens `[B, T, C]`.
    public func adaLNModulate(_ x: ONNXValue, shift: ONNXValue, scale: ONNXValue) -> ONNXValue {
        let s = unsqueeze(scale, [1]), h = unsqueeze(shift, [1])
        return add(mul(x, add(s, 1)), h)
    }

    /// x + gate·y with a per-sample gate `[B, C]` against tokens `[B, T, C]`.
    public func gatedResidual(_ x: ONNXValue, gate: ONNXValue, _ y: ONNXValue) -> ONNXValue {
        add(x, mul(unsqueeze(gate, [1]), y))
    }
}
