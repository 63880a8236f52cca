import Foundation

/// One token stream of a joint (MMDiT-style) attention: its fused q/k/v projection and the
/// RMS-norm weights of its queries and keys.
public struct JointAttentionStream: @unchecked Sendable {
    /// `[B, T, P·H·Dh]`: per token the queries, keys and values (P = 3) or only keys and values
    /// (P = 2, a keys-only stream), each part heads-major (head h at h·Dh), as a `Linear` makes them.
    public var qkv: Tensor
    /// False for a keys-only stream (it offers keys and values, gets no output).
    public var queries: Bool
    /// `[Dh]` RMS-norm weight of the queries (ignored when keys-only).
    public var qNorm: Tensor?
    /// `[Dh]` RMS-norm weight of the keys.
    public var kNorm: Tensor

    public init(qkv: Tensor, queries: Bool, qNorm: Tensor?, kNorm: Tensor) {
        self.qkv = qkv; self.queries = queries; self.qNorm = qNorm; self.kNorm = kNorm
    }
}

/// Joint attention of several token streams (SD3's MMDiT block), fused with its preparation:
/// per stream, q and k of each head are RMS-normed over the head (x / √(mean x² + eps) · w),
/// then rotated by the rotary tables (pairs (i, i + R/2) of the first R numbers, the angle of the
/// token's position in the joint sequence, streams in order); the keys and values of all streams
/// are concatenated, the queries of the streams that have them too, and
/// softmax(q·kᵀ·scale + mask)·v is split back per stream with the heads merged.
///
/// - Parameters:
///   - cos, sin: `[ΣT, R/2]`, one row per token of the joint sequence (R ≤ Dh even).
///   - mask: added to the scores, broadcasting to `[B, H, Tq, ΣT]` (Tq: the tokens of the streams
///     with queries); −∞ removes a key. No gradient flows into it.
///   - scale: defaults to 1/√Dh.
/// - Returns: `[B, T, H·Dh]` for each stream with queries, in stream order.
///
/// The same numbers as rmsNorm → applyRotary → concat → scaledDotProductAttention → permute
/// (see `Composite.jointAttention`) without their copies: q, k, v are written once into
/// per-(batch, head) buffers, each pair's scores and outputs are sgemms with the outputs written
/// straight into the merged-head layout, and backward writes the gradient of every stream's
/// projection in one pass (plus per-thread partial sums for the norm weights).
public func jointAttention(_ streams: [JointAttentionStream], heads: Int, eps: Float = 1e-6, cos: Tensor, sin: Tensor,
                           mask: Tensor? = nil, scale: Float? = nil) -> [Tensor] {
    ensure(!streams.isEmpty && streams.contains(where: \.queries), "jointAttention: needs at least one stream with queries")
    ensure(heads >= 1, "jointAttention: heads must be ≥ 1, got \(heads)")
    let dh = streams[0].kNorm.count
    let width = heads * dh
    let b = streams[0].qkv.shape.first ?? 0
    for (s, st) in streams.enumerated() {
        let parts = st.queries ? 3 : 2
        ensure(st.kNorm.shape == [dh] && dh >= 1, "jointAttention: stream \(s) key norm weight \(st.kNorm.shape), expected [\(dh)]")
        ensure(st.qkv.rank == 3 && st.qkv.shape[0] == b && st.qkv.shape[1] >= 1 && st.qkv.shape[2] == parts * width,
               "jointAttention: stream \(s) projection must be [\(b), T ≥ 1, \(parts)·\(heads)·\(dh)], got \(st.qkv.shape)")
        if st.queries {
            ensure(st.qNorm?.shape == [dh], "jointAttention: stream \(s) needs a query norm weight [\(dh)], got \(st.qNorm?.shape ?? [])")
        }
    }
    let lengths = streams.map { $0.qkv.shape[1] }
    var keyOffsets: [Int] = [], queryOffsets: [Int] = []
    var tk = 0, tq = 0
    for (s, st) in streams.enumerated() {
        keyOffsets.append(tk)
        queryOffsets.append(tq)
        tk += lengths[s]
        if st.queries { tq += lengths[s] }
    }
    let half = cos.rank == 2 ? cos.shape[1] : 0
    ensure(cos.shape == sin.shape && cos.rank == 2 && cos.shape[0] == tk && 2 * half <= dh,
           "jointAttention: rotary tables \(cos.shape)/\(sin.shape) must be [\(tk), R/2] with R ≤ \(dh)")
    let scoresShape = [b, heads, tq, tk]
    if let mask {
        ensure(!mask.requiresGrad, "jointAttention: the mask must not require a gradient")
        ensure(mask.rank <= 4 && broadcastShapes(mask.shape, scoresShape) == scoresShape,
               "jointAttention: mask \(mask.shape) does not broadcast to the scores' shape \(scoresShape)")
    }
    let alpha = scale ?? 1 / Float(dh).squareRoot()
    let sources = streams.map { $0.qkv.contiguousNoGrad() }
    let qWeights = streams.map { $0.queries ? $0.qNorm!.contiguousNoGrad() : nil }
    let kWeights = streams.map { $0.kNorm.contiguousNoGrad() }
    let cosC = cos.contiguousNoGrad(), sinC = sin.contiguousNoGrad()
    let qBuf = Tensor.empty([b, heads, tq, dh]), kBuf = Tensor.empty([b, heads, tk, dh]), vBuf = Tensor.empty([b, heads, tk, dh])
    let qStd = Tensor.empty([b, heads, Swift.max(tq, 1)]), kStd = Tensor.empty([b, heads, tk])
    let probs = Tensor.empty(scoresShape)
    let outputs = streams.indices.filter { streams[$0].queries }.map { Tensor.empty([b, lengths[$0], width]) }

    // Raw pointers and geometry shared by the passes (the closures capture plain values).
    let geo = JointGeometry(lengths: lengths, queries: streams.map(\.queries), keyOffsets: keyOffsets, queryOffsets: queryOffsets,
                            batch: b, heads: heads, headDim: dh, half: half, tq: tq, tk: tk, eps: eps)
    let src = sources.map(\.data), qw = qWeights.map { $0?.data }, kw = kWeights.map(\.data)
    let pc = cosC.data, ps = sinC.data
    let pq = qBuf.data, pk = kBuf.data, pv = vBuf.data, prq = qStd.data, prk = kStd.data

    // Pass 1: per joint token, RMS-norm + rotate q and k of every head, copy v.
    parallelRanges(b * tk, minPerThread: 32) { lo, hi in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dh) { tmp in
            let y = tmp.baseAddress!
            for row in lo..<hi {
                let bi = row / tk, j = row % tk
                let s = geo.stream(ofKey: j), t = j &- keyOffsets[s]
                let parts = geo.queries[s] ? 3 : 2
                let x = src[s] + (bi &* lengths[s] &+ t) &* parts &* width
                let c = pc + j &* half, sn = ps + j &* half
                for h in 0..<heads {
                    var part = 0
                    if geo.queries[s] {
                        let qi = queryOffsets[s] &+ t
                        let slot = (bi &* heads &+ h) &* tq &+ qi
                        prq[slot] = normRotate(x + h &* dh, qw[s]!, y, pq + slot &* dh, c, sn, geo)
                        part = 1
                    }
                    let slot = (bi &* heads &+ h) &* tk &+ j
                    prk[slot] = normRotate(x + (part &* width &+ h &* dh), kw[s], y, pk + slot &* dh, c, sn, geo)
                    (pv + slot &* dh).update(from: x + ((part &+ 1) &* width &+ h &* dh), count: dh)
                }
            }
        }
    }

    // Pass 2: per (batch, head) pair, scores, softmax, and P·V into the merged-head outputs.
    let maskFull: Tensor? = mask.map { m in noGrad { m.expand(scoresShape) } }
    let maskOffsets = maskFull.map { batchOffsets($0, [b, heads]) } ?? []
    let maskRowStride = maskFull?.strides[2] ?? 0, maskColStride = maskFull?.strides[3] ?? 0
    let maskBase = maskFull?.storage.pointer
    let pp = probs.data
    let outPointers = outputs.map(\.data)
    let queryStreams = streams.indices.filter { streams[$0].queries }
    parallelBLAS(b * heads) { i in
        let bi = i / heads, h = i % heads
        let p = pp + i &* tq &* tk
        sgemm(transA: false, transB: true, m: tq, n: tk, k: dh, alpha: alpha,
              a: pq + i &* tq &* dh, lda: dh, b: pk + i &* tk &* dh, ldb: dh, beta: 0, c: p, ldc: tk)
        for row in 0..<tq {
            let pr = p + row &* tk
            if let maskBase {
                let m = maskBase + (maskOffsets[i] &+ row &* maskRowStride)
                for j in 0..<tk { pr[j] += m[j &* maskColStride] }
            }
            rowSoftmaxInPlace(pr, tk)
        }
        for (o, s) in queryStreams.enumerated() {
            sgemm(transA: false, transB: false, m: lengths[s], n: dh, k: tk,
                  a: p + queryOffsets[s] &* tk, lda: tk, b: pv + i &* tk &* dh, ldb: dh, beta: 0,
                  c: outPointers[o] + (bi &* lengths[s] &* width &+ h &* dh), ldc: width)
        }
    }
    withExtendedLifetime(maskFull) {}

    var inputs: [Tensor] = []
    for st in streams {
        inputs.append(st.qkv)
        if st.queries { inputs.append(st.qNorm!) }
        inputs.append(st.kNorm)
    }
    return recordOp("joint_attention", inputs: inputs, outputs: outputs) { gs in
        let grads = gs.enumerated().map { o, g in (g ?? Tensor.zeros(outputs[o].shape)).contiguousNoGrad() }
        let pg = grads.map(\.data)
        let dq = Tensor.empty([b, heads, tq, dh]), dk = Tensor.empty([b, heads, tk, dh]), dv = Tensor.empty([b, heads, tk, dh])
        let ds = Tensor.empty(scoresShape)
        let pdq = dq.data, pdk = dk.data, pdv = dv.data, pds = ds.data
        // Per pair: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(dP∘P)), dQ = s·dS·K, dK = s·dSᵀ·Q
        // (q, k in their normed and rotated form).
        parallelBLAS(b * heads) { i in
            let bi = i / heads, h = i % heads
            let p = pp + i &* tq &* tk, sc = pds + i &* tq &* tk
            for (o, s) in queryStreams.enumerated() {
                let go = pg[o] + (bi &* lengths[s] &* width &+ h &* dh)
                sgemm(transA: true, transB: false, m: tk, n: dh, k: lengths[s],
                      a: p + queryOffsets[s] &* tk, lda: tk, b: go, ldb: width, beta: o == 0 ? 0 : 1,
                      c: pdv + i &* tk &* dh, ldc: dh)
                sgemm(transA: false, transB: true, m: lengths[s], n: tk, k: dh,
                      a: go, lda: width, b: pv + i &* tk &* dh, ldb: dh, beta: 0, c: sc + queryOffsets[s] &* tk, ldc: tk)
            }
            for row in 0..<tq {
                let sr = sc + row &* tk, pr = p + row &* tk
                let dot = F8(repeating: rowDot(sr, pr, tk))
                var j = 0
                while j &+ 8 <= tk { let pv8 = load8(pr + j); store8(pv8 * (load8(sr + j) - dot), sr + j); j &+= 8 }
                while j < tk { sr[j] = pr[j] * (sr[j] - dot[0]); j &+= 1 }
            }
            sgemm(transA: false, transB: false, m: tq, n: dh, k: tk, alpha: alpha,
                  a: sc, lda: tk, b: pk + i &* tk &* dh, ldb: dh, beta: 0, c: pdq + i &* tq &* dh, ldc: dh)
            sgemm(transA: true, transB: false, m: tk, n: dh, k: tq, alpha: alpha,
                  a: sc, lda: tk, b: pq + i &* tq &* dh, ldb: dh, beta: 0, c: pdk + i &* tk &* dh, ldc: dh)
        }

        // Per joint token: un-rotate, RMS-norm backward into the projection's gradient; the norm
        // weights' gradients as per-chunk partials [chunk, stream, q|k, Dh].
        let dProj = streams.map { $0.qkv.requiresGrad ? Tensor.empty($0.qkv.shape) : nil }
        let pdProj = dProj.map { $0?.data }
        let rows = b * tk
        let chunks = Swift.max(1, Swift.min(EngineContext.current.threads, rows / 32))
        let nS = streams.count
        let partials = Tensor.zeros([chunks, nS, 2, dh])
        let ppart = partials.data
        concurrentChunks(chunks) { c in
            let lo = rows &* c / chunks, hi = rows &* (c &+ 1) / chunks
            withUnsafeTemporaryAllocation(of: Float.self, capacity: dh) { tmp in
                let gy = tmp.baseAddress!
                for row in lo..<hi {
                    let bi = row / tk, j = row % tk
                    let s = geo.stream(ofKey: j), t = j &- keyOffsets[s]
                    let parts = geo.queries[s] ? 3 : 2
                    let tokenOffset = (bi &* lengths[s] &+ t) &* parts &* width
                    let x = src[s] + tokenOffset
                    let dx = pdProj[s].map { $0 + tokenOffset }
                    let c0 = pc + j &* half, s0 = ps + j &* half
                    let acc = ppart + (c &* nS &+ s) &* 2 &* dh
                    for h in 0..<heads {
                        var part = 0
                        if geo.queries[s] {
                            let slot = (bi &* heads &+ h) &* tq &+ queryOffsets[s] &+ t
                            normRotateBackward(pdq + slot &* dh, x + h &* dh, prq[slot], qw[s]!, gy, dx.map { $0 + h &* dh },
                                               acc, c0, s0, geo)
                            part = 1
                        }
                        let slot = (bi &* heads &+ h) &* tk &+ j
                        normRotateBackward(pdk + slot &* dh, x + (part &* width &+ h &* dh), prk[slot], kw[s], gy,
                                           dx.map { $0 + (part &* width &+ h &* dh) }, acc + dh, c0, s0, geo)
                        if let dx { (dx + ((part &+ 1) &* width &+ h &* dh)).update(from: pdv + slot &* dh, count: dh) }
                    }
                }
            }
        }
        var result: [Tensor?] = []
        for (s, st) in streams.enumerated() {
            func weightGrad(_ which: Int) -> Tensor {
                let out = Tensor.zeros([dh])
                let o = out.data
                for c in 0..<chunks {
                    let p = ppart + ((c &* nS &+ s) &* 2 &+ which) &* dh
                    for i in 0..<dh { o[i] += p[i] }
                }
                return out
            }
            result.append(dProj[s])
            if st.queries { result.append(st.qNorm!.requiresGrad ? weightGrad(0) : nil) }
            result.append(st.kNorm.requiresGrad ? weightGrad(1) : nil)
        }
        withExtendedLifetime((sources, qWeights, kWeights, cosC, sinC, qBuf, kBuf, vBuf, qStd, kStd, probs)) {}
        return result
    }
}

/// Stream layout of a joint attention, shared by its passes.
private struct JointGeometry {
    let lengths: [Int]
    let queries: [Bool]
    let keyOffsets: [Int]
    let queryOffsets: [Int]
    let batch: Int, heads: Int, headDim: Int, half: Int, tq: Int, tk: Int
    let eps: Float

    /// The stream holding joint token j.
    @inline(__always) func stream(ofKey j: Int) -> Int {
        var s = keyOffsets.count &- 1
        while keyOffsets[s] > j { s &-= 1 }
        return s
    }
}

/// y = rotate(x · rstd · w) for one head vector (Dh numbers), written to `dst`; `y` is scratch.
/// Returns rstd = 1/√(mean x² + eps). The arithmetic of rmsNorm then applyRotary.
@inline(__always)
private func normRotate(_ x: UnsafeMutablePointer<Float>, _ w: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        _ dst: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ sn: UnsafeMutablePointer<Float>,
                        _ geo: JointGeometry) -> Float {
    let n = geo.headDim, half = geo.half
    let rstd = 1 / (rowDot(x, x, n) * (1 / Float(n)) + geo.eps).squareRoot()
    let s8 = F8(repeating: rstd)
    var i = 0
    while i &+ 8 <= n { store8(load8(x + i) * s8 * load8(w + i), y + i); i &+= 8 }
    while i < n { y[i] = x[i] * rstd * w[i]; i &+= 1 }
    i = 0
    while i < half {
        let a = y[i], bb = y[i &+ half]
        dst[i] = a * c[i] - bb * sn[i]
        dst[i &+ half] = bb * c[i] + a * sn[i]
        i &+= 1
    }
    i = 2 &* half
    while i < n { dst[i] = y[i]; i &+= 1 }
    return rstd
}

/// Backward of `normRotate` for one head vector: g (gradient of the rotated output) is rotated
/// back into `gy`, then dx = rstd·(gy·w − x̂·mean(gy·w·x̂)) with x̂ = x·rstd goes to `dx` (when
/// given) and Σ gy·x̂ is added to `dw`.
@inline(__always)
private func normRotateBackward(_ g: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ rstd: Float,
                                _ w: UnsafeMutablePointer<Float>, _ gy: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                                _ dw: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ sn: UnsafeMutablePointer<Float>,
                                _ geo: JointGeometry) {
    let n = geo.headDim, half = geo.half
    var i = 0
    while i < half {
        let a = g[i], bb = g[i &+ half]
        gy[i] = a * c[i] + bb * sn[i]
        gy[i &+ half] = bb * c[i] - a * sn[i]
        i &+= 1
    }
    i = 2 &* half
    while i < n { gy[i] = g[i]; i &+= 1 }
    let s8 = F8(repeating: rstd)
    var a8 = F8()
    i = 0
    while i &+ 8 <= n {
        let gv = load8(gy + i)
        let norm = load8(x + i) * s8
        a8 += gv * load8(w + i) * norm
        store8(load8(dw + i) + gv * norm, dw + i)
        i &+= 8
    }
    var sum = a8.sum()
    while i < n {
        let norm = x[i] * rstd
        sum += gy[i] * w[i] * norm
        dw[i] += gy[i] * norm
        i &+= 1
    }
    guard let dx else { return }
    let c2 = F8(repeating: sum * (1 / Float(n)))
    i = 0
    while i &+ 8 <= n {
        let norm = load8(x + i) * s8
        store8((load8(gy + i) * load8(w + i) - norm * c2) * s8, dx + i)
        i &+= 8
    }
    while i < n {
        let norm = x[i] * rstd
        dx[i] = (gy[i] * w[i] - norm * c2[0]) * rstd
        i &+= 1
    }
}

extension Composite {
    /// jointAttention from primitives: rmsNorm, rotation by slices and products, concat,
    /// the composite attention, permute.
    public static func jointAttention(_ streams: [JointAttentionStream], heads: Int, eps: Float = 1e-6, cos: Tensor, sin: Tensor,
                                      mask: Tensor? = nil, scale: Float? = nil) -> [Tensor] {
        let dh = streams[0].kNorm.count, width = heads * dh, half = cos.shape[1]
        func rotate(_ x: Tensor, _ c: Tensor, _ s: Tensor) -> Tensor {
            let a = x.slice(dim: 3, start: 0, end: half), bb = x.slice(dim: 3, start: half, end: 2 * half)
            var pieces = [a * c - bb * s, bb * c + a * s]
            if 2 * half < dh { pieces.append(x.slice(dim: 3, start: 2 * half, end: dh)) }
            return Tensor.concat(pieces, dim: 3)
        }
        var qs: [Tensor] = [], ks: [Tensor] = [], vs: [Tensor] = [], qc: [Tensor] = [], qsn: [Tensor] = []
        var offset = 0
        for st in streams {
            let b = st.qkv.shape[0], t = st.qkv.shape[1], parts = st.queries ? 3 : 2
            let all = st.qkv.reshape([b, t, parts, heads, dh]).permute([2, 0, 3, 1, 4])
            func part(_ i: Int) -> Tensor { all.slice(dim: 0, start: i, end: i + 1).squeeze(0) }
            let c = cos.slice(dim: 0, start: offset, end: offset + t), s = sin.slice(dim: 0, start: offset, end: offset + t)
            var p = 0
            if st.queries {
                qs.append(rmsNorm(part(0), weight: st.qNorm!, eps: eps)); qc.append(c); qsn.append(s)
                p = 1
            }
            ks.append(rotate(rmsNorm(part(p), weight: st.kNorm, eps: eps), c, s))
            vs.append(part(p + 1))
            offset += t
        }
        let q = rotate(Tensor.concat(qs, dim: 2), Tensor.concat(qc, dim: 0), Tensor.concat(qsn, dim: 0))
        let o = Composite.scaledDotProductAttention(q, Tensor.concat(ks, dim: 2), Tensor.concat(vs, dim: 2), mask: mask, scale: scale)
        var outs: [Tensor] = []
        var start = 0
        for st in streams where st.queries {
            let t = st.qkv.shape[1]
            outs.append(o.slice(dim: 2, start: start, end: start + t).permute([0, 2, 1, 3]).reshape([st.qkv.shape[0], t, width]))
            start += t
        }
        return outs
    }
}
