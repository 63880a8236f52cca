import XCTest
import NeoTensor
import NeoTestSupport

/// layerNorm / rmsNorm: finite-difference gradients (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|) and
/// fused kernels vs the composite mean/variance/rsqrt formula, forward and every gradient.
final class NormalizationTests: XCTestCase {
    func testLayerNormGradCheck() {
        assertGradCheck([randn([3, 5], seed: 1), randn([5], seed: 2), randn([5], seed: 3)], "weight and bias") {
            layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradCheck([randn([2, 2, 9], seed: 4)], "no affine") { layerNorm($0[0], weight: nil, bias: nil) }
        assertGradCheck([randn([4, 3], seed: 5).mT, randn([4], seed: 6)], "transposed input, weight only") {
            layerNorm($0[0], weight: $0[1], bias: nil)
        }
        assertGradCheck([randn([3, 12], seed: 7).slice(dim: 1, start: 0, end: 12, step: 2), randn([6], seed: 8)], "sliced input, bias only") {
            layerNorm($0[0], weight: nil, bias: $0[1])
        }
    }

    func testRMSNormGradCheck() {
        assertGradCheck([randn([3, 5], seed: 11), randn([5], seed: 12)], "with weight") { rmsNorm($0[0], weight: $0[1]) }
        assertGradCheck([randn([2, 2, 9], seed: 13)], "no weight") { rmsNorm($0[0], weight: nil) }
        assertGradCheck([randn([4, 3], seed: 14).mT, randn([4], seed: 15)], "transposed input") { rmsNorm($0[0], weight: $0[1]) }
    }

    func testFusedMatchesComposite() {
        // Row lengths around the SIMD width; [700, 48] splits over threads.
        for (i, shape) in [[3, 5], [4, 8], [2, 3, 19], [700, 48]].enumerated() {
            let n = shape.last!, seed = UInt64(20 + 4 * i)
            assertFused({ [randn(shape, seed: seed) * 2 + 1, randn([n], seed: seed + 1), randn([n], seed: seed + 2)] }, "layerNorm \(shape)",
                        { layerNorm($0[0], weight: $0[1], bias: $0[2]) }, { Composite.layerNorm($0[0], weight: $0[1], bias: $0[2]) })
            assertFused({ [randn(shape, seed: seed)] }, "layerNorm \(shape) no affine",
                        { layerNorm($0[0], weight: nil, bias: nil) }, { Composite.layerNorm($0[0], weight: nil, bias: nil) })
            assertFused({ [randn(shape, seed: seed) * 2 + 1, randn([n], seed: seed + 1)] }, "rmsNorm \(shape)",
                        { rmsNorm($0[0], weight: $0[1]) }, { Composite.rmsNorm($0[0], weight: $0[1]) })
            assertFused({ [randn(shape, seed: seed)] }, "rmsNorm \(shape) no weight",
                        { rmsNorm($0[0], weight: nil) }, { Composite.rmsNorm($0[0], weight: nil) })
        }
        // Only some inputs need gradients.
        assertFused({ [randn([6, 10], seed: 40), randn([10], seed: 41), randn([10], seed: 42)] }, needsGrad: [false, true, false], "weight only",
                    { layerNorm($0[0], weight: $0[1], bias: $0[2]) }, { Composite.layerNorm($0[0], weight: $0[1], bias: $0[2]) })
    }

    func testNormalizedStatistics() {
        let y = layerNorm(randn([20, 64], seed: 50) * 3 + 7, weight: nil, bias: nil)
        let mean = y.mean(axes: [1]).toArray(), variance = y.variance(axes: [1], correction: 0).toArray()
        for i in 0..<20 {
            XCTAssertEqual(mean[i], 0, accuracy: 1e-5)
            XCTAssertEqual(variance[i], 1, accuracy: 1e-3)
        }
        let r = rmsNorm(randn([10, 32], seed: 51) * 4, weight: nil)
        for ms in r.square().mean(axes: [1]).toArray() { XCTAssertEqual(ms, 1, accuracy: 1e-3) }
    }
}
