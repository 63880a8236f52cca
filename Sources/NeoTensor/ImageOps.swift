// Image and volume ops for convolutional generators: instance normalisation, pixel shuffle and
// nearest-neighbour upsampling over [N, C, spatial…] tensors (2-D images and 3-D volumes), and
// leaky ReLU.

/// Instance normalisation without affine parameters (PyTorch `F.instance_norm` with no weight,
/// bias or running stats): every (sample, channel) plane or volume of `x` [N, C, spatial…] is
/// normalised to mean 0 and biased variance 1. It is layer normalisation over the flattened
/// spatial dims, so it runs through `layerNorm`'s fused forward and backward.
public func instanceNorm(_ x: Tensor, eps: Float = 1e-5) -> Tensor {
    ensure(x.rank >= 3, "instanceNorm: input must be [N, C, spatial…], got shape \(x.shape)")
    let rows = x.shape[0] &* x.shape[1]
    let spatial = x.count / Swift.max(rows, 1)
    return layerNorm(x.reshape([rows, spatial]), weight: nil, bias: nil, eps: eps).reshape(x.shape)
}

/// Pixel shuffle (PyTorch `F.pixel_shuffle`): [N, C·r², H, W] → [N, C, H·r, W·r], channel
/// c·r² + i·r + j going to sub-pixel (i, j). A reshape, a permutation and a copy, so its
/// gradient is the inverse permutation.
public func pixelShuffle(_ x: Tensor, factor r: Int) -> Tensor {
    ensure(x.rank == 4, "pixelShuffle: input must be [N, C, H, W], got shape \(x.shape)")
    ensure(r >= 1 && x.shape[1] % (r * r) == 0, "pixelShuffle: channels \(x.shape[1]) are not a multiple of factor² = \(r * r)")
    let n = x.shape[0], c = x.shape[1] / (r * r), h = x.shape[2], w = x.shape[3]
    return x.reshape([n, c, r, r, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([n, c, h * r, w * r])
}

/// Nearest-neighbour upsampling by integer factors (PyTorch `F.interpolate(mode="nearest")` with
/// an integer `scale_factor`): x [N, C, spatial…] (1 to 3 spatial dims) → every element repeated
/// factors[d] times along spatial dim d. Backward sums each output block into its source.
public func upsampleNearest(_ x: Tensor, factors: [Int]) -> Tensor {
    let spatial = x.rank - 2
    ensure(spatial >= 1 && spatial <= 3, "upsampleNearest: input must be [N, C, spatial…] with 1 to 3 spatial dims, got shape \(x.shape)")
    ensure(factors.count == spatial && factors.allSatisfy { $0 >= 1 },
           "upsampleNearest: need \(spatial) factors ≥ 1 for input \(x.shape), got \(factors)")
    // Normalise to 3 spatial dims (leading size-1 dims), as the convolutions do.
    let lead = 3 - spatial
    let inS = [Int](repeating: 1, count: lead) + Array(x.shape[2...])
    let f = [Int](repeating: 1, count: lead) + factors
    let outS = zip(inS, f).map { $0 * $1 }
    let planes = x.shape[0] &* x.shape[1]
    let outShape = Array(x.shape[0..<2]) + Array(outS[lead...])
    let src = x.contiguousNoGrad()
    let out = Tensor.empty(outShape)
    let inD = inS[0], inH = inS[1], inW = inS[2], fD = f[0], fH = f[1], fW = f[2]
    let oH = outS[1], oW = outS[2]
    let inVol = inD &* inH &* inW, outVol = outS[0] &* oH &* oW
    let px = src.data, py = out.data
    // One output row (fixed d, h) is one input row with every element repeated fW times; the
    // fD·fH output rows of a block are copies of it.
    parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { p in
        let xin = px + p &* inVol, yout = py + p &* outVol
        for d in 0..<inD {
            for h in 0..<inH {
                let row = xin + (d &* inH &+ h) &* inW
                let first = yout + ((d &* fD) &* oH &+ h &* fH) &* oW
                for w in 0..<inW {
                    let v = row[w]
                    let o = first + w &* fW
                    for e in 0..<fW { o[e] = v }
                }
                for a in 0..<fD {
                    for b in 0..<fH where a != 0 || b != 0 {
                        (first + (a &* oH &+ b) &* oW).update(from: first, count: oW)
                    }
                }
            }
        }
    }
    return recordOp("upsample_nearest", inputs: [x], output: out) { g in
        let gc = g.contiguousNoGrad()
        let dx = Tensor.empty(x.shape)
        let pg = gc.data, pd = dx.data
        parallelFor(planes, minPerThread: Swift.max(1, (1 << 14) / Swift.max(outVol, 1))) { p in
            let gin = pg + p &* outVol, dout = pd + p &* inVol
            for d in 0..<inD {
                for h in 0..<inH {
                    let row = dout + (d &* inH &+ h) &* inW
                    for w in 0..<inW { row[w] = 0 }
                    for a in 0..<fD {
                        for b in 0..<fH {
                            let grow = gin + ((d &* fD &+ a) &* oH &+ h &* fH &+ b) &* oW
                            for w in 0..<inW {
                                let o = grow + w &* fW
                                var s: Float = 0
                                for e in 0..<fW { s += o[e] }
                                row[w] += s
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(gc) {}
        return [dx]
    }
}

/// Leaky ReLU (PyTorch `F.leaky_relu`): x where x > 0, slope·x elsewhere; one pass forward and
/// one backward (the generator decoders apply it to their largest feature maps).
public func leakyReLU(_ x: Tensor, slope: Float) -> Tensor {
    let out = unaryMap(x) { $0 > 0 ? $0 : $0 * slope }
    return recordOp("leaky_relu", inputs: [x], output: out) { g in [binaryMap(g, x) { $1 > 0 ? $0 : $0 * slope }] }
}

extension Composite {
    /// leakyReLU as relu(x)·(1 − slope) + slope·x.
    public static func leakyReLU(_ x: Tensor, slope: Float) -> Tensor { x.relu() * (1 - slope) + x * slope }

    /// instanceNorm from primitives (mean and biased variance over the spatial dims).
    public static func instanceNorm(_ x: Tensor, eps: Float = 1e-5) -> Tensor {
        let axes = Array(2..<x.rank)
        let centered = x - x.mean(axes: axes, keepDims: true)
        return centered * (centered.square().mean(axes: axes, keepDims: true) + eps).rsqrt()
    }

    /// upsampleNearest by broadcasting: each spatial dim gets a size-1 neighbour expanded to the
    /// factor, then the pairs are merged.
    public static func upsampleNearest(_ x: Tensor, factors: [Int]) -> Tensor {
        var shape = Array(x.shape[0..<2]), expanded = Array(x.shape[0..<2]), outShape = Array(x.shape[0..<2])
        for (i, f) in factors.enumerated() {
            let s = x.shape[2 + i]
            shape += [s, 1]; expanded += [s, f]; outShape.append(s * f)
        }
        return x.reshape(shape).expand(expanded).reshape(outShape)
    }
}
