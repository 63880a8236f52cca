import Foundation

extension Tensor {
    /// Softmax along `dim` (max-subtracted, so large logits do not overflow). A slice that is
    /// entirely −∞ gives zeros. Other dims than the last are moved last and back (views).
    public func softmax(dim: Int = -1) -> Tensor {
        let d = axis(dim)
        if d != rank - 1 { return transpose(d, -1).softmax(dim: -1).transpose(d, -1) }
        let n = shape[rank - 1]
        let src = contiguousNoGrad()
        let out = Tensor.empty(shape)
        let rows = count / Swift.max(n, 1)
        let ps = src.data, po = out.data
        if n > 0 {
            parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
                for r in lo..<hi {
                    let s = ps + r &* n, o = po + r &* n
                    let m = rowMax(s, n)
                    if m == -.infinity { o.update(repeating: 0, count: n); continue }
                    let sum = rowExpShift(s, o, n, m)
                    rowScale(o, n, 1 / sum)
                }
            }
        }
        return recordOp("softmax", inputs: [self], output: out) { g in
            // dx = y ∘ (g − Σ g∘y)
            let gc = g.contiguousNoGrad()
            let dx = Tensor.empty(out.shape)
            let pg = gc.data, pd = dx.data
            if n > 0 {
                parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
                    for r in lo..<hi {
                        let y = po + r &* n, gr = pg + r &* n, o = pd + r &* n
                        let dot = F8(repeating: rowDot(gr, y, n))
                        var i = 0
                        while i &+ 8 <= n { store8(load8(y + i) * (load8(gr + i) - dot), o + i); i &+= 8 }
                        while i < n { o[i] = y[i] * (gr[i] - dot[0]); i &+= 1 }
                    }
                }
            }
            return [dx]
        }
    }

    /// log(softmax(x)) along `dim`, computed as x − max − log Σ e^(x − max) (stable).
    public func logSoftmax(dim: Int = -1) -> Tensor {
        let d = axis(dim)
        if d != rank - 1 { return transpose(d, -1).logSoftmax(dim: -1).transpose(d, -1) }
        let n = shape[rank - 1]
        let src = contiguousNoGrad()
        let out = Tensor.empty(shape)
        let rows = count / Swift.max(n, 1)
        let ps = src.data, po = out.data
        if n > 0 {
            parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
                for r in lo..<hi {
                    let s = ps + r &* n, o = po + r &* n
                    let m = rowMax(s, n)
                    // The exponentials go to the output row as scratch, then are overwritten.
                    let lse = m == -.infinity ? m : m + Foundation.log(rowExpShift(s, o, n, m))
                    let l8 = F8(repeating: lse)
                    var i = 0
                    while i &+ 8 <= n { store8(load8(s + i) - l8, o + i); i &+= 8 }
                    while i < n { o[i] = s[i] - lse; i &+= 1 }
                }
            }
        }
        return recordOp("log_softmax", inputs: [self], output: out) { g in
            // dx = g − softmax(x) · Σ g
            let gc = g.contiguousNoGrad()
            let dx = Tensor.empty(out.shape)
            let pg = gc.data, pd = dx.data
            if n > 0 {
                parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
                    for r in lo..<hi {
                        let y = po + r &* n, gr = pg + r &* n, o = pd + r &* n
                        let s8 = F8(repeating: rowSum(gr, n))
                        var i = 0
                        while i &+ 8 <= n { store8(load8(gr + i) - exp8(load8(y + i)) * s8, o + i); i &+= 8 }
                        while i < n { o[i] = gr[i] - exp1(y[i]) * s8[0]; i &+= 1 }
                    }
                }
            }
            return [dx]
        }
    }
}

extension Composite {
    /// softmax from primitives: e^(x − max) / Σ e^(x − max).
    public static func softmax(_ x: Tensor, dim: Int = -1) -> Tensor {
        let e = (x - x.max(axes: [dim], keepDims: true).detach()).exp()
        return e / e.sum(axes: [dim], keepDims: true)
    }
    /// log-softmax from primitives: (x − max) − log Σ e^(x − max).
    public static func logSoftmax(_ x: Tensor, dim: Int = -1) -> Tensor {
        let z = x - x.max(axes: [dim], keepDims: true).detach()
        return z - z.exp().sum(axes: [dim], keepDims: true).log()
    }
}
