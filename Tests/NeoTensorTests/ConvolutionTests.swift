import XCTest
import NeoTensor
import NeoTestSupport

/// Convolutions: gradients against central differences (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|;
/// a convolution is linear in each input, so only float rounding separates the two), and the
/// fused kernels against the composite references of ConvReference.swift, forward and backward.
final class ConvolutionTests: XCTestCase {

    // MARK: Gradients

    func testConv1dGradients() {
        assertGradCheck("conv1d groups 2 stride 2 pad 1 dilation 2", [randn([2, 4, 9], seed: 1), randn([6, 2, 3], seed: 2), randn([6], seed: 3)]) {
            conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, dilation: 2, groups: 2)
        }
        assertGradCheck("conv1d plain", [randn([1, 3, 7], seed: 4), randn([2, 3, 4], seed: 5)]) {
            conv1d($0[0], weight: $0[1], bias: nil)
        }
    }

    func testConv2dGradients() {
        assertGradCheck("conv2d groups 2, stride [2,1], pad [1,0], dilation [1,2]",
              [randn([2, 4, 6, 5], seed: 6), randn([4, 2, 3, 2], seed: 7), randn([4], seed: 8)]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2)
        }
        assertGradCheck("conv2d depthwise pad 2 stride 3", [randn([1, 3, 7, 6], seed: 9), randn([3, 1, 3, 3], seed: 10)]) {
            conv2d($0[0], weight: $0[1], bias: nil, stride: [3, 3], padding: [2, 2], groups: 3)
        }
        assertGradCheck("conv2d 1×1", [randn([2, 3, 4, 3], seed: 11), randn([5, 3, 1, 1], seed: 12), randn([5], seed: 13)]) {
            conv2d($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradCheck("conv2d 1×1 stride 2", [randn([1, 2, 5, 5], seed: 14), randn([3, 2, 1, 1], seed: 15)]) {
            conv2d($0[0], weight: $0[1], bias: nil, stride: [2, 2])
        }
    }

    func testConv3dGradients() {
        assertGradCheck("conv3d stride [1,2,1] pad [1,1,0] dilation [2,1,1]",
              [randn([1, 2, 4, 5, 4], seed: 16), randn([3, 2, 2, 3, 2], seed: 17), randn([3], seed: 18)]) {
            conv3d($0[0], weight: $0[1], bias: $0[2], stride: [1, 2, 1], padding: [1, 1, 0], dilation: [2, 1, 1])
        }
        assertGradCheck("conv3d groups 2 pad 1", [randn([2, 4, 3, 3, 4], seed: 19), randn([2, 2, 3, 3, 3], seed: 20)]) {
            conv3d($0[0], weight: $0[1], bias: nil, padding: [1, 1, 1], groups: 2)
        }
    }

    func testNonContiguousInputs() {
        // x as a permuted view, the weight as a transposed view.
        let x = randn([2, 5, 4, 3], seed: 21).permute([0, 3, 2, 1])    // [2, 3, 4, 5]
        let w = randn([4, 3, 2, 2], seed: 22).transpose(2, 3)
        XCTAssertFalse(x.isContiguous)
        XCTAssertFalse(w.isContiguous)
        assertGradCheck("conv2d permuted input", [x, w]) { conv2d($0[0], weight: $0[1], bias: nil, padding: [1, 0]) }
        let xt = randn([2, 6, 3], seed: 23).transpose(1, 2)              // [2, 3, 6]
        let wt = randn([3, 2, 4], seed: 24).slice(dim: 2, start: 0, end: 4, step: 2)  // [3, 2, 2]
        assertGradCheck("convTranspose1d strided views", [xt, wt]) { convTranspose1d($0[0], weight: $0[1], bias: nil, stride: 2) }
    }

    func testConvTransposeGradients() {
        assertGradCheck("convTranspose2d groups 2 stride [2,1] pad [1,0] outputPadding [1,0] dilation [1,2]",
              [randn([2, 4, 3, 4], seed: 25), randn([4, 3, 3, 2], seed: 26), randn([6], seed: 27)]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: [2, 1], padding: [1, 0], outputPadding: [1, 0],
                            dilation: [1, 2], groups: 2)
        }
        assertGradCheck("convTranspose1d stride 3 pad 1", [randn([1, 2, 5], seed: 28), randn([2, 3, 4], seed: 29), randn([3], seed: 30)]) {
            convTranspose1d($0[0], weight: $0[1], bias: $0[2], stride: 3, padding: 1, outputPadding: 2)
        }
        assertGradCheck("convTranspose3d stride 2 pad 1", [randn([1, 2, 2, 3, 2], seed: 31), randn([2, 2, 3, 2, 3], seed: 32)]) {
            convTranspose3d($0[0], weight: $0[1], bias: nil, stride: [2, 2, 2], padding: [1, 0, 1], outputPadding: [1, 1, 0])
        }
        // outputPadding below the dilation but not below the stride (PyTorch allows it).
        assertGradCheck("convTranspose2d outputPadding < dilation", [randn([1, 2, 3, 3], seed: 33), randn([2, 2, 2, 2], seed: 34)]) {
            convTranspose2d($0[0], weight: $0[1], bias: nil, outputPadding: [1, 2], dilation: [2, 3])
        }
    }

    // MARK: Fused vs composite

    /// Output and every gradient of a fused op against its composite on the same inputs.
    func compareWithComposite(_ name: String, _ inputs: [Tensor], tolerance: Double = 1e-4,
                              file: StaticString = #filePath, line: UInt = #line,
                              fused: ([Tensor]) -> Tensor, composite: ([Tensor]) -> Tensor) {
        func run(_ f: ([Tensor]) -> Tensor) -> (Tensor, [Tensor]) {
            let leaves = inputs.map { $0.detach().requiringGrad() }
            let tape = Tape()
            let y = tape.record { f(leaves) }
            tape.backward(y, gradient: randn(y.shape, seed: 99))
            return (y, leaves.map { $0.grad! })
        }
        let (yf, gf) = run(fused)
        let (yc, gc) = run(composite)
        XCTAssertEqual(yf.shape, yc.shape, "\(name): output shape", file: file, line: line)
        guard yf.shape == yc.shape else { return }
        let scale = { (t: Tensor) in Double(t.abs().max().item) + 1e-6 }
        XCTAssertLessThan(maxAbsoluteError(yf, yc) / scale(yc), tolerance, "\(name): output", file: file, line: line)
        for i in 0..<inputs.count {
            XCTAssertLessThan(maxAbsoluteError(gf[i], gc[i]) / scale(gc[i]), tolerance, "\(name): gradient of input \(i)", file: file, line: line)
        }
    }

    func testConvMatchesComposite() {
        let cases: [(String, [Int], [Int], [Int], [Int], [Int], Int)] = [
            // name, x shape, weight shape, stride, padding, dilation, groups
            ("conv1d", [2, 4, 40], [6, 2, 5], [3], [2], [2], 2),
            // "Same" widths take the shifted-plane path of vol2col/col2vol; tiles split lines.
            ("conv1d same", [2, 4, 300], [3, 4, 5], [1], [2], [1], 1),
            ("conv2d same width", [2, 3, 9, 10], [4, 3, 3, 5], [1, 1], [0, 2], [2, 1], 1),
            ("conv2d", [2, 6, 11, 9], [4, 3, 3, 2], [2, 1], [1, 1], [1, 3], 2),
            ("conv2d depthwise", [1, 4, 8, 8], [8, 1, 3, 3], [1, 1], [1, 1], [1, 1], 4),
            ("conv2d 1×1", [2, 5, 9, 7], [3, 5, 1, 1], [1, 1], [0, 0], [1, 1], 1),
            ("conv3d", [2, 3, 7, 6, 5], [4, 3, 3, 2, 3], [2, 1, 1], [1, 0, 2], [1, 2, 1], 1),
            // Large enough for several column tiles and partial rows per tile.
            ("conv3d tiled", [2, 8, 12, 12, 12], [6, 8, 3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
        ]
        for (name, xs, ws, s, p, d, g) in cases {
            let inputs = [randn(xs, seed: 40), randn(ws, seed: 41), randn([ws[0]], seed: 42)]
            for threads in [1, 3] {
                EngineContext(threads: threads).run {
                    compareWithComposite("\(name) threads \(threads)", inputs, fused: { v in
                        switch xs.count {
                        case 3: return conv1d(v[0], weight: v[1], bias: v[2], stride: s[0], padding: p[0], dilation: d[0], groups: g)
                        case 4: return conv2d(v[0], weight: v[1], bias: v[2], stride: s, padding: p, dilation: d, groups: g)
                        default: return conv3d(v[0], weight: v[1], bias: v[2], stride: s, padding: p, dilation: d, groups: g)
                        }
                    }, composite: { v in
                        referenceConv(v[0], weight: v[1], bias: v[2], stride: s, padding: p, dilation: d, groups: g)
                    })
                }
            }
        }
    }

    func testConvTransposeMatchesComposite() {
        let cases: [(String, [Int], [Int], [Int], [Int], [Int], [Int], Int)] = [
            // name, x shape, weight shape [C, O/g, k…], stride, padding, outputPadding, dilation, groups
            ("convTranspose1d", [2, 4, 9], [4, 3, 4], [2], [1], [1], [1], 2),
            ("convTranspose2d", [2, 4, 5, 6], [4, 3, 3, 3], [2, 2], [1, 0], [1, 0], [1, 2], 2),
            ("convTranspose2d 1×1", [1, 3, 4, 4], [3, 2, 1, 1], [1, 1], [0, 0], [0, 0], [1, 1], 1),
            ("convTranspose3d", [1, 2, 3, 4, 3], [2, 3, 2, 3, 2], [2, 1, 2], [0, 1, 1], [1, 0, 0], [1, 1, 2], 1),
        ]
        for (name, xs, ws, s, p, op, d, g) in cases {
            let inputs = [randn(xs, seed: 50), randn(ws, seed: 51), randn([ws[1] * g], seed: 52)]
            for threads in [1, 3] {
                EngineContext(threads: threads).run {
                    compareWithComposite("\(name) threads \(threads)", inputs, fused: { v in
                        switch xs.count {
                        case 3: return convTranspose1d(v[0], weight: v[1], bias: v[2], stride: s[0], padding: p[0], outputPadding: op[0], dilation: d[0], groups: g)
                        case 4: return convTranspose2d(v[0], weight: v[1], bias: v[2], stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
                        default: return convTranspose3d(v[0], weight: v[1], bias: v[2], stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
                        }
                    }, composite: { v in
                        referenceConvTranspose(v[0], weight: v[1], bias: v[2], stride: s, padding: p, outputPadding: op, dilation: d, groups: g)
                    })
                }
            }
        }
    }

    /// ⟨convTranspose(x), y⟩ = ⟨x, conv(y)⟩ with the same weight: the two ops are adjoint.
    func testConvTransposeIsAdjointOfConv() {
        let x = randn([2, 4, 5, 4], seed: 60), w = randn([4, 3, 3, 3], seed: 61)
        let t = convTranspose2d(x, weight: w, bias: nil, stride: [2, 2], padding: [1, 1], outputPadding: [1, 0], groups: 2)
        let y = randn(t.shape, seed: 62)
        let c = conv2d(y, weight: w, bias: nil, stride: [2, 2], padding: [1, 1], groups: 2)
        XCTAssertEqual(c.shape, x.shape)
        let lhs = (t * y).sum().item, rhs = (x * c).sum().item
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * Swift.max(1, Swift.abs(rhs)))
    }

    func testOutputShapesFollowPyTorch() {
        XCTAssertEqual(conv1d(Tensor.zeros([1, 1, 10]), weight: Tensor.zeros([2, 1, 3]), bias: nil, stride: 3, padding: 1, dilation: 2).shape, [1, 2, 3])
        XCTAssertEqual(conv2d(Tensor.zeros([1, 2, 7, 8]), weight: Tensor.zeros([4, 2, 3, 3]), bias: nil, stride: [2, 3], padding: [1, 0]).shape, [1, 4, 4, 2])
        XCTAssertEqual(conv3d(Tensor.zeros([1, 1, 4, 5, 6]), weight: Tensor.zeros([1, 1, 2, 2, 2]), bias: nil, dilation: [1, 2, 3]).shape, [1, 1, 3, 3, 3])
        XCTAssertEqual(convTranspose2d(Tensor.zeros([1, 2, 3, 4]), weight: Tensor.zeros([2, 5, 3, 3]), bias: nil, stride: [2, 2], padding: [1, 1], outputPadding: [1, 0]).shape, [1, 5, 6, 7])
    }

    /// A known value by hand: 1-D conv of [1 2 3 4] with [1 0 −1], padding 1.
    func testConv1dValues() {
        let y = conv1d(Tensor([1, 2, 3, 4], shape: [1, 1, 4]), weight: Tensor([1, 0, -1], shape: [1, 1, 3]), bias: Tensor([0.5]), padding: 1)
        XCTAssertEqual(y.toArray(), [-1.5, -1.5, -1.5, 3.5])
    }
}
