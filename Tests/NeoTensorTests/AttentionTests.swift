import XCTest
import NeoTensor
import NeoTestSupport

/// scaledDotProductAttention: finite-difference gradients for q, k, v and a learned mask
/// (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|), and the fused kernel vs softmax(q·kᵀ·s + m)·v built
/// from matmul and the composite softmax, forward and every gradient.
final class AttentionTests: XCTestCase {
    func causalMask(_ tq: Int, _ tk: Int) -> Tensor {
        var m = [Float](repeating: 0, count: tq * tk)
        for i in 0..<tq { for j in 0..<tk where j > i + (tk - tq) { m[i * tk + j] = -.infinity } }
        return Tensor(m, shape: [tq, tk])
    }

    func testGradCheck() {
        let q = randn([1, 2, 3, 4], seed: 1), k = randn([1, 2, 5, 4], seed: 2), v = randn([1, 2, 5, 3], seed: 3)
        assertGradCheck([q, k, v], "no mask") { scaledDotProductAttention($0[0], $0[1], $0[2]) }
        assertGradCheck([q, k, v], "causal mask, custom scale") { scaledDotProductAttention($0[0], $0[1], $0[2], mask: self.causalMask(3, 5), scale: 0.3) }
        // A learned additive bias as the mask, broadcast over the batch: it gets a gradient too.
        let bias = randn([2, 1, 5], seed: 4)
        assertGradCheck([q, k, v, bias], "learned mask [H, 1, Tk]") { scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3]) }
        // Heads split from [B, T, H, D] projections: permuted views read in place.
        let qp = randn([1, 3, 2, 4], seed: 5).permute([0, 2, 1, 3]), kp = randn([1, 5, 2, 4], seed: 6).permute([0, 2, 1, 3])
        let vp = randn([1, 2, 3, 5], seed: 7).mT
        XCTAssertFalse(qp.isContiguous || kp.isContiguous || vp.isContiguous)
        assertGradCheck([qp, kp, vp], "permuted / transposed views") { scaledDotProductAttention($0[0], $0[1], $0[2]) }
    }

    func testFusedMatchesComposite() {
        let cases: [(String, [Int], [Int], Int, Tensor?)] = [
            ("self-attention", [2, 3], [9, 9], 8, nil),
            ("causal", [2, 2], [7, 7], 5, causalMask(7, 7)),
            ("cross, key padding [B,1,1,Tk]", [2, 2], [4, 11], 6, Tensor((0..<22).map { $0 % 11 >= 9 - ($0 / 11) * 3 ? -1e9 : 0 }, shape: [2, 1, 1, 11])),
            ("rank 3", [4], [6, 10], 16, randn([6, 10], seed: 60)),
            ("many pairs", [4, 4], [16, 16], 8, causalMask(16, 16)),
        ]
        for (i, (name, lead, t, d, mask)) in cases.enumerated() {
            let seed = UInt64(10 + 4 * i)
            assertFused({ [randn(lead + [t[0], d], seed: seed), randn(lead + [t[1], d], seed: seed + 1), randn(lead + [t[1], d + 1], seed: seed + 2)] }, name,
                        { scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask) },
                        { Composite.scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask) })
        }
        // Views from a fused QKV projection [B, T, 3, H, D] and a learned mask needing a gradient.
        assertFused({
            let qkv = randn([2, 6, 3, 2, 4], seed: 40)
            let heads = qkv.permute([2, 0, 3, 1, 4])  // [3, B, H, T, D]
            return [heads.slice(dim: 0, start: 0, end: 1).squeeze(0), heads.slice(dim: 0, start: 1, end: 2).squeeze(0),
                    heads.slice(dim: 0, start: 2, end: 3).squeeze(0), randn([2, 6, 6], seed: 41)]
        }, "QKV views + learned mask", { scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3]) },
           { Composite.scaledDotProductAttention($0[0], $0[1], $0[2], mask: $0[3]) })
    }

    func testFullyMaskedRowGivesZeros() {
        let q = randn([1, 1, 2, 3], seed: 50), k = randn([1, 1, 3, 3], seed: 51), v = randn([1, 1, 3, 3], seed: 52)
        let mask = Tensor([0, 0, -.infinity, -.infinity, -.infinity, -.infinity], shape: [2, 3])
        let out = scaledDotProductAttention(q, k, v, mask: mask).toArray()
        XCTAssertEqual(Array(out[3...]), [0, 0, 0])
        XCTAssertTrue(out.allSatisfy { $0.isFinite })
    }
}
