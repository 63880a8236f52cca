import XCTest
import Foundation
import NeoTensor
import NeoTestSupport

/// GELU (exact and tanh), SiLU, erf: finite-difference gradients (eps 1e-2, |Δ| ≤ 2e-3 +
/// 2e-2·|numeric|) and the fused kernels vs their composites, forward and backward.
final class ActivationTests: XCTestCase {
    func testGradCheck() {
        let x = randn([3, 7], seed: 1) * 2
        assertGradCheck([x], "gelu") { $0[0].gelu() }
        assertGradCheck([x], "gelu tanh") { $0[0].gelu(approximate: true) }
        assertGradCheck([x], "silu") { $0[0].silu() }
        assertGradCheck([x], "erf") { $0[0].erf() }
        let t = (randn([7, 3], seed: 2) * 2).mT
        assertGradCheck([t], "gelu of a transposed view") { $0[0].gelu() }
        assertGradCheck([t], "silu of a transposed view") { $0[0].silu() }
    }

    func testFusedMatchesComposite() {
        // Sizes off the SIMD width and one large enough to split over threads.
        for (i, shape) in [[5], [3, 8], [4, 9], [70_001]].enumerated() {
            let seed = UInt64(10 + i)
            assertFused({ [randn(shape, seed: seed) * 3] }, "gelu \(shape)", { $0[0].gelu() }, { Composite.gelu($0[0]) })
            assertFused({ [randn(shape, seed: seed) * 3] }, "gelu tanh \(shape)", { $0[0].gelu(approximate: true) }, { Composite.gelu($0[0], approximate: true) })
            assertFused({ [randn(shape, seed: seed) * 3] }, "silu \(shape)", { $0[0].silu() }, { Composite.silu($0[0]) })
        }
    }

    func testKnownValuesAndTails() {
        let x = Tensor([-30, -3, -1, 0, 0.5, 1, 3, 30])
        let exact = x.gelu().toArray(), tanhForm = x.gelu(approximate: true).toArray(), s = x.silu().toArray()
        let xs: [Float] = [-30, -3, -1, 0, 0.5, 1, 3, 30]
        for (i, v) in xs.enumerated() {
            let phi = 0.5 * (1 + erf(Double(v) / 2.0.squareRoot()))
            XCTAssertEqual(Double(exact[i]), Double(v) * phi, accuracy: 1e-6 + 1e-6 * abs(Double(v)))
            let u = (2 / Double.pi).squareRoot() * (Double(v) + 0.044715 * pow(Double(v), 3))
            XCTAssertEqual(Double(tanhForm[i]), 0.5 * Double(v) * (1 + tanh(u)), accuracy: 1e-6 + 1e-6 * abs(Double(v)))
            XCTAssertEqual(Double(s[i]), Double(v) / (1 + exp(-Double(v))), accuracy: 1e-6 + 1e-6 * abs(Double(v)))
        }
        XCTAssertTrue(exact.allSatisfy { $0.isFinite } && s.allSatisfy { $0.isFinite })
    }
}
