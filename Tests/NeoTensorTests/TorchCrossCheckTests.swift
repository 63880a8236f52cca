import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// Cross-check against PyTorch (CPU, float32): for each case this test writes the inputs, a
/// random output gradient, our forward output and every input gradient as .npy files plus a
/// manifest; `Tests/crosscheck/engine_torch.py` recomputes them with torch in float32 and float64
/// and fails when any relative error |ours − exact| / (|exact| + 1e-3·max|exact|) against the
/// float64 answer exceeds both 1e-4 and twice torch float32's own error (the floor, scaled to
/// each tensor's magnitude, keeps elements near zero from dominating).
final class TorchCrossCheckTests: XCTestCase {
    struct Case {
        let name: String
        let op: String
        var params: [String: Any] = [:]
        let inputs: [(String, Tensor, Bool)]  // name, value, needs a gradient
        let run: ([Tensor]) -> Tensor
    }

    func causalMask(_ t: Int) -> Tensor {
        var m = [Float](repeating: 0, count: t * t)
        for i in 0..<t { for j in (i + 1)..<max(t, i + 1) { m[i * t + j] = -.infinity } }
        return Tensor(m, shape: [t, t])
    }

    func cases() -> [Case] {
        var seed: UInt64 = 1000
        func r(_ shape: [Int], _ scale: Float = 1) -> Tensor { seed += 1; return randn(shape, seed: seed) * scale }
        var list: [Case] = []
        list.append(Case(name: "linear", op: "linear", inputs: [("x", r([2, 5, 12]), true), ("weight", r([7, 12], 0.3), true), ("bias", r([7]), true)]) {
            linear($0[0], weight: $0[1], bias: $0[2])
        })
        list.append(Case(name: "softmax", op: "softmax", params: ["dim": -1], inputs: [("x", r([4, 9], 2), true)]) { $0[0].softmax() })
        list.append(Case(name: "softmax_dim0", op: "softmax", params: ["dim": 0], inputs: [("x", r([4, 9], 2), true)]) { $0[0].softmax(dim: 0) })
        list.append(Case(name: "log_softmax", op: "log_softmax", params: ["dim": -1], inputs: [("x", r([4, 9], 2), true)]) { $0[0].logSoftmax() })
        list.append(Case(name: "layer_norm", op: "layer_norm", params: ["eps": 1e-5],
                         inputs: [("x", r([3, 4, 20], 2), true), ("weight", r([20]), true), ("bias", r([20]), true)]) {
            layerNorm($0[0], weight: $0[1], bias: $0[2])
        })
        list.append(Case(name: "rms_norm", op: "rms_norm", params: ["eps": 1e-6], inputs: [("x", r([6, 20], 2), true), ("weight", r([20]), true)]) {
            rmsNorm($0[0], weight: $0[1])
        })
        list.append(Case(name: "gelu", op: "gelu", inputs: [("x", r([5, 21], 3), true)]) { $0[0].gelu() })
        list.append(Case(name: "gelu_tanh", op: "gelu_tanh", inputs: [("x", r([5, 21], 3), true)]) { $0[0].gelu(approximate: true) })
        list.append(Case(name: "silu", op: "silu", inputs: [("x", r([5, 21], 3), true)]) { $0[0].silu() })
        list.append(Case(name: "attention_mask", op: "attention", params: ["scale": 0.4],
                         inputs: [("q", r([2, 3, 6, 8]), true), ("k", r([2, 3, 7, 8]), true), ("v", r([2, 3, 7, 5]), true), ("mask", r([2, 1, 6, 7]), true)]) {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3], scale: 0.4)
        })
        let causal = causalMask(6)
        list.append(Case(name: "attention_causal", op: "attention",
                         inputs: [("q", r([2, 2, 6, 8]), true), ("k", r([2, 2, 6, 8]), true), ("v", r([2, 2, 6, 8]), true), ("mask", causal, false)]) {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3])
        })
        list.append(Case(name: "mse", op: "mse", inputs: [("pred", r([4, 6]), true), ("target", r([4, 6]), true)]) { mseLoss($0[0], $0[1]) })
        list.append(Case(name: "mse_sum_broadcast", op: "mse_sum", inputs: [("pred", r([4, 6]), true), ("target", r([6]), true)]) {
            mseLoss($0[0], $0[1], reduction: .sum)
        })
        list.append(Case(name: "l1", op: "l1", inputs: [("pred", r([4, 6]), true), ("target", r([4, 6]), true)]) { l1Loss($0[0], $0[1]) })
        list.append(Case(name: "smooth_l1", op: "smooth_l1", params: ["beta": 0.5], inputs: [("pred", r([4, 6]), true), ("target", r([4, 6]), true)]) {
            smoothL1Loss($0[0], $0[1], beta: 0.5)
        })
        list.append(Case(name: "bce", op: "bce", inputs: [("logits", r([4, 6], 4), true), ("target", Tensor.uniform([4, 6], generator: Generator(seed: 77)), true)]) {
            bceWithLogits($0[0], $0[1])
        })
        let targets = [3, 0, 9, 9, 4, -100, 1]
        list.append(Case(name: "cross_entropy", op: "cross_entropy", params: ["targets": targets, "ignore_index": -100], inputs: [("logits", r([7, 10], 3), true)]) {
            crossEntropy($0[0], targets: targets, ignoreIndex: -100)
        })
        list.append(Case(name: "log_sigmoid", op: "log_sigmoid", inputs: [("x", r([5, 9], 6), true)]) { $0[0].logSigmoid() })
        list.append(Case(name: "concat", op: "concat", params: ["dim": 1], inputs: [("a", r([3, 2, 4]), true), ("b", r([3, 5, 4]), true)]) {
            Tensor.concat([$0[0], $0[1]], dim: 1)
        })
        let idx = [4, 0, 4, 2, 1, 4]
        list.append(Case(name: "index_select", op: "index_select", params: ["dim": 1, "indices": idx], inputs: [("x", r([2, 5, 3]), true)]) {
            $0[0].indexSelect(dim: 1, indices: idx)
        })
        list.append(Case(name: "embedding", op: "embedding", params: ["indices": idx], inputs: [("weight", r([6, 4]), true)]) { embedding($0[0], idx) })
        let gIndex = Tensor([2, 0, 1, 2, 0, 0, 1, 1], shape: [2, 4])
        list.append(Case(name: "gather", op: "gather", params: ["dim": 0], inputs: [("x", r([3, 4]), true), ("index", gIndex, false)]) {
            $0[0].gather(dim: 0, index: $0[1])
        })
        list.append(Case(name: "scatter_add", op: "scatter_add", params: ["dim": 0],
                         inputs: [("x", r([3, 4]), true), ("index", gIndex, false), ("source", r([2, 4]), true)]) {
            $0[0].scatterAdd(dim: 0, index: $0[1], source: $0[2])
        })
        list.append(Case(name: "pad", op: "pad", params: ["padding": [[1, 0], [2, 3]], "value": 0.5], inputs: [("x", r([2, 3, 4]), true)]) {
            $0[0].pad([(1, 0), (2, 3)], value: 0.5)
        })
        list.append(Case(name: "adaln_modulate", op: "adaln_modulate",
                         inputs: [("x", r([2, 5, 8]), true), ("shift", r([2, 8]), true), ("scale", r([2, 8]), true)]) {
            adaLNModulate($0[0], shift: $0[1], scale: $0[2])
        })
        list.append(Case(name: "gated_residual", op: "gated_residual",
                         inputs: [("x", r([2, 5, 8]), true), ("gate", r([2, 8]), true), ("y", r([2, 5, 8]), true)]) {
            gatedResidual($0[0], gate: $0[1], $0[2])
        })
        // A small MLP block: x + linear(gelu(linear(layerNorm(x)))).
        list.append(Case(name: "mlp", op: "mlp",
                         inputs: [("x", r([3, 5, 16]), true), ("ln_weight", r([16], 0.5) + 1, true), ("ln_bias", r([16], 0.1), true),
                                  ("w1", r([32, 16], 0.25), true), ("b1", r([32], 0.1), true), ("w2", r([16, 32], 0.18), true), ("b2", r([16], 0.1), true)]) { p in
            let h = linear(layerNorm(p[0], weight: p[1], bias: p[2]), weight: p[3], bias: p[4]).gelu()
            return p[0] + linear(h, weight: p[5], bias: p[6])
        })
        // A small causal self-attention block: fused qkv projection, heads as views, out projection, residual.
        let (b, t, c, heads) = (2, 6, 16, 4)
        let mask = causalMask(t)
        list.append(Case(name: "attention_block", op: "attention_block", params: ["heads": heads],
                         inputs: [("x", r([b, t, c]), true), ("ln_weight", r([c], 0.5) + 1, true), ("ln_bias", r([c], 0.1), true),
                                  ("w_qkv", r([3 * c, c], 0.25), true), ("b_qkv", r([3 * c], 0.1), true),
                                  ("w_out", r([c, c], 0.25), true), ("b_out", r([c], 0.1), true)]) { p in
            let qkv = linear(layerNorm(p[0], weight: p[1], bias: p[2]), weight: p[3], bias: p[4])  // [B, T, 3C]
            let split = qkv.reshape([b, t, 3, heads, c / heads]).permute([2, 0, 3, 1, 4])  // [3, B, H, T, Dh]
            let q = split.slice(dim: 0, start: 0, end: 1).squeeze(0)
            let k = split.slice(dim: 0, start: 1, end: 2).squeeze(0)
            let v = split.slice(dim: 0, start: 2, end: 3).squeeze(0)
            let o = scaledDotProductAttention(q, k, v, mask: mask).permute([0, 2, 1, 3]).reshape([b, t, c])
            return p[0] + linear(o, weight: p[5], bias: p[6])
        })
        return list
    }

    func testAgainstTorch() throws {
        guard PythonCrossCheck.available(["torch", "numpy"]) else { throw XCTSkip("python3 with torch and numpy is not available") }
        let dir = PythonCrossCheck.temporaryDirectory("engine-torch")
        defer { try? FileManager.default.removeItem(at: dir) }
        var manifest: [[String: Any]] = []
        for (i, c) in cases().enumerated() {
            let xs = c.inputs.map { $0.1 }
            for (x, (_, _, needs)) in zip(xs, c.inputs) { x.requiresGrad = needs; x.grad = nil }
            let tape = Tape()
            let y = tape.record { c.run(xs) }
            let gy = randn(y.shape, seed: UInt64(500 + i))
            tape.backward(y, gradient: gy)
            func path(_ tag: String) -> String { dir.appendingPathComponent("\(c.name)__\(tag).npy").path }
            for (name, x, needs) in c.inputs {
                try NPY.write(x.contiguous(), to: path(name))
                if needs {
                    let g = try XCTUnwrap(x.grad, "\(c.name): no gradient for \(name)")
                    try NPY.write(g, to: path("grad_\(name)"))
                }
            }
            try NPY.write(y, to: path("out"))
            try NPY.write(gy, to: path("gout"))
            manifest.append(["name": c.name, "op": c.op, "params": c.params,
                             "inputs": c.inputs.map { $0.0 }, "grads": c.inputs.filter { $0.2 }.map { $0.0 }])
        }
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: dir.appendingPathComponent("manifest.json"))
        let (status, output) = PythonCrossCheck.runScript("engine_torch.py", [dir.path])
        print(output)
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("checked \(manifest.count) cases"), output)
    }
}
