import CBLAS

// Convolutions of 1, 2 or 3 spatial dims through one kernel: every case is normalised to three
// spatial dims (leading size-1 dims), unrolled tile by tile with vol2col into a scratch matrix
// and multiplied by the weights with sgemm. Backward uses the same geometry: dX by Wᵀ·dY then
// col2vol (the adjoint of vol2col), dW by dY·colᵀ, db by sums. Transposed convolutions are the
// adjoint of a convolution, so they run the same three kernels with the roles swapped.

/// Shape arithmetic of one N-d convolution, normalised to 3 spatial dims (D, H, W).
struct ConvGeometry {
    let batch: Int
    /// Input and output channels of the convolution (not of a transposed convolution).
    let inChannels: Int, outChannels: Int, groups: Int
    let inD: Int, inH: Int, inW: Int
    let kD: Int, kH: Int, kW: Int
    let sD: Int, sH: Int, sW: Int
    let pD: Int, pH: Int, pW: Int
    let dD: Int, dH: Int, dW: Int
    let oD: Int, oH: Int, oW: Int

    var inPerGroup: Int { inChannels / groups }
    var outPerGroup: Int { outChannels / groups }
    var kernelVolume: Int { kD &* kH &* kW }
    var inVolume: Int { inD &* inH &* inW }
    var outVolume: Int { oD &* oH &* oW }
    /// Rows of a group's column matrix (and columns of its weight matrix).
    var colRows: Int { inPerGroup &* kernelVolume }
    /// A 1×1×1 kernel with unit stride and no padding reads the input as the column matrix.
    var isPointwise: Bool {
        kernelVolume == 1 && sD == 1 && sH == 1 && sW == 1 && pD == 0 && pH == 0 && pW == 0
            && oD == inD && oH == inH && oW == inW
    }

    /// The geometry of `spatial` (1...3) dims, left-padded to 3 with size-1 dims. `output` gives
    /// the output size explicitly (transposed convolutions); nil computes PyTorch's
    /// floor((in + 2p − d(k−1) − 1)/s) + 1.
    init(batch: Int, inChannels: Int, outChannels: Int, groups: Int, input: [Int], kernel: [Int],
         stride: [Int], padding: [Int], dilation: [Int], output: [Int]? = nil) {
        let lead = 3 - input.count
        func at(_ a: [Int], _ i: Int, _ fill: Int) -> Int { i < lead ? fill : a[i - lead] }
        var out = [Int](repeating: 1, count: 3)
        for i in 0..<3 where i >= lead {
            let j = i - lead
            out[i] = output?[j] ?? ((input[j] + 2 * padding[j] - dilation[j] * (kernel[j] - 1) - 1) / stride[j] + 1)
        }
        self.batch = batch
        self.inChannels = inChannels; self.outChannels = outChannels; self.groups = groups
        inD = at(input, 0, 1); inH = at(input, 1, 1); inW = at(input, 2, 1)
        kD = at(kernel, 0, 1); kH = at(kernel, 1, 1); kW = at(kernel, 2, 1)
        sD = at(stride, 0, 1); sH = at(stride, 1, 1); sW = at(stride, 2, 1)
        pD = at(padding, 0, 0); pH = at(padding, 1, 0); pW = at(padding, 2, 0)
        dD = at(dilation, 0, 1); dH = at(dilation, 1, 1); dW = at(dilation, 2, 1)
        oD = out[0]; oH = out[1]; oW = out[2]
    }
}

// MARK: - Tiling and threads

/// Target size in floats of one scratch column tile (512 KB): big enough for sgemm to run at
/// speed, small enough to stay in cache between vol2col writing it and sgemm reading it. The
/// conv3d benchmark was flat from 256 KB to 2 MB and slower below.
let convTileFloats = 1 << 17

@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a &+ b &- 1) / b : -((-a) / b) }
@inline(__always) func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a &+ b &- 1) / b) }

/// How many column tiles to cut `positions` output positions into, for `items` independent
/// (sample, group) items whose column matrices have `rows` rows: enough that a tile fits the
/// scratch budget and that every thread gets work, never tiles narrower than 64 columns.
func convTileCount(positions: Int, rows: Int, items: Int, threads: Int) -> Int {
    let bySize = ceilDiv(Swift.max(rows, 1) &* positions, convTileFloats)
    let units = ceilDiv(Swift.max(bySize &* items, threads), threads) &* threads
    let wanted = Swift.max(bySize, ceilDiv(units, Swift.max(items, 1)))
    return Swift.max(1, Swift.min(wanted, ceilDiv(positions, 64)))
}

/// Runs `units` work items as contiguous chunks on our threads: body(chunk, lo, hi). With more
/// than one chunk BLAS runs at one thread inside each chunk, so the two levels never nest.
func runChunks(_ units: Int, chunks: Int, _ body: (_ chunk: Int, _ lo: Int, _ hi: Int) -> Void) {
    if chunks <= 1 { body(0, 0, units); return }
    let threads = EngineContext.current.threads
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(threads)) }
    concurrentChunks(chunks) { c in body(c, units &* c / chunks, units &* (c &+ 1) / chunks) }
}

// MARK: - vol2col / col2vol

/// The output columns ow whose input column iw = ow·s + off lies inside 0..<size.
@inline(__always)
func validRange(offset off: Int, stride s: Int, size: Int, outSize: Int) -> (Int, Int) {
    let lo = Swift.min(Swift.max(ceilDiv(-off, s), 0), outSize)
    let hi = Swift.max(Swift.min(floorDiv(size &- 1 &- off, s) &+ 1, outSize), lo)
    return (lo, hi)
}

/// Marks an output line whose input line lies in the padding.
let paddingLine = Int.min

/// Walks the column matrix of output positions p0..<p1 for `channels` input planes, row by row
/// (c, kd, kh, kw) and within a row output line by output line (od, oh), calling
/// body(columnOffset, a, b, lineStart, lo, hi) for each output line segment ow ∈ a..<b: its
/// entries sit at col[columnOffset + ow − a]; lineStart is the flat input index of
/// iw = offW (ow = 0) in that line (negative offsets included), or `paddingLine` when the line
/// reads padding; lo..<hi are the ow that read inside the line. Counters advance incrementally:
/// no division per line.
@inline(__always)
func forEachColumnLine(_ g: ConvGeometry, channels: Int, p0: Int, p1: Int,
                       _ body: (_ col: Int, _ a: Int, _ b: Int, _ line: Int, _ lo: Int, _ hi: Int) -> Void) {
    let oW = g.oW, oH = g.oH, inD = g.inD, inH = g.inH, inW = g.inW, inVol = g.inVolume
    let sD = g.sD, sH = g.sH, sW = g.sW
    let rowFirst = p0 / oW, rowEnd = (p1 &- 1) / oW &+ 1
    let odFirst = rowFirst / oH, ohFirst = rowFirst &- odFirst &* oH
    let firstA = p0 &- rowFirst &* oW, lastB = p1 &- (rowEnd &- 1) &* oW
    var colOffset = 0
    for c in 0..<channels {
        let planeStart = c &* inVol
        for kd in 0..<g.kD {
            let offD = kd &* g.dD &- g.pD
            for kh in 0..<g.kH {
                let offH = kh &* g.dH &- g.pH
                for kw in 0..<g.kW {
                    let offW = kw &* g.dW &- g.pW
                    let (lo, hi) = validRange(offset: offW, stride: sW, size: inW, outSize: oW)
                    var id = odFirst &* sD &+ offD, ih = ohFirst &* sH &+ offH, oh = ohFirst
                    var r = rowFirst
                    while r < rowEnd {
                        let a = r == rowFirst ? firstA : 0
                        let b = r == rowEnd &- 1 ? lastB : oW
                        let valid = id >= 0 && id < inD && ih >= 0 && ih < inH
                        body(colOffset, a, b, valid ? planeStart &+ (id &* inH &+ ih) &* inW &+ offW : paddingLine, lo, hi)
                        colOffset &+= b &- a
                        oh &+= 1; ih &+= sH
                        if oh == oH { oh = 0; ih = offH; id &+= sD }
                        r &+= 1
                    }
                }
            }
        }
    }
}

/// True when consecutive output lines read consecutive input lines (unit stride along H and W
/// and as many output as input columns, e.g. a "same" convolution): a column row is then one
/// shifted copy of each input plane, apart from padding entries.
@inline(__always)
func hasContiguousLines(_ g: ConvGeometry) -> Bool { g.sW == 1 && g.sH == 1 && g.oW == g.inW }

/// For `hasContiguousLines` geometries, walks every column row (c, kd, kh, kw) and every output
/// plane od that p0..<p1 meets. Column entry of position pos (absolute) sits at col[rowStart + pos].
/// Calls span(rowStart, s, e, shift, lo, hi, ohLo, ohHi, planeStart) for the positions s..<e from
/// the first to the last one that reads inside the input: position pos reads input index
/// pos + shift (all such reads lie inside the channel's input), except on the padded columns
/// (ow ∉ lo..<hi) of lines ohLo..<ohHi, which the caller must fix up; calls zero(rowStart, a, b)
/// for positions a..<b that read only padding.
@inline(__always)
func forEachColumnSpan(_ g: ConvGeometry, channels: Int, p0: Int, p1: Int,
                       zero: (_ rowStart: Int, _ a: Int, _ b: Int) -> Void,
                       span: (_ rowStart: Int, _ s: Int, _ e: Int, _ shift: Int, _ lo: Int, _ hi: Int, _ ohLo: Int, _ ohHi: Int, _ planeStart: Int) -> Void) {
    let oW = g.oW, oH = g.oH, inD = g.inD, inH = g.inH, inW = g.inW, inVol = g.inVolume
    let planeOut = oH &* oW, planeIn = inH &* inW
    let tc = p1 &- p0
    var row = 0
    for c in 0..<channels {
        let channelStart = c &* inVol
        for kd in 0..<g.kD {
            let offD = kd &* g.dD &- g.pD
            for kh in 0..<g.kH {
                let offH = kh &* g.dH &- g.pH
                let ohLo = Swift.min(Swift.max(-offH, 0), oH), ohHi = Swift.max(Swift.min(inH &- offH, oH), ohLo)
                for kw in 0..<g.kW {
                    let offW = kw &* g.dW &- g.pW
                    let (lo, hi) = validRange(offset: offW, stride: 1, size: inW, outSize: oW)
                    let rowStart = row &* tc &- p0
                    var p = p0
                    while p < p1 {
                        let od = p / planeOut
                        let planeStart = od &* planeOut
                        let segEnd = Swift.min(p1, planeStart &+ planeOut)
                        let id = od &* g.sD &+ offD
                        if id < 0 || id >= inD || ohLo >= ohHi || lo >= hi {
                            zero(rowStart, p, segEnd)
                        } else {
                            let vStart = planeStart &+ ohLo &* oW &+ lo, vEnd = planeStart &+ (ohHi &- 1) &* oW &+ hi
                            let s = Swift.min(Swift.max(p, vStart), segEnd), e = Swift.max(Swift.min(segEnd, vEnd), s)
                            if p < s { zero(rowStart, p, s) }
                            if s < e {
                                let shift = channelStart &+ id &* planeIn &+ offH &* inW &+ offW &- planeStart
                                span(rowStart, s, e, shift, lo, hi, ohLo, ohHi, planeStart)
                            }
                            if e < segEnd { zero(rowStart, e, segEnd) }
                        }
                        p = segEnd
                    }
                    row &+= 1
                }
            }
        }
    }
}

/// Zeroes the entries of output positions s..<e (column base `base`, absolute positions) that lie
/// on padded columns (ow ∉ lo..<hi) of lines ohLo..<ohHi of the plane starting at planeStart.
@inline(__always)
func zeroPaddedColumns(_ base: UnsafeMutablePointer<Float>, s: Int, e: Int, lo: Int, hi: Int, oW: Int,
                       ohLo: Int, ohHi: Int, planeStart: Int) {
    if lo == 0 && hi == oW { return }
    var line = planeStart &+ ohLo &* oW
    let last = planeStart &+ ohHi &* oW
    while line < last {
        var i = Swift.max(line, s), end = Swift.min(line &+ lo, e)
        while i < end { base[i] = 0; i &+= 1 }
        i = Swift.max(line &+ hi, s); end = Swift.min(line &+ oW, e)
        while i < end { base[i] = 0; i &+= 1 }
        line &+= oW
    }
}

/// Unrolls output positions p0..<p1 of `channels` input planes at `src` into `col`: one row per
/// (c, kd, kh, kw), p1 − p0 columns; zeros where the kernel reads padding.
func vol2col(_ g: ConvGeometry, _ src: UnsafePointer<Float>, channels: Int, p0: Int, p1: Int,
             _ col: UnsafeMutablePointer<Float>) {
    if hasContiguousLines(g) {
        let oW = g.oW
        forEachColumnSpan(g, channels: channels, p0: p0, p1: p1, zero: { rowStart, a, b in
            (col + (rowStart &+ a)).update(repeating: 0, count: b &- a)
        }, span: { rowStart, s, e, shift, lo, hi, ohLo, ohHi, planeStart in
            (col + (rowStart &+ s)).update(from: src + (s &+ shift), count: e &- s)
            zeroPaddedColumns(col + rowStart, s: s, e: e, lo: lo, hi: hi, oW: oW, ohLo: ohLo, ohHi: ohHi, planeStart: planeStart)
        })
        return
    }
    let sW = g.sW
    forEachColumnLine(g, channels: channels, p0: p0, p1: p1) { offset, a, b, line, lo, hi in
        let d = col + (offset &- a)
        if line == paddingLine {
            (d + a).update(repeating: 0, count: b &- a)
            return
        }
        let s = src + line
        let vlo = Swift.min(Swift.max(a, lo), b), vhi = Swift.max(Swift.min(b, hi), vlo)
        var i = a
        while i < vlo { d[i] = 0; i &+= 1 }
        if sW == 1 {
            while i < vhi { d[i] = s[i]; i &+= 1 }
        } else {
            while i < vhi { d[i] = s[i &* sW]; i &+= 1 }
        }
        while i < b { d[i] = 0; i &+= 1 }
    }
}

/// The adjoint of `vol2col`: adds each column entry into the input position it was read from
/// (entries that read padding are dropped). May overwrite padding entries of `col` with zeros.
func col2vol(_ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, channels: Int, p0: Int, p1: Int,
             _ dst: UnsafeMutablePointer<Float>) {
    if hasContiguousLines(g) {
        let oW = g.oW
        forEachColumnSpan(g, channels: channels, p0: p0, p1: p1, zero: { _, _, _ in }, span: { rowStart, s, e, shift, lo, hi, ohLo, ohHi, planeStart in
            // Entries on padded columns would land on a neighbouring line: clear them, then one
            // long add over the span.
            let base = col + rowStart
            zeroPaddedColumns(base, s: s, e: e, lo: lo, hi: hi, oW: oW, ohLo: ohLo, ohHi: ohHi, planeStart: planeStart)
            let d = dst + shift
            var i = s
            while i < e { d[i] += base[i]; i &+= 1 }
        })
        return
    }
    let sW = g.sW
    forEachColumnLine(g, channels: channels, p0: p0, p1: p1) { offset, a, b, line, lo, hi in
        if line == paddingLine { return }
        let s = col + (offset &- a), d = dst + line
        let vlo = Swift.min(Swift.max(a, lo), b), vhi = Swift.max(Swift.min(b, hi), vlo)
        var i = vlo
        if sW == 1 {
            while i < vhi { d[i] += s[i]; i &+= 1 }
        } else {
            while i < vhi { d[i &* sW] += s[i]; i &+= 1 }
        }
    }
}

// MARK: - The three kernels

/// y[N, O, P] = W ⋆ x (+ bias), all contiguous.
func convForwardKernel(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    let positions = g.outVolume, rows = g.colRows, og = g.outPerGroup, cg = g.inPerGroup
    let groups = g.groups, items = g.batch &* groups
    if positions == 0 || items == 0 || og == 0 { return }
    let threads = EngineContext.current.threads
    let pointwise = g.isPointwise
    let tiles = convTileCount(positions: positions, rows: rows, items: items, threads: threads)
    let tileCols = ceilDiv(positions, tiles)
    let units = items &* tiles
    let chunks = Swift.min(threads, units)
    let scratch = pointwise ? nil : Tensor.empty([chunks, rows &* tileCols])
    let inVol = g.inVolume, cIn = g.inChannels, cOut = g.outChannels
    runChunks(units, chunks: chunks) { chunk, lo, hi in
        let col = scratch.map { $0.data + chunk &* rows &* tileCols }
        for u in lo..<hi {
            let item = u / tiles, t = u &- item &* tiles
            let n = item / groups, gi = item &- n &* groups
            let p0 = t &* tileCols, p1 = Swift.min(positions, p0 &+ tileCols)
            if p0 >= p1 { continue }
            let xg = x + (n &* cIn &+ gi &* cg) &* inVol
            let b: UnsafePointer<Float>, ldb: Int
            if let col {
                vol2col(g, xg, channels: cg, p0: p0, p1: p1, col)
                b = UnsafePointer(col); ldb = p1 &- p0
            } else {
                b = xg + p0; ldb = positions
            }
            let yp = y + ((n &* cOut &+ gi &* og) &* positions &+ p0)
            sgemm(transA: false, transB: false, m: og, n: p1 &- p0, k: rows, a: weight + gi &* og &* rows, lda: rows,
                  b: b, ldb: ldb, beta: 0, c: yp, ldc: positions)
            if let bias {
                for o in 0..<og {
                    let v = bias[gi &* og &+ o], row = yp + o &* positions
                    for i in 0..<(p1 &- p0) { row[i] += v }
                }
            }
        }
    }
}

/// dx[N, C, inVolume] = col2vol(Wᵀ · dy), overwriting dx. Work is split over (sample, group,
/// channel block) so that each unit owns the input planes it accumulates into.
func convInputGradKernel(_ g: ConvGeometry, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>) {
    let positions = g.outVolume, rows = g.colRows, og = g.outPerGroup, cg = g.inPerGroup
    let groups = g.groups, items = g.batch &* groups, kvol = g.kernelVolume
    let inVol = g.inVolume, cIn = g.inChannels, cOut = g.outChannels
    if items == 0 || cg == 0 || inVol == 0 { return }
    if positions == 0 || og == 0 { dx.update(repeating: 0, count: g.batch &* cIn &* inVol); return }
    let threads = EngineContext.current.threads
    let pointwise = g.isPointwise
    let blocks = Swift.min(cg, ceilDiv(threads, items))
    let units = items &* blocks
    let chunks = Swift.min(threads, units)
    let blockChannels = ceilDiv(cg, blocks)
    let blockRows = blockChannels &* kvol
    let tiles = convTileCount(positions: positions, rows: blockRows, items: 1, threads: 1)
    let tileCols = ceilDiv(positions, tiles)
    let scratch = pointwise ? nil : Tensor.empty([chunks, blockRows &* tileCols])
    runChunks(units, chunks: chunks) { chunk, lo, hi in
        let col = scratch.map { $0.data + chunk &* blockRows &* tileCols }
        for u in lo..<hi {
            let item = u / blocks, blk = u &- item &* blocks
            let n = item / groups, gi = item &- n &* groups
            let c0 = blk &* blockChannels, c1 = Swift.min(cg, c0 &+ blockChannels)
            if c0 >= c1 { continue }
            let dxp = dx + (n &* cIn &+ gi &* cg &+ c0) &* inVol
            let wp = weight + (gi &* og &* rows &+ c0 &* kvol)
            let dyp = dy + (n &* cOut &+ gi &* og) &* positions
            let m = (c1 &- c0) &* kvol
            if col == nil {
                sgemm(transA: true, transB: false, m: m, n: positions, k: og, a: wp, lda: rows,
                      b: dyp, ldb: positions, beta: 0, c: dxp, ldc: positions)
                continue
            }
            dxp.update(repeating: 0, count: (c1 &- c0) &* inVol)
            for t in 0..<tiles {
                let p0 = t &* tileCols, p1 = Swift.min(positions, p0 &+ tileCols)
                if p0 >= p1 { continue }
                sgemm(transA: true, transB: false, m: m, n: p1 &- p0, k: og, a: wp, lda: rows,
                      b: dyp + p0, ldb: positions, beta: 0, c: col!, ldc: p1 &- p0)
                col2vol(g, col!, channels: c1 &- c0, p0: p0, p1: p1, dxp)
            }
        }
    }
}

/// dw[O, C/g·kvol] = Σ over samples and tiles of dy · colᵀ, overwriting dw. Each chunk sums
/// into its own partial, then the partials are added.
func convWeightGradKernel(_ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                          dw: UnsafeMutablePointer<Float>) {
    let positions = g.outVolume, rows = g.colRows, og = g.outPerGroup, cg = g.inPerGroup
    let groups = g.groups, items = g.batch &* groups
    let inVol = g.inVolume, cIn = g.inChannels, cOut = g.outChannels
    let weightCount = g.outChannels &* rows
    dw.update(repeating: 0, count: weightCount)
    if positions == 0 || items == 0 || weightCount == 0 { return }
    let threads = EngineContext.current.threads
    let pointwise = g.isPointwise
    let tiles = convTileCount(positions: positions, rows: rows, items: items, threads: threads)
    let tileCols = ceilDiv(positions, tiles)
    let units = items &* tiles
    let chunks = Swift.min(threads, units)
    let scratch = pointwise ? nil : Tensor.empty([chunks, rows &* tileCols])
    let partials = chunks > 1 ? Tensor.zeros([chunks, weightCount]) : nil
    runChunks(units, chunks: chunks) { chunk, lo, hi in
        let col = scratch.map { $0.data + chunk &* rows &* tileCols }
        let acc = partials.map { $0.data + chunk &* weightCount } ?? dw
        for u in lo..<hi {
            let item = u / tiles, t = u &- item &* tiles
            let n = item / groups, gi = item &- n &* groups
            let p0 = t &* tileCols, p1 = Swift.min(positions, p0 &+ tileCols)
            if p0 >= p1 { continue }
            let xg = x + (n &* cIn &+ gi &* cg) &* inVol
            let b: UnsafePointer<Float>, ldb: Int
            if let col {
                vol2col(g, xg, channels: cg, p0: p0, p1: p1, col)
                b = UnsafePointer(col); ldb = p1 &- p0
            } else {
                b = xg + p0; ldb = positions
            }
            sgemm(transA: false, transB: true, m: og, n: rows, k: p1 &- p0,
                  a: dy + ((n &* cOut &+ gi &* og) &* positions &+ p0), lda: positions,
                  b: b, ldb: ldb, beta: 1, c: acc + gi &* og &* rows, ldc: rows)
        }
    }
    if let partials {
        let p = partials.data
        parallelRanges(weightCount, minPerThread: 1 << 15) { lo, hi in
            for c in 0..<chunks {
                let src = p + c &* weightCount
                for i in lo..<hi { dw[i] += src[i] }
            }
        }
    }
}

/// db[C] = Σ over samples and positions of dy[N, C, positions].
func channelSums(_ dy: UnsafePointer<Float>, batch: Int, channels: Int, positions: Int, _ db: UnsafeMutablePointer<Float>) {
    parallelFor(channels, minPerThread: Swift.max(1, (1 << 15) / Swift.max(batch &* positions, 1))) { c in
        var acc: Float = 0
        for n in 0..<batch {
            let row = dy + (n &* channels &+ c) &* positions
            var s: Float = 0
            for i in 0..<positions { s += row[i] }
            acc += s
        }
        db[c] = acc
    }
}

// MARK: - Argument checking

/// Accepts one value per spatial dim, or a single value for all of them.
func spatialArgument(_ name: String, _ values: [Int], dims: Int, op: String, minimum: Int) -> [Int] {
    let v = values.count == 1 && dims > 1 ? [Int](repeating: values[0], count: dims) : values
    ensure(v.count == dims, "\(op): \(name) \(values) needs \(dims) values")
    for e in v { ensure(e >= minimum, "\(op): \(name) \(values) must be ≥ \(minimum)") }
    return v
}

// MARK: - Convolution ops

/// PyTorch-semantics convolution over `dims` spatial dims; `name` labels errors and the tape.
func convolution(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int], dilation: [Int],
                 groups: Int, dims: Int, name: String) -> Tensor {
    ensure(x.rank == dims + 2, "\(name): input must have shape [N, C, \(dims) spatial dims], got \(x.shape)")
    ensure(weight.rank == dims + 2, "\(name): weight must have shape [O, C/groups, \(dims) kernel dims], got \(weight.shape)")
    ensure(groups >= 1, "\(name): groups must be ≥ 1, got \(groups)")
    let n = x.shape[0], c = x.shape[1], o = weight.shape[0]
    ensure(c % groups == 0 && o % groups == 0, "\(name): groups \(groups) must divide input channels \(c) and output channels \(o)")
    ensure(weight.shape[1] == c / groups, "\(name): weight \(weight.shape) expects \(weight.shape[1] * groups) input channels for groups \(groups), input has \(c) (shape \(x.shape))")
    if let bias { ensure(bias.shape == [o], "\(name): bias must have shape [\(o)], got \(bias.shape)") }
    let s = spatialArgument("stride", stride, dims: dims, op: name, minimum: 1)
    let p = spatialArgument("padding", padding, dims: dims, op: name, minimum: 0)
    let d = spatialArgument("dilation", dilation, dims: dims, op: name, minimum: 1)
    let input = Array(x.shape[2...]), kernel = Array(weight.shape[2...])
    for i in 0..<dims {
        ensure(kernel[i] >= 1, "\(name): kernel size \(kernel) must be ≥ 1")
        ensure(input[i] + 2 * p[i] >= d[i] * (kernel[i] - 1) + 1,
                     "\(name): input \(x.shape) padded by \(p) is smaller than the dilated kernel \(kernel) (dilation \(d))")
    }
    let geom = ConvGeometry(batch: n, inChannels: c, outChannels: o, groups: groups, input: input, kernel: kernel,
                            stride: s, padding: p, dilation: d)
    let outSpatial = Array([geom.oD, geom.oH, geom.oW].suffix(dims))
    let xc = x.contiguousNoGrad(), wc = weight.contiguousNoGrad(), bc = bias?.contiguousNoGrad()
    let y = Tensor.empty([n, o] + outSpatial)
    convForwardKernel(geom, x: xc.data, weight: wc.data, bias: bc.map { UnsafePointer($0.data) }, y: y.data)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return recordOp(name, inputs: inputs, output: y) { gy in
        let gc = gy.contiguousNoGrad()
        var grads: [Tensor?] = []
        if x.requiresGrad {
            let dx = Tensor.empty(x.shape)
            convInputGradKernel(geom, dy: gc.data, weight: wc.data, dx: dx.data)
            grads.append(dx)
        } else { grads.append(nil) }
        if weight.requiresGrad {
            let dw = Tensor.empty(weight.shape)
            convWeightGradKernel(geom, x: xc.data, dy: gc.data, dw: dw.data)
            grads.append(dw)
        } else { grads.append(nil) }
        if let bias {
            if bias.requiresGrad {
                let db = Tensor.empty([o])
                channelSums(gc.data, batch: n, channels: o, positions: geom.outVolume, db.data)
                grads.append(db)
            } else { grads.append(nil) }
        }
        return grads
    }
}

/// Transposed convolution (the adjoint of `convolution` with the same weight) over `dims`
/// spatial dims; weight [C_in, C_out/groups, k…] as in PyTorch.
func convolutionTranspose(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int],
                          outputPadding: [Int], dilation: [Int], groups: Int, dims: Int, name: String) -> Tensor {
    ensure(x.rank == dims + 2, "\(name): input must have shape [N, C, \(dims) spatial dims], got \(x.shape)")
    ensure(weight.rank == dims + 2, "\(name): weight must have shape [C_in, C_out/groups, \(dims) kernel dims], got \(weight.shape)")
    ensure(groups >= 1, "\(name): groups must be ≥ 1, got \(groups)")
    let n = x.shape[0], c = x.shape[1]
    ensure(weight.shape[0] == c, "\(name): weight \(weight.shape) expects \(weight.shape[0]) input channels, input has \(c) (shape \(x.shape))")
    ensure(c % groups == 0, "\(name): groups \(groups) must divide input channels \(c)")
    let o = weight.shape[1] * groups
    if let bias { ensure(bias.shape == [o], "\(name): bias must have shape [\(o)], got \(bias.shape)") }
    let s = spatialArgument("stride", stride, dims: dims, op: name, minimum: 1)
    let p = spatialArgument("padding", padding, dims: dims, op: name, minimum: 0)
    let op = spatialArgument("outputPadding", outputPadding, dims: dims, op: name, minimum: 0)
    let d = spatialArgument("dilation", dilation, dims: dims, op: name, minimum: 1)
    let input = Array(x.shape[2...]), kernel = Array(weight.shape[2...])
    var outSpatial = [Int](repeating: 0, count: dims)
    for i in 0..<dims {
        ensure(kernel[i] >= 1, "\(name): kernel size \(kernel) must be ≥ 1")
        ensure(op[i] < Swift.max(s[i], d[i]), "\(name): outputPadding \(op) must be smaller than stride \(s) or dilation \(d)")
        outSpatial[i] = (input[i] - 1) * s[i] - 2 * p[i] + d[i] * (kernel[i] - 1) + op[i] + 1
        ensure(outSpatial[i] >= 1, "\(name): input \(x.shape) with kernel \(kernel), stride \(s), padding \(p) gives an empty output")
    }
    // The convolution this op is the adjoint of: it maps our output back to our input.
    let geom = ConvGeometry(batch: n, inChannels: o, outChannels: c, groups: groups, input: outSpatial, kernel: kernel,
                            stride: s, padding: p, dilation: d, output: input)
    let xc = x.contiguousNoGrad(), wc = weight.contiguousNoGrad()
    let y = Tensor.empty([n, o] + outSpatial)
    convInputGradKernel(geom, dy: xc.data, weight: wc.data, dx: y.data)
    if let bias {
        let bc = bias.contiguousNoGrad()
        let bp = bc.data, yp = y.data, vol = geom.inVolume
        parallelFor(n * o, minPerThread: Swift.max(1, (1 << 15) / Swift.max(vol, 1))) { plane in
            let v = bp[plane % o], row = yp + plane &* vol
            for i in 0..<vol { row[i] += v }
        }
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return recordOp(name, inputs: inputs, output: y) { gy in
        let gc = gy.contiguousNoGrad()
        var grads: [Tensor?] = []
        if x.requiresGrad {
            let dx = Tensor.empty(x.shape)
            convForwardKernel(geom, x: gc.data, weight: wc.data, bias: nil, y: dx.data)
            grads.append(dx)
        } else { grads.append(nil) }
        if weight.requiresGrad {
            let dw = Tensor.empty(weight.shape)
            convWeightGradKernel(geom, x: gc.data, dy: xc.data, dw: dw.data)
            grads.append(dw)
        } else { grads.append(nil) }
        if let bias {
            if bias.requiresGrad {
                let db = Tensor.empty([o])
                channelSums(gc.data, batch: n, channels: o, positions: geom.inVolume, db.data)
                grads.append(db)
            } else { grads.append(nil) }
        }
        return grads
    }
}

/// 1-D convolution, PyTorch `F.conv1d`: x [N, C, L], weight [O, C/groups, K], bias [O] → [N, O, L_out].
public func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    convolution(x, weight: weight, bias: bias, stride: [stride], padding: [padding], dilation: [dilation],
                groups: groups, dims: 1, name: "conv1d")
}

/// 2-D convolution, PyTorch `F.conv2d`: x [N, C, H, W], weight [O, C/groups, kH, kW] → [N, O, H_out, W_out].
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                   dilation: [Int] = [1, 1], groups: Int = 1) -> Tensor {
    convolution(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                groups: groups, dims: 2, name: "conv2d")
}

/// 3-D convolution, PyTorch `F.conv3d`: x [N, C, D, H, W], weight [O, C/groups, kD, kH, kW] → [N, O, D_out, H_out, W_out].
public func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0],
                   dilation: [Int] = [1, 1, 1], groups: Int = 1) -> Tensor {
    convolution(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                groups: groups, dims: 3, name: "conv3d")
}

/// Transposed 1-D convolution, PyTorch `F.conv_transpose1d`: x [N, C, L], weight [C, O/groups, K].
public func convTranspose1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
    convolutionTranspose(x, weight: weight, bias: bias, stride: [stride], padding: [padding], outputPadding: [outputPadding],
                         dilation: [dilation], groups: groups, dims: 1, name: "convTranspose1d")
}

/// Transposed 2-D convolution, PyTorch `F.conv_transpose2d`: x [N, C, H, W], weight [C, O/groups, kH, kW]
/// → [N, O, (H−1)·s − 2p + d·(kH−1) + outputPadding + 1, …].
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                            outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1) -> Tensor {
    convolutionTranspose(x, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                         dilation: dilation, groups: groups, dims: 2, name: "convTranspose2d")
}

/// Transposed 3-D convolution, PyTorch `F.conv_transpose3d`: x [N, C, D, H, W], weight [C, O/groups, kD, kH, kW].
public func convTranspose3d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0],
                            outputPadding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1], groups: Int = 1) -> Tensor {
    convolutionTranspose(x, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                         dilation: dilation, groups: groups, dims: 3, name: "convTranspose3d")
}
