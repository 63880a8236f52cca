import CBLAS

/// A row-major matrix read straight from a tensor's storage: `transposed` says the stored
/// matrix is the transpose of the logical one (a transposed view), `ld` is its row stride.
struct MatrixView {
    let pointer: UnsafeMutablePointer<Float>
    let transposed: Bool
    let ld: Int
}

/// `t` seen as the logical matrix [rows, cols] (leading dims flattened into rows) without a
/// copy when its layout allows; otherwise a contiguous copy. Returns the view and the tensor
/// that owns its storage (keep it alive while the pointer is used).
func matrixView(_ t: Tensor, rows: Int, cols: Int) -> (MatrixView, Tensor) {
    if t.isContiguous { return (MatrixView(pointer: t.data, transposed: false, ld: Swift.max(cols, 1)), t) }
    if t.rank == 2, let l = blasLayout(t) {
        return (MatrixView(pointer: t.data, transposed: l.transposed, ld: Int(l.ld)), t)
    }
    // Leading dims that merge into one row stride with unit column stride: rows of a larger buffer.
    if t.rank > 2, t.strides[t.rank - 1] == 1 || cols == 1 {
        let (cs, cst) = coalesce(Array(t.shape.dropLast()), [Array(t.strides.dropLast())])
        if cs.count == 1, cst[0][0] >= cols {
            return (MatrixView(pointer: t.data, transposed: false, ld: cst[0][0]), t)
        }
    }
    let c = t.contiguousNoGrad()
    return (MatrixView(pointer: c.data, transposed: false, ld: Swift.max(cols, 1)), c)
}

/// One sgemm split into blocks of C's rows (or, for few rows, columns) over the context's
/// threads, each block a single-threaded sgemm. Every element of C is the same dot product in
/// the same order as the unsplit call; the split only spares OpenBLAS's own thread pool, whose
/// workers spin between calls and compete with our kernels' threads for the cores.
func splitSGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let threads = EngineContext.current.threads
    let block = 16  // the row unroll of the sgemm kernels: blocks keep whole micro-tiles
    let splitRows = m >= 2 &* block
    let extent = splitRows ? m : n
    let chunks = Swift.min(threads, extent / block)
    if chunks <= 1 || m &* n &* k < 1 << 18 {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    parallelBLAS(chunks) { i in
        let lo = (extent &* i / chunks) / block &* block
        let hi = i == chunks &- 1 ? extent : (extent &* (i &+ 1) / chunks) / block &* block
        if hi <= lo { return }
        if splitRows {
            sgemm(transA: transA, transB: transB, m: hi &- lo, n: n, k: k, alpha: alpha, a: a + (transA ? lo : lo &* lda), lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c + lo &* ldc, ldc: ldc)
        } else {
            sgemm(transA: transA, transB: transB, m: m, n: hi &- lo, k: k, alpha: alpha, a: a, lda: lda,
                  b: b + (transB ? lo &* ldb : lo), ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
        }
    }
}

/// y = x · weightᵀ + bias, PyTorch's `nn.Linear` layout: x [..., in], weight [out, in],
/// bias [out]; y [..., out]. One sgemm with the weight passed as a transpose flag (never copied);
/// backward: dX = G·W and dW = Gᵀ·X (one sgemm each), db = column sums of G (one sgemv).
/// Gradients are computed only for the inputs that require them.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    ensure(weight.rank == 2, "linear: weight must be [out, in], got shape \(weight.shape)")
    ensure(x.rank >= 1, "linear: input must have at least one dim")
    let outF = weight.shape[0], inF = weight.shape[1]
    ensure(x.shape[x.rank - 1] == inF, "linear: input's last dim \(x.shape[x.rank - 1]) (shape \(x.shape)) does not match weight \(weight.shape) ([out, in])")
    if let bias { ensure(bias.shape == [outF], "linear: bias has shape \(bias.shape), expected [\(outF)]") }
    let rows = x.count / Swift.max(inF, 1)
    let outShape = Array(x.shape.dropLast()) + [outF]
    let out = Tensor.empty(outShape)
    let (xv, xOwner) = matrixView(x, rows: rows, cols: inF)
    let (wv, wOwner) = matrixView(weight, rows: outF, cols: inF)
    let y = out.data
    var beta: Float = 0
    if let bias {
        let b = bias.contiguousNoGrad().data
        parallelRanges(rows, minPerThread: rowsPerChunk(outF)) { lo, hi in
            for r in lo..<hi { (y + r &* outF).update(from: b, count: outF) }
        }
        beta = 1
    }
    if rows > 0 && outF > 0 {
        if inF == 0 {
            if bias == nil { y.update(repeating: 0, count: out.count) }
        } else {
            // Y[rows, out] = X[rows, in] · Wᵀ: a stored [out, in] weight is op(B) with the transpose flag.
            splitSGEMM(transA: xv.transposed, transB: !wv.transposed, m: rows, n: outF, k: inF,
                  a: xv.pointer, lda: xv.ld, b: wv.pointer, ldb: wv.ld, beta: beta, c: y, ldc: outF)
        }
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return recordOp("linear", inputs: inputs, output: out) { g in
        withExtendedLifetime((xOwner, wOwner)) {
            let gc = g.contiguousNoGrad()
            let gp = gc.data
            var dx: Tensor? = nil, dw: Tensor? = nil, db: Tensor? = nil
            if x.requiresGrad {
                let d = Tensor.empty(x.shape)
                if rows > 0 && inF > 0 {
                    if outF == 0 { d.data.update(repeating: 0, count: d.count) } else {
                        // dX[rows, in] = G[rows, out] · W[out, in]
                        splitSGEMM(transA: false, transB: wv.transposed, m: rows, n: inF, k: outF,
                              a: gp, lda: outF, b: wv.pointer, ldb: wv.ld, beta: 0, c: d.data, ldc: inF)
                    }
                }
                dx = d
            }
            if weight.requiresGrad {
                let d = Tensor.empty([outF, inF])
                if outF > 0 && inF > 0 {
                    if rows == 0 { d.data.update(repeating: 0, count: d.count) } else {
                        // dW[out, in] = Gᵀ[out, rows] · X[rows, in]
                        splitSGEMM(transA: true, transB: xv.transposed, m: outF, n: inF, k: rows,
                              a: gp, lda: outF, b: xv.pointer, ldb: xv.ld, beta: 0, c: d.data, ldc: inF)
                    }
                }
                dw = d
            }
            if let bias, bias.requiresGrad {
                db = columnSums(gp, rows: rows, cols: outF)
            }
            return bias == nil ? [dx, dw] : [dx, dw, db]
        }
    }
}

/// Σ over rows of a contiguous [rows, cols] matrix, as a [cols] tensor (sgemv with a ones vector).
func columnSums(_ p: UnsafePointer<Float>, rows: Int, cols: Int) -> Tensor {
    let out = Tensor.zeros([cols])
    if rows == 0 || cols == 0 { return out }
    let ones = Tensor.ones([rows])
    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(cols), 1, p, Int32(cols), ones.data, 1, 0, out.data, 1)
    return out
}

extension Composite {
    /// linear from primitives: x.matmul(weightᵀ) + bias.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let y = x.matmul(weight.mT)
        return bias.map { y + $0 } ?? y
    }
}
