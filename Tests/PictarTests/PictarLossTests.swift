import XCTest
import Foundation
import NeoTensor
import NeoTestSupport
import Pictar

/// Pictar's losses: SSIM against a direct evaluation of its formula, SSIM(x, x) = 1, gradients of
/// every loss against central differences (eps 1e-2 or 1e-3, |Δ| ≤ 2e-3 + 2e-2·|numeric|), the
/// hinge values by hand and equivariance zero for exactly equivariant keypoints.
final class PictarLossTests: XCTestCase {
    func uniformImage(_ shape: [Int], seed: UInt64) -> Tensor { Tensor.uniform(shape, low: 0, high: 1, generator: Generator(seed: seed)) }

    /// SSIM of one channel evaluated window by window in Double.
    func directSSIM(_ a: [Float], _ b: [Float], h: Int, w: Int, window: Int) -> Double {
        let g = PictarLoss.gaussian(size: window, sigma: 1.5).map(Double.init)
        let c1 = 1e-4, c2 = 9e-4
        var total = 0.0, count = 0
        for y in 0...(h - window) {
            for x in 0...(w - window) {
                var ma = 0.0, mb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0
                for i in 0..<window {
                    for j in 0..<window {
                        let k = g[i] * g[j], va = Double(a[(y + i) * w + x + j]), vb = Double(b[(y + i) * w + x + j])
                        ma += k * va; mb += k * vb; saa += k * va * va; sbb += k * vb * vb; sab += k * va * vb
                    }
                }
                let va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb
                total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                count += 1
            }
        }
        return total / Double(count)
    }

    func testSSIMMatchesDirectFormula() {
        let a = uniformImage([1, 1, 16, 14], seed: 1)
        let b = (a * 0.7 + uniformImage([1, 1, 16, 14], seed: 2) * 0.3)
        let got = PictarLoss.ssim(a, b).toArray()[0]
        XCTAssertEqual(Double(got), directSSIM(a.toArray(), b.toArray(), h: 16, w: 14, window: 11), accuracy: 1e-4)
        // A small image uses the widest odd window that fits.
        let s = uniformImage([1, 1, 8, 8], seed: 3), t = uniformImage([1, 1, 8, 8], seed: 4)
        XCTAssertEqual(Double(PictarLoss.ssim(s, t).toArray()[0]), directSSIM(s.toArray(), t.toArray(), h: 8, w: 8, window: 7), accuracy: 1e-4)
    }

    func testSSIMOfAnImageWithItselfIsOne() {
        let x = uniformImage([2, 3, 32, 32], seed: 5)
        XCTAssertEqual(PictarLoss.ssim(x, x).toArray()[0], 1, accuracy: 1e-5)
        XCTAssertEqual(PictarLoss.multiScaleSSIM(x, x, scales: 3).toArray()[0], 1, accuracy: 1e-5)
        let noisy = (x + randn(x.shape, seed: 6) * 0.1).clamp(min: 0, max: 1)
        XCTAssertLessThan(PictarLoss.multiScaleSSIM(noisy, x, scales: 3).toArray()[0], 0.95)
    }

    func testLossGradients() {
        let a = uniformImage([1, 2, 12, 12], seed: 7), b = uniformImage([1, 2, 12, 12], seed: 8)
        var r = gradCheck([a.detach(), b.detach()], eps: 1e-3) { PictarLoss.multiScaleSSIM($0[0], $0[1], scales: 2) }
        XCTAssertTrue(r.passed, "msssim \(r)")
        // Differences kept well away from ties, where L1 has its kink.
        let c = Tensor((0..<36).map { Float($0 % 7) * 0.37 + Float($0 / 6) * 0.05 }, shape: [1, 1, 6, 6])
        let d = Tensor((0..<36).map { Float(($0 * 5) % 11) * 0.23 }, shape: [1, 1, 6, 6])
        r = gradCheck([c, d], eps: 1e-3) { PictarLoss.imageGradient($0[0], $0[1]) }
        XCTAssertTrue(r.passed, "image gradient \(r)")
        let kp = randn([2, 5, 3], seed: 9) * 0.2
        r = gradCheck([kp], eps: 1e-3) { PictarLoss.keypointSeparation($0[0], distance: 0.1) }
        XCTAssertTrue(r.passed, "separation \(r)")
    }

    func testHingeAndSeparationValues() {
        let real = Tensor([2, 0.5, -1, 0], shape: [4]), fake = Tensor([-2, 0.5, 1, 0], shape: [4])
        // relu(1 − real) = [0, .5, 2, 1] → 0.875; relu(1 + fake) = [0, 1.5, 2, 1] → 1.125.
        XCTAssertEqual(PictarLoss.discriminatorHinge(real: real, fake: fake).toArray()[0], 2.0, accuracy: 1e-6)
        XCTAssertEqual(PictarLoss.generatorHinge(fake: fake).toArray()[0], 0.125, accuracy: 1e-6)
        // Two keypoints 0.2 apart (squared 0.04) with distance 0.1: 2 ordered pairs × 0.06.
        let kp = Tensor([0, 0, 0, 0.2, 0, 0], shape: [1, 2, 3])
        XCTAssertEqual(PictarLoss.keypointSeparation(kp, distance: 0.1).toArray()[0], 0.12, accuracy: 1e-6)
    }

    func testEquivarianceIsZeroForEquivariantKeypoints() {
        let t = PictarLoss.randomSimilarity(count: 2, height: 4, width: 4, shift: 0.1, rotation: 10, scale: 0.1, generator: Generator(seed: 10))
        // Keypoints x' in the transformed image; the original's are A·x' + b.
        let moved = randn([2, 6, 3], seed: 11) * 0.3
        let a = t.affine.toArray(), m = moved.toArray()
        var orig = m
        for i in 0..<2 {
            for k in 0..<6 {
                let x = m[(i * 6 + k) * 3], y = m[(i * 6 + k) * 3 + 1]
                orig[(i * 6 + k) * 3] = a[i * 6] * x + a[i * 6 + 1] * y + a[i * 6 + 2]
                orig[(i * 6 + k) * 3 + 1] = a[i * 6 + 3] * x + a[i * 6 + 4] * y + a[i * 6 + 5]
            }
        }
        let original = Tensor(orig, shape: [2, 6, 3])
        XCTAssertLessThan(PictarLoss.equivariance(original: original, transformed: moved, affine: t.affine).toArray()[0], 1e-6)
        XCTAssertGreaterThan(PictarLoss.equivariance(original: moved, transformed: moved, affine: t.affine).toArray()[0], 1e-3)
        // The grid samples the image at A·p + b: a grid cell's coordinates are the transform of its centre.
        let g = t.grid.toArray()
        let (px, py) = (Float(2 * 1 + 1) / 4 - 1, Float(2 * 2 + 1) / 4 - 1)  // cell (h 2, w 1)
        XCTAssertEqual(g[(2 * 4 + 1) * 2], a[0] * px + a[1] * py + a[2], accuracy: 1e-6)
        XCTAssertEqual(g[(2 * 4 + 1) * 2 + 1], a[3] * px + a[4] * py + a[5], accuracy: 1e-6)
    }
}
