import Foundation

// Row-wise SIMD helpers shared by the fused kernels (softmax, norms, attention, losses).
// Each works on one contiguous row of `n` floats; callers split rows over threads.

// Public and inlinable: the optimisers (NeoNN) and the Whisper kernels (NeoAudio) use the same
// eight-lane helpers.
@usableFromInline typealias F8 = SIMD8<Float>

@inlinable @inline(__always) public func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}
@inlinable @inline(__always) public func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}
@inlinable @inline(__always) public func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

// The stdlib's pointwiseMin/Max, clamped(…) and .max() on SIMD8<Float> compile to scalar
// lane loops (they honour NaN ordering rules); compare-and-select compiles to cmpps + blend.
@usableFromInline @inline(__always) func vmax(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: a .< b) }
@usableFromInline @inline(__always) func vmin(_ a: F8, _ b: F8) -> F8 { a.replacing(with: b, where: b .< a) }
@inline(__always) func hmax(_ v: F8) -> Float {
    let a = vmax(F8(lowHalf: v.lowHalf, highHalf: v.lowHalf), F8(lowHalf: v.highHalf, highHalf: v.highHalf))
    return Swift.max(Swift.max(a[0], a[1]), Swift.max(a[2], a[3]))
}

/// e^x for eight lanes: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r (Cephes
/// coefficients, ~1 ulp), and 2^n assembled in the exponent bits. Lanes below −87.3 give 0
/// (so −∞ from a mask gives exactly 0); lanes above 88.3 saturate at e^88.3.
@inlinable @inline(__always) public func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = F8(repeating: -87.3), hi = F8(repeating: 88.3)
    let xc = vmin(vmax(x, lo), hi)
    // Round x·log2(e) to the nearest integer by adding 1.5·2^23: the integer lands in the low
    // mantissa bits, which also gives it as an Int32 without a conversion instruction.
    let magic = F8(repeating: 12_582_912)
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = xc - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-6
    var p = F8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    let ni = unsafeBitCast(t, to: SIMD8<UInt32>.self) &- unsafeBitCast(magic, to: SIMD8<UInt32>.self)
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: F8.self)
    return (p * scale).replacing(with: 0, where: x .< lo)
}

/// e^x for one float through the same polynomial as `exp8` (so tails of rows match bodies).
@inline(__always) func exp1(_ x: Float) -> Float { exp8(F8(repeating: x))[0] }

/// Largest element of a row (n ≥ 1).
@inline(__always) func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var best = -Float.infinity
    if n >= 8 {
        var m = load8(p)
        i = 8
        while i &+ 8 <= n { m = vmax(m, load8(p + i)); i &+= 8 }
        best = hmax(m)
    }
    while i < n { if p[i] > best { best = p[i] }; i &+= 1 }
    return best
}

/// Σ p[i].
@inline(__always) func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = F8(), a1 = F8()
    var i = 0
    while i &+ 16 <= n { a0 += load8(p + i); a1 += load8(p + (i &+ 8)); i &+= 16 }
    if i &+ 8 <= n { a0 += load8(p + i); i &+= 8 }
    var s = (a0 + a1).sum()
    while i < n { s += p[i]; i &+= 1 }
    return s
}

/// Σ a[i]·b[i].
@inline(__always) func rowDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = F8(), a1 = F8()
    var i = 0
    while i &+ 16 <= n {
        a0 += load8(a + i) * load8(b + i)
        a1 += load8(a + (i &+ 8)) * load8(b + (i &+ 8))
        i &+= 16
    }
    if i &+ 8 <= n { a0 += load8(a + i) * load8(b + i); i &+= 8 }
    var s = (a0 + a1).sum()
    while i < n { s += a[i] * b[i]; i &+= 1 }
    return s
}

/// dst[i] = e^(src[i] − shift); returns Σ dst[i]. dst may equal src.
@inline(__always) func rowExpShift(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) -> Float {
    let s8 = F8(repeating: shift)
    var acc = F8()
    var i = 0
    while i &+ 8 <= n {
        let e = exp8(load8(src + i) - s8)
        store8(e, dst + i)
        acc += e
        i &+= 8
    }
    var s = acc.sum()
    if i < n {
        // The tail as one padded vector (the same polynomial per lane as exp1, one evaluation).
        var x = F8(repeating: 0)
        for j in 0..<(n &- i) { x[j] = src[i &+ j] - shift }
        let e = exp8(x)
        for j in 0..<(n &- i) { dst[i &+ j] = e[j]; s += e[j] }
    }
    return s
}

/// p[i] *= s.
@inline(__always) func rowScale(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ s: Float) {
    let s8 = F8(repeating: s)
    var i = 0
    while i &+ 8 <= n { store8(load8(p + i) * s8, p + i); i &+= 8 }
    while i < n { p[i] *= s; i &+= 1 }
}

/// Softmax of one row in place (a row of all −∞ becomes all zeros rather than NaN).
@inline(__always) func rowSoftmaxInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = rowMax(p, n)
    if m == -.infinity { p.update(repeating: 0, count: n); return }
    let s = rowExpShift(p, p, n, m)
    rowScale(p, n, 1 / s)
}

/// Rows per thread chunk so that each chunk has at least ~16k elements of work.
@inline(__always) func rowsPerChunk(_ rowLength: Int) -> Int { Swift.max(1, (1 << 14) / Swift.max(rowLength, 1)) }

/// Reference implementations of the fused ops built only from primitive differentiable ops
/// (elementwise, reductions, matmul, views). Slower and hungrier than the fused kernels; the
/// tests use them to check the fused forward and backward passes.
public enum Composite {}
