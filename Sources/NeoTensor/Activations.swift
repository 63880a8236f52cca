import Foundation

private let sqrtHalf: Float = 0.707_106_781_186_547_5      // 1/√2
private let invSqrt2Pi: Float = 0.398_942_280_401_432_7    // 1/√(2π)
private let sqrt2OverPi: Float = 0.797_884_560_802_865_4   // √(2/π)
private let geluCubic: Float = 0.044_715

/// Applies `f` lane-wise to a contiguous copy of `x` (8 lanes at a time, the tail padded).
@inline(__always)
private func map8(_ x: Tensor, _ f: (F8) -> F8) -> Tensor {
    let src = x.contiguousNoGrad()
    let out = Tensor.empty(x.shape)
    let n = out.count
    let ps = src.data, po = out.data
    parallelRanges(n, minPerThread: 1 << 15) { lo, hi in
        var i = lo
        while i &+ 8 <= hi { store8(f(load8(ps + i)), po + i); i &+= 8 }
        if i < hi {
            var v = F8()
            for j in 0..<(hi &- i) { v[j] = ps[i &+ j] }
            let r = f(v)
            for j in 0..<(hi &- i) { po[i &+ j] = r[j] }
        }
    }
    return out
}

/// g ∘ f'(x) lane-wise over contiguous copies of g and x.
@inline(__always)
private func mapGrad8(_ g: Tensor, _ x: Tensor, _ f: (F8, F8) -> F8) -> Tensor {
    let gc = g.contiguousNoGrad(), xc = x.contiguousNoGrad()
    let out = Tensor.empty(x.shape)
    let n = out.count
    let pg = gc.data, px = xc.data, po = out.data
    parallelRanges(n, minPerThread: 1 << 15) { lo, hi in
        var i = lo
        while i &+ 8 <= hi { store8(f(load8(pg + i), load8(px + i)), po + i); i &+= 8 }
        if i < hi {
            var gv = F8(), xv = F8()
            for j in 0..<(hi &- i) { gv[j] = pg[i &+ j]; xv[j] = px[i &+ j] }
            let r = f(gv, xv)
            for j in 0..<(hi &- i) { po[i &+ j] = r[j] }
        }
    }
    return out
}

/// The standard normal CDF Φ(x) = ½·erfc(−x/√2) for eight lanes, with z = x/√2:
/// |z| ≤ 1: ½ + ½·z·P(z²), P a degree-6 fit of erf(z)/z (relative error 5e-9);
/// |z| > 1: the tail ½·erfc(|z|) = ½·e^(−z²)·R(t), t = 1/(1 + |z|/2), R a degree-8 fit of
/// erfc(z)·e^(z²) on [1, 9.5] (relative error 2e-8), and Φ = tail or 1 − tail by the sign.
/// Fitted by weighted least squares against double-precision erfc. In Float32 the result is
/// within 3e-6 relative for x ≥ −7 and 2e-5 down to the underflow near x = −13 (where
/// 1 + erf(x/√2) would have lost every digit).
@inline(__always) func normalCDF8(_ x: F8) -> F8 {
    let z = x * sqrtHalf
    let a = unsafeBitCast(unsafeBitCast(z, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    let z2 = z * z
    var ps = F8(repeating: 8.006_266_462_164_124e-05)
    ps = ps * z2 - 8.053_592_217_628_636e-04
    ps = ps * z2 + 5.192_942_539_045_925e-03
    ps = ps * z2 - 2.685_606_290_770_430e-02
    ps = ps * z2 + 1.128_363_450_826_604e-01
    ps = ps * z2 - 3.761_262_975_908_648e-01
    ps = ps * z2 + 1.128_379_166_232_253
    let central = 0.5 + 0.5 * z * ps
    let t = 1 / (1 + 0.5 * a)
    var pl = F8(repeating: 8.507_613_674_319_209e-02)
    pl = pl * t - 1.977_507_686_140_468e-01
    pl = pl * t + 4.139_115_154_052_405e-02
    pl = pl * t + 9.378_321_926_314_410e-02
    pl = pl * t + 1.629_554_583_088_743e-01
    pl = pl * t + 2.516_870_089_238_575e-01
    pl = pl * t + 2.811_896_961_781_325e-01
    pl = pl * t + 2.821_826_279_911_628e-01
    pl = pl * t - 3.518_260_622_291_109e-06
    let tail = 0.5 * exp8(-z2) * pl
    let outer = tail.replacing(with: 1 - tail, where: z .> 0)
    return central.replacing(with: outer, where: a .> 1)
}

/// GELU (tanh form) of eight lanes: x·σ(2u), u = √(2/π)(x + 0.044715x³).
@inline(__always) func geluTanh8(_ v: F8) -> F8 {
    let u = F8(repeating: sqrt2OverPi) * (v + geluCubic * v * v * v)
    return v / (1 + exp8(-2 * u))
}

/// g · d/dx GELU-tanh(x) = g·(σ(2u) + x · ½(1 − tanh²u) · u'), with ½(1 − tanh²u) = 2σ(2u)σ(−2u).
@inline(__always) func geluTanhGrad8(_ gv: F8, _ v: F8) -> F8 {
    let v2 = v * v
    let u = F8(repeating: sqrt2OverPi) * (v + geluCubic * v2 * v)
    let s = 1 / (1 + exp8(-2 * u))
    let du = F8(repeating: sqrt2OverPi) * (1 + (3 * geluCubic) * v2)
    return gv * (s + v * 2 * s * (1 - s) * du)
}

extension Tensor {
    /// GELU. Exact: x·Φ(x) = ½x(1 + erf(x/√2)). With `approximate`: ½x(1 + tanh(√(2/π)(x + 0.044715x³))),
    /// PyTorch's `approximate="tanh"`. The backward recomputes from the saved input.
    public func gelu(approximate: Bool = false) -> Tensor {
        let x = self
        if approximate {
            // ½(1 + tanh u) = σ(2u): the same value without the cancellation of 1 + tanh u at
            // large negative x, so tiny outputs keep their relative precision. Explicit loops
            // (not map8's closure) so the math inlines into the vector loop.
            let src = x.contiguousNoGrad()
            let out = Tensor.empty(x.shape)
            let ps = src.data, po = out.data
            parallelRanges(out.count, minPerThread: 1 << 15) { lo, hi in
                var i = lo
                while i &+ 8 <= hi { store8(geluTanh8(load8(ps + i)), po + i); i &+= 8 }
                if i < hi {
                    var v = F8()
                    for j in 0..<(hi &- i) { v[j] = ps[i &+ j] }
                    let r = geluTanh8(v)
                    for j in 0..<(hi &- i) { po[i &+ j] = r[j] }
                }
            }
            return recordOp("gelu_tanh", inputs: [x], output: out) { g in
                let gc = g.contiguousNoGrad()
                let dx = Tensor.empty(x.shape)
                let pg = gc.data, pd = dx.data
                parallelRanges(dx.count, minPerThread: 1 << 15) { lo, hi in
                    var i = lo
                    while i &+ 8 <= hi { store8(geluTanhGrad8(load8(pg + i), load8(ps + i)), pd + i); i &+= 8 }
                    if i < hi {
                        var gv = F8(), v = F8()
                        for j in 0..<(hi &- i) { gv[j] = pg[i &+ j]; v[j] = ps[i &+ j] }
                        let r = geluTanhGrad8(gv, v)
                        for j in 0..<(hi &- i) { pd[i &+ j] = r[j] }
                    }
                }
                withExtendedLifetime(src) {}
                return [dx]
            }
        }
        // Φ(x) through its tail for negative x: no cancellation where 1 + erf loses digits.
        let out = map8(x) { v in v * normalCDF8(v) }
        return recordOp("gelu", inputs: [x], output: out) { g in
            // d/dx x·Φ(x) = Φ(x) + x·φ(x)
            [mapGrad8(g, x) { gv, v in
                let cdf = normalCDF8(v)
                let pdf = F8(repeating: invSqrt2Pi) * exp8(-0.5 * v * v)
                return gv * (cdf + v * pdf)
            }]
        }
    }

    /// SiLU (swish): x·σ(x). The backward recomputes σ from the saved input.
    public func silu() -> Tensor {
        let x = self
        let out = map8(x) { v in v / (1 + exp8(-v)) }
        return recordOp("silu", inputs: [x], output: out) { g in
            // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
            [mapGrad8(g, x) { gv, v in
                let s = 1 / (1 + exp8(-v))
                return gv * s * (1 + v * (1 - s))
            }]
        }
    }

    /// The error function erf(x); d/dx = 2/√π · e^(−x²).
    public func erf() -> Tensor {
        let x = self
        let out = unaryMap(x) { Foundation.erf($0) }
        return recordOp("erf", inputs: [x], output: out) { g in
            [g * unaryMap(x) { 1.128_379_167_095_512_6 * Foundation.exp(-$0 * $0) }]
        }
    }
}

extension Composite {
    /// GELU from primitives (erf or tanh, products, sums).
    public static func gelu(_ x: Tensor, approximate: Bool = false) -> Tensor {
        if approximate {
            // ½(1 + tanh u) written as σ(2u), which keeps precision where tanh u ≈ −1.
            let u = (x + x * x * x * geluCubic) * sqrt2OverPi
            return x * (u * 2).sigmoid()
        }
        return x * 0.5 * ((x * sqrtHalf).erf() + 1)
    }
    /// SiLU from primitives: x · sigmoid(x).
    public static func silu(_ x: Tensor) -> Tensor { x * x.sigmoid() }
}
