import CBLAS

/// How a 2-D matrix view is handed to BLAS without copying: row-major with leading dimension
/// `ld`, possibly transposed.
struct MatrixOperand {
    let transposed: Bool
    let ld: Int32
}

/// BLAS-compatible description of the last two dims of `t`, or nil when a copy is needed.
func blasLayout(_ t: Tensor) -> MatrixOperand? {
    let r = t.rank
    let rows = t.shape[r - 2], cols = t.shape[r - 1]
    let sr = t.strides[r - 2], sc = t.strides[r - 1]
    if (sc == 1 || cols == 1) && (sr >= Swift.max(cols, 1) || rows == 1) { return MatrixOperand(transposed: false, ld: Int32(Swift.max(rows == 1 ? cols : sr, 1))) }
    if (sr == 1 || rows == 1) && (sc >= Swift.max(rows, 1) || cols == 1) { return MatrixOperand(transposed: true, ld: Int32(Swift.max(cols == 1 ? rows : sc, 1))) }
    return nil
}

/// C[M,N] (+)= alpha · op(A) · op(B) for raw row-major pointers; the single entry to sgemm.
@inline(__always)
func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Raw entry point for other modules' fused kernels (row-major, transposes as flags).
public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// Offsets of each batch element of `t` (dims before the last two, broadcast to `batchShape`).
func batchOffsets(_ t: Tensor, _ batchShape: [Int]) -> [Int] {
    let nb = Tensor.count(batchShape)
    let lead = t.rank - 2
    let off = batchShape.count - lead
    var strides = [Int](repeating: 0, count: batchShape.count)
    for i in 0..<lead where t.shape[i] != 1 { strides[i + off] = t.strides[i] }
    var result = [Int](repeating: t.offset, count: nb)
    for b in 0..<nb {
        var rem = b, o = t.offset
        var d = batchShape.count - 1
        while d >= 0 { o += (rem % batchShape[d]) * strides[d]; rem /= batchShape[d]; d -= 1 }
        result[b] = o
    }
    return result
}

/// Batched product out = a @ b over broadcast batch dims, outside autodiff.
func matmulNoGrad(_ a0: Tensor, _ b0: Tensor) -> Tensor {
    ensure(a0.rank >= 2 && b0.rank >= 2, "matmul: operands need at least 2 dims (got \(a0.shape) and \(b0.shape))")
    let m = a0.shape[a0.rank - 2], k = a0.shape[a0.rank - 1]
    let k2 = b0.shape[b0.rank - 2], n = b0.shape[b0.rank - 1]
    ensure(k == k2, "matmul: inner dimensions differ: \(a0.shape) @ \(b0.shape)")
    let batch = broadcastShapes(Array(a0.shape.dropLast(2)), Array(b0.shape.dropLast(2)))
    let a = blasLayout(a0) == nil ? a0.contiguousNoGrad() : a0
    let b = blasLayout(b0) == nil ? b0.contiguousNoGrad() : b0
    let la = blasLayout(a)!, lb = blasLayout(b)!
    let out = Tensor.empty(batch + [m, n])
    if m == 0 || n == 0 { return out }
    if k == 0 { out.data.update(repeating: 0, count: out.count); return out }
    let oa = batchOffsets(a, batch), ob = batchOffsets(b, batch)
    let nb = oa.count
    let pa = a.storage.pointer, pb = b.storage.pointer, po = out.data
    let mn = m &* n
    let body: (Int) -> Void = { i in
        sgemm(transA: la.transposed, transB: lb.transposed, m: m, n: n, k: k,
              a: pa + oa[i], lda: Int(la.ld), b: pb + ob[i], ldb: Int(lb.ld), beta: 0, c: po + i &* mn, ldc: n)
    }
    // Many small products: split them over our threads with BLAS at one thread each.
    if nb > 1 && m * n * k <= 1 << 21 {
        parallelBLAS(nb, body)
    } else {
        for i in 0..<nb {
            splitSGEMM(transA: la.transposed, transB: lb.transposed, m: m, n: n, k: k,
                       a: pa + oa[i], lda: Int(la.ld), b: pb + ob[i], ldb: Int(lb.ld), beta: 0, c: po + i &* mn, ldc: n)
        }
    }
    return out
}

extension Tensor {
    /// Matrix product with NumPy batch broadcasting; 1-D operands are treated as row/column
    /// vectors like `torch.matmul`. Transposed views go to BLAS as flags, never copied.
    public func matmul(_ other: Tensor) -> Tensor {
        if rank == 1 { return unsqueeze(0).matmul(other).squeeze(-2) }
        if other.rank == 1 { return matmul(other.unsqueeze(-1)).squeeze(-1) }
        let a = self, b = other
        let out = matmulNoGrad(a, b)
        return recordOp("matmul", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? sumToShape(matmulNoGrad(g, b.mT.detach()), a.shape) : nil,
             b.requiresGrad ? sumToShape(matmulNoGrad(a.mT.detach(), g), b.shape) : nil]
        }
    }
}
