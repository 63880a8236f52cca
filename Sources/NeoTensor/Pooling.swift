// Average and max pooling over 1, 2 or 3 spatial dims, PyTorch semantics (floor mode; average
// pooling counts padding in its divisor; max pooling reads padding as −∞ and keeps the first
// index of a tie). Like the convolutions, every case runs as 3-D with leading size-1 dims, split
// over (sample, channel) planes, which never share an input element.

/// Window arithmetic of one pooling op, normalised to 3 spatial dims.
struct PoolGeometry {
    let planes: Int
    let inD: Int, inH: Int, inW: Int
    let kD: Int, kH: Int, kW: Int
    let sD: Int, sH: Int, sW: Int
    let pD: Int, pH: Int, pW: Int
    let oD: Int, oH: Int, oW: Int
    var inVolume: Int { inD &* inH &* inW }
    var outVolume: Int { oD &* oH &* oW }

    init(planes: Int, input: [Int], kernel: [Int], stride: [Int], padding: [Int]) {
        let lead = 3 - input.count
        func at(_ a: [Int], _ i: Int, _ fill: Int) -> Int { i < lead ? fill : a[i - lead] }
        func out(_ i: Int) -> Int { i < lead ? 1 : (input[i - lead] + 2 * padding[i - lead] - kernel[i - lead]) / stride[i - lead] + 1 }
        self.planes = planes
        inD = at(input, 0, 1); inH = at(input, 1, 1); inW = at(input, 2, 1)
        kD = at(kernel, 0, 1); kH = at(kernel, 1, 1); kW = at(kernel, 2, 1)
        sD = at(stride, 0, 1); sH = at(stride, 1, 1); sW = at(stride, 2, 1)
        pD = at(padding, 0, 0); pH = at(padding, 1, 0); pW = at(padding, 2, 0)
        oD = out(0); oH = out(1); oW = out(2)
    }
}

/// Checks the arguments of a pooling op and returns its geometry and output shape.
func poolGeometry(_ x: Tensor, kernel: [Int], stride: [Int]?, padding: [Int], dims: Int, name: String) -> (PoolGeometry, [Int]) {
    ensure(x.rank == dims + 2, "\(name): input must have shape [N, C, \(dims) spatial dims], got \(x.shape)")
    let k = spatialArgument("kernel", kernel, dims: dims, op: name, minimum: 1)
    let s = spatialArgument("stride", stride ?? k, dims: dims, op: name, minimum: 1)
    let p = spatialArgument("padding", padding, dims: dims, op: name, minimum: 0)
    let input = Array(x.shape[2...])
    for i in 0..<dims {
        ensure(2 * p[i] <= k[i], "\(name): padding \(p) must be at most half the kernel \(k)")
        ensure(input[i] + 2 * p[i] >= k[i], "\(name): input \(x.shape) padded by \(p) is smaller than the kernel \(k)")
    }
    let g = PoolGeometry(planes: x.shape[0] * x.shape[1], input: input, kernel: k, stride: s, padding: p)
    return (g, Array(x.shape[0..<2]) + Array([g.oD, g.oH, g.oW].suffix(dims)))
}

/// Calls body(outputIndex, d0, d1, h0, h1, w0, w1) for every output position of one plane with
/// its window clipped to the input.
@inline(__always)
func forEachWindow(_ g: PoolGeometry, _ body: (Int, Int, Int, Int, Int, Int, Int) -> Void) {
    var o = 0
    for od in 0..<g.oD {
        let ds = od &* g.sD &- g.pD
        let d0 = Swift.max(ds, 0), d1 = Swift.min(ds &+ g.kD, g.inD)
        for oh in 0..<g.oH {
            let hs = oh &* g.sH &- g.pH
            let h0 = Swift.max(hs, 0), h1 = Swift.min(hs &+ g.kH, g.inH)
            for ow in 0..<g.oW {
                let ws = ow &* g.sW &- g.pW
                let w0 = Swift.max(ws, 0), w1 = Swift.min(ws &+ g.kW, g.inW)
                body(o, d0, d1, h0, h1, w0, w1)
                o &+= 1
            }
        }
    }
}

/// Average pooling; the divisor is always the full kernel volume (padding counts).
func averagePool(_ x: Tensor, kernel: [Int], stride: [Int]?, padding: [Int], dims: Int, name: String) -> Tensor {
    let (g, outShape) = poolGeometry(x, kernel: kernel, stride: stride, padding: padding, dims: dims, name: name)
    let xc = x.contiguousNoGrad()
    let y = Tensor.empty(outShape)
    let inVol = g.inVolume, outVol = g.outVolume, inH = g.inH, inW = g.inW
    let scale = 1 / Float(g.kD &* g.kH &* g.kW)
    let xp = xc.data, yp = y.data
    parallelFor(g.planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { plane in
        let src = xp + plane &* inVol, dst = yp + plane &* outVol
        forEachWindow(g) { o, d0, d1, h0, h1, w0, w1 in
            var acc: Float = 0
            for d in d0..<d1 { for h in h0..<h1 {
                let line = src + (d &* inH &+ h) &* inW
                for w in w0..<w1 { acc += line[w] }
            } }
            dst[o] = acc * scale
        }
    }
    let inShape = x.shape
    return recordOp(name, inputs: [x], output: y) { gy in
        let gc = gy.contiguousNoGrad()
        let dx = Tensor.zeros(inShape)
        let gp = gc.data, dp = dx.data
        parallelFor(g.planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { plane in
            let src = gp + plane &* outVol, dst = dp + plane &* inVol
            forEachWindow(g) { o, d0, d1, h0, h1, w0, w1 in
                let v = src[o] * scale
                for d in d0..<d1 { for h in h0..<h1 {
                    let line = dst + (d &* inH &+ h) &* inW
                    for w in w0..<w1 { line[w] += v }
                } }
            }
        }
        return [dx]
    }
}

/// Max pooling; records the flat in-plane index of each maximum (as Int32 bits in a pool
/// buffer) for the backward scatter.
func maximumPool(_ x: Tensor, kernel: [Int], stride: [Int]?, padding: [Int], dims: Int, name: String) -> Tensor {
    let (g, outShape) = poolGeometry(x, kernel: kernel, stride: stride, padding: padding, dims: dims, name: name)
    let xc = x.contiguousNoGrad()
    let y = Tensor.empty(outShape)
    let indices = Tensor.empty(outShape)
    let inVol = g.inVolume, outVol = g.outVolume, inH = g.inH, inW = g.inW
    let xp = xc.data, yp = y.data, ip = indices.data
    parallelFor(g.planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { plane in
        let src = xp + plane &* inVol, dst = yp + plane &* outVol, idx = ip + plane &* outVol
        forEachWindow(g) { o, d0, d1, h0, h1, w0, w1 in
            var best = -Float.infinity, at = (d0 &* inH &+ h0) &* inW &+ w0
            for d in d0..<d1 { for h in h0..<h1 {
                let base = (d &* inH &+ h) &* inW
                for w in w0..<w1 {
                    let v = src[base &+ w]
                    // Strictly greater keeps the first of equal values; NaN wins like in PyTorch.
                    if v > best || v.isNaN { best = v; at = base &+ w }
                }
            } }
            dst[o] = best
            idx[o] = Float(bitPattern: UInt32(truncatingIfNeeded: at))
        }
    }
    let inShape = x.shape
    return recordOp(name, inputs: [x], output: y) { gy in
        let gc = gy.contiguousNoGrad()
        let dx = Tensor.zeros(inShape)
        let gp = gc.data, dp = dx.data, ip = indices.data
        parallelFor(g.planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { plane in
            let src = gp + plane &* outVol, dst = dp + plane &* inVol, idx = ip + plane &* outVol
            for o in 0..<outVol { dst[Int(idx[o].bitPattern)] += src[o] }
        }
        return [dx]
    }
}

/// Adaptive average pooling to `outputSize`: output cell i averages input cells
/// floor(i·in/out) ..< ceil((i+1)·in/out) along each dim, as in PyTorch.
func adaptiveAveragePool(_ x: Tensor, outputSize: [Int], dims: Int, name: String) -> Tensor {
    ensure(x.rank == dims + 2, "\(name): input must have shape [N, C, \(dims) spatial dims], got \(x.shape)")
    let out = spatialArgument("outputSize", outputSize, dims: dims, op: name, minimum: 1)
    let input = Array(x.shape[2...])
    for i in 0..<dims { ensure(input[i] >= 1, "\(name): input \(x.shape) has an empty spatial dim") }
    let lead = 3 - dims
    let inS = [Int](repeating: 1, count: lead) + input, outS = [Int](repeating: 1, count: lead) + out
    // Window bounds per dim, flattened as [start, end] pairs.
    var bounds: [[Int]] = []
    for a in 0..<3 {
        var b: [Int] = []
        for i in 0..<outS[a] { b.append(i * inS[a] / outS[a]); b.append(((i + 1) * inS[a] + outS[a] - 1) / outS[a]) }
        bounds.append(b)
    }
    let planes = x.shape[0] * x.shape[1]
    let inVol = inS[0] * inS[1] * inS[2], outVol = outS[0] * outS[1] * outS[2]
    let inH = inS[1], inW = inS[2], oD = outS[0], oH = outS[1], oW = outS[2]
    let xc = x.contiguousNoGrad()
    let y = Tensor.empty(Array(x.shape[0..<2]) + out)
    let xp = xc.data, yp = y.data
    let bd = bounds[0], bh = bounds[1], bw = bounds[2]
    func forEachCell(_ body: (Int, Int, Int, Int, Int, Int, Int, Float) -> Void) {
        var o = 0
        for od in 0..<oD { for oh in 0..<oH { for ow in 0..<oW {
            let d0 = bd[2 * od], d1 = bd[2 * od + 1], h0 = bh[2 * oh], h1 = bh[2 * oh + 1], w0 = bw[2 * ow], w1 = bw[2 * ow + 1]
            body(o, d0, d1, h0, h1, w0, w1, 1 / Float((d1 - d0) * (h1 - h0) * (w1 - w0)))
            o += 1
        } } }
    }
    parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(inVol, 1))) { plane in
        let src = xp + plane &* inVol, dst = yp + plane &* outVol
        forEachCell { o, d0, d1, h0, h1, w0, w1, scale in
            var acc: Float = 0
            for d in d0..<d1 { for h in h0..<h1 {
                let line = src + (d &* inH &+ h) &* inW
                for w in w0..<w1 { acc += line[w] }
            } }
            dst[o] = acc * scale
        }
    }
    let inShape = x.shape
    return recordOp(name, inputs: [x], output: y) { gy in
        let gc = gy.contiguousNoGrad()
        let dx = Tensor.zeros(inShape)
        let gp = gc.data, dp = dx.data
        parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(inVol, 1))) { plane in
            let src = gp + plane &* outVol, dst = dp + plane &* inVol
            forEachCell { o, d0, d1, h0, h1, w0, w1, scale in
                let v = src[o] * scale
                for d in d0..<d1 { for h in h0..<h1 {
                    let line = dst + (d &* inH &+ h) &* inW
                    for w in w0..<w1 { line[w] += v }
                } }
            }
        }
        return [dx]
    }
}

/// Average pooling over [N, C, L] (PyTorch `F.avg_pool1d`, count_include_pad = true).
public func avgPool1d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0]) -> Tensor {
    averagePool(x, kernel: kernel, stride: stride, padding: padding, dims: 1, name: "avgPool1d")
}
/// Average pooling over [N, C, H, W] (PyTorch `F.avg_pool2d`, count_include_pad = true).
public func avgPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) -> Tensor {
    averagePool(x, kernel: kernel, stride: stride, padding: padding, dims: 2, name: "avgPool2d")
}
/// Average pooling over [N, C, D, H, W] (PyTorch `F.avg_pool3d`, count_include_pad = true).
public func avgPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0]) -> Tensor {
    averagePool(x, kernel: kernel, stride: stride, padding: padding, dims: 3, name: "avgPool3d")
}
/// Max pooling over [N, C, L] (PyTorch `F.max_pool1d`; ties go to the first index).
public func maxPool1d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0]) -> Tensor {
    maximumPool(x, kernel: kernel, stride: stride, padding: padding, dims: 1, name: "maxPool1d")
}
/// Max pooling over [N, C, H, W] (PyTorch `F.max_pool2d`; ties go to the first index).
public func maxPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0]) -> Tensor {
    maximumPool(x, kernel: kernel, stride: stride, padding: padding, dims: 2, name: "maxPool2d")
}
/// Max pooling over [N, C, D, H, W] (PyTorch `F.max_pool3d`; ties go to the first index).
public func maxPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0]) -> Tensor {
    maximumPool(x, kernel: kernel, stride: stride, padding: padding, dims: 3, name: "maxPool3d")
}
/// Adaptive average pooling of [N, C, L] to [N, C, outputSize] (PyTorch `F.adaptive_avg_pool1d`).
public func adaptiveAvgPool1d(_ x: Tensor, outputSize: [Int]) -> Tensor {
    adaptiveAveragePool(x, outputSize: outputSize, dims: 1, name: "adaptiveAvgPool1d")
}
/// Adaptive average pooling of [N, C, H, W] (PyTorch `F.adaptive_avg_pool2d`).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: [Int]) -> Tensor {
    adaptiveAveragePool(x, outputSize: outputSize, dims: 2, name: "adaptiveAvgPool2d")
}
/// Adaptive average pooling of [N, C, D, H, W] (PyTorch `F.adaptive_avg_pool3d`).
public func adaptiveAvgPool3d(_ x: Tensor, outputSize: [Int]) -> Tensor {
    adaptiveAveragePool(x, outputSize: outputSize, dims: 3, name: "adaptiveAvgPool3d")
}
