import Foundation
import NeoExport
import NeoNN
import NeoTensor
import NeoTestSupport
import XCTest

/// A small DiT-style block built from NeoNN layers: adaLN-Zero modulation from a conditioning
/// vector, self-attention with q/k RMS-norm and rotary positions, gated residuals and an MLP.
final class AdaLNBlock: Module {
    let modulation: Linear
    let attn: MultiHeadAttention
    let mlp: MLP
    let time: TimestepEmbedding
    let width: Int

    init(width: Int, heads: Int, generator g: Generator) {
        self.width = width
        modulation = Linear(width, 6 * width, generator: g)
        attn = MultiHeadAttention(dim: width, heads: heads, qkNorm: true, rotaryDim: 6, generator: g)
        mlp = MLP(width, hidden: 2 * width, activation: .geluTanh, generator: g)
        time = TimestepEmbedding(dim: width, frequencyDim: 16, generator: g)
    }

    /// x `[B, T, C]`, t `[B]`.
    func callAsFunction(_ x: Tensor, t: Tensor) -> Tensor {
        let c = time(t).silu()
        let m = modulation(c).split(Array(repeating: width, count: 6), dim: 1)
        let h = adaLNModulate(layerNorm(x, weight: nil, bias: nil, eps: 1e-6), shift: m[0], scale: m[1])
        var y = gatedResidual(x, gate: m[2], attn(h))
        y = gatedResidual(y, gate: m[5], mlp(adaLNModulate(layerNorm(y, weight: nil, bias: nil, eps: 1e-6), shift: m[3], scale: m[4])))
        return y
    }

    func export(_ g: ONNXGraph, _ x: ONNXValue, t: ONNXValue) -> ONNXValue {
        let c = g.silu(g.scope("time") { g.timestepEmbedding(time, t) })
        let m = g.split(g.linear2D(modulation, c), Array(repeating: width, count: 6), axis: 1)
        let h = g.adaLNModulate(g.layerNorm(x, dim: width, eps: 1e-6), shift: m[0], scale: m[1])
        var y = g.gatedResidual(x, gate: m[2], g.scope("attn") { g.multiHeadAttention(attn, h) })
        let h2 = g.adaLNModulate(g.layerNorm(y, dim: width, eps: 1e-6), shift: m[3], scale: m[4])
        y = g.gatedResidual(y, gate: m[5], g.scope("mlp") { g.mlp(mlp, h2) })
        return y
    }
}

/// NeoNN building blocks exported to ONNX and run by onnxruntime at two frame counts: outputs
/// match ours within 1e-4 relative error (floor 1e-3·max|ours|) and the checker passes.
final class ONNXBlockTests: XCTestCase {
    override func setUpWithError() throws {
        guard ORT.available else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
    }

    /// Exports `build`'s graph once and compares ours and onnxruntime for each input set.
    private func check(_ what: String, graph: ONNXGraph, runs: [[String: Tensor]], ours: ([String: Tensor]) -> Tensor,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let results = try ORT.run(try graph.serialized(), runs, outputs: ["y"], file: file, line: line)
        for (run, result) in zip(runs, results) {
            let expected = noGrad { ours(run) }
            let frames = run["x"]?.shape[1] ?? 0
            Compare.assertClose(result["y"]!, expected, "\(what) at \(frames) frames", file: file, line: line)
        }
    }

    func testLinearMatMulAndGemm() throws {
        let g0 = Generator(seed: 1)
        let lin = Linear(12, 7, generator: g0), head = Linear(7, 3, bias: false, generator: g0)
        let root = Sequential([lin, head])
        let g = ONNXGraph(name: "linear", root: root)
        let x = g.input("x", shape: ["batch", "frames", 12])
        let h = g.linear(lin, x)
        // The Gemm path on the first frame's features.
        let first = g.squeeze(g.slice(h, axis: 1, start: 0, end: 1), [1])
        let y = g.add(g.scope("head") { g.linear(head, h) }, g.unsqueeze(g.scope("head2d") { g.linear2D(head, first) }, [1]))
        g.output(y, as: "y", shape: ["batch", "frames", 3])
        try check("Linear/Gemm", graph: g, runs: [["x": randn([2, 5, 12], seed: 2)], ["x": randn([2, 9, 12], seed: 3)]]) { r in
            let h = lin(r["x"]!)
            return head(h) + head(h.slice(dim: 1, start: 0, end: 1).squeeze(1)).unsqueeze(1)
        }
    }

    func testNormsAndActivations() throws {
        let gen = Generator(seed: 4)
        let ln = LayerNorm(16), rms = RMSNorm(16), lnPlain = LayerNorm(16, eps: 1e-6, affine: false)
        randomizeParameters(ln, seed: 5)
        randomizeParameters(rms, seed: 6)
        let mlps: [MLP] = [.gelu, .geluTanh, .silu, .relu].map { MLP(16, hidden: 24, activation: $0, generator: gen) }
        let gated = MLP(16, hidden: 20, activation: .silu, gated: true, generator: gen)
        let root = Sequential([ln, rms, lnPlain] + mlps + [gated])
        let g = ONNXGraph(name: "norms", root: root)
        let x = g.input("x", shape: ["batch", "frames", 16])
        var y = g.add(g.layerNorm(ln, x), g.rmsNorm(rms, x))
        y = g.add(y, g.layerNorm(lnPlain, g.mul(x, 3)))
        for (i, m) in mlps.enumerated() { y = g.add(y, g.scope("mlp\(i)") { g.mlp(m, x) }) }
        y = g.add(y, g.scope("gated") { g.mlp(gated, x) })
        g.output(y, as: "y", shape: ["batch", "frames", 16])
        try check("LayerNorm/RMSNorm/MLPs", graph: g, runs: [["x": randn([3, 4, 16], seed: 7)], ["x": randn([1, 13, 16], seed: 8)]]) { r in
            let x = r["x"]!
            var y = ln(x) + rms(x) + lnPlain(x * 3)
            for m in mlps { y = y + m(x) }
            return y + gated(x)
        }
    }

    func testMultiHeadAttentionWithRotaryAndQKNorm() throws {
        let attn = MultiHeadAttention(dim: 24, heads: 3, qkNorm: true, rotaryDim: 6, generator: Generator(seed: 9))
        randomizeParameters(attn, seed: 10)
        let g = ONNXGraph(name: "mha", root: attn)
        let x = g.input("x", shape: ["batch", "frames", 24])
        g.output(g.multiHeadAttention(attn, x), as: "y", shape: ["batch", "frames", 24])
        try check("MultiHeadAttention(rotary 6 of 8, qk-norm)", graph: g,
                  runs: [["x": randn([2, 6, 24], seed: 11)], ["x": randn([2, 17, 24], seed: 12)]]) { r in attn(r["x"]!) }
    }

    func testJointAttentionOverTwoStreams() throws {
        let joint = JointAttention(dims: [16, 16], heads: 2, qkNorm: true, rotaryDim: 8, generator: Generator(seed: 13))
        randomizeParameters(joint, seed: 14)
        let g = ONNXGraph(name: "joint", root: joint)
        let x = g.input("x", shape: ["batch", "frames", 16])
        let a = g.input("a", shape: ["batch", "frames", 16])
        let outs = g.jointAttention(joint, [x, a])
        g.output(g.concat(outs, axis: 2), as: "y", shape: ["batch", "frames", 32])
        let runs = [["x": randn([2, 5, 16], seed: 15), "a": randn([2, 5, 16], seed: 16)],
                    ["x": randn([2, 11, 16], seed: 17), "a": randn([2, 11, 16], seed: 18)]]
        try check("JointAttention", graph: g, runs: runs) { r in Tensor.concat(joint([r["x"]!, r["a"]!]), dim: 2) }
    }

    func testAdaLNBlockWithTimestep() throws {
        let block = AdaLNBlock(width: 32, heads: 4, generator: Generator(seed: 19))
        randomizeParameters(block, seed: 20)
        let g = ONNXGraph(name: "adaln", root: block)
        let x = g.input("x", shape: ["batch", "frames", 32])
        let t = g.input("t", shape: ["batch"])
        g.output(block.export(g, x, t: t), as: "y", shape: ["batch", "frames", 32])
        let runs = [["x": randn([2, 7, 32], seed: 21), "t": Tensor([0.03, 0.91], shape: [2])],
                    ["x": randn([2, 12, 32], seed: 22), "t": Tensor([0.5, 1.0], shape: [2])]]
        try check("adaLN block", graph: g, runs: runs) { r in block(r["x"]!, t: r["t"]!) }
    }
}
