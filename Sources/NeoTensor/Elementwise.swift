import Foundation

// MARK: Kernels (outside autodiff)

/// out[i] = f(a[i], b[i]) with NumPy broadcasting; the result is contiguous.
@inline(__always)
func binaryMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let shape = a.shape == b.shape ? a.shape : broadcastShapes(a.shape, b.shape)
    let out = Tensor.empty(shape)
    let n = out.count
    if n == 0 { return out }
    let o = out.data
    let pa = a.storage.pointer, pb = b.storage.pointer
    if a.shape == shape && b.shape == shape && a.isContiguous && b.isContiguous {
        let x = a.data, y = b.data
        parallelRanges(n) { lo, hi in for i in lo..<hi { o[i] = f(x[i], y[i]) } }
        return out
    }
    let sa = broadcastStrides(a, to: shape), sb = broadcastStrides(b, to: shape)
    let so = Tensor.contiguousStrides(shape)
    let ba = a.offset, bb = b.offset
    forEachRow(shape, [sa, sb, so]) { offs, len, istr in
        let x = pa + (ba &+ offs[0]), y = pb + (bb &+ offs[1]), z = o + offs[2]
        let xs = istr[0], ys = istr[1]
        if xs == 1 && ys == 1 {
            for i in 0..<len { z[i] = f(x[i], y[i]) }
        } else if xs == 1 && ys == 0 {
            let yv = y[0]
            for i in 0..<len { z[i] = f(x[i], yv) }
        } else if xs == 0 && ys == 1 {
            let xv = x[0]
            for i in 0..<len { z[i] = f(xv, y[i]) }
        } else {
            for i in 0..<len { z[i] = f(x[i &* xs], y[i &* ys]) }
        }
    }
    return out
}

/// out[i] = f(x[i]); the result is contiguous.
@inline(__always)
func unaryMap(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let src = x.contiguousNoGrad()
    let out = Tensor.empty(x.shape)
    let n = out.count
    let o = out.data, p = src.data
    parallelRanges(n) { lo, hi in for i in lo..<hi { o[i] = f(p[i]) } }
    return out
}

func addNoGrad(_ a: Tensor, _ b: Tensor) -> Tensor { binaryMap(a, b, +) }

/// a += b in place (a contiguous, same shape; b any layout).
func addInPlace(_ a: Tensor, _ b: Tensor) {
    ensure(a.shape == b.shape && a.isContiguous, "addInPlace: shapes \(a.shape) and \(b.shape)")
    let n = a.count
    let o = a.data
    if b.isContiguous {
        let p = b.data
        for i in 0..<n { o[i] += p[i] }
    } else {
        let c = b.contiguousNoGrad()
        let p = c.data
        for i in 0..<n { o[i] += p[i] }
    }
}

// MARK: Differentiable binary ops

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryMap(a, b, +)
        return recordOp("add", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? sumToShape(g, a.shape) : nil, b.requiresGrad ? sumToShape(g, b.shape) : nil]
        }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryMap(a, b, -)
        return recordOp("sub", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? sumToShape(g, a.shape) : nil, b.requiresGrad ? sumToShape(-g, b.shape) : nil]
        }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryMap(a, b, *)
        return recordOp("mul", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? sumToShape(g * b, a.shape) : nil, b.requiresGrad ? sumToShape(g * a, b.shape) : nil]
        }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = binaryMap(a, b, /)
        return recordOp("div", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? sumToShape(g / b, a.shape) : nil,
             b.requiresGrad ? sumToShape(-(g * out) / b, b.shape) : nil]
        }
    }
    public static prefix func - (a: Tensor) -> Tensor { a.affine(scale: -1, shift: 0) }

    public static func + (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func + (s: Float, a: Tensor) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: -s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.affine(scale: -1, shift: s) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1 / s, shift: 0) }
    public static func / (s: Float, a: Tensor) -> Tensor { Tensor.scalar(s) / a }

    /// Elementwise a^b with broadcasting (a > 0 where b is not an integer).
    public func pow(_ e: Tensor) -> Tensor {
        let a = self
        let out = binaryMap(a, e) { Foundation.pow($0, $1) }
        return recordOp("pow", inputs: [a, e], output: out) { g in
            [a.requiresGrad ? sumToShape(g * e * a.pow(e - 1), a.shape) : nil,
             e.requiresGrad ? sumToShape(g * out * a.log(), e.shape) : nil]
        }
    }
    /// Elementwise maximum; on ties the gradient is split evenly.
    public func maximum(_ b: Tensor) -> Tensor {
        let a = self
        let out = binaryMap(a, b) { Swift.max($0, $1) }
        return recordOp("maximum", inputs: [a, b], output: out) { g in
            let wa = binaryMap(a, b) { $0 > $1 ? 1 : ($0 == $1 ? 0.5 : 0) }
            return [a.requiresGrad ? sumToShape(g * wa, a.shape) : nil,
                    b.requiresGrad ? sumToShape(g * (1 - wa), b.shape) : nil]
        }
    }
    /// Elementwise minimum; on ties the gradient is split evenly.
    public func minimum(_ b: Tensor) -> Tensor {
        let a = self
        let out = binaryMap(a, b) { Swift.min($0, $1) }
        return recordOp("minimum", inputs: [a, b], output: out) { g in
            let wa = binaryMap(a, b) { $0 < $1 ? 1 : ($0 == $1 ? 0.5 : 0) }
            return [a.requiresGrad ? sumToShape(g * wa, a.shape) : nil,
                    b.requiresGrad ? sumToShape(g * (1 - wa), b.shape) : nil]
        }
    }

    // Comparisons give 1 or 0 and carry no gradient (like PyTorch's boolean results).
    public func eq(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 == $1 ? 1 : 0 } }
    public func ne(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 != $1 ? 1 : 0 } }
    public func lt(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 < $1 ? 1 : 0 } }
    public func le(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 <= $1 ? 1 : 0 } }
    public func gt(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 > $1 ? 1 : 0 } }
    public func ge(_ b: Tensor) -> Tensor { binaryMap(self, b) { $0 >= $1 ? 1 : 0 } }
    public func gt(_ s: Float) -> Tensor { unaryMap(self) { $0 > s ? 1 : 0 } }
    public func lt(_ s: Float) -> Tensor { unaryMap(self) { $0 < s ? 1 : 0 } }

    /// cond ≠ 0 ? a : b, with broadcasting over all three.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape))
        let c = cond.expand(shape).contiguousNoGrad()
        let aa = a.expand(shape).contiguousNoGrad(), bb = b.expand(shape).contiguousNoGrad()
        let out = Tensor.empty(shape)
        let n = out.count
        let pc = c.data, pa = aa.data, pb = bb.data, po = out.data
        for i in 0..<n { po[i] = pc[i] != 0 ? pa[i] : pb[i] }
        return recordOp("where", inputs: [cond, a, b], output: out) { g in
            let mask = unaryMap(c) { $0 != 0 ? 1 : 0 }
            return [nil,
                    a.requiresGrad ? sumToShape(g * mask, a.shape) : nil,
                    b.requiresGrad ? sumToShape(g * (1 - mask), b.shape) : nil]
        }
    }
}

// MARK: Differentiable unary ops

extension Tensor {
    /// x·scale + shift.
    public func affine(scale: Float, shift: Float) -> Tensor {
        let out = unaryMap(self) { $0 * scale + shift }
        return recordOp("affine", inputs: [self], output: out) { g in [g.affine(scale: scale, shift: 0)] }
    }
    public func exp() -> Tensor {
        let out = unaryMap(self) { Foundation.exp($0) }
        return recordOp("exp", inputs: [self], output: out) { g in [g * out] }
    }
    public func log() -> Tensor {
        let x = self
        let out = unaryMap(x) { Foundation.log($0) }
        return recordOp("log", inputs: [x], output: out) { g in [g / x] }
    }
    public func sqrt() -> Tensor {
        let out = unaryMap(self) { $0.squareRoot() }
        return recordOp("sqrt", inputs: [self], output: out) { g in [g / (out * 2)] }
    }
    public func rsqrt() -> Tensor {
        let out = unaryMap(self) { 1 / $0.squareRoot() }
        // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 out^3
        return recordOp("rsqrt", inputs: [self], output: out) { g in [g * out * out * out * -0.5] }
    }
    public func tanh() -> Tensor {
        let out = unaryMap(self) { Foundation.tanh($0) }
        return recordOp("tanh", inputs: [self], output: out) { g in [g * (1 - out * out)] }
    }
    public func sigmoid() -> Tensor {
        let out = unaryMap(self) { x in x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }
        return recordOp("sigmoid", inputs: [self], output: out) { g in [g * out * (1 - out)] }
    }
    public func sin() -> Tensor {
        let x = self
        let out = unaryMap(x) { Foundation.sin($0) }
        return recordOp("sin", inputs: [x], output: out) { g in [g * x.cos()] }
    }
    public func cos() -> Tensor {
        let x = self
        let out = unaryMap(x) { Foundation.cos($0) }
        return recordOp("cos", inputs: [x], output: out) { g in [-(g * x.sin())] }
    }
    /// |x|; the gradient at 0 is 0 (as in PyTorch).
    public func abs() -> Tensor {
        let x = self
        let out = unaryMap(x) { Swift.abs($0) }
        return recordOp("abs", inputs: [x], output: out) { g in [g * unaryMap(x) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }] }
    }
    public func square() -> Tensor {
        let x = self
        let out = unaryMap(x) { $0 * $0 }
        return recordOp("square", inputs: [x], output: out) { g in [g * x * 2] }
    }
    public func relu() -> Tensor {
        let x = self
        let out = unaryMap(x) { Swift.max($0, 0) }
        return recordOp("relu", inputs: [x], output: out) { g in [g * unaryMap(x) { $0 > 0 ? 1 : 0 }] }
    }
    /// x^p for a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        let x = self
        let out = unaryMap(x) { Foundation.pow($0, p) }
        return recordOp("pow_scalar", inputs: [x], output: out) { g in [g * x.pow(p - 1) * p] }
    }
    /// Clamps into [min, max]; the gradient passes where the input is inside (bounds included).
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        let x = self
        let out = unaryMap(x) { Swift.min(Swift.max($0, lo), hi) }
        return recordOp("clamp", inputs: [x], output: out) { g in [g * unaryMap(x) { $0 >= lo && $0 <= hi ? 1 : 0 }] }
    }
    /// Rounds to the nearest integer. Has no gradient: recording it on an input that needs one traps.
    public func round() -> Tensor {
        recordOp("round", inputs: [self], output: unaryMap(self) { $0.rounded() }, backward: nil)
    }
    /// Rounds down. Has no gradient: recording it on an input that needs one traps.
    public func floor() -> Tensor {
        recordOp("floor", inputs: [self], output: unaryMap(self) { $0.rounded(.down) }, backward: nil)
    }
}
