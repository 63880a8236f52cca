import NeoTensor

// Composite references for the fused convolution and pooling kernels, built only from
// differentiable primitives (matmul, reshape, transpose, slice, elementwise). Each kernel offset
// is a product of 0/1 selection matrices, one per spatial axis, which also express stride,
// padding (rows without a 1 read zeros) and dilation; the channel mixing is a matmul with a
// block-diagonal weight. Slow, but obviously right; used only by tests.

/// S[o, i] = 1 where input index i = o·stride − padding + offset (0 ≤ i < inSize).
func selectionMatrix(outSize: Int, inSize: Int, stride: Int, padding: Int, offset: Int) -> Tensor {
    var m = [Float](repeating: 0, count: outSize * inSize)
    for o in 0..<outSize {
        let i = o * stride - padding + offset
        if i >= 0 && i < inSize { m[o * inSize + i] = 1 }
    }
    return Tensor(m, shape: [outSize, inSize])
}

/// Applies `m` [new, old] along dimension `dim` of `x`.
func along(_ x: Tensor, dim: Int, _ m: Tensor) -> Tensor {
    x.transpose(dim, -1).matmul(m.mT).transpose(dim, -1)
}

/// All multi-indices of a kernel, last dim fastest.
func kernelOffsets(_ kernel: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for k in kernel { result = result.flatMap { prefix in (0..<k).map { prefix + [$0] } } }
    return result
}

/// Output size of a convolution along one axis (PyTorch's formula).
func convOutSize(_ n: Int, k: Int, s: Int, p: Int, d: Int) -> Int { (n + 2 * p - d * (k - 1) - 1) / s + 1 }

/// The input positions a kernel offset reads, as a [N, C, out…] tensor (zeros for padding).
func gatherOffset(_ x: Tensor, offset: [Int], outSizes: [Int], stride: [Int], padding: [Int], dilation: [Int]) -> Tensor {
    var patch = x
    for a in 0..<offset.count {
        let sel = selectionMatrix(outSize: outSizes[a], inSize: x.shape[2 + a], stride: stride[a], padding: padding[a],
                                  offset: offset[a] * dilation[a])
        patch = along(patch, dim: 2 + a, sel)
    }
    return patch
}

/// [rows, cols] with 1 where `rule(r, c)`.
func indicator(_ rows: Int, _ cols: Int, _ rule: (Int, Int) -> Bool) -> Tensor {
    var m = [Float](repeating: 0, count: rows * cols)
    for r in 0..<rows { for c in 0..<cols where rule(r, c) { m[r * cols + c] = 1 } }
    return Tensor(m, shape: [rows, cols])
}

/// Composite N-d convolution with PyTorch semantics.
func referenceConv(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int], dilation: [Int], groups: Int) -> Tensor {
    let dims = x.rank - 2
    let n = x.shape[0], c = x.shape[1], o = weight.shape[0], cg = c / groups, og = o / groups
    let kernel = Array(weight.shape[2...])
    let outSizes = (0..<dims).map { convOutSize(x.shape[2 + $0], k: kernel[$0], s: stride[$0], p: padding[$0], d: dilation[$0]) }
    let positions = outSizes.reduce(1, *), kvol = kernel.reduce(1, *)
    let repeatChannels = indicator(cg, c) { j, ch in ch % cg == j }
    let blockMask = indicator(o, c) { r, ch in r / og == ch / cg }
    let flatW = weight.reshape([o, cg, kvol])
    var out: Tensor? = nil
    for (ki, off) in kernelOffsets(kernel).enumerated() {
        let patch = gatherOffset(x, offset: off, outSizes: outSizes, stride: stride, padding: padding, dilation: dilation)
            .reshape([n, c, positions])
        let wk = flatW.slice(dim: 2, start: ki, end: ki + 1).reshape([o, cg])
        let full = wk.matmul(repeatChannels) * blockMask
        let term = full.matmul(patch)
        out = out.map { $0 + term } ?? term
    }
    var y = out!.reshape([n, o] + outSizes)
    if let bias { y = y + bias.reshape([1, o] + [Int](repeating: 1, count: dims)) }
    return y
}

/// Composite transposed convolution: every input position adds weight·value at
/// i·stride − padding + offset·dilation, i.e. the transposed selection matrices.
func referenceConvTranspose(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int], outputPadding: [Int],
                            dilation: [Int], groups: Int) -> Tensor {
    let dims = x.rank - 2
    let n = x.shape[0], c = x.shape[1], og = weight.shape[1], o = og * groups, cg = c / groups
    let kernel = Array(weight.shape[2...])
    let inSizes = Array(x.shape[2...])
    var outSizes: [Int] = []
    for a in 0..<dims {
        let span = dilation[a] * (kernel[a] - 1) + outputPadding[a] + 1
        outSizes.append((inSizes[a] - 1) * stride[a] - 2 * padding[a] + span)
    }
    let kvol = kernel.reduce(1, *), inPositions = inSizes.reduce(1, *)
    let repeatOut = indicator(o, og) { r, j in r % og == j }
    let blockMask = indicator(o, c) { r, ch in r / og == ch / cg }
    let flatW = weight.reshape([c, og, kvol])
    var out: Tensor? = nil
    for (ki, off) in kernelOffsets(kernel).enumerated() {
        let wk = flatW.slice(dim: 2, start: ki, end: ki + 1).reshape([c, og])
        let full = repeatOut.matmul(wk.mT) * blockMask                      // [O, C]
        var term = full.matmul(x.reshape([n, c, inPositions])).reshape([n, o] + inSizes)
        for a in 0..<dims {
            let sel = selectionMatrix(outSize: inSizes[a], inSize: outSizes[a], stride: stride[a], padding: padding[a],
                                      offset: off[a] * dilation[a])
            term = along(term, dim: 2 + a, sel.mT)
        }
        out = out.map { $0 + term } ?? term
    }
    var y = out!
    if let bias { y = y + bias.reshape([1, o] + [Int](repeating: 1, count: dims)) }
    return y
}

/// Composite average pooling (count_include_pad = true).
func referenceAvgPool(_ x: Tensor, kernel: [Int], stride: [Int], padding: [Int]) -> Tensor {
    let dims = x.rank - 2
    let outSizes = (0..<dims).map { convOutSize(x.shape[2 + $0], k: kernel[$0], s: stride[$0], p: padding[$0], d: 1) }
    var out: Tensor? = nil
    for off in kernelOffsets(kernel) {
        let t = gatherOffset(x, offset: off, outSizes: outSizes, stride: stride, padding: padding, dilation: [Int](repeating: 1, count: dims))
        out = out.map { $0 + t } ?? t
    }
    return out! / Float(kernel.reduce(1, *))
}

/// Composite max pooling: padding reads −1e9 (never the maximum of a window).
func referenceMaxPool(_ x: Tensor, kernel: [Int], stride: [Int], padding: [Int]) -> Tensor {
    let dims = x.rank - 2
    let outSizes = (0..<dims).map { convOutSize(x.shape[2 + $0], k: kernel[$0], s: stride[$0], p: padding[$0], d: 1) }
    let ones = Tensor.ones(x.shape)
    let unit = [Int](repeating: 1, count: dims)
    var out: Tensor? = nil
    for off in kernelOffsets(kernel) {
        let t = gatherOffset(x, offset: off, outSizes: outSizes, stride: stride, padding: padding, dilation: unit)
        let valid = gatherOffset(ones, offset: off, outSizes: outSizes, stride: stride, padding: padding, dilation: unit)
        let v = t + (valid - 1) * 1e9
        out = out.map { $0.maximum(v) } ?? v
    }
    return out!
}
