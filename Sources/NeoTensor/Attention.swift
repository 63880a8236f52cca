import Foundation

/// Per-batch-element matrix operands of a [..., rows, cols] tensor for BLAS: base pointers of
/// each matrix (leading dims flattened) plus the shared transpose flag and leading dimension.
/// Non-BLAS-compatible layouts are copied once.
private struct BatchedMatrices {
    let owner: Tensor
    let offsets: [Int]
    let transposed: Bool
    let ld: Int
    init(_ t: Tensor, batch: [Int]) {
        let src = blasLayout(t) == nil ? t.contiguousNoGrad() : t
        let l = blasLayout(src)!
        owner = src
        offsets = batchOffsets(src, batch)
        transposed = l.transposed
        ld = Int(l.ld)
    }
    @inline(__always) func pointer(_ i: Int) -> UnsafeMutablePointer<Float> { owner.storage.pointer + offsets[i] }
}

/// Scaled dot-product attention, softmax(q·kᵀ·scale + mask)·v.
///
/// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with the same leading dims (typically
/// [B, H]); `mask` is added to the scores and must broadcast to [..., Tq, Tk] (use −∞ or a large
/// negative number to block a position; a query row blocked everywhere gives zeros). `scale`
/// defaults to 1/√D. Fused: per (batch, head) pair, QKᵀ and PV are single sgemms, the softmax
/// runs in place on the score rows and the probabilities are saved for backward, which is four
/// sgemms per pair (dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K·scale, dK = dSᵀ·Q·scale with
/// dS = P∘(dP − rowsum(dP∘P))). Pairs are split over threads with BLAS at one thread.
/// Transposed/permuted views of q, k, v (e.g. heads split from a [B, T, H, D] projection) are
/// read in place. A mask that requires a gradient receives dS summed to its shape.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil) -> Tensor {
    ensure(q.rank >= 2 && k.rank == q.rank && v.rank == q.rank,
                 "scaledDotProductAttention: q, k, v must have the same rank ≥ 2 (got \(q.shape), \(k.shape), \(v.shape))")
    let r = q.rank
    let lead = Array(q.shape.dropLast(2))
    ensure(Array(k.shape.dropLast(2)) == lead && Array(v.shape.dropLast(2)) == lead,
                 "scaledDotProductAttention: leading dims of q \(q.shape), k \(k.shape), v \(v.shape) differ")
    let tq = q.shape[r - 2], d = q.shape[r - 1], tk = k.shape[r - 2], dv = v.shape[r - 1]
    ensure(k.shape[r - 1] == d, "scaledDotProductAttention: q \(q.shape) and k \(k.shape) have different head dims")
    ensure(v.shape[r - 2] == tk, "scaledDotProductAttention: k \(k.shape) and v \(v.shape) have different lengths")
    let scoresShape = lead + [tq, tk]
    if let mask {
        ensure(mask.rank <= scoresShape.count && broadcastShapes(mask.shape, scoresShape) == scoresShape,
                     "scaledDotProductAttention: mask \(mask.shape) does not broadcast to the scores' shape \(scoresShape)")
    }
    let alpha = scale ?? 1 / Float(d).squareRoot()
    let pairs = Tensor.count(lead)
    let qm = BatchedMatrices(q, batch: lead), km = BatchedMatrices(k, batch: lead), vm = BatchedMatrices(v, batch: lead)
    let probs = Tensor.empty(scoresShape)
    let out = Tensor.empty(lead + [tq, dv])
    let pp = probs.data, po = out.data
    let pSize = tq &* tk, oSize = tq &* dv
    // The mask read through broadcast strides: per pair a base offset, per row/column a stride.
    var maskOffsets: [Int] = []
    var maskRowStride = 0, maskColStride = 0
    var maskBase: UnsafeMutablePointer<Float>? = nil
    if let mask {
        let full = noGrad { mask.expand(scoresShape) }
        maskOffsets = batchOffsets(full, lead)
        maskRowStride = full.strides[r - 2]
        maskColStride = full.strides[r - 1]
        maskBase = full.storage.pointer
    }
    if pairs > 0 && tq > 0 {
        parallelBLAS(pairs) { i in
            let p = pp + i &* pSize
            if tk > 0 && d > 0 {
                // S = scale · Q Kᵀ (K stored [Tk, D] is op(B) with the transpose flag).
                sgemm(transA: qm.transposed, transB: !km.transposed, m: tq, n: tk, k: d, alpha: alpha,
                      a: qm.pointer(i), lda: qm.ld, b: km.pointer(i), ldb: km.ld, beta: 0, c: p, ldc: tk)
            } else {
                p.update(repeating: 0, count: pSize)
            }
            for row in 0..<tq {
                let pr = p + row &* tk
                if let maskBase {
                    let m = maskBase + (maskOffsets[i] &+ row &* maskRowStride)
                    if maskColStride == 1 {
                        var j = 0
                        while j &+ 8 <= tk { store8(load8(pr + j) + load8(m + j), pr + j); j &+= 8 }
                        while j < tk { pr[j] += m[j]; j &+= 1 }
                    } else {
                        for j in 0..<tk { pr[j] += m[j &* maskColStride] }
                    }
                }
                rowSoftmaxInPlace(pr, tk)
            }
            if dv > 0 {
                if tk > 0 {
                    sgemm(transA: false, transB: vm.transposed, m: tq, n: dv, k: tk,
                          a: p, lda: tk, b: vm.pointer(i), ldb: vm.ld, beta: 0, c: po + i &* oSize, ldc: dv)
                } else {
                    (po + i &* oSize).update(repeating: 0, count: oSize)
                }
            }
        }
    }
    var inputs = [q, k, v]
    if let mask { inputs.append(mask) }
    return recordOp("scaled_dot_product_attention", inputs: inputs, output: out) { g in
        let gc = g.contiguousNoGrad()
        let pg = gc.data
        let needQ = q.requiresGrad, needK = k.requiresGrad, needV = v.requiresGrad
        let needMask = mask?.requiresGrad ?? false
        let needS = needQ || needK || needMask
        let dq = needQ ? Tensor.empty(q.shape) : nil
        let dk = needK ? Tensor.empty(k.shape) : nil
        let dvT = needV ? Tensor.empty(v.shape) : nil
        let ds = needS ? Tensor.empty(scoresShape) : nil
        let pdq = dq?.data, pdk = dk?.data, pdv = dvT?.data, pds = ds?.data
        let qSize = tq &* d, kSize = tk &* d, vSize = tk &* dv
        if pairs > 0 {
            parallelBLAS(pairs) { i in
                let p = pp + i &* pSize
                let go = pg + i &* oSize
                if let pdv {
                    // dV[Tk, Dv] = Pᵀ · dO
                    if tq > 0 && tk > 0 && dv > 0 {
                        sgemm(transA: true, transB: false, m: tk, n: dv, k: tq,
                              a: p, lda: tk, b: go, ldb: dv, beta: 0, c: pdv + i &* vSize, ldc: dv)
                    } else {
                        (pdv + i &* vSize).update(repeating: 0, count: vSize)
                    }
                }
                guard let pds else { return }
                let s = pds + i &* pSize
                if tq > 0 && tk > 0 {
                    // dP[Tq, Tk] = dO · Vᵀ, then dS = P ∘ (dP − rowsum(dP ∘ P)) in place.
                    if dv > 0 {
                        sgemm(transA: false, transB: !vm.transposed, m: tq, n: tk, k: dv,
                              a: go, lda: dv, b: vm.pointer(i), ldb: vm.ld, beta: 0, c: s, ldc: tk)
                    } else {
                        s.update(repeating: 0, count: pSize)
                    }
                    for row in 0..<tq {
                        let sr = s + row &* tk, pr = p + row &* tk
                        let dot = F8(repeating: rowDot(sr, pr, tk))
                        var j = 0
                        while j &+ 8 <= tk { let pv = load8(pr + j); store8(pv * (load8(sr + j) - dot), sr + j); j &+= 8 }
                        while j < tk { sr[j] = pr[j] * (sr[j] - dot[0]); j &+= 1 }
                    }
                }
                if let pdq {
                    // dQ[Tq, D] = scale · dS · K
                    if tq > 0 && tk > 0 && d > 0 {
                        sgemm(transA: false, transB: km.transposed, m: tq, n: d, k: tk, alpha: alpha,
                              a: s, lda: tk, b: km.pointer(i), ldb: km.ld, beta: 0, c: pdq + i &* qSize, ldc: d)
                    } else {
                        (pdq + i &* qSize).update(repeating: 0, count: qSize)
                    }
                }
                if let pdk {
                    // dK[Tk, D] = scale · dSᵀ · Q
                    if tq > 0 && tk > 0 && d > 0 {
                        sgemm(transA: true, transB: qm.transposed, m: tk, n: d, k: tq, alpha: alpha,
                              a: s, lda: tk, b: qm.pointer(i), ldb: qm.ld, beta: 0, c: pdk + i &* kSize, ldc: d)
                    } else {
                        (pdk + i &* kSize).update(repeating: 0, count: kSize)
                    }
                }
            }
        }
        var grads: [Tensor?] = [dq, dk, dvT]
        if let mask { grads.append(needMask ? sumToShape(ds!, mask.shape) : nil) }
        withExtendedLifetime((qm, km, vm, probs)) {}
        return grads
    }
}

extension Composite {
    /// Attention from primitives: softmax(q·kᵀ·scale + mask)·v with matmul and the composite softmax.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil) -> Tensor {
        let alpha = scale ?? 1 / Float(q.shape[q.rank - 1]).squareRoot()
        var scores = q.matmul(k.mT) * alpha
        if let mask { scores = scores + mask }
        return softmax(scores, dim: -1).matmul(v)
    }
}
