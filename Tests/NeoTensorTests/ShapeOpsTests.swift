import XCTest
import NeoTensor
import NeoTestSupport

/// concat, split, stack, indexSelect/embedding, gather, scatterAdd, pad: known values and
/// finite-difference gradients (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|) including views.
final class ShapeOpsTests: XCTestCase {
    func testConcatSplitStack() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2]), b = Tensor([5, 6], shape: [2, 1])
        XCTAssertEqual(Tensor.concat([a, b], dim: 1).toArray(), [1, 2, 5, 3, 4, 6])
        XCTAssertEqual(Tensor.concat([a, a], dim: 0).shape, [4, 2])
        let parts = Tensor.arange(0, 10).reshape([2, 5]).split([2, 3], dim: 1)
        XCTAssertEqual(parts.map { $0.toArray() }, [[0, 1, 5, 6], [2, 3, 4, 7, 8, 9]])
        let s = Tensor.stack([a, a * 2], dim: 1)
        XCTAssertEqual(s.shape, [2, 2, 2])
        XCTAssertEqual(s.toArray(), [1, 2, 2, 4, 3, 4, 6, 8])
        XCTAssertEqual(Tensor.stack([a, a], dim: -1).shape, [2, 2, 2])

        let w = randn([3, 4], seed: 1)
        assertGradCheck([randn([2, 3], seed: 2), randn([2, 1], seed: 3), randn([3, 2], seed: 4).mT], "concat dim 1") {
            Tensor.concat($0, dim: 1) * randn([2, 7], seed: 5)
        }
        assertGradCheck([randn([2, 3, 4], seed: 6), randn([1, 3, 4], seed: 7)], "concat dim 0") { Tensor.concat($0, dim: 0) }
        assertGradCheck([randn([3, 7], seed: 8)], "split") { xs in
            let p = xs[0].split([3, 1, 3], dim: 1)
            return p[0] * p[2] + p[1]
        }
        assertGradCheck([w, randn([4, 3], seed: 9).mT], "stack") { Tensor.stack($0, dim: 1).tanh() }
    }

    func testIndexSelectAndEmbedding() {
        let x = Tensor.arange(0, 12).reshape([3, 4])
        XCTAssertEqual(x.indexSelect(dim: 0, indices: [2, 0, 2]).toArray(), [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11])
        XCTAssertEqual(x.indexSelect(dim: 1, indices: [3, 1]).toArray(), [3, 1, 7, 5, 11, 9])
        XCTAssertEqual(embedding(x, [1]).shape, [1, 4])
        // Repeated indices accumulate their gradients.
        let table = randn([5, 3], seed: 10).requiringGrad()
        let tape = Tape()
        let y = tape.record { embedding(table, [1, 4, 1, 1]).sum() }
        tape.backward(y)
        XCTAssertEqual(table.grad!.toArray(), [0, 0, 0, 3, 3, 3, 0, 0, 0, 0, 0, 0, 1, 1, 1])

        assertGradCheck([randn([4, 3, 2], seed: 11)], "indexSelect dim 1") { $0[0].indexSelect(dim: 1, indices: [2, 0, 2, 1]) }
        assertGradCheck([randn([3, 5], seed: 12).mT], "indexSelect of a view") { $0[0].indexSelect(dim: 0, indices: [4, 4, 0]) }
        // Against the one-hot matrix product, forward and backward (floor 1e-3·max, ≤ 1e-4).
        let idx = (0..<300).map { ($0 * 37) % 97 }
        assertFused({ [randn([97, 6, 5], seed: 13)] }, "indexSelect rows", { $0[0].indexSelect(dim: 0, indices: idx) },
                    { Composite.indexSelectRows($0[0], indices: idx) })
    }

    func testGatherAndScatterAdd() {
        // torch.gather(x, 1, [[0, 0], [1, 0]]) on [[1, 2], [3, 4]] = [[1, 1], [4, 3]]
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        XCTAssertEqual(x.gather(dim: 1, index: Tensor([0, 0, 1, 0], shape: [2, 2])).toArray(), [1, 1, 4, 3])
        XCTAssertEqual(x.gather(dim: 0, index: Tensor([1, 0], shape: [1, 2])).toArray(), [3, 2])
        // scatter_add along dim 0 into zeros [3, 2]: rows index [[0, 1], [2, 0]] with source ones.
        let s = Tensor.zeros([3, 2]).scatterAdd(dim: 0, index: Tensor([0, 1, 2, 0], shape: [2, 2]), source: Tensor.ones([2, 2]))
        XCTAssertEqual(s.toArray(), [1, 1, 0, 1, 1, 0])
        // Repeated targets accumulate.
        let r = Tensor.zeros([4]).scatterAdd(dim: 0, index: Tensor([1, 1, 3]), source: Tensor([1, 2, 5]))
        XCTAssertEqual(r.toArray(), [0, 3, 0, 5])

        let index = Tensor([2, 0, 1, 1, 3, 0, 0, 2], shape: [2, 4])
        assertGradCheck([randn([3, 4], seed: 20)], "gather dim 0") { $0[0].gather(dim: 0, index: Tensor([2, 0, 1, 1, 0, 0, 0, 2], shape: [2, 4])) }
        assertGradCheck([randn([4, 2], seed: 21).mT], "gather dim 1 of a view") { $0[0].gather(dim: 1, index: index) }
        // Source larger than index (only the indexed part is read) and a non-contiguous self.
        assertGradCheck([randn([5, 2], seed: 22).mT, randn([2, 5], seed: 23)], "scatterAdd dim 1") {
            $0[0].scatterAdd(dim: 1, index: index, source: $0[1])
        }
        assertGradCheck([randn([3, 4], seed: 24), randn([2, 4], seed: 25)], "scatterAdd dim 0") {
            $0[0].scatterAdd(dim: 0, index: Tensor([2, 0, 1, 1, 0, 0, 0, 2], shape: [2, 4]), source: $0[1])
        }
    }

    func testPad() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        XCTAssertEqual(x.pad([(1, 0)], value: 9).toArray(), [9, 1, 2, 9, 3, 4])  // last dim only
        let p = x.pad([(0, 1), (1, 1)])
        XCTAssertEqual(p.shape, [3, 4])
        XCTAssertEqual(p.toArray(), [0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0])
        assertGradCheck([randn([2, 3, 2], seed: 30)], "pad last two dims") { $0[0].pad([(1, 2), (0, 1)], value: 0.5) }
        assertGradCheck([randn([3, 2], seed: 31).mT], "pad a view, every dim") { $0[0].pad([(1, 0), (2, 1)]) }
    }
}
