import Foundation

/// Per-thread partial sums of the weight/bias gradients of a row-normalisation backward,
/// reduced after the parallel pass (no two threads write the same slot).
private func reducePartials(_ partials: UnsafeMutablePointer<Float>, chunks: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
    out.update(from: partials, count: width)
    for c in 1..<Swift.max(chunks, 1) {
        let p = partials + c &* width
        var i = 0
        while i &+ 8 <= width { store8(load8(out + i) + load8(p + i), out + i); i &+= 8 }
        while i < width { out[i] += p[i]; i &+= 1 }
    }
}

/// Number of row chunks for a parallel pass over `rows` rows of length `n`.
private func chunkCount(rows: Int, n: Int) -> Int {
    let threads = EngineContext.current.threads
    return Swift.max(1, Swift.min(threads, rows / rowsPerChunk(n)))
}

/// Layer normalisation over the last dim: (x − mean) / sqrt(var + eps) · weight + bias, with the
/// biased variance (as PyTorch). Forward saves each row's mean and 1/std; backward is one fused
/// pass per row (dx, and per-thread partial sums for dweight and dbias). Parallel over rows.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    ensure(x.rank >= 1, "layerNorm: input must have at least one dim")
    let n = x.shape[x.rank - 1]
    if let weight { ensure(weight.shape == [n], "layerNorm: weight has shape \(weight.shape), expected [\(n)] (input \(x.shape))") }
    if let bias { ensure(bias.shape == [n], "layerNorm: bias has shape \(bias.shape), expected [\(n)] (input \(x.shape))") }
    let src = x.contiguousNoGrad()
    let rows = x.count / Swift.max(n, 1)
    let out = Tensor.empty(x.shape)
    let stats = Tensor.empty([2, rows])  // mean, rstd
    let wc = weight?.contiguousNoGrad(), bc = bias?.contiguousNoGrad()
    let px = src.data, py = out.data, pmean = stats.data, prstd = stats.data + rows
    let pw = wc?.data, pb = bc?.data
    let invN = 1 / Float(Swift.max(n, 1))
    if n > 0 {
        parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
            for r in lo..<hi {
                let xr = px + r &* n, yr = py + r &* n
                let mean = rowSum(xr, n) * invN
                let m8 = F8(repeating: mean)
                var acc = F8()
                var i = 0
                while i &+ 8 <= n { let d = load8(xr + i) - m8; acc += d * d; i &+= 8 }
                var v = acc.sum()
                while i < n { let d = xr[i] - mean; v += d * d; i &+= 1 }
                let rstd = 1 / (v * invN + eps).squareRoot()
                pmean[r] = mean; prstd[r] = rstd
                let s8 = F8(repeating: rstd)
                i = 0
                switch (pw, pb) {
                case let (w?, b?):
                    while i &+ 8 <= n { store8((load8(xr + i) - m8) * s8 * load8(w + i) + load8(b + i), yr + i); i &+= 8 }
                    while i < n { yr[i] = (xr[i] - mean) * rstd * w[i] + b[i]; i &+= 1 }
                case let (w?, nil):
                    while i &+ 8 <= n { store8((load8(xr + i) - m8) * s8 * load8(w + i), yr + i); i &+= 8 }
                    while i < n { yr[i] = (xr[i] - mean) * rstd * w[i]; i &+= 1 }
                case let (nil, b?):
                    while i &+ 8 <= n { store8((load8(xr + i) - m8) * s8 + load8(b + i), yr + i); i &+= 8 }
                    while i < n { yr[i] = (xr[i] - mean) * rstd + b[i]; i &+= 1 }
                case (nil, nil):
                    while i &+ 8 <= n { store8((load8(xr + i) - m8) * s8, yr + i); i &+= 8 }
                    while i < n { yr[i] = (xr[i] - mean) * rstd; i &+= 1 }
                }
            }
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return recordOp("layer_norm", inputs: inputs, output: out) { g in
        let gc = g.contiguousNoGrad()
        let pg = gc.data
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        let dx = needX ? Tensor.empty(x.shape) : nil
        let pdx = dx?.data
        let chunks = chunkCount(rows: rows, n: n)
        // Per chunk: [dweight partial | dbias partial].
        let partials = (needW || needB) ? Tensor.zeros([chunks, 2 * n]) : nil
        let pp = partials?.data
        if n > 0 && rows > 0 {
            concurrentChunks(chunks) { c in
                let lo = rows &* c / chunks, hi = rows &* (c &+ 1) / chunks
                let dwAcc = pp.map { $0 + c &* 2 &* n }, dbAcc = pp.map { $0 + (c &* 2 &* n &+ n) }
                for r in lo..<hi {
                    let xr = px + r &* n, gr = pg + r &* n
                    let mean = pmean[r], rstd = prstd[r]
                    let m8 = F8(repeating: mean), s8 = F8(repeating: rstd)
                    // Pass 1: Σ dnorm and Σ dnorm·norm (dnorm = g·w), plus the parameter partials.
                    var a1 = F8(), a2 = F8()
                    var i = 0
                    while i &+ 8 <= n {
                        let gv = load8(gr + i)
                        let norm = (load8(xr + i) - m8) * s8
                        let dn = pw.map { gv * load8($0 + i) } ?? gv
                        a1 += dn; a2 += dn * norm
                        if let dwAcc { store8(load8(dwAcc + i) + gv * norm, dwAcc + i) }
                        if let dbAcc { store8(load8(dbAcc + i) + gv, dbAcc + i) }
                        i &+= 8
                    }
                    var s1 = a1.sum(), s2 = a2.sum()
                    while i < n {
                        let norm = (xr[i] - mean) * rstd
                        let dn = pw.map { gr[i] * $0[i] } ?? gr[i]
                        s1 += dn; s2 += dn * norm
                        if let dwAcc { dwAcc[i] += gr[i] * norm }
                        if let dbAcc { dbAcc[i] += gr[i] }
                        i &+= 1
                    }
                    // Pass 2: dx = rstd · (dnorm − mean(dnorm) − norm · mean(dnorm·norm)).
                    guard let pdx else { continue }
                    let dr = pdx + r &* n
                    let c1 = s1 * invN, c2 = s2 * invN
                    let c18 = F8(repeating: c1), c28 = F8(repeating: c2)
                    i = 0
                    while i &+ 8 <= n {
                        let gv = load8(gr + i)
                        let norm = (load8(xr + i) - m8) * s8
                        let dn = pw.map { gv * load8($0 + i) } ?? gv
                        store8((dn - c18 - norm * c28) * s8, dr + i)
                        i &+= 8
                    }
                    while i < n {
                        let norm = (xr[i] - mean) * rstd
                        let dn = pw.map { gr[i] * $0[i] } ?? gr[i]
                        dr[i] = (dn - c1 - norm * c2) * rstd
                        i &+= 1
                    }
                }
            }
        }
        var dw: Tensor? = nil, db: Tensor? = nil
        if let pp {
            let sums = Tensor.empty([2 * n])
            reducePartials(pp, chunks: chunks, width: 2 * n, into: sums.data)
            if needW { dw = sums.slice(dim: 0, start: 0, end: n) }
            if needB { db = sums.slice(dim: 0, start: n, end: 2 * n) }
        }
        var grads: [Tensor?] = [dx]
        if weight != nil { grads.append(dw) }
        if bias != nil { grads.append(db) }
        withExtendedLifetime((src, stats, wc)) {}
        return grads
    }
}

/// RMS normalisation over the last dim: x / sqrt(mean(x²) + eps) · weight. Forward saves each
/// row's 1/rms; backward is one fused pass per row. Parallel over rows.
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-6) -> Tensor {
    ensure(x.rank >= 1, "rmsNorm: input must have at least one dim")
    let n = x.shape[x.rank - 1]
    if let weight { ensure(weight.shape == [n], "rmsNorm: weight has shape \(weight.shape), expected [\(n)] (input \(x.shape))") }
    let src = x.contiguousNoGrad()
    let rows = x.count / Swift.max(n, 1)
    let out = Tensor.empty(x.shape)
    let stats = Tensor.empty([rows])  // rstd
    let wc = weight?.contiguousNoGrad()
    let px = src.data, py = out.data, prstd = stats.data
    let pw = wc?.data
    let invN = 1 / Float(Swift.max(n, 1))
    if n > 0 {
        parallelRanges(rows, minPerThread: rowsPerChunk(n)) { lo, hi in
            for r in lo..<hi {
                let xr = px + r &* n, yr = py + r &* n
                let rstd = 1 / (rowDot(xr, xr, n) * invN + eps).squareRoot()
                prstd[r] = rstd
                let s8 = F8(repeating: rstd)
                var i = 0
                if let w = pw {
                    while i &+ 8 <= n { store8(load8(xr + i) * s8 * load8(w + i), yr + i); i &+= 8 }
                    while i < n { yr[i] = xr[i] * rstd * w[i]; i &+= 1 }
                } else {
                    while i &+ 8 <= n { store8(load8(xr + i) * s8, yr + i); i &+= 8 }
                    while i < n { yr[i] = xr[i] * rstd; i &+= 1 }
                }
            }
        }
    }
    let inputs = weight.map { [x, $0] } ?? [x]
    return recordOp("rms_norm", inputs: inputs, output: out) { g in
        let gc = g.contiguousNoGrad()
        let pg = gc.data
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false
        let dx = needX ? Tensor.empty(x.shape) : nil
        let pdx = dx?.data
        let chunks = chunkCount(rows: rows, n: n)
        let partials = needW ? Tensor.zeros([chunks, n]) : nil
        let pp = partials?.data
        if n > 0 && rows > 0 {
            concurrentChunks(chunks) { c in
                let lo = rows &* c / chunks, hi = rows &* (c &+ 1) / chunks
                let dwAcc = pp.map { $0 + c &* n }
                for r in lo..<hi {
                    let xr = px + r &* n, gr = pg + r &* n
                    let rstd = prstd[r]
                    let s8 = F8(repeating: rstd)
                    // Σ dnorm·norm with dnorm = g·w, norm = x·rstd; dweight partial Σ g·norm.
                    var a = F8()
                    var i = 0
                    while i &+ 8 <= n {
                        let gv = load8(gr + i)
                        let norm = load8(xr + i) * s8
                        let dn = pw.map { gv * load8($0 + i) } ?? gv
                        a += dn * norm
                        if let dwAcc { store8(load8(dwAcc + i) + gv * norm, dwAcc + i) }
                        i &+= 8
                    }
                    var s = a.sum()
                    while i < n {
                        let norm = xr[i] * rstd
                        let dn = pw.map { gr[i] * $0[i] } ?? gr[i]
                        s += dn * norm
                        if let dwAcc { dwAcc[i] += gr[i] * norm }
                        i &+= 1
                    }
                    // dx = rstd · (dnorm − norm · mean(dnorm·norm))
                    guard let pdx else { continue }
                    let dr = pdx + r &* n
                    let c2 = s * invN
                    let c28 = F8(repeating: c2)
                    i = 0
                    while i &+ 8 <= n {
                        let gv = load8(gr + i)
                        let norm = load8(xr + i) * s8
                        let dn = pw.map { gv * load8($0 + i) } ?? gv
                        store8((dn - norm * c28) * s8, dr + i)
                        i &+= 8
                    }
                    while i < n {
                        let norm = xr[i] * rstd
                        let dn = pw.map { gr[i] * $0[i] } ?? gr[i]
                        dr[i] = (dn - norm * c2) * rstd
                        i &+= 1
                    }
                }
            }
        }
        var dw: Tensor? = nil
        if let pp {
            let sums = Tensor.empty([n])
            reducePartials(pp, chunks: chunks, width: n, into: sums.data)
            dw = sums
        }
        withExtendedLifetime((src, stats, wc)) {}
        return weight == nil ? [dx] : [dx, dw]
    }
}

extension Composite {
    /// layerNorm from primitives (mean, biased variance, rsqrt, affine).
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let mean = x.mean(axes: [-1], keepDims: true)
        let centered = x - mean
        let variance = centered.square().mean(axes: [-1], keepDims: true)
        var y = centered * (variance + eps).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }
    /// rmsNorm from primitives.
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-6) -> Tensor {
        let y = x * (x.square().mean(axes: [-1], keepDims: true) + eps).rsqrt()
        return weight.map { y * $0 } ?? y
    }
}
