import XCTest
import NeoTensor
import NeoTestSupport

/// adaLNModulate / gatedResidual: finite-difference gradients (eps 1e-2, |Δ| ≤ 2e-3 +
/// 2e-2·|numeric|) for every broadcasting form, and fused vs composite (x*(1+scale)+shift,
/// x + gate*y) forward and backward (scaled relative error ≤ 1e-4, see FusedCheck).
final class ModulationTests: XCTestCase {
    func testGradCheck() {
        let x = randn([2, 3, 4], seed: 1)
        // [B, C] per-sample conditioning is read as [B, 1, C].
        assertGradCheck([x, randn([2, 4], seed: 2), randn([2, 4], seed: 3)], "[B,C]") { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }
        // NumPy broadcasting: [C], frame-wise [B, T, C], [B, 1, C], and mixed.
        assertGradCheck([x, randn([4], seed: 4), randn([2, 3, 4], seed: 5)], "[C] and [B,T,C]") { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }
        assertGradCheck([x, randn([2, 1, 4], seed: 6), randn([1, 3, 1], seed: 7)], "[B,1,C] and [1,T,1]") { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }
        // Non-contiguous x and modulation vectors.
        assertGradCheck([randn([4, 3, 2], seed: 8).permute([2, 1, 0]), randn([4, 2], seed: 9).mT, randn([2, 8], seed: 10).slice(dim: 1, start: 0, end: 8, step: 2)],
                        "views") { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }

        assertGradCheck([x, randn([2, 4], seed: 11), randn([2, 3, 4], seed: 12)], "gate [B,C]") { gatedResidual($0[0], gate: $0[1], $0[2]) }
        assertGradCheck([x, randn([3, 4], seed: 13), randn([3, 1], seed: 14)], "gate [T,C]? no: rank 2 against rank 3 is [B,1,C]") {
            // [3, 4] against [2, 3, 4] cannot be [B, C] (B = 2): use a rank-1 gate and a broadcast branch instead.
            gatedResidual($0[0], gate: $0[1].slice(dim: 0, start: 0, end: 1).squeeze(0), $0[2])
        }
        assertGradCheck([randn([3, 2, 4], seed: 15).transpose(0, 1), randn([2, 1, 4], seed: 16), randn([2, 3, 4], seed: 17).mT.mT]) {
            gatedResidual($0[0], gate: $0[1], $0[2])
        }
    }

    func testFusedMatchesComposite() {
        let shapes: [([Int], [Int], [Int])] = [
            ([2, 5, 16], [2, 16], [2, 16]), ([3, 7, 9], [9], [3, 1, 9]), ([2, 4, 6], [2, 4, 6], [1, 4, 1]),
            ([4, 600, 24], [4, 24], [4, 24]),  // large enough to split over threads
        ]
        for (i, (xs, hs, ss)) in shapes.enumerated() {
            let seed = UInt64(20 + 3 * i)
            assertFused({ [randn(xs, seed: seed), randn(hs, seed: seed + 1), randn(ss, seed: seed + 2)] }, "modulate \(xs) \(hs) \(ss)",
                        { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }, { Composite.adaLNModulate($0[0], shift: $0[1], scale: $0[2]) })
            assertFused({ [randn(xs, seed: seed), randn(ss, seed: seed + 1), randn(xs, seed: seed + 2)] }, "gated residual \(xs) \(ss)",
                        { gatedResidual($0[0], gate: $0[1], $0[2]) }, { Composite.gatedResidual($0[0], gate: $0[1], $0[2]) })
        }
        // Only the modulation vectors need gradients (the typical conditioning path).
        assertFused({ [randn([2, 3, 8], seed: 40), randn([2, 8], seed: 41), randn([2, 8], seed: 42)] }, needsGrad: [false, true, true], "params only",
                    { adaLNModulate($0[0], shift: $0[1], scale: $0[2]) }, { Composite.adaLNModulate($0[0], shift: $0[1], scale: $0[2]) })
    }

    func testPerSampleRuleAndZeroModulationIsIdentity() {
        let x = randn([2, 3, 4], seed: 50)
        let zeros = Tensor.zeros([2, 4])
        XCTAssertEqual(adaLNModulate(x, shift: zeros, scale: zeros).toArray(), x.toArray())
        XCTAssertEqual(gatedResidual(x, gate: zeros, randn([2, 3, 4], seed: 51)).toArray(), x.toArray())
        // Sample b's shift lands on every frame of sample b.
        let shift = Tensor([1, 1, 1, 1, 10, 10, 10, 10], shape: [2, 4])
        let y = adaLNModulate(Tensor.zeros([2, 3, 4]), shift: shift, scale: zeros).toArray()
        XCTAssertEqual(Array(y[0..<12]), [Float](repeating: 1, count: 12))
        XCTAssertEqual(Array(y[12..<24]), [Float](repeating: 10, count: 12))
    }
}
