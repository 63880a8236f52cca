import NeoTensor

// TEMPORARY: composites of NeoTensor primitives standing in for the fused ops of branch
// nn-ops until it is merged; every function here is replaced by the fused op before the end.

func linearLayer(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
    let y = x.matmul(w.mT)
    if let b { return y + b }
    return y
}

func embeddingLookup(_ w: Tensor, _ indices: [Int]) -> Tensor {
    let oneHot = Tensor.zeros([indices.count, w.shape[0]])
    for (r, i) in indices.enumerated() { oneHot.data[r * w.shape[0] + i] = 1 }
    return oneHot.matmul(w)
}

func softmaxLast(_ x: Tensor) -> Tensor {
    let m = noGrad { x.max(axes: [-1], keepDims: true) }.detach()
    let e = (x - m).exp()
    return e / e.sum(axes: [-1], keepDims: true)
}

func layerNormOp(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, eps: Float) -> Tensor {
    let mu = x.mean(axes: [-1], keepDims: true)
    let xc = x - mu
    var y = xc * (xc.square().mean(axes: [-1], keepDims: true) + eps).rsqrt()
    if let w { y = y * w }
    if let b { y = y + b }
    return y
}

func rmsNormOp(_ x: Tensor, _ w: Tensor?, eps: Float) -> Tensor {
    var y = x * (x.square().mean(axes: [-1], keepDims: true) + eps).rsqrt()
    if let w { y = y * w }
    return y
}

func geluOp(_ x: Tensor, approximate: Bool) -> Tensor {
    // tanh form for both until the fused exact GELU lands
    let c = Float((2.0 / Double.pi).squareRoot())
    return x * 0.5 * ((x + x.pow(3) * 0.044715) * c).tanh().affine(scale: 1, shift: 1)
}

func siluOp(_ x: Tensor) -> Tensor { x * x.sigmoid() }

/// q, k, v: [B, H, T, D]; mask broadcastable to [B, H, Tq, Tk], added to the scores.
func attentionOp(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, scale: Float) -> Tensor {
    var s = q.matmul(k.mT) * scale
    if let mask { s = s + mask }
    return softmaxLast(s).matmul(v)
}

func concatOp(_ ts: [Tensor], dim: Int) -> Tensor {
    // move `dim` last, place each part with a 0/1 selection matrix, move back
    let r = ts[0].rank
    let d = dim < 0 ? dim + r : dim
    let total = ts.reduce(0) { $0 + $1.shape[d] }
    var acc: Tensor? = nil
    var start = 0
    for t in ts {
        let n = t.shape[d]
        let sel = Tensor.zeros([n, total])
        for i in 0..<n { sel.data[i * total + start + i] = 1 }
        let moved = t.transpose(d, r - 1).matmul(sel).transpose(d, r - 1)
        acc = acc.map { $0 + moved } ?? moved
        start += n
    }
    return acc!
}

func splitOp(_ x: Tensor, _ sizes: [Int], dim: Int) -> [Tensor] {
    var out: [Tensor] = []
    var start = 0
    for n in sizes {
        out.append(x.slice(dim: dim, start: start, end: start + n))
        start += n
    }
    return out
}
