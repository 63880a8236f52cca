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

/// The four corners of one bilinear sample: in-plane offsets (0 when outside), weights (0 when
/// outside), validity masks and fractions.
struct BilinearTaps {
    var o00 = 0, o01 = 0, o10 = 0, o11 = 0
    var m00: Float = 0, m01: Float = 0, m10: Float = 0, m11: Float = 0
    var fx: Float = 0, fy: Float = 0, gx: Float = 0, gy: Float = 0

    @inline(__always)
    init(x: Float, y: Float, H: Int, W: Int, alignCorners: Bool, border: Bool) {
        let (x0, fx, gx) = gridAxis(x, size: W, alignCorners: alignCorners, border: border)
        let (y0, fy, gy) = gridAxis(y, size: H, alignCorners: alignCorners, border: border)
        self.fx = fx; self.fy = fy; self.gx = gx; self.gy = gy
        let x1 = x0 &+ 1, y1 = y0 &+ 1
        let vx0 = inside(x0, W), vx1 = inside(x1, W), vy0 = inside(y0, H), vy1 = inside(y1, H)
        if vy0 && vx0 { o00 = y0 &* W &+ x0; m00 = 1 }
        if vy0 && vx1 { o01 = y0 &* W &+ x1; m01 = 1 }
        if vy1 && vx0 { o10 = y1 &* W &+ x0; m10 = 1 }
        if vy1 && vx1 { o11 = y1 &* W &+ x1; m11 = 1 }
    }
    @inline(__always) var w00: Float { m00 * (1 - fx) * (1 - fy) }
    @inline(__always) var w01: Float { m01 * fx * (1 - fy) }
    @inline(__always) var w10: Float { m10 * (1 - fx) * fy }
    @inline(__always) var w11: Float { m11 * fx * fy }
}

/// The eight corners of one trilinear sample; corner index bits are (z, y, x).
struct TrilinearTaps {
    var offsets: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    var masks: (Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0)
    var fx: Float = 0, fy: Float = 0, fz: Float = 0, gx: Float = 0, gy: Float = 0, gz: Float = 0

    @inline(__always)
    init(x: Float, y: Float, z: Float, D: Int, H: Int, W: Int, alignCorners: Bool, border: Bool) {
        let (x0, fx, gx) = gridAxis(x, size: W, alignCorners: alignCorners, border: border)
        let (y0, fy, gy) = gridAxis(y, size: H, alignCorners: alignCorners, border: border)
        let (z0, fz, gz) = gridAxis(z, size: D, alignCorners: alignCorners, border: border)
        self.fx = fx; self.fy = fy; self.fz = fz; self.gx = gx; self.gy = gy; self.gz = gz
        let vx0 = inside(x0, W), vx1 = inside(x0 &+ 1, W)
        let vy0 = inside(y0, H), vy1 = inside(y0 &+ 1, H)
        let vz0 = inside(z0, D), vz1 = inside(z0 &+ 1, D)
        @inline(__always) func tap(_ vz: Bool, _ vy: Bool, _ vx: Bool, _ dz: Int, _ dy: Int, _ dx: Int) -> (Int, Float) {
            (vz && vy && vx) ? (((z0 &+ dz) &* H &+ (y0 &+ dy)) &* W &+ (x0 &+ dx), 1) : (0, 0)
        }
        let t0 = tap(vz0, vy0, vx0, 0, 0, 0), t1 = tap(vz0, vy0, vx1, 0, 0, 1)
        let t2 = tap(vz0, vy1, vx0, 0, 1, 0), t3 = tap(vz0, vy1, vx1, 0, 1, 1)
        let t4 = tap(vz1, vy0, vx0, 1, 0, 0), t5 = tap(vz1, vy0, vx1, 1, 0, 1)
        let t6 = tap(vz1, vy1, vx0, 1, 1, 0), t7 = tap(vz1, vy1, vx1, 1, 1, 1)
        offsets = (t0.0, t1.0, t2.0, t3.0, t4.0, t5.0, t6.0, t7.0)
        masks = (t0.1, t1.1, t2.1, t3.1, t4.1, t5.1, t6.1, t7.1)
    }
}

/// Splits `count` items of `cost` floats of work each into units that are worth a thread.
@inline(__always) func gridMinPerThread(_ cost: Int) -> Int { Swift.max(1, (1 << 13) / Swift.max(cost, 1)) }

/// Bilinear grid sampling, PyTorch `F.grid_sample(input, grid, mode="bilinear")`:
/// input [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [−1, 1] → [N, C, Ho, Wo].
/// Differentiable with respect to input and grid.
public func gridSample2d(_ input: Tensor, grid: Tensor, alignCorners: Bool, padding: GridPadding) -> Tensor {
    precondition(input.rank == 4, "gridSample2d: input must have shape [N, C, H, W], got \(input.shape)")
    precondition(grid.rank == 4 && grid.shape[3] == 2 && grid.shape[0] == input.shape[0],
                 "gridSample2d: grid must have shape [N, Ho, Wo, 2] with N = \(input.shape[0]), got \(grid.shape)")
    let n = input.shape[0], c = input.shape[1], H = input.shape[2], W = input.shape[3]
    let ho = grid.shape[1], wo = grid.shape[2]
    precondition(H > 0 && W > 0, "gridSample2d: input \(input.shape) has an empty spatial dim")
    let positions = ho * wo, plane = H * W
    let border = padding == .border
    let xc = input.contiguousNoGrad(), gc = grid.contiguousNoGrad()
    let y = Tensor.empty([n, c, ho, wo])
    let xp = xc.data, gp = gc.data, yp = y.data
    // Forward: one unit per (sample, position); channels inner, taps computed once.
    parallelRanges(n * positions, minPerThread: gridMinPerThread(4 * c)) { lo, hi in
        for u in lo..<hi {
            let b = u / positions, p = u &- b &* positions
            let t = BilinearTaps(x: gp[2 &* u], y: gp[2 &* u &+ 1], H: H, W: W, alignCorners: alignCorners, border: border)
            let w00 = t.w00, w01 = t.w01, w10 = t.w10, w11 = t.w11
            var src = UnsafePointer(xp + b &* c &* plane)
            var dst = yp + (b &* c &* positions &+ p)
            for _ in 0..<c {
                dst.pointee = w00 * src[t.o00] + w01 * src[t.o01] + w10 * src[t.o10] + w11 * src[t.o11]
                src += plane; dst += positions
            }
        }
    }
    return recordOp("gridSample2d", inputs: [input, grid], output: y) { gy in
        // Pointers from the captured tensors: they keep the saved buffers alive.
        let xp = xc.data, gp = gc.data
        let go = gy.contiguousNoGrad()
        let gop = go.data
        var dInput: Tensor? = nil, dGrid: Tensor? = nil
        if input.requiresGrad {
            let dx = Tensor.zeros(input.shape)
            let dxp = dx.data
            // Scatter: each unit owns a block of channels of one sample, so writes never collide.
            let blocks = Swift.min(c, Swift.max(1, ceilDiv(EngineContext.current.threads, Swift.max(n, 1))))
            let per = ceilDiv(c, blocks)
            parallelFor(n * blocks) { unit in
                let b = unit / blocks, c0 = (unit % blocks) &* per, c1 = Swift.min(c, c0 &+ per)
                if c0 >= c1 { return }
                for p in 0..<positions {
                    let u = b &* positions &+ p
                    let t = BilinearTaps(x: gp[2 &* u], y: gp[2 &* u &+ 1], H: H, W: W, alignCorners: alignCorners, border: border)
                    let w00 = t.w00, w01 = t.w01, w10 = t.w10, w11 = t.w11
                    var dst = dxp + (b &* c &+ c0) &* plane
                    var src = UnsafePointer(gop + ((b &* c &+ c0) &* positions &+ p))
                    for _ in c0..<c1 {
                        let g = src.pointee
                        dst[t.o00] += w00 * g; dst[t.o01] += w01 * g
                        dst[t.o10] += w10 * g; dst[t.o11] += w11 * g
                        dst += plane; src += positions
                    }
                }
            }
            dInput = dx
        }
        if grid.requiresGrad {
            let dg = Tensor.empty(grid.shape)
            let dgp = dg.data
            parallelRanges(n * positions, minPerThread: gridMinPerThread(6 * c)) { lo, hi in
                for u in lo..<hi {
                    let b = u / positions, p = u &- b &* positions
                    let t = BilinearTaps(x: gp[2 &* u], y: gp[2 &* u &+ 1], H: H, W: W, alignCorners: alignCorners, border: border)
                    var src = UnsafePointer(xp + b &* c &* plane)
                    var g = UnsafePointer(gop + (b &* c &* positions &+ p))
                    var ax: Float = 0, ay: Float = 0
                    for _ in 0..<c {
                        let v00 = t.m00 * src[t.o00], v01 = t.m01 * src[t.o01]
                        let v10 = t.m10 * src[t.o10], v11 = t.m11 * src[t.o11]
                        let gv = g.pointee
                        ax += gv * ((v01 - v00) * (1 - t.fy) + (v11 - v10) * t.fy)
                        ay += gv * ((v10 - v00) * (1 - t.fx) + (v11 - v01) * t.fx)
                        src += plane; g += positions
                    }
                    dgp[2 &* u] = ax * t.gx
                    dgp[2 &* u &+ 1] = ay * t.gy
                }
            }
            dGrid = dg
        }
        return [dInput, dGrid]
    }
}

/// Trilinear grid sampling, PyTorch `F.grid_sample(input, grid, mode="bilinear")` on 5-D input:
/// input [N, C, D, H, W], grid [N, Do, Ho, Wo, 3] holding (x, y, z) in [−1, 1] → [N, C, Do, Ho, Wo].
/// Differentiable with respect to input and grid.
public func gridSample3d(_ input: Tensor, grid: Tensor, alignCorners: Bool, padding: GridPadding) -> Tensor {
    precondition(input.rank == 5, "gridSample3d: input must have shape [N, C, D, H, W], got \(input.shape)")
    precondition(grid.rank == 5 && grid.shape[4] == 3 && grid.shape[0] == input.shape[0],
                 "gridSample3d: grid must have shape [N, Do, Ho, Wo, 3] with N = \(input.shape[0]), got \(grid.shape)")
    let n = input.shape[0], c = input.shape[1], D = input.shape[2], H = input.shape[3], W = input.shape[4]
    precondition(D > 0 && H > 0 && W > 0, "gridSample3d: input \(input.shape) has an empty spatial dim")
    let outSpatial = Array(grid.shape[1...3])
    let positions = outSpatial.reduce(1, *), plane = D * H * W
    let border = padding == .border
    let xc = input.contiguousNoGrad(), gc = grid.contiguousNoGrad()
    let y = Tensor.empty([n, c] + outSpatial)
    let xp = xc.data, gp = gc.data, yp = y.data
    @inline(__always) func taps(_ gp: UnsafeMutablePointer<Float>, _ u: Int) -> TrilinearTaps {
        TrilinearTaps(x: gp[3 &* u], y: gp[3 &* u &+ 1], z: gp[3 &* u &+ 2], D: D, H: H, W: W,
                      alignCorners: alignCorners, border: border)
    }
    parallelRanges(n * positions, minPerThread: gridMinPerThread(8 * c)) { lo, hi in
        for u in lo..<hi {
            let b = u / positions, p = u &- b &* positions
            let t = taps(gp, u)
            let o = t.offsets, m = t.masks
            let ex = 1 - t.fx, ey = 1 - t.fy, ez = 1 - t.fz
            let w0 = m.0 * ez * ey * ex, w1 = m.1 * ez * ey * t.fx
            let w2 = m.2 * ez * t.fy * ex, w3 = m.3 * ez * t.fy * t.fx
            let w4 = m.4 * t.fz * ey * ex, w5 = m.5 * t.fz * ey * t.fx
            let w6 = m.6 * t.fz * t.fy * ex, w7 = m.7 * t.fz * t.fy * t.fx
            var src = UnsafePointer(xp + b &* c &* plane)
            var dst = yp + (b &* c &* positions &+ p)
            for _ in 0..<c {
                let lower = w0 * src[o.0] + w1 * src[o.1] + w2 * src[o.2] + w3 * src[o.3]
                let upper = w4 * src[o.4] + w5 * src[o.5] + w6 * src[o.6] + w7 * src[o.7]
                dst.pointee = lower + upper
                src += plane; dst += positions
            }
        }
    }
    return recordOp("gridSample3d", inputs: [input, grid], output: y) { gy in
        // Pointers from the captured tensors: they keep the saved buffers alive.
        let xp = xc.data, gp = gc.data
        let go = gy.contiguousNoGrad()
        let gop = go.data
        var dInput: Tensor? = nil, dGrid: Tensor? = nil
        if input.requiresGrad {
            let dx = Tensor.zeros(input.shape)
            let dxp = dx.data
            let blocks = Swift.min(c, Swift.max(1, ceilDiv(EngineContext.current.threads, Swift.max(n, 1))))
            let per = ceilDiv(c, blocks)
            parallelFor(n * blocks) { unit in
                let b = unit / blocks, c0 = (unit % blocks) &* per, c1 = Swift.min(c, c0 &+ per)
                if c0 >= c1 { return }
                for p in 0..<positions {
                    let t = taps(gp, b &* positions &+ p)
                    let o = t.offsets, m = t.masks
                    let ex = 1 - t.fx, ey = 1 - t.fy, ez = 1 - t.fz
                    let w0 = m.0 * ez * ey * ex, w1 = m.1 * ez * ey * t.fx
                    let w2 = m.2 * ez * t.fy * ex, w3 = m.3 * ez * t.fy * t.fx
                    let w4 = m.4 * t.fz * ey * ex, w5 = m.5 * t.fz * ey * t.fx
                    let w6 = m.6 * t.fz * t.fy * ex, w7 = m.7 * t.fz * t.fy * t.fx
                    var dst = dxp + (b &* c &+ c0) &* plane
                    var src = UnsafePointer(gop + ((b &* c &+ c0) &* positions &+ p))
                    for _ in c0..<c1 {
                        let g = src.pointee
                        dst[o.0] += w0 * g; dst[o.1] += w1 * g; dst[o.2] += w2 * g; dst[o.3] += w3 * g
                        dst[o.4] += w4 * g; dst[o.5] += w5 * g; dst[o.6] += w6 * g; dst[o.7] += w7 * g
                        dst += plane; src += positions
                    }
                }
            }
            dInput = dx
        }
        if grid.requiresGrad {
            let dg = Tensor.empty(grid.shape)
            let dgp = dg.data
            parallelRanges(n * positions, minPerThread: gridMinPerThread(12 * c)) { lo, hi in
                for u in lo..<hi {
                    let b = u / positions, p = u &- b &* positions
                    let t = taps(gp, u)
                    let o = t.offsets, m = t.masks
                    let fx = t.fx, fy = t.fy, fz = t.fz, ex = 1 - fx, ey = 1 - fy, ez = 1 - fz
                    var src = UnsafePointer(xp + b &* c &* plane)
                    var g = UnsafePointer(gop + (b &* c &* positions &+ p))
                    var ax: Float = 0, ay: Float = 0, az: Float = 0
                    for _ in 0..<c {
                        let v0 = m.0 * src[o.0], v1 = m.1 * src[o.1], v2 = m.2 * src[o.2], v3 = m.3 * src[o.3]
                        let v4 = m.4 * src[o.4], v5 = m.5 * src[o.5], v6 = m.6 * src[o.6], v7 = m.7 * src[o.7]
                        let gv = g.pointee
                        // ∂/∂fx: differences along x weighted by the (y, z) weights, and so on.
                        ax += gv * (ez * (ey * (v1 - v0) + fy * (v3 - v2)) + fz * (ey * (v5 - v4) + fy * (v7 - v6)))
                        ay += gv * (ez * (ex * (v2 - v0) + fx * (v3 - v1)) + fz * (ex * (v6 - v4) + fx * (v7 - v5)))
                        az += gv * (ey * (ex * (v4 - v0) + fx * (v5 - v1)) + fy * (ex * (v6 - v2) + fx * (v7 - v3)))
                        src += plane; g += positions
                    }
                    dgp[3 &* u] = ax * t.gx
                    dgp[3 &* u &+ 1] = ay * t.gy
                    dgp[3 &* u &+ 2] = az * t.gz
                }
            }
            dGrid = dg
        }
        return [dInput, dGrid]
    }
}
