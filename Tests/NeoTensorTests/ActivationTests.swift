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

    /// The fused exact GELU and its derivative against double precision on a dense grid:
    /// relative error ≤ 3e-5 wherever the value is a normal float (down to x ≈ −13); the slope
    /// likewise, with 0.01 added to the denominator.
    func testExactGELUAccuracyAcrossTheRange() {
        let xs = (0..<5201).map { Float(-13 + 0.005 * Double($0)) }
        let x = Tensor(xs).requiringGrad()
        let tape = Tape()
        let y = tape.record { x.gelu() }
        tape.backward(y, gradient: Tensor.ones([xs.count]))
        let ys = y.toArray(), gs = x.grad!.toArray()
        var worstValue = 0.0, worstGrad = 0.0, atV: Float = 0, atG: Float = 0
        for (i, v) in xs.enumerated() {
            let d = Double(v)
            let phi = 0.5 * erfc(-d / 2.0.squareRoot())
            let value = d * phi, slope = phi + d * exp(-d * d / 2) / (2 * Double.pi).squareRoot()
            if abs(value) > 1e-37, abs(Double(ys[i]) - value) / abs(value) > worstValue { worstValue = abs(Double(ys[i]) - value) / abs(value); atV = v }
            // The slope crosses zero near x = −0.75 (Φ and x·φ cancel): relative to |slope| + 0.01.
            if abs(Double(gs[i]) - slope) / (abs(slope) + 0.01) > worstGrad { worstGrad = abs(Double(gs[i]) - slope) / (abs(slope) + 0.01); atG = v }
        }
        XCTAssertLessThanOrEqual(worstValue, 3e-5, "value at x = \(atV)")
        XCTAssertLessThanOrEqual(worstGrad, 3e-5, "slope at x = \(atG)")
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
