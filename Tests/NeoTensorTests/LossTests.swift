import XCTest
import Foundation
import NeoTensor
import NeoTestSupport

/// Losses: finite-difference gradients for both inputs and every reduction (eps 1e-2,
/// |Δ| ≤ 2e-3 + 2e-2·|numeric|), broadcasting between prediction and target in both directions,
/// fused vs composite (scaled relative error ≤ 1e-4, see FusedCheck), and stability at extremes.
final class LossTests: XCTestCase {
    typealias Loss = (Tensor, Tensor, Reduction) -> Tensor
    let losses: [(String, Loss, Loss)] = [
        ("mse", { mseLoss($0, $1, reduction: $2) }, { Composite.mseLoss($0, $1, reduction: $2) }),
        ("l1", { l1Loss($0, $1, reduction: $2) }, { Composite.l1Loss($0, $1, reduction: $2) }),
        ("smoothL1", { smoothL1Loss($0, $1, beta: 0.7, reduction: $2) }, { Composite.smoothL1Loss($0, $1, beta: 0.7, reduction: $2) }),
        ("bce", { bceWithLogits($0, $1, reduction: $2) }, { Composite.bceWithLogits($0, $1, reduction: $2) }),
    ]

    /// Predictions kept ≥ 0.1 away from the targets (the kinks of l1/smoothL1 at 0 and ±beta).
    func separated(_ shape: [Int], seed: UInt64) -> (Tensor, Tensor) {
        let t = randn(shape, seed: seed)
        let g = Generator(seed: seed + 1)
        let off = (0..<t.count).map { _ -> Float in
            var v: Float
            repeat { v = Float(g.nextNormal()) * 1.5 } while abs(v) < 0.1 || abs(abs(v) - 0.7) < 0.1
            return v
        }
        return (t + Tensor(off, shape: shape), t)
    }

    func testGradCheck() {
        for (name, loss, _) in losses {
            for reduction in [Reduction.mean, .sum, .none] {
                let (p, t) = separated([3, 4], seed: 1)
                assertGradCheck([p, t], "\(name) \(reduction)") { loss($0[0], $0[1], reduction) }
            }
            // Broadcasting both ways: target [4] against pred [3, 4], and pred [3, 1] against target [3, 4].
            let (p1, _) = separated([3, 4], seed: 3)
            assertGradCheck([p1, Tensor([0.3, -2.5, 0.9, 3.1])], "\(name) target broadcast") { loss($0[0], $0[1], .mean) }
            assertGradCheck([Tensor([0.35, -1.4, 2.6], shape: [3, 1]), Tensor([1.2, -0.2, 0.5, 4.2, 2.9, 1.5, -0.1, 0.05, 1.1, 2.2, -2.0, 0.8], shape: [3, 4])],
                            "\(name) pred broadcast") { loss($0[0], $0[1], .sum) }
            // Non-contiguous prediction.
            let (p2, t2) = separated([4, 3], seed: 5)
            assertGradCheck([p2.mT, t2.mT.contiguous()], "\(name) transposed pred") { loss($0[0], $0[1], .mean) }
        }
        assertGradCheck([randn([3, 5], seed: 10) * 2], "crossEntropy mean") { crossEntropy($0[0], targets: [4, 0, 2]) }
        assertGradCheck([randn([3, 5], seed: 11) * 2], "crossEntropy sum, ignore") { crossEntropy($0[0], targets: [4, -100, 2], reduction: .sum, ignoreIndex: -100) }
        assertGradCheck([randn([5, 3], seed: 12).mT], "crossEntropy none, transposed") { crossEntropy($0[0], targets: [1, 1, 0], reduction: .none) }
        assertGradCheck([randn([2, 6], seed: 13) * 3], "logSigmoid") { $0[0].logSigmoid() }
    }

    func testFusedMatchesComposite() {
        for (name, loss, reference) in losses {
            for reduction in [Reduction.mean, .sum, .none] {
                for (i, shape) in [[5, 7], [200, 300]].enumerated() {
                    let seed = UInt64(20 + i)
                    assertFused({ let (p, t) = self.separated(shape, seed: seed); return [p, t] }, "\(name) \(reduction) \(shape)",
                                { loss($0[0], $0[1], reduction) }, { reference($0[0], $0[1], reduction) })
                }
            }
        }
        // Broadcast target and broadcast prediction (their expanded copies must outlive the forward).
        for (name, loss, reference) in losses {
            assertFused({ let (p, t) = self.separated([6, 5], seed: 25); return [p, t.slice(dim: 0, start: 0, end: 1).contiguous()] }, "\(name) target broadcast",
                        { loss($0[0], $0[1], .sum) }, { reference($0[0], $0[1], .sum) })
            assertFused({ let (p, t) = self.separated([6, 5], seed: 26); return [p.slice(dim: 1, start: 0, end: 1).contiguous(), t] }, "\(name) pred broadcast",
                        { loss($0[0], $0[1], .mean) }, { reference($0[0], $0[1], .mean) })
        }
        for reduction in [Reduction.mean, .sum, .none] {
            let targets = (0..<40).map { ($0 * 7) % 13 }
            assertFused({ [randn([40, 13], seed: 30) * 3] }, "crossEntropy \(reduction)",
                        { crossEntropy($0[0], targets: targets, reduction: reduction) }, { Composite.crossEntropy($0[0], targets: targets, reduction: reduction) })
            var ignoring = targets
            ignoring[3] = -1; ignoring[17] = -1
            assertFused({ [randn([40, 13], seed: 31) * 3] }, "crossEntropy \(reduction) ignoreIndex",
                        { crossEntropy($0[0], targets: ignoring, reduction: reduction, ignoreIndex: -1) },
                        { Composite.crossEntropy($0[0], targets: ignoring, reduction: reduction, ignoreIndex: -1) })
        }
        assertFused({ [randn([300, 50], seed: 32) * 4] }, "logSigmoid", { $0[0].logSigmoid() }, { Composite.logSigmoid($0[0]) })
    }

    func testKnownValuesAndStability() {
        let p = Tensor([1, 2, 3]), t = Tensor([1, 0, 5])
        XCTAssertEqual(mseLoss(p, t).item, 8.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(mseLoss(p, t, reduction: .sum).item, 8)
        XCTAssertEqual(mseLoss(p, t, reduction: .none).toArray(), [0, 4, 4])
        XCTAssertEqual(l1Loss(p, t).item, 4.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(smoothL1Loss(p, t, beta: 1, reduction: .none).toArray(), [0, 1.5, 1.5])
        XCTAssertEqual(smoothL1Loss(Tensor([0.5]), Tensor([0]), beta: 1).item, 0.125, accuracy: 1e-7)
        // Huge logits: no overflow, exact limits.
        let big = bceWithLogits(Tensor([100, -100, 100]), Tensor([1, 0, 0]), reduction: .none).toArray()
        XCTAssertEqual(big[0], 0, accuracy: 1e-6)
        XCTAssertEqual(big[1], 0, accuracy: 1e-6)
        XCTAssertEqual(big[2], 100, accuracy: 1e-4)
        let ls = Tensor([-200, 0, 200]).logSigmoid().toArray()
        XCTAssertEqual(ls[0], -200, accuracy: 1e-4)
        XCTAssertEqual(ls[1], -log(2), accuracy: 1e-6)
        XCTAssertEqual(ls[2], 0, accuracy: 1e-6)
        // Cross-entropy of uniform logits is log C; huge logits stay finite.
        XCTAssertEqual(crossEntropy(Tensor.zeros([2, 4]), targets: [0, 3]).item, log(4), accuracy: 1e-6)
        let ce = crossEntropy(Tensor([1000, 0, -1000, 0], shape: [2, 2]), targets: [1, 0], reduction: .none).toArray()
        XCTAssertEqual(ce[0], 1000, accuracy: 1e-3)
        XCTAssertEqual(ce[1], 1000, accuracy: 1e-3)
    }
}
