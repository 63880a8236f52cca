import XCTest
import NeoTensor
import NeoTestSupport

/// jointAttention (fused MMDiT attention with per-head q/k RMS-norm and rotary): forward and
/// every gradient against its composite of primitives (rmsNorm, slices, products, concat,
/// composite attention) within 1e-4 scaled relative error; finite-difference gradients of the
/// projections and norm weights (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|); and multi-output tape
/// recording when only some outputs are used.
final class JointAttentionTests: XCTestCase {
    /// Streams from flat inputs [qkv₀, qNorm₀, kNorm₀, qkv₁, (qNorm₁,) kNorm₁].
    func streams(_ xs: [Tensor], secondHasQueries: Bool) -> [JointAttentionStream] {
        var s = [JointAttentionStream(qkv: xs[0], queries: true, qNorm: xs[1], kNorm: xs[2])]
        if secondHasQueries {
            s.append(JointAttentionStream(qkv: xs[3], queries: true, qNorm: xs[4], kNorm: xs[5]))
        } else {
            s.append(JointAttentionStream(qkv: xs[3], queries: false, qNorm: nil, kNorm: xs[4]))
        }
        return s
    }

    func inputs(b: Int, tm: Int, ta: Int, heads: Int, dh: Int, secondHasQueries: Bool, seed: UInt64) -> [Tensor] {
        let c = heads * dh
        var xs = [randn([b, tm, 3 * c], seed: seed), (randn([dh], seed: seed + 1) * 0.2 + 1), (randn([dh], seed: seed + 2) * 0.2 + 1)]
        if secondHasQueries {
            xs += [randn([b, ta, 3 * c], seed: seed + 3), (randn([dh], seed: seed + 4) * 0.2 + 1), (randn([dh], seed: seed + 5) * 0.2 + 1)]
        } else {
            xs += [randn([b, ta, 2 * c], seed: seed + 3), (randn([dh], seed: seed + 5) * 0.2 + 1)]
        }
        return xs.map { $0.contiguous() }
    }

    func tables(_ t: Int, half: Int) -> (Tensor, Tensor) {
        let angles = (0..<t).flatMap { p in (0..<half).map { i in Float(p - 2) * Foundation.pow(10, -Float(i) / Float(max(half, 1))) } }
        return (Tensor(angles.map { Foundation.cos($0) }, shape: [t, half]), Tensor(angles.map { Foundation.sin($0) }, shape: [t, half]))
    }

    /// All outputs flattened into one tensor, so one gradient reaches every output.
    func packed(_ outs: [Tensor]) -> Tensor { Tensor.concat(outs.map { $0.flatten() }, dim: 0) }

    func testFusedMatchesComposite() {
        // (name, batch, Tm, Ta, heads, Dh, rotary half, second stream has queries, mask)
        let maskRows = Tensor((0..<(2 * 11)).map { i in i % 11 == 1 || (i / 11 == 1 && i % 11 == 3) ? -.infinity : 0 }, shape: [2, 1, 1, 11])
        let cases: [(String, Int, Int, Int, Int, Int, Int, Bool, Tensor?)] = [
            ("two query streams, full rotary", 2, 5, 6, 2, 8, 4, true, nil),
            ("keys-only second stream, partial rotary, key mask", 2, 5, 6, 3, 10, 3, false, maskRows),
            ("two query streams, key mask, Dh 32", 2, 7, 4, 2, 32, 16, true, maskRows),
            ("one token each, rotary of 2 of 4", 3, 1, 1, 2, 4, 1, true, nil),
        ]
        for (i, (name, b, tm, ta, heads, dh, half, both, mask)) in cases.enumerated() {
            let (c, s) = tables(tm + ta, half: half)
            let seed = UInt64(100 + 10 * i)
            let m = mask.map { $0.shape[3] == tm + ta ? $0 : nil } ?? nil
            assertFused({ inputs(b: b, tm: tm, ta: ta, heads: heads, dh: dh, secondHasQueries: both, seed: seed) }, name,
                        { xs in self.packed(jointAttention(self.streams(xs, secondHasQueries: both), heads: heads, cos: c, sin: s, mask: m, scale: 0.4)) },
                        { xs in self.packed(Composite.jointAttention(self.streams(xs, secondHasQueries: both), heads: heads, cos: c, sin: s, mask: m, scale: 0.4)) })
        }
    }

    func testGradCheck() {
        let (c, s) = tables(5, half: 2)
        for both in [true, false] {
            let xs = inputs(b: 1, tm: 3, ta: 2, heads: 2, dh: 6, secondHasQueries: both, seed: both ? 7 : 17)
            assertGradCheck(xs, "second stream with queries: \(both)") { ys in
                self.packed(jointAttention(self.streams(ys, secondHasQueries: both), heads: 2, eps: 1e-5, cos: c, sin: s))
            }
        }
    }

    func testOnlyOneOutputUsed() {
        // The audio output unused: its gradient arrives as nil and counts as zero.
        let (c, s) = tables(6, half: 2)
        assertFused({ inputs(b: 2, tm: 4, ta: 2, heads: 2, dh: 4, secondHasQueries: true, seed: 55) }, "first output only",
                    { xs in jointAttention(self.streams(xs, secondHasQueries: true), heads: 2, cos: c, sin: s)[0] },
                    { xs in Composite.jointAttention(self.streams(xs, secondHasQueries: true), heads: 2, cos: c, sin: s)[0] })
    }

    func testNoRecordingWithoutGradients() {
        let (c, s) = tables(4, half: 1)
        let xs = inputs(b: 1, tm: 2, ta: 2, heads: 1, dh: 4, secondHasQueries: true, seed: 9)
        let tape = Tape()
        let outs = tape.record { jointAttention(streams(xs, secondHasQueries: true), heads: 1, cos: c, sin: s) }
        XCTAssertEqual(tape.count, 0)
        XCTAssertEqual(outs.map(\.shape), [[1, 2, 4], [1, 2, 4]])
        XCTAssertTrue(outs.allSatisfy { $0.toArray().allSatisfy(\.isFinite) })
    }
}
