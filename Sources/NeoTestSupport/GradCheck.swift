import Foundation
import NeoTensor

/// Result of comparing analytic gradients with central finite differences.
public struct GradCheckReport: CustomStringConvertible {
    public var worst: Double = 0
    public var worstInput = -1
    public var worstIndex = -1
    public var analytic: Double = 0
    public var numeric: Double = 0
    public var passed = true
    public var description: String {
        "gradcheck \(passed ? "passed" : "FAILED"): worst excess \(worst) at input \(worstInput)[\(worstIndex)] analytic \(analytic) numeric \(numeric)"
    }
}

/// Checks d/dx of sum(f(x) · w) for a fixed random w against central differences.
/// Loss values are accumulated in Double; inputs are perturbed in Float32 by ±eps.
/// An element passes when |analytic − numeric| ≤ atol + rtol·|numeric|.
public func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                      seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> GradCheckReport {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let probe = noGrad { f(inputs) }
    let w = Tensor.normal(probe.shape, generator: Generator(seed: seed))
    let wv = w.toArray().map(Double.init)
    func lossValue() -> Double {
        let y = noGrad { f(inputs) }.toArray()
        var acc = 0.0
        for i in 0..<y.count { acc += Double(y[i]) * wv[i] }
        return acc
    }
    let tape = Tape()
    let y = tape.record { f(inputs) }
    tape.backward(y, gradient: w)
    var report = GradCheckReport()
    for (xi, x) in inputs.enumerated() {
        let g = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        // Perturb through the storage of the (possibly strided) view, element by element.
        let n = x.count
        let shape = x.shape, strides = x.strides
        for i in 0..<n {
            var rem = i, off = x.offset
            for d in stride(from: shape.count - 1, through: 0, by: -1) { off += (rem % shape[d]) * strides[d]; rem /= shape[d] }
            let p = x.storage.pointer + off
            let orig = p.pointee
            p.pointee = orig + eps
            let up = lossValue()
            p.pointee = orig - eps
            let down = lossValue()
            p.pointee = orig
            let numeric = (up - down) / (2 * Double(eps))
            let analytic = Double(g[i])
            let excess = abs(analytic - numeric) - (atol + rtol * abs(numeric))
            if excess > report.worst || report.worstInput < 0 {
                if excess > report.worst || report.worstInput < 0 {
                    report.worst = excess; report.worstInput = xi; report.worstIndex = i
                    report.analytic = analytic; report.numeric = numeric
                }
            }
            if excess > 0 { report.passed = false }
        }
    }
    return report
}

/// Largest |a − b| / (|b| + floor) over two equally shaped tensors.
public func maxRelativeError(_ a: Tensor, _ b: Tensor, floor: Double = 1e-6) -> Double {
    precondition(a.shape == b.shape, "maxRelativeError: shapes \(a.shape) vs \(b.shape)")
    let x = a.toArray(), y = b.toArray()
    var worst = 0.0
    for i in 0..<x.count { worst = max(worst, abs(Double(x[i]) - Double(y[i])) / (abs(Double(y[i])) + floor)) }
    return worst
}

/// Largest |a − b| over two equally shaped tensors.
public func maxAbsoluteError(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "maxAbsoluteError: shapes \(a.shape) vs \(b.shape)")
    let x = a.toArray(), y = b.toArray()
    var worst = 0.0
    for i in 0..<x.count { worst = max(worst, abs(Double(x[i]) - Double(y[i]))) }
    return worst
}

/// A tensor of N(0,1) values with the given shape, from a fixed seed.
public func randn(_ shape: [Int], seed: UInt64) -> Tensor { Tensor.normal(shape, generator: Generator(seed: seed)) }
