import XCTest
import NeoTensor
import NeoTestSupport

/// linear: gradients vs central differences (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|) and the
/// fused kernel vs x.matmul(wᵀ) + b, forward and every gradient (scaled relative error ≤ 1e-4, see FusedCheck).
final class LinearTests: XCTestCase {
    func testGradCheck() {
        assertGradCheck([randn([2, 3, 4], seed: 1), randn([5, 4], seed: 2), randn([5], seed: 3)], "3-D input with bias") {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradCheck([randn([3, 4], seed: 4), randn([2, 4], seed: 5)], "no bias") { linear($0[0], weight: $0[1], bias: nil) }
        // Non-contiguous operands: a transposed input, a transposed weight, a strided slice.
        assertGradCheck([randn([4, 3], seed: 6).mT, randn([4, 2], seed: 7).mT, randn([2], seed: 8)], "transposed views") {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradCheck([randn([3, 8], seed: 9).slice(dim: 1, start: 0, end: 8, step: 2), randn([2, 4], seed: 10)], "sliced input") {
            linear($0[0], weight: $0[1], bias: nil)
        }
        assertGradCheck([randn([4], seed: 11), randn([3, 4], seed: 12), randn([3], seed: 13)], "vector input") {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testFusedMatchesComposite() {
        let shapes: [([Int], Int)] = [([7, 33], 19), ([2, 5, 16], 40), ([64, 48], 96)]
        for (s, (xShape, outF)) in shapes.enumerated() {
            let inF = xShape.last!
            let seed = UInt64(20 + 3 * s)
            assertFused({ [randn(xShape, seed: seed), randn([outF, inF], seed: seed + 1), randn([outF], seed: seed + 2)] }, "\(xShape)→\(outF)",
                        { linear($0[0], weight: $0[1], bias: $0[2]) }, { Composite.linear($0[0], weight: $0[1], bias: $0[2]) })
            assertFused({ [randn(xShape, seed: seed), randn([outF, inF], seed: seed + 1)] }, "\(xShape)→\(outF) no bias",
                        { linear($0[0], weight: $0[1], bias: nil) }, { Composite.linear($0[0], weight: $0[1], bias: nil) })
        }
        // Rows with a stride (a slice of the feature dim): leading dims merge, read in place with lda 16.
        assertFused({ [randn([2, 3, 16], seed: 43).slice(dim: 2, start: 0, end: 10), randn([5, 10], seed: 44), randn([5], seed: 45)] },
                    "strided rows", { linear($0[0], weight: $0[1], bias: $0[2]) }, { Composite.linear($0[0], weight: $0[1], bias: $0[2]) })
        // A permuted [T, B, C] activation whose leading dims do not merge: copied once.
        assertFused({ [randn([3, 4, 10], seed: 40).transpose(0, 1).slice(dim: 0, start: 1, end: 4), randn([6, 10], seed: 41), randn([6], seed: 42)] },
                    "permuted input", { linear($0[0], weight: $0[1], bias: $0[2]) }, { Composite.linear($0[0], weight: $0[1], bias: $0[2]) })
    }

    func testGradientsOnlyForInputsThatNeedThem() {
        let c = compareFused({ [randn([5, 6], seed: 50), randn([4, 6], seed: 51), randn([4], seed: 52)] }, needsGrad: [false, true, false],
                             { linear($0[0], weight: $0[1], bias: $0[2]) }, { Composite.linear($0[0], weight: $0[1], bias: $0[2]) })
        XCTAssertLessThanOrEqual(c.worst, 1e-4, "\(c)")
        let x = randn([5, 6], seed: 50), w = randn([4, 6], seed: 51).requiringGrad(), b = randn([4], seed: 52)
        let tape = Tape()
        let y = tape.record { linear(x, weight: w, bias: b).sum() }
        tape.backward(y)
        XCTAssertNil(x.grad)
        XCTAssertNil(b.grad)
        XCTAssertNotNil(w.grad)
    }

    func testKnownValues() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        let w = Tensor([1, 0, 1, 1, 0, -1], shape: [3, 2])
        let b = Tensor([0.5, 0, -1])
        XCTAssertEqual(linear(x, weight: w, bias: b).toArray(), [1.5, 3, -3, 3.5, 7, -5])
    }
}
