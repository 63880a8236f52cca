import XCTest
import NeoTensor
import NeoTestSupport

/// softmax / logSoftmax: finite-difference gradients (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|),
/// fused vs composite (max-subtracted exp / sum) forward and backward, stability at extremes.
final class SoftmaxTests: XCTestCase {
    func testGradCheck() {
        for dim in [-1, 0, 1] {
            assertGradCheck([randn([3, 4, 5], seed: 1)], "softmax dim \(dim)") { $0[0].softmax(dim: dim) }
            assertGradCheck([randn([3, 4, 5], seed: 2)], "logSoftmax dim \(dim)") { $0[0].logSoftmax(dim: dim) }
        }
        // Non-contiguous inputs.
        assertGradCheck([randn([5, 3], seed: 3).mT], "softmax of a transposed view") { $0[0].softmax() }
        assertGradCheck([randn([3, 10], seed: 4).slice(dim: 1, start: 1, end: 10, step: 3)], "logSoftmax of a strided slice") { $0[0].logSoftmax() }
    }

    func testFusedMatchesComposite() {
        // Row lengths around the 8-lane SIMD width, and enough rows to split over threads.
        for (i, shape) in [[4, 1], [5, 7], [3, 8], [6, 17], [600, 40], [2, 3, 300]].enumerated() {
            let seed = UInt64(10 + i)
            assertFused({ [randn(shape, seed: seed) * 3] }, "softmax \(shape)", { $0[0].softmax() }, { Composite.softmax($0[0]) })
            assertFused({ [randn(shape, seed: seed) * 3] }, "logSoftmax \(shape)", { $0[0].logSoftmax() }, { Composite.logSoftmax($0[0]) })
        }
        assertFused({ [randn([4, 6, 5], seed: 30)] }, "softmax dim 1", { $0[0].softmax(dim: 1) }, { Composite.softmax($0[0], dim: 1) })
        assertFused({ [randn([4, 6, 5], seed: 31)] }, "logSoftmax dim 0", { $0[0].logSoftmax(dim: 0) }, { Composite.logSoftmax($0[0], dim: 0) })
    }

    func testStableForLargeLogitsAndMaskedRows() {
        let x = Tensor([1000, 999, -1000, 0, 0, 0], shape: [2, 3])
        let p = x.softmax().toArray()
        let e1 = exp(Float(-1)), denominator = 1 + e1
        XCTAssertEqual(p[0], 1 / denominator, accuracy: 1e-6)
        XCTAssertEqual(p[1], e1 / denominator, accuracy: 1e-6)
        XCTAssertEqual(p[2], 0)
        for i in 3..<6 { XCTAssertEqual(p[i], 1.0 / 3, accuracy: 1e-6) }
        let l = x.logSoftmax().toArray()
        // Near 1000 a float's spacing is 6e-5, so the log-probabilities carry that much error.
        XCTAssertEqual(l[0], -log(denominator), accuracy: 1e-4)
        XCTAssertEqual(l[2], -2000 - log(denominator), accuracy: 1e-2)
        XCTAssertTrue(l.allSatisfy { $0.isFinite })
        // −∞ entries get probability exactly 0; a row that is −∞ everywhere gives zeros, not NaN.
        let masked = Tensor([0, -.infinity, 1, -.infinity, -.infinity, -.infinity], shape: [2, 3]).softmax().toArray()
        XCTAssertEqual(masked[1], 0)
        XCTAssertEqual(masked[0] + masked[2], 1, accuracy: 1e-6)
        XCTAssertEqual(Array(masked[3...]), [0, 0, 0])
    }

    func testRowsSumToOne() {
        let p = (randn([50, 37], seed: 40) * 5).softmax().sum(axes: [1]).toArray()
        for s in p { XCTAssertEqual(s, 1, accuracy: 1e-5) }
    }
}
