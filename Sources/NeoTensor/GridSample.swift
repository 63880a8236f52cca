// Bilinear (2-D) and trilinear (3-D) grid sampling with PyTorch's `F.grid_sample` semantics,
// differentiable with respect to both the input and the grid.

/// What a sample outside the input reads.
public enum GridPadding: Sendable {
    /// Corners outside the input contribute zero.
    case zeros
    /// Coordinates are clamped to the input's border.
    case border
}

/// Where one normalised grid coordinate lands along an axis of `size` cells: the lower corner,
/// the fraction towards the upper one, and d(pixel coordinate)/d(grid coordinate).
@inline(__always)
func gridAxis(_ coord: Float, size: Int, alignCorners: Bool, border: Bool) -> (Int, Float, Float) {
    var x: Float, grad: Float
    if alignCorners {
        // −1 and 1 are the centres of the first and last cells.
        x = (coord + 1) / 2 * Float(size &- 1); grad = Float(size &- 1) / 2
    } else {
        // −1 and 1 are the outer edges of the first and last cells.
        x = ((coord + 1) * Float(size) - 1) / 2; grad = Float(size) / 2
    }
    if border {
        let hi = Float(size &- 1)
        if x <= 0 { x = 0; grad = 0 } else if x >= hi { x = hi; grad = 0 }
    }
    // Far outside (or NaN): every corner is out of bounds either way; keeps floor in Int range.
    if !(x > -2) { x = -2 } else if x > Float(size) + 1 { x = Float(size) + 1 }
    let f = x.rounded(.down)
    return (Int(f), x - f, grad)
}

/// Bounds mask of a corner index.
@inline(__always) func inside(_ i: Int, _ size: Int) -> Bool { i >= 0 && i < size }

/// Positions per block: the taps of a block are computed once, then every channel runs over the
/// block, so each channel's reads stay within a small region of its plane (for smooth grids) and
/// its writes are contiguous.
let gridBlock = 256

/// Sampling taps of up to `gridBlock` output positions in structure-of-arrays form: for tap t
/// (corner bits z, y, x) and position j, the input offset in the plane, the weight, and when the
/// grid needs a gradient d(weight)/d(grid x, y, z), all zero for corners outside the input.
struct GridTaps {
    let taps: Int
    let offsets: UnsafeMutablePointer<Int>
    let weights: UnsafeMutablePointer<Float>
    /// dx, dy, dz derivative blocks, each taps × gridBlock, or nil.
    let derivatives: UnsafeMutablePointer<Float>?

    /// Fills the taps of positions first..<first+count of one sample, reading `spatial` (2 or 3)
    /// coordinates per position from `grid`.
    @inline(__always)
    func fill(grid: UnsafePointer<Float>, spatial: Int, first: Int, count: Int, D: Int, H: Int, W: Int,
              alignCorners: Bool, border: Bool) {
        for j in 0..<count {
            let c = grid + (first &+ j) &* spatial
            let (x0, fx, gx) = gridAxis(c[0], size: W, alignCorners: alignCorners, border: border)
            let (y0, fy, gy) = gridAxis(c[1], size: H, alignCorners: alignCorners, border: border)
            let (z0, fz, gz) = spatial == 3 ? gridAxis(c[2], size: D, alignCorners: alignCorners, border: border) : (0, 0, 0)
            for t in 0..<taps {
                let bx = t & 1, by = (t >> 1) & 1, bz = t >> 2
                let xi = x0 &+ bx, yi = y0 &+ by, zi = z0 &+ bz
                let k = t &* gridBlock &+ j
                guard inside(xi, W) && inside(yi, H) && inside(zi, D) else {
                    offsets[k] = 0; weights[k] = 0
                    if let d = derivatives { d[k] = 0; d[k &+ taps &* gridBlock] = 0; d[k &+ 2 &* taps &* gridBlock] = 0 }
                    continue
                }
                let wx = bx == 1 ? fx : 1 - fx, wy = by == 1 ? fy : 1 - fy, wz = bz == 1 ? fz : 1 - fz
                offsets[k] = (zi &* H &+ yi) &* W &+ xi
                weights[k] = wx * wy * wz
                if let d = derivatives {
                    d[k] = (bx == 1 ? gx : -gx) * wy * wz
                    d[k &+ taps &* gridBlock] = wx * (by == 1 ? gy : -gy) * wz
                    d[k &+ 2 &* taps &* gridBlock] = wx * wy * (bz == 1 ? gz : -gz)
                }
            }
        }
    }
}

/// Runs body(taps) with per-call scratch for one block of taps (on the stack).
@inline(__always)
func withGridTaps<R>(taps: Int, derivatives: Bool, _ body: (GridTaps) -> R) -> R {
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps &* gridBlock) { offsets in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: (derivatives ? 4 : 1) &* taps &* gridBlock) { floats in
            let f = floats.baseAddress!
            return body(GridTaps(taps: taps, offsets: offsets.baseAddress!, weights: f,
                                 derivatives: derivatives ? f + taps &* gridBlock : nil))
        }
    }
}

// Block loops over positions j with the taps innermost; `taps` is a literal at each call site
// (4 or 8), so after inlining the tap loop unrolls.

/// dst[j] = Σ_t w[t, j] · src[o[t, j]].
@inline(__always)
func sampleBlock(_ taps: Int, _ tp: GridTaps, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    let o = tp.offsets, w = tp.weights
    for j in 0..<count {
        var acc: Float = 0
        for t in 0..<taps { let k = t &* gridBlock &+ j; acc += w[k] * src[o[k]] }
        dst[j] = acc
    }
}

/// dst[o[t, j]] += w[t, j] · g[j]: the adjoint of `sampleBlock`.
@inline(__always)
func scatterBlock(_ taps: Int, _ tp: GridTaps, _ g: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    let o = tp.offsets, w = tp.weights
    for j in 0..<count {
        let gj = g[j]
        for t in 0..<taps { let k = t &* gridBlock &+ j; dst[o[k]] += w[k] * gj }
    }
}

/// acc[a, j] += g[j] · Σ_t d(w[t, j])/d(coordinate a) · src[o[t, j]] for a = x, y, z.
@inline(__always)
func gridGradientBlock(_ taps: Int, _ tp: GridTaps, _ src: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                       _ acc: UnsafeMutablePointer<Float>, _ count: Int) {
    let o = tp.offsets, dx = tp.derivatives!, stride = taps &* gridBlock
    let dy = dx + stride, dz = dy + stride
    for j in 0..<count {
        var ax: Float = 0, ay: Float = 0, az: Float = 0
        for t in 0..<taps {
            let k = t &* gridBlock &+ j
            let v = src[o[k]]
            ax += v * dx[k]; ay += v * dy[k]; az += v * dz[k]
        }
        let gj = g[j]
        acc[j] += gj * ax; acc[gridBlock &+ j] += gj * ay; acc[2 &* gridBlock &+ j] += gj * az
    }
}

/// Grid sampling over `spatial` (2 or 3) dims; input [N, C, D?, H, W], grid [N, out…, spatial].
func gridSample(_ input: Tensor, grid: Tensor, alignCorners: Bool, padding: GridPadding, spatial: Int, name: String) -> Tensor {
    let shapeText = spatial == 3 ? "[N, C, D, H, W]" : "[N, C, H, W]"
    ensure(input.rank == spatial + 2, "\(name): input must have shape \(shapeText), got \(input.shape)")
    ensure(grid.rank == spatial + 2 && grid.shape[spatial + 1] == spatial && grid.shape[0] == input.shape[0],
                 "\(name): grid must have shape [N, \(spatial == 3 ? "Do, " : "")Ho, Wo, \(spatial)] with N = \(input.shape[0]), got \(grid.shape)")
    let n = input.shape[0], c = input.shape[1]
    let D = spatial == 3 ? input.shape[2] : 1, H = input.shape[spatial], W = input.shape[spatial + 1]
    ensure(D > 0 && H > 0 && W > 0, "\(name): input \(input.shape) has an empty spatial dim")
    let outSpatial = Array(grid.shape[1...spatial])
    let positions = outSpatial.reduce(1, *), plane = D * H * W
    let border = padding == .border
    let taps = spatial == 3 ? 8 : 4
    let blocksPerSample = ceilDiv(positions, gridBlock)
    let xc = input.contiguousNoGrad(), gc = grid.contiguousNoGrad()
    let y = Tensor.empty([n, c] + outSpatial)
    let yp = y.data
    do {
        let xp = xc.data, gp = gc.data
        parallelFor(n * blocksPerSample, minPerThread: Swift.max(1, 16 / Swift.max(c, 1))) { unit in
            let b = unit / blocksPerSample, p0 = (unit % blocksPerSample) &* gridBlock
            let count = Swift.min(gridBlock, positions &- p0)
            withGridTaps(taps: taps, derivatives: false) { tp in
                tp.fill(grid: gp + b &* positions &* spatial, spatial: spatial, first: p0, count: count, D: D, H: H, W: W,
                        alignCorners: alignCorners, border: border)
                for ch in 0..<c {
                    let src = xp + (b &* c &+ ch) &* plane, dst = yp + ((b &* c &+ ch) &* positions &+ p0)
                    if taps == 8 { sampleBlock(8, tp, src, dst, count) } else { sampleBlock(4, tp, src, dst, count) }
                }
            }
        }
    }
    return recordOp(name, inputs: [input, grid], output: y) { gy in
        // Pointers from the captured tensors: they keep the saved buffers alive.
        let xp = xc.data, gp = gc.data
        let go = gy.contiguousNoGrad()
        let gop = go.data
        var dInput: Tensor? = nil, dGrid: Tensor? = nil
        if input.requiresGrad {
            let dx = Tensor.zeros(input.shape)
            let dxp = dx.data
            // Scatter: each unit owns a block of channels of one sample, so writes never collide.
            let cblocks = Swift.min(c, Swift.max(1, ceilDiv(EngineContext.current.threads, Swift.max(n, 1))))
            let per = ceilDiv(c, cblocks)
            parallelFor(n * cblocks) { unit in
                let b = unit / cblocks, c0 = (unit % cblocks) &* per, c1 = Swift.min(c, c0 &+ per)
                if c0 >= c1 { return }
                withGridTaps(taps: taps, derivatives: false) { tp in
                    for blk in 0..<blocksPerSample {
                        let p0 = blk &* gridBlock, count = Swift.min(gridBlock, positions &- p0)
                        tp.fill(grid: gp + b &* positions &* spatial, spatial: spatial, first: p0, count: count, D: D, H: H, W: W,
                                alignCorners: alignCorners, border: border)
                        for ch in c0..<c1 {
                            let dst = dxp + (b &* c &+ ch) &* plane, g = gop + ((b &* c &+ ch) &* positions &+ p0)
                            if taps == 8 { scatterBlock(8, tp, g, dst, count) } else { scatterBlock(4, tp, g, dst, count) }
                        }
                    }
                }
            }
            dInput = dx
        }
        if grid.requiresGrad {
            let dg = Tensor.empty(grid.shape)
            let dgp = dg.data
            parallelFor(n * blocksPerSample, minPerThread: Swift.max(1, 16 / Swift.max(c, 1))) { unit in
                let b = unit / blocksPerSample, p0 = (unit % blocksPerSample) &* gridBlock
                let count = Swift.min(gridBlock, positions &- p0)
                withGridTaps(taps: taps, derivatives: true) { tp in
                    tp.fill(grid: gp + b &* positions &* spatial, spatial: spatial, first: p0, count: count, D: D, H: H, W: W,
                            alignCorners: alignCorners, border: border)
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 &* gridBlock) { accBuffer in
                        let acc = accBuffer.baseAddress!
                        acc.update(repeating: 0, count: 3 &* gridBlock)
                        for ch in 0..<c {
                            let src = xp + (b &* c &+ ch) &* plane, g = gop + ((b &* c &+ ch) &* positions &+ p0)
                            if taps == 8 { gridGradientBlock(8, tp, src, g, acc, count) } else { gridGradientBlock(4, tp, src, g, acc, count) }
                        }
                        let out = dgp + (b &* positions &+ p0) &* spatial
                        for j in 0..<count {
                            out[j &* spatial] = acc[j]
                            out[j &* spatial &+ 1] = acc[gridBlock &+ j]
                            if spatial == 3 { out[j &* spatial &+ 2] = acc[2 &* gridBlock &+ j] }
                        }
                    }
                }
            }
            dGrid = dg
        }
        return [dInput, dGrid]
    }
}

/// Bilinear grid sampling, PyTorch `F.grid_sample(input, grid, mode="bilinear")`:
/// input [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [−1, 1] → [N, C, Ho, Wo].
/// Differentiable with respect to input and grid.
public func gridSample2d(_ input: Tensor, grid: Tensor, alignCorners: Bool, padding: GridPadding) -> Tensor {
    gridSample(input, grid: grid, alignCorners: alignCorners, padding: padding, spatial: 2, name: "gridSample2d")
}

/// Trilinear grid sampling, PyTorch `F.grid_sample(input, grid, mode="bilinear")` on 5-D input:
/// input [N, C, D, H, W], grid [N, Do, Ho, Wo, 3] holding (x, y, z) in [−1, 1] → [N, C, Do, Ho, Wo].
/// Differentiable with respect to input and grid.
public func gridSample3d(_ input: Tensor, grid: Tensor, alignCorners: Bool, padding: GridPadding) -> Tensor {
    gridSample(input, grid: grid, alignCorners: alignCorners, padding: padding, spatial: 3, name: "gridSample3d")
}
