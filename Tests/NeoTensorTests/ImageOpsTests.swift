import XCTest
import NeoTensor
import NeoTestSupport

/// Instance normalisation, pixel shuffle, nearest upsampling and leaky ReLU: fused vs composite (≤ 1e-4
/// scaled relative error), gradients vs central differences (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|)
/// and exact values. The PyTorch cross-check is in ConvTorchCrossCheckTests.
final class ImageOpsTests: XCTestCase {
    func testInstanceNormMatchesCompositeAndGradients() {
        for shape in [[2, 3, 5, 6], [1, 2, 3, 4, 5]] {
            assertFused({ [randn(shape, seed: 3) * 2 + 1] }, "instanceNorm \(shape)") {
                instanceNorm($0[0])
            } _: { Composite.instanceNorm($0[0]) }
            assertGradCheck([randn(shape, seed: 4)], "instanceNorm \(shape)") { instanceNorm($0[0]) }
        }
        // Every plane ends with mean 0 and variance 1.
        let y = instanceNorm(randn([2, 3, 8, 8], seed: 5) * 3 + 2).toArray()
        for p in 0..<6 {
            let plane = y[(p * 64)..<(p * 64 + 64)]
            let mean = plane.reduce(0, +) / 64
            let variance = plane.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 64
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    func testPixelShuffleValuesAndGradient() {
        // [1, 4, 1, 2] with r = 2: channel i·2 + j lands on sub-pixel (i, j).
        let x = Tensor((0..<8).map(Float.init), shape: [1, 4, 1, 2])
        let y = pixelShuffle(x, factor: 2)
        XCTAssertEqual(y.shape, [1, 1, 2, 4])
        XCTAssertEqual(y.toArray(), [0, 2, 1, 3, 4, 6, 5, 7])
        assertGradCheck([randn([2, 8, 3, 2], seed: 6)], "pixelShuffle") { pixelShuffle($0[0], factor: 2) }
    }

    func testUpsampleNearestMatchesCompositeAndGradients() {
        let cases: [([Int], [Int])] = [([2, 3, 5], [3]), ([2, 3, 4, 5], [2, 3]), ([1, 2, 3, 4, 2], [1, 2, 2]), ([1, 2, 2, 3, 2], [2, 1, 3])]
        for (shape, factors) in cases {
            assertFused({ [randn(shape, seed: 7)] }, "upsampleNearest \(shape) \(factors)") {
                upsampleNearest($0[0], factors: factors)
            } _: { Composite.upsampleNearest($0[0], factors: factors) }
            assertGradCheck([randn(shape, seed: 8)], "upsampleNearest \(shape)") { upsampleNearest($0[0], factors: factors) }
        }
        let y = upsampleNearest(Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2]), factors: [2, 2])
        XCTAssertEqual(y.toArray(), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    func testLeakyReLUMatchesCompositeAndGradient() {
        // Values away from 0, where the slope changes.
        func make() -> Tensor { Tensor((0..<24).map { Float($0 % 5) * 0.4 - 0.9 + Float($0) * 0.01 }, shape: [2, 3, 4]) }
        assertFused({ [make()] }, "leakyReLU") { leakyReLU($0[0], slope: 0.2) } _: { Composite.leakyReLU($0[0], slope: 0.2) }
        assertGradCheck([make()], eps: 1e-3, "leakyReLU") { leakyReLU($0[0], slope: 0.2) }
        XCTAssertEqual(leakyReLU(Tensor([-2, 0, 3]), slope: 0.1).toArray(), [-0.2, 0, 3])
    }
}
