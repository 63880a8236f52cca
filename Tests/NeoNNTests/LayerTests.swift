import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoTestSupport

/// Runs `loss` on a tape, back-propagates, and checks that every parameter of `module` got a
/// gradient with at least one non-zero element (and no NaN).
func assertEveryParameterGetsGradient(_ module: Module, file: StaticString = #filePath, line: UInt = #line,
                                      _ loss: () -> Tensor) {
    module.zeroGrad()
    let tape = Tape()
    let l = tape.record(loss)
    tape.backward(l)
    for (path, p) in module.namedParameters() {
        guard let g = p.grad else { XCTFail("\(path) received no gradient", file: file, line: line); continue }
        let v = g.toArray()
        XCTAssertTrue(v.contains { $0 != 0 }, "\(path) has an all-zero gradient", file: file, line: line)
        XCTAssertFalse(v.contains { !$0.isFinite }, "\(path) has a non-finite gradient", file: file, line: line)
    }
}

/// A scalar that depends on every output element with distinct weights (a plain mean would give
/// zero gradients through normalisations and softmax-like invariances).
func weightedSum(_ y: Tensor, seed: UInt64 = 77) -> Tensor {
    (y * Tensor.normal(y.shape, generator: Generator(seed: seed))).sum()
}

final class LayerTests: XCTestCase {
    func testLinearKnownValuesAndGradients() {
        let l = Linear(3, 2, generator: Generator(seed: 1))
        l.weight.assign(Tensor([1, 2, 3, -1, 0, 1], shape: [2, 3]))
        l.bias!.assign(Tensor([0.5, -0.5]))
        let y = l(Tensor([1, 1, 1, 2, 0, -1], shape: [2, 3]))
        XCTAssertEqual(y.toArray(), [6.5, -0.5, -0.5, -3.5])
        XCTAssertEqual(l(randn([4, 5, 3], seed: 2)).shape, [4, 5, 2])
        let noBias = Linear(3, 2, bias: false, generator: Generator(seed: 1))
        XCTAssertNil(noBias.bias)
        XCTAssertEqual(noBias.namedParameters().map(\.0), ["weight"])
        assertEveryParameterGetsGradient(l) { weightedSum(l(randn([4, 3], seed: 3))) }
    }

    func testEmbeddingRowsAndScatteredGradient() {
        let e = Embedding(5, 3, generator: Generator(seed: 1))
        let table = e.weight.value.toArray()
        let y = e([4, 0, 4, 2, 1, 3], shape: [2, 3])
        XCTAssertEqual(y.shape, [2, 3, 3])
        XCTAssertEqual(Array(y.toArray()[0..<3]), Array(table[12..<15]))
        XCTAssertEqual(Array(y.toArray()[9..<12]), Array(table[6..<9]))
        let tape = Tape()
        tape.backward(tape.record { e([4, 0, 4]).sum() })
        // Row 4 used twice accumulates 2, row 0 once, others nothing.
        XCTAssertEqual(e.weight.grad!.toArray(), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2])
        assertEveryParameterGetsGradient(e) { weightedSum(e([0, 1, 2, 3, 4])) }
    }

    func testLayerNormAndRMSNormKnownValues() {
        let x = Tensor([1, 2, 3, 4], shape: [1, 4])
        let plain = LayerNorm(4, eps: 0, affine: false)
        XCTAssertTrue(plain.namedParameters().isEmpty)
        let s = 1 / Float(1.25).squareRoot()
        let expected: [Float] = [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s]
        for (a, b) in zip(plain(x).toArray(), expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let affine = LayerNorm(4, eps: 0)
        affine.weight!.assign(Tensor([2, 2, 2, 2]))
        affine.bias!.assign(Tensor([1, 1, 1, 1]))
        for (a, b) in zip(affine(x).toArray(), expected) { XCTAssertEqual(a, 2 * b + 1, accuracy: 1e-5) }
        XCTAssertEqual(LayerNorm(4, bias: false).namedParameters().map(\.0), ["weight"])

        let rms = RMSNorm(2, eps: 0)
        rms.weight!.assign(Tensor([1, 10]))
        let r = rms(Tensor([3, 4], shape: [1, 2])).toArray()
        let inv = 1 / Float(12.5).squareRoot()
        XCTAssertEqual(r[0], 3 * inv, accuracy: 1e-5)
        XCTAssertEqual(r[1], 40 * inv, accuracy: 1e-4)
        XCTAssertTrue(RMSNorm(2, affine: false).namedParameters().isEmpty)

        assertEveryParameterGetsGradient(affine) { weightedSum(affine(randn([3, 4], seed: 1))) }
        assertEveryParameterGetsGradient(rms) { weightedSum(rms(randn([3, 2], seed: 1))) }
    }

    func testMLPMatchesItsDefinition() {
        let g = Generator(seed: 3)
        let x = randn([2, 4, 6], seed: 5)
        for (act, gated) in [(Activation.gelu, false), (.silu, true), (.geluTanh, false), (.relu, false)] {
            let mlp = MLP(6, hidden: 10, out: 3, activation: act, gated: gated, generator: g)
            let y = mlp(x)
            XCTAssertEqual(y.shape, [2, 4, 3])
            var h = act(x.matmul(mlp.fc1.weight.value.mT) + mlp.fc1.bias!.value)
            if let gate = mlp.gate { h = h * (x.matmul(gate.weight.value.mT) + gate.bias!.value) }
            let ref = h.matmul(mlp.fc2.weight.value.mT) + mlp.fc2.bias!.value
            XCTAssertLessThan(maxAbsoluteError(y, ref), 1e-5, "\(act) gated \(gated)")
            XCTAssertEqual(mlp.namedParameters().count, gated ? 6 : 4)
            assertEveryParameterGetsGradient(mlp) { weightedSum(mlp(x)) }
        }
        // Exact GELU against its definition x·Φ(x) at a few points.
        let pts: [Float] = [-2, -0.5, 0, 1, 3]
        let gelu = Activation.gelu(Tensor(pts)).toArray()
        for (p, v) in zip(pts, gelu) { XCTAssertEqual(v, p * 0.5 * (1 + Float(erf(Double(p) / 2.0.squareRoot()))), accuracy: 1e-5) }
    }

    func testDropoutTrainEvalAndMaskReuse() {
        let gen = Generator(seed: 8)
        let d = Dropout(0.25, generator: gen)
        let x = Tensor.ones([100, 100]).requiringGrad()
        let saved = gen.state
        let tape = Tape()
        let y = tape.record { d(x) }
        let v = y.toArray()
        let zeros = v.filter { $0 == 0 }.count
        // 10 000 Bernoulli(0.25) draws: 2500 ± 43 (σ); allow 5σ.
        XCTAssertEqual(Double(zeros), 2500, accuracy: 220)
        XCTAssertTrue(v.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        // The gradient is the same mask.
        tape.backward(tape.record { y.sum() })
        XCTAssertEqual(x.grad!.toArray(), v)
        // Restoring the generator's state repeats the mask.
        gen.state = saved
        XCTAssertEqual(noGrad { d(Tensor.ones([100, 100])) }.toArray(), v)
        // Evaluation mode is the identity (the same tensor, no draw).
        d.eval()
        let before = gen.state
        let z = randn([4, 4], seed: 1)
        XCTAssertTrue(d(z) === z)
        XCTAssertEqual(gen.state, before)
        d.train()
        XCTAssertFalse(d(z) === z)
    }

    func testSinusoidalEmbeddingKnownValues() {
        let e = sinusoidalEmbedding([0, 1, 2], dim: 4, maxPeriod: 10_000)
        XCTAssertEqual(e.shape, [3, 4])
        let v = e.toArray()
        XCTAssertEqual(Array(v[0..<4]), [0, 0, 1, 1])
        // dim 4: frequencies 1 and 10000^(-1/2) = 0.01.
        let row1: [Float] = [Float(sin(1.0)), Float(sin(0.01)), Float(cos(1.0)), Float(cos(0.01))]
        for (a, b) in zip(v[4..<8], row1) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(v[8], Float(sin(2.0)), accuracy: 1e-6)
        let cosFirst = sinusoidalEmbedding([1], dim: 4, cosFirst: true).toArray()
        XCTAssertEqual(cosFirst[0], Float(cos(1.0)), accuracy: 1e-6)
        XCTAssertEqual(cosFirst[2], Float(sin(1.0)), accuracy: 1e-6)
        XCTAssertEqual(sinusoidalEmbedding([5], dim: 5).toArray().last, 0)
        XCTAssertEqual(SinusoidalPositionEmbedding(dim: 8)(length: 6).shape, [6, 8])
    }

    func testTimestepEmbedding() {
        let te = TimestepEmbedding(dim: 16, frequencyDim: 32, generator: Generator(seed: 2))
        let y = te([0.1, 0.5, 0.9])
        XCTAssertEqual(y.shape, [3, 16])
        XCTAssertEqual(te(Tensor([0.1, 0.5, 0.9])).toArray(), y.toArray())
        // Definition: MLP(SiLU) of [cos, sin] features of 1000·t.
        let f = sinusoidalEmbedding([100, 500, 900], dim: 32, cosFirst: true)
        XCTAssertLessThan(maxAbsoluteError(y, te.mlp(f)), 1e-6)
        XCTAssertEqual(te.mlp.activation, .silu)
        // Different timesteps give different embeddings.
        let v = y.toArray()
        XCTAssertNotEqual(Array(v[0..<16]), Array(v[16..<32]))
        XCTAssertEqual(te.namedParameters().map(\.0), ["mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"])
        assertEveryParameterGetsGradient(te) { weightedSum(te([0.2, 0.7])) }
    }

    func testRotaryRotatesPairsKeepsNormsAndDependsOnlyOnRelativePosition() {
        let rope = RotaryEmbedding(rotaryDim: 4, base: 100)
        // Known value: position 1 rotates pair (0, 2) by θ₀ = 1 and pair (1, 3) by θ₁ = 100^(-1/2).
        let x = Tensor([1, 0, 0, 1, 7], shape: [1, 5])
        let y = rope(x, positions: [1]).toArray()
        XCTAssertEqual(y[0], Float(cos(1.0)), accuracy: 1e-6)
        XCTAssertEqual(y[2], Float(sin(1.0)), accuracy: 1e-6)
        XCTAssertEqual(y[1], -Float(sin(0.1)), accuracy: 1e-6)
        XCTAssertEqual(y[3], Float(cos(0.1)), accuracy: 1e-6)
        XCTAssertEqual(y[4], 7, "numbers past rotaryDim pass through")

        let q = randn([2, 3, 6, 8], seed: 1), k = randn([2, 3, 6, 8], seed: 2)
        let r8 = RotaryEmbedding(rotaryDim: 8)
        let pos: [Float] = [0, 1, 2, 5, 9, 12]
        let qr = r8(q, positions: pos)
        // Norm of every row preserved.
        XCTAssertLessThan(maxAbsoluteError(qr.square().sum(axes: [-1]), q.square().sum(axes: [-1])), 1e-4)
        // Scores change with positions, but not with a common shift of all positions.
        let scores = qr.matmul(r8(k, positions: pos).mT)
        let shifted = pos.map { $0 + 37 }
        let scoresShifted = r8(q, positions: shifted).matmul(r8(k, positions: shifted).mT)
        XCTAssertLessThan(maxAbsoluteError(scores, scoresShifted), 1e-3)
        XCTAssertGreaterThan(maxAbsoluteError(scores, q.matmul(k.mT)), 0.1)

        // Gradient against finite differences.
        let (c, s) = RotaryEmbedding(rotaryDim: 4).tables([0, 3, 1.5])
        assertGradCheck([randn([2, 3, 6], seed: 4)]) { xs in applyRotary(xs[0], cos: c, sin: s) }
    }

    func testMultiHeadAttentionMatchesExplicitComputationAndMasking() {
        let g = Generator(seed: 12)
        let attn = MultiHeadAttention(dim: 8, heads: 2, generator: g)
        let x = randn([2, 5, 8], seed: 3)
        let y = attn(x)
        XCTAssertEqual(y.shape, [2, 5, 8])
        // Explicit: per head h, softmax(Q_h K_hᵀ/√4) V_h, heads concatenated, output projection.
        let qkv = x.matmul(attn.qkv.weight.value.mT) + attn.qkv.bias!.value  // [2, 5, 24]
        var heads: [Tensor] = []
        for h in 0..<2 {
            let q = qkv.slice(dim: 2, start: 4 * h, end: 4 * h + 4)
            let k = qkv.slice(dim: 2, start: 8 + 4 * h, end: 8 + 4 * h + 4)
            let v = qkv.slice(dim: 2, start: 16 + 4 * h, end: 16 + 4 * h + 4)
            let s = q.matmul(k.mT) * 0.5
            let p = (s - s.max(axes: [-1], keepDims: true)).exp()
            heads.append((p / p.sum(axes: [-1], keepDims: true)).matmul(v))
        }
        let ref = Tensor.concat(heads, dim: 2).matmul(attn.proj.weight.value.mT) + attn.proj.bias!.value
        XCTAssertLessThan(maxAbsoluteError(y, ref), 1e-5)

        // Causal mask: token 0's output ignores later tokens.
        var maskValues = [Float](repeating: 0, count: 25)
        for i in 0..<5 { for j in (i + 1)..<5 { maskValues[i * 5 + j] = -.infinity } }
        let mask = Tensor(maskValues, shape: [5, 5])
        let x2 = x.clone()
        for j in 8..<40 { x2.data[j] += 1 }  // change tokens 1…4 of batch 0
        let a = attn(x, mask: mask).toArray(), b = attn(x2, mask: mask).toArray()
        for i in 0..<8 { XCTAssertEqual(a[i], b[i], accuracy: 1e-6) }
        XCTAssertNotEqual(a[8], b[8])

        let full = MultiHeadAttention(dim: 8, heads: 2, qkNorm: true, rotaryDim: 4, generator: g)
        XCTAssertEqual(full.namedParameters().map(\.0),
                       ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "qNorm.weight", "kNorm.weight"])
        assertEveryParameterGetsGradient(full) { weightedSum(full(x)) }
        assertEveryParameterGetsGradient(attn) { weightedSum(attn(x, mask: mask)) }
    }

    /// Copies every parameter of `src` into `dst` (same structure).
    func copyWeights(from src: Module, to dst: Module) throws {
        try dst.load(stateDict: src.stateDict(copy: true))
    }

    func testJointAttentionEqualsAttentionOverTheConcatenatedSequence() throws {
        let g = Generator(seed: 21)
        for (qkNorm, rotary) in [(false, false), (true, true)] {
            let joint = JointAttention(dims: [8, 8], heads: 2, qkNorm: qkNorm, rotaryDim: rotary ? 4 : nil, generator: g)
            let single = MultiHeadAttention(dim: 8, heads: 2, qkNorm: qkNorm, rotaryDim: rotary ? 4 : nil, generator: g)
            // Same weights in both streams and in the single attention.
            try copyWeights(from: joint.streams[0], to: joint.streams[1])
            try copyWeights(from: joint.streams[0], to: single)
            let a = randn([2, 3, 8], seed: 1), b = randn([2, 5, 8], seed: 2)
            let ys = joint([a, b])
            XCTAssertEqual(ys.map(\.shape), [[2, 3, 8], [2, 5, 8]])
            // Default positions: 0..<Tᵢ in each stream, i.e. shared positions.
            let y = single(Tensor.concat([a, b], dim: 1), positions: [0, 1, 2, 0, 1, 2, 3, 4])
            XCTAssertLessThan(maxAbsoluteError(Tensor.concat(ys, dim: 1), y), 1e-5, "qkNorm \(qkNorm) rotary \(rotary)")
            if rotary {
                // Explicit positions reach the rotary embedding.
                let explicit = joint([a, b], positions: [[10, 11, 12], [0, 1, 2, 3, 4]])
                let ref = single(Tensor.concat([a, b], dim: 1), positions: [10, 11, 12, 0, 1, 2, 3, 4])
                XCTAssertLessThan(maxAbsoluteError(Tensor.concat(explicit, dim: 1), ref), 1e-5)
                XCTAssertGreaterThan(maxAbsoluteError(explicit[0], ys[0]), 1e-3)
            }
        }
    }

    func testJointAttentionWithDistinctStreamsMatchesExplicitComputation() {
        let g = Generator(seed: 22)
        let joint = JointAttention(dims: [8, 6], heads: 2, headDim: 4, qkNorm: true, rotaryDim: 4, generator: g)
        let a = randn([1, 4, 8], seed: 3), b = randn([1, 4, 6], seed: 4)
        let ys = joint([a, b])
        XCTAssertEqual(ys.map(\.shape), [[1, 4, 8], [1, 4, 6]])
        // Explicit: project each stream, concatenate tokens, one softmax, split, project back.
        let pa = joint.streams[0].projectQKV(a), pb = joint.streams[1].projectQKV(b)
        let q = Tensor.concat([pa.q, pb.q], dim: 2), k = Tensor.concat([pa.k, pb.k], dim: 2), v = Tensor.concat([pa.v, pb.v], dim: 2)
        let s = q.matmul(k.mT) * 0.5
        let p = (s - s.max(axes: [-1], keepDims: true)).exp()
        let o = (p / p.sum(axes: [-1], keepDims: true)).matmul(v)
        let ra = joint.streams[0].projectOut(o.slice(dim: 2, start: 0, end: 4))
        let rb = joint.streams[1].projectOut(o.slice(dim: 2, start: 4, end: 8))
        XCTAssertLessThan(maxAbsoluteError(ys[0], ra), 1e-5)
        XCTAssertLessThan(maxAbsoluteError(ys[1], rb), 1e-5)
        // Each stream's output depends on the other stream (one softmax over both).
        let b2 = b + 1
        XCTAssertGreaterThan(maxAbsoluteError(joint([a, b2])[0], ys[0]), 1e-4)
        XCTAssertEqual(joint.namedParameters().map(\.0).filter { $0.hasPrefix("streams.1.") }.count, 6)
        assertEveryParameterGetsGradient(joint) { let y = joint([a, b]); return weightedSum(y[0]) + weightedSum(y[1], seed: 78) }
    }

    func testAttentionInputGradientMatchesFiniteDifferences() {
        let attn = MultiHeadAttention(dim: 4, heads: 2, qkNorm: true, rotaryDim: 2, generator: Generator(seed: 30))
        assertGradCheck([randn([1, 3, 4], seed: 5)], eps: 1e-2, atol: 3e-3, rtol: 3e-2) { xs in attn(xs[0]) }
    }
}
