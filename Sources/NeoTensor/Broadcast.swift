/// NumPy broadcasting of two shapes; traps with both shapes named when they do not broadcast.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        ensure(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast (dimension \(i): \(da) vs \(db))")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides that read `t` as if expanded to `shape` (stride 0 along broadcast dims).
func broadcastStrides(_ t: Tensor, to shape: [Int]) -> [Int] {
    let r = shape.count
    var s = [Int](repeating: 0, count: r)
    let off = r - t.rank
    for i in 0..<t.rank where t.shape[i] != 1 {
        s[i + off] = t.strides[i]
    }
    return s
}

/// Iterates an n-d index space of `shape` with one stride set per operand; calls `inner` once per
/// innermost row with the operands' base offsets, the row length and their inner strides.
@inline(__always)
func forEachRow(_ shape: [Int], _ strides: [[Int]],
                _ inner: (_ offsets: UnsafePointer<Int>, _ n: Int, _ innerStrides: UnsafePointer<Int>) -> Void) {
    let (cs, cst) = coalesce(shape, strides)
    let r = cs.count
    let k = cst.count
    let n = cs[r - 1]
    var total = 1
    for d in 0..<(r - 1) { total &*= cs[d] }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * k + r) { buf in
        let offs = buf.baseAddress!
        let istr = offs + k
        let idx = istr + k
        for j in 0..<k { istr[j] = cst[j][r - 1]; offs[j] = 0 }
        for d in 0..<r { idx[d] = 0 }
        var row = 0
        while row < total {
            inner(UnsafePointer(offs), n, UnsafePointer(istr))
            row &+= 1
            // advance the outer index (odometer)
            var d = r - 2
            while d >= 0 {
                idx[d] &+= 1
                for j in 0..<k { offs[j] &+= cst[j][d] }
                if idx[d] < cs[d] { break }
                for j in 0..<k { offs[j] &-= cst[j][d] &* cs[d] }
                idx[d] = 0
                d -= 1
            }
        }
    }
}

/// Sums a gradient of a broadcast result back down to `shape` (the input's shape).
public func sumToShape(_ g: Tensor, _ shape: [Int]) -> Tensor {
    if g.shape == shape { return g }
    let lead = g.rank - shape.count
    var axes: [Int] = Array(0..<lead)
    for i in 0..<shape.count where shape[i] == 1 && g.shape[i + lead] != 1 { axes.append(i + lead) }
    let s = axes.isEmpty ? g : g.sum(axes: axes, keepDims: true)
    return s.reshape(shape)
}
