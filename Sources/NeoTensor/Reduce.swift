import Foundation

/// Reductions over any set of axes, with or without keeping them as size-1 dims.
extension Tensor {
    func normalizedAxes(_ axes: [Int]?) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let a = axes.map { axis($0) }
        ensure(Set(a).count == a.count, "reduction: repeated axis in \(axes)")
        return a.sorted()
    }

    /// Lays the tensor out as [outer, reduced] rows: returns the contiguous buffer, the number of
    /// rows and the row length, and the output shape (keepDims or not).
    func reductionLayout(_ axes: [Int], keepDims: Bool) -> (Tensor, Int, Int, [Int]) {
        let kept = (0..<rank).filter { !axes.contains($0) }
        let rows = kept.reduce(1) { $0 * shape[$1] }
        let len = axes.reduce(1) { $0 * shape[$1] }
        let outShape = keepDims ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element } : kept.map { shape[$0] }
        let perm = kept + axes
        let src = noGrad { perm == Array(0..<rank) ? self.contiguousNoGrad() : self.permute(perm).contiguousNoGrad() }
        return (src, rows, len, outShape)
    }

    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes)
        let inShape = shape
        let out: Tensor
        let lead = ax == Array(0..<ax.count)
        if lead && isContiguous && !ax.isEmpty {
            // Reducing leading axes of a contiguous tensor: accumulate whole rows (no transpose).
            let outer = ax.reduce(1) { $0 * shape[$1] }
            let inner = count / Swift.max(outer, 1)
            let outShape = keepDims ? shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element } : Array(shape[ax.count...])
            out = Tensor.zeros(outShape)
            let o = out.data, p = data
            let body: (Int) -> Void = { c in
                let lo = inner &* c / 8, hi = inner &* (c &+ 1) / 8
                if hi <= lo { return }
                for r in 0..<outer {
                    let row = p + r &* inner
                    for i in lo..<hi { o[i] += row[i] }
                }
            }
            if count >= 1 << 16 && inner >= 64 { parallelFor(8, body) } else { for c in 0..<8 { body(c) } }
        } else {
            let (src, rows, len, outShape) = reductionLayout(ax, keepDims: keepDims)
            out = Tensor.empty(outShape)
            let o = out.data, p = src.data
            let body: (Int) -> Void = { r in
                let row = p + r &* len
                var acc: Double = 0
                for i in 0..<len { acc += Double(row[i]) }
                o[r] = Float(acc)
            }
            if rows * len >= 1 << 16 { parallelFor(rows, minPerThread: 16, body) } else { for r in 0..<rows { body(r) } }
        }
        let keptShape = inShape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        return recordOp("sum", inputs: [self], output: out) { g in
            [g.reshape(keptShape).expand(inShape).contiguous()]
        }
    }

    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes)
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    /// Variance with Bessel's correction `correction` (1: unbiased, PyTorch's default).
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, correction: Int = 1) -> Tensor {
        let ax = normalizedAxes(axes)
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return centered.square().sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n - correction, 1)))
    }

    private func extremum(_ axes: [Int]?, keepDims: Bool, isMax: Bool) -> Tensor {
        let ax = normalizedAxes(axes)
        ensure(count > 0, "\(isMax ? "max" : "min"): empty tensor")
        let (src, rows, len, outShape) = reductionLayout(ax, keepDims: keepDims)
        let out = Tensor.empty(outShape)
        let o = out.data, p = src.data
        for r in 0..<rows {
            let row = p + r &* len
            var best = row[0]
            if isMax { for i in 1..<Swift.max(len, 1) where row[i] > best || row[i].isNaN { best = row[i] } }
            else { for i in 1..<Swift.max(len, 1) where row[i] < best || row[i].isNaN { best = row[i] } }
            o[r] = best
        }
        let inShape = shape
        let keptShape = inShape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        let x = self
        return recordOp(isMax ? "max" : "min", inputs: [self], output: out) { g in
            // The gradient is shared evenly among tied extrema.
            let mask = x.eq(out.reshape(keptShape))
            let ties = mask.sum(axes: ax, keepDims: true)
            return [mask * g.reshape(keptShape) / ties]
        }
    }

    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims: keepDims, isMax: true) }
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims: keepDims, isMax: false) }

    /// Index of the largest element along `dim` (first one on ties), as floats. No gradient.
    public func argmax(dim: Int, keepDims: Bool = false) -> Tensor {
        let a = axis(dim)
        let (src, rows, len, outShape) = reductionLayout([a], keepDims: keepDims)
        let out = Tensor.empty(outShape)
        let o = out.data, p = src.data
        for r in 0..<rows {
            let row = p + r &* len
            var best = 0
            for i in 1..<Swift.max(len, 1) where row[i] > row[best] { best = i }
            o[r] = Float(best)
        }
        return out
    }
}
