import Foundation

/// A view of `t`'s storage with the given geometry (no recording; for kernels and backward).
@inline(__always) private func rawView(_ t: Tensor, shape: [Int], strides: [Int], offset: Int) -> Tensor {
    Tensor(storage: t.storage, shape: shape, strides: strides, offset: offset)
}

/// The elements start..<start+length along `axis` of `t`, as an unrecorded view.
private func narrowNoGrad(_ t: Tensor, axis: Int, start: Int, length: Int) -> Tensor {
    var shape = t.shape
    shape[axis] = length
    return rawView(t, shape: shape, strides: t.strides, offset: t.offset &+ start &* t.strides[axis])
}

extension Tensor {
    /// Joins tensors along `dim` (their other dims must agree). The result is contiguous;
    /// backward hands each input the matching slice of the gradient (a view).
    public static func concat(_ ts: [Tensor], dim: Int) -> Tensor {
        ensure(!ts.isEmpty, "concat: no tensors")
        let first = ts[0]
        let a = first.axis(dim)
        var total = 0
        for (i, t) in ts.enumerated() {
            ensure(t.rank == first.rank, "concat: tensor \(i) has shape \(t.shape), rank differs from \(first.shape)")
            for d in 0..<t.rank where d != a {
                ensure(t.shape[d] == first.shape[d], "concat: tensor \(i) has shape \(t.shape), which differs from \(first.shape) outside dim \(dim)")
            }
            total += t.shape[a]
        }
        var shape = first.shape
        shape[a] = total
        let out = Tensor.empty(shape)
        var starts: [Int] = []
        var at = 0
        for t in ts {
            starts.append(at)
            copyInto(narrowNoGrad(out, axis: a, start: at, length: t.shape[a]), t)
            at += t.shape[a]
        }
        return recordOp("concat", inputs: ts, output: out) { g in
            ts.enumerated().map { i, t in
                t.requiresGrad ? narrowNoGrad(g, axis: a, start: starts[i], length: t.shape[a]) : nil
            }
        }
    }

    /// Pieces of the given sizes along `dim` (they must add up to the dim's size), as views.
    public func split(_ sizes: [Int], dim: Int) -> [Tensor] {
        let a = axis(dim)
        ensure(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a],
                     "split: sizes \(sizes) do not add up to dim \(dim) of shape \(shape)")
        var at = 0
        return sizes.map { s in
            defer { at += s }
            return slice(dim: a, start: at, end: at + s)
        }
    }

    /// Stacks equally shaped tensors along a new dim `dim` (0...rank).
    public static func stack(_ ts: [Tensor], dim: Int) -> Tensor {
        ensure(!ts.isEmpty, "stack: no tensors")
        let r = ts[0].rank
        let d = dim < 0 ? dim + r + 1 : dim
        ensure(d >= 0 && d <= r, "stack: dim \(dim) out of range for tensors of rank \(r)")
        for (i, t) in ts.enumerated() {
            ensure(t.shape == ts[0].shape, "stack: tensor \(i) has shape \(t.shape), expected \(ts[0].shape)")
        }
        return concat(ts.map { $0.unsqueeze(d) }, dim: d)
    }

    /// The slices at `indices` along `dim` (indices may repeat; each must be in range).
    /// Backward scatter-adds the gradient rows back, so repeated indices accumulate.
    public func indexSelect(dim: Int, indices: [Int]) -> Tensor {
        let a = axis(dim)
        let size = shape[a]
        for (i, ix) in indices.enumerated() {
            ensure(ix >= 0 && ix < size, "indexSelect: index \(ix) at position \(i) is outside 0..<\(size) (dim \(dim) of shape \(shape))")
        }
        let src = contiguousNoGrad()
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        let m = indices.count
        var outShape = shape
        outShape[a] = m
        let out = Tensor.empty(outShape)
        let ps = src.data, po = out.data
        let idx = indices
        idx.withUnsafeBufferPointer { ib in
            let ip = ib.baseAddress
            parallelFor(outer &* m, minPerThread: Swift.max(1, 4096 / Swift.max(inner, 1))) { job in
                let o = job / m, j = job % m
                (po + (o &* m &+ j) &* inner).update(from: ps + (o &* size &+ ip![j]) &* inner, count: inner)
            }
        }
        let inShape = shape
        return recordOp("index_select", inputs: [self], output: out) { g in
            let gc = g.contiguousNoGrad()
            let dx = Tensor.zeros(inShape)
            let pg = gc.data, pd = dx.data
            idx.withUnsafeBufferPointer { ib in
                let ip = ib.baseAddress
                // Parallel over outer blocks (disjoint), serial over indices (they may repeat).
                parallelFor(outer, minPerThread: Swift.max(1, 4096 / Swift.max(m &* inner, 1))) { o in
                    for j in 0..<m {
                        let d = pd + (o &* size &+ ip![j]) &* inner, s = pg + (o &* m &+ j) &* inner
                        for k in 0..<inner { d[k] += s[k] }
                    }
                }
            }
            return [dx]
        }
    }

    /// PyTorch's `gather`: out[i][j][k] = self[index[i][j][k]][j][k] for dim 0 (likewise for
    /// other dims). `index` holds integers as floats, has this tensor's rank, and each of its
    /// dims other than `dim` is at most this tensor's; the result has index's shape.
    /// Backward scatter-adds into the gathered positions; the index gets no gradient.
    public func gather(dim: Int, index: Tensor) -> Tensor {
        let (targetAt, _) = scatterPositions(op: "gather", target: self, axis: axis(dim), index: index, source: nil)
        let src = contiguousNoGrad()
        let out = Tensor.empty(index.shape)
        let ps = src.data, po = out.data
        for (i, p) in targetAt.enumerated() { po[i] = ps[p] }
        let inShape = shape
        return recordOp("gather", inputs: [self], output: out) { g in
            let gc = g.contiguousNoGrad()
            let dx = Tensor.zeros(inShape)
            let pg = gc.data, pd = dx.data
            for (i, p) in targetAt.enumerated() { pd[p] += pg[i] }
            return [dx]
        }
    }

    /// PyTorch's `scatter_add`: a copy of this tensor with out[index[i][j][k]][j][k] += source[i][j][k]
    /// for dim 0 (likewise for other dims), over every position of `index` (floats holding
    /// integers, same rank; its dims at most source's, and at most this tensor's outside `dim`).
    /// Gradients: the output gradient for self, its gathered values for source (zero where
    /// source was not read).
    public func scatterAdd(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        let (targetAt, sourceAt) = scatterPositions(op: "scatterAdd", target: self, axis: axis(dim), index: index, source: source)
        let out = clone()
        let srcC = source.contiguousNoGrad()
        let ps = srcC.data, pd = out.data
        for (i, p) in targetAt.enumerated() { pd[p] += ps[sourceAt[i]] }
        let srcShape = source.shape
        let selfNeeds = requiresGrad
        return recordOp("scatter_add", inputs: [self, source], output: out) { g in
            let gc = g.contiguousNoGrad()
            var dsrc: Tensor? = nil
            if source.requiresGrad {
                let d = Tensor.zeros(srcShape)
                let pdst = d.data, pg = gc.data
                for (i, p) in targetAt.enumerated() { pdst[sourceAt[i]] = pg[p] }
                dsrc = d
            }
            return [selfNeeds ? gc : nil, dsrc]
        }
    }

    /// Pads each dim with `value`: `padding` holds (before, after) counts for the LAST
    /// `padding.count` dims, in dim order (so `padding.count == rank` pads every dim from the
    /// first; [(1, 1), (2, 2)] on an image [C, H, W] pads H by 1 and W by 2 on each side).
    /// Counts must be ≥ 0. Backward takes the interior of the gradient.
    public func pad(_ padding: [(Int, Int)], value: Float = 0) -> Tensor {
        ensure(padding.count <= rank, "pad: \(padding.count) (before, after) pairs for a tensor of rank \(rank) (shape \(shape))")
        let first = rank - padding.count
        var outShape = shape
        var before = [Int](repeating: 0, count: rank)
        for (i, (b, e)) in padding.enumerated() {
            ensure(b >= 0 && e >= 0, "pad: negative padding (\(b), \(e)) for dim \(first + i)")
            before[first + i] = b
            outShape[first + i] += b + e
        }
        let out = Tensor.full(outShape, value)
        let cs = Tensor.contiguousStrides(outShape)
        var interiorOffset = 0
        for d in 0..<rank { interiorOffset += before[d] * cs[d] }
        copyInto(rawView(out, shape: shape, strides: cs, offset: interiorOffset), self)
        let inShape = shape
        return recordOp("pad", inputs: [self], output: out) { g in
            var off = g.offset
            for d in 0..<g.rank { off += before[d] * g.strides[d] }
            return [rawView(g, shape: inShape, strides: g.strides, offset: off)]
        }
    }
}

/// For every element of `index` (row-major): the row-major position it addresses in `target`
/// (its own multi-index with dim `a` replaced by the index value) and, when `source` is given,
/// the row-major position of the same multi-index in `source`. Validates ranks, shapes and
/// that every index is an integer in range.
private func scatterPositions(op: String, target: Tensor, axis a: Int, index: Tensor, source: Tensor?) -> ([Int], [Int]) {
    ensure(index.rank == target.rank, "\(op): index has shape \(index.shape) but the tensor has shape \(target.shape) (ranks must match)")
    for d in 0..<target.rank where d != a {
        ensure(index.shape[d] <= target.shape[d], "\(op): index shape \(index.shape) exceeds the tensor's shape \(target.shape) in dim \(d)")
    }
    if let source {
        ensure(source.rank == index.rank, "\(op): source has shape \(source.shape), index \(index.shape) (ranks must match)")
        for d in 0..<index.rank {
            ensure(index.shape[d] <= source.shape[d], "\(op): index shape \(index.shape) exceeds source's shape \(source.shape) in dim \(d)")
        }
    }
    let values = index.toArray()
    let n = values.count
    let shape = index.shape, r = index.rank
    let ts = Tensor.contiguousStrides(target.shape)
    let ss = source.map { Tensor.contiguousStrides($0.shape) } ?? []
    var targetAt = [Int](repeating: 0, count: n)
    var sourceAt = source == nil ? [] : [Int](repeating: 0, count: n)
    var multi = [Int](repeating: 0, count: r)
    let size = target.shape[a]
    for i in 0..<n {
        let v = values[i]
        let ix = Int(exactly: v) ?? -1
        ensure(ix >= 0 && ix < size, "\(op): index value \(v) at element \(i) is not an integer in 0..<\(size) (dim \(a) of shape \(target.shape))")
        var p = 0, q = 0
        for d in 0..<r {
            p += (d == a ? ix : multi[d]) * ts[d]
            if source != nil { q += multi[d] * ss[d] }
        }
        targetAt[i] = p
        if source != nil { sourceAt[i] = q }
        var d = r - 1
        while d >= 0 { multi[d] += 1; if multi[d] < shape[d] { break }; multi[d] = 0; d -= 1 }
    }
    return (targetAt, sourceAt)
}

/// Rows of an embedding table: weight [V, C], indices (each in 0..<V) → [indices.count, C].
/// Backward scatter-adds into the used rows (repeated indices accumulate).
public func embedding(_ weight: Tensor, _ indices: [Int]) -> Tensor {
    ensure(weight.rank == 2, "embedding: weight must be [V, C], got shape \(weight.shape)")
    return weight.indexSelect(dim: 0, indices: indices)
}

extension Composite {
    /// indexSelect along dim 0 as a one-hot matrix product (to check the fused gather/scatter).
    public static func indexSelectRows(_ x: Tensor, indices: [Int]) -> Tensor {
        let n = x.shape[0]
        var onehot = [Float](repeating: 0, count: indices.count * n)
        for (j, ix) in indices.enumerated() { onehot[j * n + ix] = 1 }
        let rest = Array(x.shape.dropFirst())
        return Tensor(onehot, shape: [indices.count, n]).matmul(x.reshape([n, -1])).reshape([indices.count] + rest)
    }
}
