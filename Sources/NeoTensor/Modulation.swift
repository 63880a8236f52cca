import Foundation

/// Visits the rows of `shape` (after merging contiguous dims) split into `chunks` parallel
/// chunks: body(chunk, operand offsets, row length, operand inner strides).
func forEachRowParallel(_ shape: [Int], _ strides: [[Int]], chunks: Int,
                        _ body: (_ chunk: Int, _ offsets: UnsafePointer<Int>, _ n: Int, _ innerStrides: UnsafePointer<Int>) -> Void) {
    if Tensor.count(shape) == 0 { return }
    let (cs, cst) = coalesce(shape, strides)
    let r = cs.count, k = cst.count
    let n = cs[r - 1]
    let rows = Tensor.count(cs) / n
    let chunkCount = Swift.max(1, Swift.min(chunks, rows))
    // Flat copies so the per-row index math touches no arrays.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: r + k * r) { geo in
        let dims = geo.baseAddress!, st = dims + r
        for d in 0..<r { dims[d] = cs[d] }
        for j in 0..<k { for d in 0..<r { st[j &* r &+ d] = cst[j][d] } }
        concurrentChunks(chunkCount) { c in
            let lo = rows &* c / chunkCount, hi = rows &* (c &+ 1) / chunkCount
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * k) { buf in
                let offs = buf.baseAddress!, istr = offs + k
                for j in 0..<k { istr[j] = st[j &* r &+ r &- 1] }
                for row in lo..<hi {
                    for j in 0..<k { offs[j] = 0 }
                    var rem = row
                    var d = r &- 2
                    while d >= 0 {
                        let ix = rem % dims[d]
                        rem /= dims[d]
                        for j in 0..<k { offs[j] &+= ix &* st[j &* r &+ d] }
                        d &-= 1
                    }
                    body(c, UnsafePointer(offs), n, UnsafePointer(istr))
                }
            }
        }
    }
}

/// Parallel chunks for an elementwise pass over `count` elements.
@inline(__always) func elementwiseChunks(_ count: Int) -> Int {
    count >= 1 << 15 ? EngineContext.current.threads : 1
}

/// The modulation broadcasting rule shared by `adaLNModulate` and `gatedResidual`: a tensor
/// whose rank is one less than x's (x of rank ≥ 3) is per-sample conditioning, [B, C] against
/// [B, T, C], and is read as [B, 1, C]; any other shape uses plain NumPy broadcasting. Either
/// way it must broadcast to x's shape. Returns the shape it is read as.
func modulationShape(_ m: Tensor, for x: Tensor, op: String, name: String) -> [Int] {
    var shape = m.shape
    if x.rank >= 3 && m.rank == x.rank - 1 { shape.insert(1, at: 1) }
    ensure(shape.count <= x.rank && broadcastShapes(shape, x.shape) == x.shape,
                 "\(op): \(name) of shape \(m.shape) does not broadcast to the input's shape \(x.shape) ([B, C] is read as [B, 1, C]; otherwise NumPy broadcasting)")
    return shape
}

/// Strides reading a tensor of `shape` with `strides` as if broadcast to `target` (0 along
/// broadcast dims).
private func stridesBroadcast(_ shape: [Int], _ strides: [Int], to target: [Int]) -> [Int] {
    let off = target.count - shape.count
    var s = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count where shape[i] != 1 { s[i + off] = strides[i] }
    return s
}

/// Strides that read `t`, seen as its modulation-aligned `shape` (at most one size-1 dim
/// inserted at 1), broadcast to `target`.
private func readStrides(_ t: Tensor, as shape: [Int], to target: [Int]) -> [Int] {
    var st = t.strides
    if shape.count != t.rank { st.insert(0, at: 1) }
    return stridesBroadcast(shape, st, to: target)
}

/// Sums per-chunk partial buffers (`chunks` × `width`) into a new tensor of `shape`.
private func sumPartials(_ partials: Tensor, chunks: Int, width: Int, shape: [Int]) -> Tensor {
    let out = Tensor.empty(shape)
    let o = out.data, p = partials.data
    o.update(from: p, count: width)
    for c in 1..<Swift.max(chunks, 1) {
        let q = p + c &* width
        for i in 0..<width { o[i] += q[i] }
    }
    return out
}

/// adaLN modulation x·(1 + scale) + shift, fused forward and backward (DiT/SD3 style).
/// `shift` and `scale` follow the modulation broadcasting rule: [B, C] against x [B, T, C] is
/// read as [B, 1, C] (per-sample conditioning); other shapes use NumPy broadcasting ([C],
/// [B, T, C] frame-wise, [1, 1, C] …). They broadcast to x's shape, never the other way.
public func adaLNModulate(_ x: Tensor, shift: Tensor, scale: Tensor) -> Tensor {
    let shiftShape = modulationShape(shift, for: x, op: "adaLNModulate", name: "shift")
    let scaleShape = modulationShape(scale, for: x, op: "adaLNModulate", name: "scale")
    let shape = x.shape
    let out = Tensor.empty(shape)
    let hs = readStrides(shift, as: shiftShape, to: shape), ss = readStrides(scale, as: scaleShape, to: shape)
    let px = x.data, ph = shift.data, psc = scale.data, po = out.data
    forEachRowParallel(shape, [x.strides, ss, hs, Tensor.contiguousStrides(shape)], chunks: elementwiseChunks(out.count)) { _, offs, n, istr in
        let xr = px + offs[0], sr = psc + offs[1], hr = ph + offs[2], or = po + offs[3]
        let xst = istr[0], sst = istr[1], hst = istr[2]
        if xst == 1 && sst == 1 && hst == 1 {
            var i = 0
            while i &+ 8 <= n { store8(load8(xr + i) * (1 + load8(sr + i)) + load8(hr + i), or + i); i &+= 8 }
            while i < n { or[i] = xr[i] * (1 + sr[i]) + hr[i]; i &+= 1 }
        } else {
            for i in 0..<n { or[i] = xr[i &* xst] * (1 + sr[i &* sst]) + hr[i &* hst] }
        }
    }
    return recordOp("adaln_modulate", inputs: [x, shift, scale], output: out) { g in
        let gc = g.contiguousNoGrad()
        let needX = x.requiresGrad, needShift = shift.requiresGrad, needScale = scale.requiresGrad
        let chunks = elementwiseChunks(out.count)
        let dx = needX ? Tensor.empty(shape) : nil
        let wShift = Tensor.count(shiftShape), wScale = Tensor.count(scaleShape)
        let dShiftParts = needShift ? Tensor.zeros([chunks, wShift]) : nil
        let dScaleParts = needScale ? Tensor.zeros([chunks, wScale]) : nil
        // Partial-gradient buffers are contiguous in the aligned shapes, read with broadcast strides.
        let dhs = stridesBroadcast(shiftShape, Tensor.contiguousStrides(shiftShape), to: shape)
        let dss = stridesBroadcast(scaleShape, Tensor.contiguousStrides(scaleShape), to: shape)
        let cst = Tensor.contiguousStrides(shape)
        let pg = gc.data, pdx = dx?.data, pdh = dShiftParts?.data, pds = dScaleParts?.data
        forEachRowParallel(shape, [cst, x.strides, ss, dss, dhs], chunks: chunks) { c, offs, n, istr in
            let gr = pg + offs[0], xr = px + offs[1], sr = psc + offs[2]
            let xst = istr[1], sst = istr[2], dsst = istr[3], dhst = istr[4]
            if let pdx {
                let dr = pdx + offs[0]
                for i in 0..<n { dr[i] = gr[i] * (1 + sr[i &* sst]) }
            }
            if let pds {
                let acc = pds + (c &* wScale &+ offs[3])
                if dsst == 0 {
                    var s: Float = 0
                    for i in 0..<n { s += gr[i] * xr[i &* xst] }
                    acc[0] += s
                } else {
                    for i in 0..<n { acc[i &* dsst] += gr[i] * xr[i &* xst] }
                }
            }
            if let pdh {
                let acc = pdh + (c &* wShift &+ offs[4])
                if dhst == 0 {
                    var s: Float = 0
                    for i in 0..<n { s += gr[i] }
                    acc[0] += s
                } else {
                    for i in 0..<n { acc[i &* dhst] += gr[i] }
                }
            }
        }
        let dShift = dShiftParts.map { sumPartials($0, chunks: chunks, width: wShift, shape: shift.shape) }
        let dScale = dScaleParts.map { sumPartials($0, chunks: chunks, width: wScale, shape: scale.shape) }
        return [dx, dShift, dScale]
    }
}

/// Gated residual x + gate·y, fused forward and backward (adaLN-Zero's gated branches).
/// `gate` follows the modulation broadcasting rule ([B, C] against x [B, T, C] is read as
/// [B, 1, C]; otherwise NumPy broadcasting); `y` broadcasts to x's shape by NumPy rules.
public func gatedResidual(_ x: Tensor, gate: Tensor, _ y: Tensor) -> Tensor {
    let gateShape = modulationShape(gate, for: x, op: "gatedResidual", name: "gate")
    ensure(y.rank <= x.rank && broadcastShapes(y.shape, x.shape) == x.shape,
                 "gatedResidual: branch y of shape \(y.shape) does not broadcast to the residual's shape \(x.shape)")
    let shape = x.shape
    let out = Tensor.empty(shape)
    let gs = readStrides(gate, as: gateShape, to: shape), ys = broadcastStrides(y, to: shape)
    let px = x.data, pgate = gate.data, py = y.data, po = out.data
    forEachRowParallel(shape, [x.strides, gs, ys, Tensor.contiguousStrides(shape)], chunks: elementwiseChunks(out.count)) { _, offs, n, istr in
        let xr = px + offs[0], gr = pgate + offs[1], yr = py + offs[2], or = po + offs[3]
        let xst = istr[0], gst = istr[1], yst = istr[2]
        if xst == 1 && gst == 1 && yst == 1 {
            var i = 0
            while i &+ 8 <= n { store8(load8(xr + i) + load8(gr + i) * load8(yr + i), or + i); i &+= 8 }
            while i < n { or[i] = xr[i] + gr[i] * yr[i]; i &+= 1 }
        } else {
            for i in 0..<n { or[i] = xr[i &* xst] + gr[i &* gst] * yr[i &* yst] }
        }
    }
    return recordOp("gated_residual", inputs: [x, gate, y], output: out) { g in
        let gc = g.contiguousNoGrad()
        let needGate = gate.requiresGrad, needY = y.requiresGrad
        let chunks = elementwiseChunks(out.count)
        let wGate = Tensor.count(gateShape)
        let dGateParts = needGate ? Tensor.zeros([chunks, wGate]) : nil
        // dy at the full shape, summed down afterwards only when y was broadcast.
        let dyFull = needY ? Tensor.empty(shape) : nil
        let dgs = stridesBroadcast(gateShape, Tensor.contiguousStrides(gateShape), to: shape)
        let cst = Tensor.contiguousStrides(shape)
        let pg = gc.data, pdy = dyFull?.data, pdg = dGateParts?.data
        if needGate || needY {
            forEachRowParallel(shape, [cst, gs, ys, dgs], chunks: chunks) { c, offs, n, istr in
                let gr = pg + offs[0], gater = pgate + offs[1], yr = py + offs[2]
                let gst = istr[1], yst = istr[2], dgst = istr[3]
                if let pdy {
                    let dr = pdy + offs[0]
                    for i in 0..<n { dr[i] = gr[i] * gater[i &* gst] }
                }
                if let pdg {
                    let acc = pdg + (c &* wGate &+ offs[3])
                    if dgst == 0 {
                        var s: Float = 0
                        for i in 0..<n { s += gr[i] * yr[i &* yst] }
                        acc[0] += s
                    } else {
                        for i in 0..<n { acc[i &* dgst] += gr[i] * yr[i &* yst] }
                    }
                }
            }
        }
        let dGate = dGateParts.map { sumPartials($0, chunks: chunks, width: wGate, shape: gate.shape) }
        let dy = dyFull.map { sumToShape($0, y.shape) }
        return [x.requiresGrad ? gc : nil, dGate, dy]
    }
}

extension Composite {
    /// The modulation rule's alignment as a differentiable view ([B, C] → [B, 1, C] against rank ≥ 3).
    static func alignModulation(_ m: Tensor, to x: Tensor) -> Tensor {
        x.rank >= 3 && m.rank == x.rank - 1 ? m.unsqueeze(1) : m
    }
    /// adaLNModulate from primitives: x * (1 + scale) + shift.
    public static func adaLNModulate(_ x: Tensor, shift: Tensor, scale: Tensor) -> Tensor {
        x * (alignModulation(scale, to: x) + 1) + alignModulation(shift, to: x)
    }
    /// gatedResidual from primitives: x + gate * y.
    public static func gatedResidual(_ x: Tensor, gate: Tensor, _ y: Tensor) -> Tensor {
        x + alignModulation(gate, to: x) * y
    }
}
