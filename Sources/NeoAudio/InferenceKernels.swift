import Foundation
import CBLAS
import NeoTensor

// Forward-only kernels for the frozen Whisper encoder. The encoder never trains (its features
// are cached per clip), so it can skip what the differentiable ops keep for backward: the
// attention probabilities, the GELU input. These are the two places where that matters.

typealias F8 = SIMD8<Float>

// e^x for eight lanes: NeoTensor's `exp8`, the one the differentiable kernels use.

/// erf for eight lanes: Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7.
@inline(__always)
func erf8(_ x: F8) -> F8 {
    let a = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    let t = 1 / (1 + 0.327_591_1 * a)
    var p = F8(repeating: 1.061_405_429)
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    let y = 1 - p * t * exp8(-a * a)
    return y.replacing(with: -y, where: x .< 0)
}

/// Exact-form GELU, x·Φ(x) = ½x(1 + erf(x/√2)), in place over `count` floats (split over the
/// context's threads). Error ≤ 1e-7·|x| from the erf approximation.
func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    let invSqrt2 = F8(repeating: 0.707_106_781_186_547_5)
    parallelRanges(count, minPerThread: 1 << 15) { lo, hi in
        var i = lo
        while i &+ 8 <= hi {
            let v = UnsafeMutableRawPointer(p + i).loadUnaligned(as: F8.self)
            let g = 0.5 * v * (1 + erf8(v * invSqrt2))
            UnsafeMutableRawPointer(p + i).storeBytes(of: g, as: F8.self)
            i &+= 8
        }
        while i < hi {
            let v = p[i]
            p[i] = 0.5 * v * (1 + Foundation.erf(v * 0.707_106_781_186_547_5))
            i &+= 1
        }
    }
}

/// GELU applied in place to a tensor the caller owns (made contiguous first if it is a view).
func geluInPlace(_ t: Tensor) -> Tensor {
    let c = t.isContiguous ? t : t.contiguous()
    geluInPlace(c.data, count: c.count)
    return c
}

/// 2^x for eight lanes (x already in base-2 units): n = round(x), 2^(x−n) by the Taylor series
/// of e^(u), u = (x−n)·ln2, |u| ≤ 0.347, to u⁶ (relative error < 2e-7).
@inline(__always)
func exp2_8(_ x: F8) -> F8 {
    let lo = F8(repeating: -126), hi = F8(repeating: 127)
    var xc = x.replacing(with: lo, where: x .< lo)
    xc = xc.replacing(with: hi, where: xc .> hi)
    let shifter = F8(repeating: 12_582_912)
    let t = xc + shifter
    let u = (xc - (t - shifter)) * 0.693_147_180_559_945_3
    var p = F8(repeating: 1.0 / 720)
    p = p * u + 1.0 / 120
    p = p * u + 1.0 / 24
    p = p * u + 1.0 / 6
    p = p * u + 0.5
    p = p * u + 1
    p = p * u + 1
    let integer = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((integer &+ 127) &<< 23, to: F8.self)
}

/// Unnormalised softmax of a row of base-2 logits, in place: p_j = 2^(s_j − max); returns Σ p_j.
@inline(__always)
func exp2RowInPlace(_ row: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    let raw = UnsafeMutableRawPointer(row)
    var m8 = F8(repeating: -.infinity)
    var j = 0
    while j &+ 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: j &* 4, as: F8.self)
        m8 = m8.replacing(with: v, where: v .> m8)
        j &+= 8
    }
    var m = m8[0]
    for l in 1..<8 { m = max(m, m8[l]) }
    while j < n { m = max(m, row[j]); j &+= 1 }
    let mv = F8(repeating: m)
    var s8 = F8()
    j = 0
    while j &+ 8 <= n {
        let e = exp2_8(raw.loadUnaligned(fromByteOffset: j &* 4, as: F8.self) - mv)
        raw.storeBytes(of: e, toByteOffset: j &* 4, as: F8.self)
        s8 += e
        j &+= 8
    }
    var s: Float = 0
    for l in 0..<8 { s += s8[l] }
    while j < n { let e = Foundation.exp2(row[j] - m); row[j] = e; s += e; j &+= 1 }
    return s
}

/// Multi-head self-attention over packed projections, forward only: `qkv` is [T, 3d] (q, k, v
/// side by side, heads of width d/heads within each), the result [T, d] with heads merged.
/// Work is split into (head, block of query rows) tasks over the context's threads, each with
/// single-threaded BLAS: S = scale·log2(e)·Q_blk·Kᵀ (one sgemm, a block of rows that stays in
/// cache), P = 2^(S − rowmax) in place, O_blk = P·V written straight into the head's columns,
/// then each output row divided by its Σ P (64 numbers instead of the 1500 of a P row).
func selfAttentionForward(_ qkv: Tensor, heads: Int) -> Tensor {
    let packed = qkv.contiguous()
    let t = packed.shape[0], d = packed.shape[1] / 3, dh = d / heads
    let out = Tensor.empty([t, d])
    let block = 64
    let blocks = (t + block - 1) / block
    let tasks = heads * blocks
    let threads = max(1, min(EngineContext.current.threads, tasks))
    let scale = Float(1.442_695_040_888_963_4 / Double(dh).squareRoot())
    let base = packed.data, o = out.data
    let ld = 3 * d
    // Keys and values of each head gathered into contiguous [T, dh] panels, so BLAS packs them
    // from consecutive memory in every task (rows of the packed buffer are 3d apart).
    let panels = UnsafeMutablePointer<Float>.allocate(capacity: 2 * heads * t * dh)
    defer { panels.deallocate() }
    parallelRanges(t, minPerThread: 256) { lo, hi in
        for r in lo..<hi {
            let row = base + r &* ld
            for h in 0..<heads {
                (panels + (h &* t &+ r) &* dh).update(from: row + (d &+ h &* dh), count: dh)
                (panels + ((heads &+ h) &* t &+ r) &* dh).update(from: row + (2 &* d &+ h &* dh), count: dh)
            }
        }
    }
    // One score buffer per thread.
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: threads * block * (t + 1))
    defer { scratch.deallocate() }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(EngineContext.current.threads)) }
    concurrentChunks(threads) { c in
        let s = scratch + c &* block &* (t &+ 1), sums = s + block &* t
        var task = c
        while task < tasks {
            let h = task / blocks, b = task % blocks
            let r0 = b &* block, rows = min(block, t &- r0)
            let q = base + (r0 &* ld &+ h &* dh), k = panels + h &* t &* dh, v = panels + (heads &+ h) &* t &* dh
            gemm(transA: false, transB: true, m: rows, n: t, k: dh, alpha: scale,
                 a: q, lda: ld, b: k, ldb: dh, beta: 0, c: s, ldc: t)
            for r in 0..<rows { sums[r] = exp2RowInPlace(s + r &* t, t) }
            let oBlock = o + (r0 &* d &+ h &* dh)
            gemm(transA: false, transB: false, m: rows, n: dh, k: t,
                 a: s, lda: t, b: v, ldb: dh, beta: 0, c: oBlock, ldc: d)
            for r in 0..<rows {
                let row = oBlock + r &* d, inv = 1 / sums[r]
                for j in 0..<dh { row[j] *= inv }
            }
            task &+= threads
        }
    }
    return out
}
