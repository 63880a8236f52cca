import XCTest
import NeoTensor
import NeoTestSupport

/// Pooling: gradients against central differences (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|), the
/// fused kernels against composite references (relative to the largest value, ≤ 1e-5), and the
/// PyTorch conventions that are easy to get wrong (padding in the average, ties in the max).
final class PoolingTests: XCTestCase {

    /// Distinct values 0.05 apart in shuffled order, so ±eps never changes which element is a maximum.
    func separated(_ shape: [Int], seed: UInt64) -> Tensor {
        let n = shape.reduce(1, *)
        var order = Array(0..<n)
        let g = Generator(seed: seed)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, g.nextInt(i + 1)) }
        return Tensor(order.map { Float($0) * 0.05 - Float(n) * 0.025 }, shape: shape)
    }

    func testAvgPoolGradients() {
        assertGradCheck("avgPool1d k3 s2 p1", [randn([2, 3, 9], seed: 1)]) { avgPool1d($0[0], kernel: [3], stride: [2], padding: [1]) }
        assertGradCheck("avgPool2d k[3,2] s[1,2] p[1,1]", [randn([1, 2, 5, 6], seed: 2)]) { avgPool2d($0[0], kernel: [3, 2], stride: [1, 2], padding: [1, 1]) }
        assertGradCheck("avgPool3d k2 default stride", [randn([1, 2, 4, 4, 5], seed: 3)]) { avgPool3d($0[0], kernel: [2, 2, 2]) }
        assertGradCheck("avgPool3d k3 s2 p1", [randn([1, 1, 5, 4, 5], seed: 4)]) { avgPool3d($0[0], kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1]) }
    }

    func testMaxPoolGradients() {
        assertGradCheck("maxPool1d k3 s2 p1", [separated([2, 3, 9], seed: 5)]) { maxPool1d($0[0], kernel: [3], stride: [2], padding: [1]) }
        assertGradCheck("maxPool2d k[3,2] s[2,1] p[1,0]", [separated([1, 2, 6, 5], seed: 6)]) { maxPool2d($0[0], kernel: [3, 2], stride: [2, 1], padding: [1, 0]) }
        assertGradCheck("maxPool3d k2", [separated([1, 2, 4, 4, 4], seed: 7)]) { maxPool3d($0[0], kernel: [2, 2, 2]) }
        // Overlapping windows on a permuted (non-contiguous) view.
        let x = separated([1, 5, 4, 2], seed: 8).permute([0, 3, 2, 1])
        XCTAssertFalse(x.isContiguous)
        assertGradCheck("maxPool2d overlapping windows on a permuted view", [x]) { maxPool2d($0[0], kernel: [2, 2], stride: [1, 1], padding: [1, 1]) }
    }

    func testAdaptiveAvgPool() {
        let y = adaptiveAvgPool1d(Tensor([1, 2, 3, 4, 5], shape: [1, 1, 5]), outputSize: [3])
        // Windows [0,2), [1,4), [3,5).
        XCTAssertEqual(y.toArray(), [1.5, 3, 4.5])
        assertGradCheck("adaptiveAvgPool2d 5×7 → 3×2", [randn([2, 2, 5, 7], seed: 9)]) { adaptiveAvgPool2d($0[0], outputSize: [3, 2]) }
        assertGradCheck("adaptiveAvgPool3d 3×4×5 → 2×3×2", [randn([1, 2, 3, 4, 5], seed: 10)]) { adaptiveAvgPool3d($0[0], outputSize: [2, 3, 2]) }
    }

    func testPaddingCountsInTheAverage() {
        // count_include_pad: the edge windows divide by the full kernel size.
        let y = avgPool1d(Tensor([2, 4, 6], shape: [1, 1, 3]), kernel: [3], stride: [1], padding: [1])
        XCTAssertEqual(y.toArray(), [2, 4, 10.0 / 3], accuracy: 1e-6)
    }

    func testMaxTiesGoToTheFirstIndex() {
        let x = Tensor.ones([1, 1, 4]).requiringGrad()
        let tape = Tape()
        let y = tape.record { maxPool1d(x, kernel: [2], stride: [1]) }
        tape.backward(y, gradient: Tensor.ones(y.shape))
        XCTAssertEqual(x.grad!.toArray(), [1, 1, 1, 0])
        // Padding reads −∞, so an all-negative edge window still takes the real value.
        let neg = Tensor([-3, -1], shape: [1, 1, 2])
        XCTAssertEqual(maxPool1d(neg, kernel: [2], stride: [1], padding: [1]).toArray(), [-3, -1, -1])
    }

    func testPoolsMatchComposite() {
        let cases: [([Int], [Int], [Int], [Int])] = [
            ([2, 3, 11], [3], [2], [1]),
            ([2, 3, 7, 8], [3, 2], [2, 2], [1, 1]),
            ([1, 2, 5, 6, 7], [3, 2, 3], [2, 1, 2], [1, 0, 1]),
        ]
        for (shape, k, s, p) in cases {
            for threads in [1, 3] {
                EngineContext(threads: threads).run {
                    for kind in ["avg", "max"] {
                        let x = separated(shape, seed: 11).detach().requiringGrad()
                        let xr = x.detach().requiringGrad()
                        let fused: Tensor, composite: Tensor
                        let t1 = Tape(), t2 = Tape()
                        switch (kind, shape.count) {
                        case ("avg", 3): fused = t1.record { avgPool1d(x, kernel: k, stride: s, padding: p) }
                        case ("avg", 4): fused = t1.record { avgPool2d(x, kernel: k, stride: s, padding: p) }
                        case ("avg", _): fused = t1.record { avgPool3d(x, kernel: k, stride: s, padding: p) }
                        case (_, 3): fused = t1.record { maxPool1d(x, kernel: k, stride: s, padding: p) }
                        case (_, 4): fused = t1.record { maxPool2d(x, kernel: k, stride: s, padding: p) }
                        default: fused = t1.record { maxPool3d(x, kernel: k, stride: s, padding: p) }
                        }
                        composite = t2.record { kind == "avg" ? referenceAvgPool(xr, kernel: k, stride: s, padding: p)
                                                              : referenceMaxPool(xr, kernel: k, stride: s, padding: p) }
                        XCTAssertEqual(fused.shape, composite.shape)
                        let g = randn(fused.shape, seed: 12)
                        t1.backward(fused, gradient: g)
                        t2.backward(composite, gradient: g)
                        XCTAssertLessThan(maxAbsoluteError(fused, composite), 1e-5 * Double(fused.abs().max().item), "\(kind) \(shape)")
                        XCTAssertLessThan(maxAbsoluteError(x.grad!, xr.grad!), 1e-5 * Double(xr.grad!.abs().max().item), "\(kind) \(shape) gradient")
                    }
                }
            }
        }
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
