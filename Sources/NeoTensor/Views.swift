/// Shape ops that share storage where they can. All are differentiable.
extension Tensor {
    /// A contiguous tensor with the same values (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = contiguousNoGrad()
        return recordOp("contiguous", inputs: [self], output: out) { g in [g] }
    }

    /// Same elements, new shape (one dimension may be -1). A view when the layout allows.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var shp = newShape
        let n = count
        if let i = shp.firstIndex(of: -1) {
            let known = shp.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            ensure(known > 0 && n % known == 0, "reshape: cannot infer -1 in \(newShape) for \(n) elements (shape \(shape))")
            shp[i] = n / known
        }
        ensure(Tensor.count(shp) == n, "reshape: shape \(newShape) does not hold \(n) elements (shape \(shape))")
        if shp == shape { return self }
        let src = isContiguous ? self : contiguous()
        let out = Tensor(storage: src.storage, shape: shp, strides: Tensor.contiguousStrides(shp), offset: src.offset)
        let inShape = shape
        return recordOp("reshape", inputs: [src], output: out) { g in [g.reshape(inShape)] }
    }

    public func flatten() -> Tensor { reshape([count]) }

    /// Reorders dimensions (a view).
    public func permute(_ dims: [Int]) -> Tensor {
        ensure(dims.count == rank && Set(dims.map { axis($0) }).count == rank, "permute: \(dims) is not a permutation of \(rank) dims")
        let d = dims.map { axis($0) }
        let out = Tensor(storage: storage, shape: d.map { shape[$0] }, strides: d.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, v) in d.enumerated() { inverse[v] = i }
        return recordOp("permute", inputs: [self], output: out) { g in [g.permute(inverse)] }
    }

    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var d = Array(0..<rank)
        d.swapAt(axis(a), axis(b))
        return permute(d)
    }

    /// Swaps the last two dimensions.
    public var mT: Tensor { transpose(-2, -1) }

    /// Elements start..<end (step `step`) along `dim` (a view).
    public func slice(dim: Int, start: Int, end: Int, step: Int = 1) -> Tensor {
        let a = axis(dim)
        let s = start < 0 ? start + shape[a] : start
        let e = Swift.min(end < 0 ? end + shape[a] : end, shape[a])
        ensure(step > 0 && s >= 0 && s <= e, "slice: range \(start)..<\(end) step \(step) is invalid for dim \(dim) of size \(shape[a])")
        var shp = shape, st = strides
        shp[a] = (e - s + step - 1) / step
        st[a] = strides[a] * step
        let out = Tensor(storage: storage, shape: shp, strides: st, offset: offset + s * strides[a])
        let inShape = shape
        return recordOp("slice", inputs: [self], output: out) { g in
            let full = Tensor.zeros(inShape)
            let view = Tensor(storage: full.storage, shape: shp, strides: Tensor.contiguousStrides(inShape).enumerated().map { $0.offset == a ? $0.element * step : $0.element },
                              offset: s * Tensor.contiguousStrides(inShape)[a])
            copyInto(view, g)
            return [full]
        }
    }

    /// Broadcasts to `newShape` with stride 0 along expanded dims (a view). -1 keeps a dim.
    public func expand(_ newShape: [Int]) -> Tensor {
        ensure(newShape.count >= rank, "expand: shape \(newShape) has fewer dims than \(shape)")
        let off = newShape.count - rank
        var shp = newShape
        var st = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < off { ensure(newShape[i] >= 0, "expand: bad size \(newShape[i])"); continue }
            let d = shape[i - off]
            if newShape[i] == -1 { shp[i] = d }
            ensure(d == shp[i] || d == 1, "expand: cannot expand shape \(shape) to \(newShape)")
            st[i] = d == 1 && shp[i] != 1 ? 0 : strides[i - off]
        }
        if shp == shape { return self }
        let out = Tensor(storage: storage, shape: shp, strides: st, offset: offset)
        let inShape = shape
        return recordOp("expand", inputs: [self], output: out) { g in [sumToShape(g, inShape)] }
    }

    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = dim < 0 ? dim + rank + 1 : dim
        ensure(d >= 0 && d <= rank, "unsqueeze: dim \(dim) out of range for rank \(rank)")
        var shp = shape
        shp.insert(1, at: d)
        return reshape(shp)
    }

    /// Removes `dim` (which must have size 1), or every size-1 dim when nil.
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        if let dim {
            let a = axis(dim)
            ensure(shape[a] == 1, "squeeze: dim \(dim) has size \(shape[a]), not 1")
            var shp = shape
            shp.remove(at: a)
            return reshape(shp)
        }
        return reshape(shape.filter { $0 != 1 })
    }
}

/// Writes `src` into the (possibly strided) view `dst`, outside autodiff.
func copyInto(_ dst: Tensor, _ src: Tensor) {
    ensure(dst.shape == src.shape, "copyInto: shape \(src.shape) vs \(dst.shape)")
    if dst.count == 0 { return }
    let pd = dst.storage.pointer, ps = src.storage.pointer
    let od = dst.offset, os = src.offset
    forEachRow(dst.shape, [dst.strides, src.strides]) { offs, n, istr in
        let d = pd + (od &+ offs[0]), s = ps + (os &+ offs[1])
        let ds = istr[0], ss = istr[1]
        if ds == 1 && ss == 1 { d.update(from: s, count: n) } else { for i in 0..<n { d[i &* ds] = s[i &* ss] } }
    }
}
