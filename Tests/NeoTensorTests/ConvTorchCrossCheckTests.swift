import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// Convolution, pooling and grid-sampling ops against PyTorch: NeoTensor writes inputs, outputs,
/// output gradients and input gradients as .npy; Tests/crosscheck/conv_torch.py recomputes them
/// with torch (CPU, float32) and requires max |neo − torch| / (|torch| + 1e-2·max|torch|) ≤ 1e-4
/// for every output and every gradient.
final class ConvTorchCrossCheckTests: XCTestCase {
    struct Case {
        let name: String
        let op: String
        let params: [String: Any]
        let inputs: [(String, Tensor)]
        let run: ([Tensor]) -> Tensor
    }

    func cases() -> [Case] {
        var cases: [Case] = []
        var seed: UInt64 = 100
        func r(_ shape: [Int]) -> Tensor { seed += 1; return randn(shape, seed: seed) }

        // Convolutions: groups, dilation, stride and padding together, with and without bias.
        let convs: [(String, [Int], [Int], [Int], [Int], [Int], Int, Bool)] = [
            ("conv1d", [2, 6, 23], [4, 3, 3], [2], [2], [3], 2, true),
            ("conv1d", [1, 3, 10], [5, 3, 1], [1], [0], [1], 1, false),
            ("conv2d", [2, 4, 9, 10], [6, 2, 3, 3], [2, 1], [1, 2], [2, 1], 2, true),
            ("conv2d", [1, 6, 7, 7], [6, 1, 3, 3], [1, 1], [1, 1], [1, 1], 6, false),
            ("conv2d", [2, 5, 6, 4], [3, 5, 1, 1], [1, 1], [0, 0], [1, 1], 1, true),
            ("conv3d", [2, 4, 6, 7, 5], [6, 2, 3, 2, 3], [1, 2, 1], [1, 0, 2], [2, 1, 1], 2, true),
            ("conv3d", [2, 16, 8, 8, 8], [32, 16, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1, true),
        ]
        for (i, (op, xs, ws, s, p, d, g, hasBias)) in convs.enumerated() {
            var inputs = [("x", r(xs)), ("weight", r(ws))]
            if hasBias { inputs.append(("bias", r([ws[0]]))) }
            cases.append(Case(name: "\(op)_\(i)", op: op, params: ["stride": s, "padding": p, "dilation": d, "groups": g], inputs: inputs) { v in
                let b = v.count > 2 ? v[2] : nil
                switch op {
                case "conv1d": return conv1d(v[0], weight: v[1], bias: b, stride: s[0], padding: p[0], dilation: d[0], groups: g)
                case "conv2d": return conv2d(v[0], weight: v[1], bias: b, stride: s, padding: p, dilation: d, groups: g)
                default: return conv3d(v[0], weight: v[1], bias: b, stride: s, padding: p, dilation: d, groups: g)
                }
            })
        }

        let transposed: [(String, [Int], [Int], [Int], [Int], [Int], [Int], Int, Bool)] = [
            ("convTranspose2d", [2, 4, 5, 6], [4, 3, 3, 3], [2, 1], [1, 1], [1, 0], [1, 2], 2, true),
            ("convTranspose2d", [1, 3, 4, 4], [3, 2, 4, 4], [2, 2], [1, 1], [0, 0], [1, 1], 1, false),
            ("convTranspose1d", [2, 4, 7], [4, 2, 3], [3], [1], [2], [1], 2, true),
            ("convTranspose3d", [1, 2, 3, 4, 3], [2, 3, 3, 2, 3], [2, 1, 2], [1, 0, 1], [1, 0, 0], [1, 2, 1], 1, true),
        ]
        for (i, (op, xs, ws, s, p, opad, d, g, hasBias)) in transposed.enumerated() {
            var inputs = [("x", r(xs)), ("weight", r(ws))]
            if hasBias { inputs.append(("bias", r([ws[1] * g]))) }
            cases.append(Case(name: "\(op)_\(i)", op: op, params: ["stride": s, "padding": p, "outputPadding": opad, "dilation": d, "groups": g], inputs: inputs) { v in
                let b = v.count > 2 ? v[2] : nil
                switch op {
                case "convTranspose1d": return convTranspose1d(v[0], weight: v[1], bias: b, stride: s[0], padding: p[0], outputPadding: opad[0], dilation: d[0], groups: g)
                case "convTranspose2d": return convTranspose2d(v[0], weight: v[1], bias: b, stride: s, padding: p, outputPadding: opad, dilation: d, groups: g)
                default: return convTranspose3d(v[0], weight: v[1], bias: b, stride: s, padding: p, outputPadding: opad, dilation: d, groups: g)
                }
            })
        }

        // Pools (random normal values: ties have probability zero).
        let pools: [(String, [Int], [Int], [Int], [Int])] = [
            ("1d", [2, 3, 13], [3], [2], [1]),
            ("2d", [2, 3, 9, 8], [3, 2], [2, 2], [1, 1]),
            ("3d", [1, 2, 7, 6, 5], [3, 2, 3], [2, 1, 2], [1, 0, 1]),
        ]
        for (i, (dims, xs, k, s, p)) in pools.enumerated() {
            let x = r(xs)
            let params: [String: Any] = ["kernel": k, "stride": s, "padding": p]
            cases.append(Case(name: "avgPool\(dims)_\(i)", op: "avgPool\(dims)", params: params, inputs: [("x", x)]) { v in
                switch dims {
                case "1d": return avgPool1d(v[0], kernel: k, stride: s, padding: p)
                case "2d": return avgPool2d(v[0], kernel: k, stride: s, padding: p)
                default: return avgPool3d(v[0], kernel: k, stride: s, padding: p)
                }
            })
            cases.append(Case(name: "maxPool\(dims)_\(i)", op: "maxPool\(dims)", params: params, inputs: [("x", x)]) { v in
                switch dims {
                case "1d": return maxPool1d(v[0], kernel: k, stride: s, padding: p)
                case "2d": return maxPool2d(v[0], kernel: k, stride: s, padding: p)
                default: return maxPool3d(v[0], kernel: k, stride: s, padding: p)
                }
            })
        }
        cases.append(Case(name: "adaptiveAvgPool2d", op: "adaptiveAvgPool2d", params: ["outputSize": [3, 4]], inputs: [("x", r([2, 3, 7, 9]))]) {
            adaptiveAvgPool2d($0[0], outputSize: [3, 4])
        })
        cases.append(Case(name: "adaptiveAvgPool3d", op: "adaptiveAvgPool3d", params: ["outputSize": [2, 3, 2]], inputs: [("x", r([1, 2, 5, 7, 3]))]) {
            adaptiveAvgPool3d($0[0], outputSize: [2, 3, 2])
        })

        // Grid sampling: both alignCorners values, both paddings, grids reaching past the border.
        for align in [false, true] {
            for padding in [GridPadding.zeros, .border] {
                let mode = padding == .zeros ? "zeros" : "border"
                let params: [String: Any] = ["alignCorners": align, "padding": mode]
                let g2 = r([2, 5, 6, 2]) * 0.7
                cases.append(Case(name: "gridSample2d_\(align)_\(mode)", op: "gridSample2d", params: params,
                                  inputs: [("input", r([2, 3, 6, 7])), ("grid", g2)]) {
                    gridSample2d($0[0], grid: $0[1], alignCorners: align, padding: padding)
                })
                let g3 = r([2, 4, 3, 5, 3]) * 0.7
                cases.append(Case(name: "gridSample3d_\(align)_\(mode)", op: "gridSample3d", params: params,
                                  inputs: [("input", r([2, 3, 5, 4, 6])), ("grid", g3)]) {
                    gridSample3d($0[0], grid: $0[1], alignCorners: align, padding: padding)
                })
            }
        }
        // Image ops of the Pictar renderer.
        for shape in [[2, 3, 5, 6], [1, 2, 3, 4, 5]] {
            cases.append(Case(name: "instanceNorm\(shape.count - 2)d", op: "instanceNorm", params: [:], inputs: [("x", r(shape) * 2 + 1)]) {
                instanceNorm($0[0])
            })
        }
        cases.append(Case(name: "pixelShuffle", op: "pixelShuffle", params: ["factor": 2], inputs: [("x", r([2, 12, 3, 4]))]) {
            pixelShuffle($0[0], factor: 2)
        })
        for (shape, factors) in [([2, 3, 4, 5], [2, 3]), ([1, 2, 3, 4, 2], [1, 2, 2])] {
            cases.append(Case(name: "upsampleNearest\(factors.count)d", op: "upsampleNearest", params: ["factors": factors],
                              inputs: [("x", r(shape))]) { upsampleNearest($0[0], factors: factors) })
        }
        cases.append(Case(name: "leakyReLU", op: "leakyReLU", params: ["slope": 0.2], inputs: [("x", r([2, 3, 5, 4]))]) {
            leakyReLU($0[0], slope: 0.2)
        })
        return cases
    }

    func testAgainstPyTorch() throws {
        guard PythonCrossCheck.available(["torch", "numpy"]) else { throw XCTSkip("python3 with torch and numpy is not available") }
        let dir = PythonCrossCheck.temporaryDirectory("conv-crosscheck")
        defer { try? FileManager.default.removeItem(at: dir) }
        var manifest: [[String: Any]] = []
        for c in cases() {
            let leaves = c.inputs.map { $0.1.detach().requiringGrad() }
            let tape = Tape()
            let y = tape.record { c.run(leaves) }
            let gOut = randn(y.shape, seed: 7)
            tape.backward(y, gradient: gOut)
            func write(_ t: Tensor, _ tag: String) throws {
                try NPY.write(t, to: dir.appendingPathComponent("\(c.name).\(tag).npy").path)
            }
            for ((key, _), leaf) in zip(c.inputs, leaves) {
                try write(leaf.detach(), "in.\(key)")
                try write(try XCTUnwrap(leaf.grad, "\(c.name): no gradient for \(key)"), "grad.\(key)")
            }
            try write(y.detach(), "out")
            try write(gOut, "gradOut")
            manifest.append(["name": c.name, "op": c.op, "params": c.params, "inputs": c.inputs.map { $0.0 }])
        }
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: dir.appendingPathComponent("manifest.json"))
        let result = PythonCrossCheck.runScript("conv_torch.py", [dir.path])
        print(result.output)
        XCTAssertEqual(result.status, 0, result.output)
    }
}
