import NeoTensor
import XCTest

/// |a − b| / (|b| + floor·max|b|), the largest over the elements: relative error with a floor
/// scaled to the reference's magnitude so values near zero do not dominate.
///
/// Tolerance policy for fused-vs-composite tests: both sides run in Float32 but sum in different
/// orders (BLAS kernels, row reductions) and use different exp/erf implementations, so they
/// differ by rounding; the default bound is 1e-4 on this error with floor 1e-3·max|reference|.
public func scaledRelativeError(_ a: Tensor, _ b: Tensor, floor: Double = 1e-3) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    let x = a.toArray(), y = b.toArray()
    let big = y.reduce(0.0) { max($0, abs(Double($1))) }
    let f = floor * big + 1e-30
    var worst = 0.0
    for i in 0..<x.count { worst = max(worst, abs(Double(x[i]) - Double(y[i])) / (abs(Double(y[i])) + f)) }
    return worst
}

/// Outcome of running a fused op and its composite reference on identical inputs with the
/// same output gradient: errors of the output and of each input's gradient.
public struct FusedComparison: CustomStringConvertible {
    public var forward = 0.0
    public var grads: [Double] = []
    public var worst: Double { max(forward, grads.max() ?? 0) }
    public var description: String {
        "forward \(String(format: "%.2e", forward)), grads [\(grads.map { String(format: "%.2e", $0) }.joined(separator: ", "))]"
    }
}

/// Builds the inputs twice with `make` (fresh leaves, possibly views), runs `fused` and
/// `composite`, back-propagates the same random output gradient through both and compares.
/// Every input built by `make` requires a gradient unless `needsGrad` says otherwise.
public func compareFused(_ make: () -> [Tensor], needsGrad: [Bool]? = nil, seed: UInt64 = 99,
                  _ fused: ([Tensor]) -> Tensor, _ composite: ([Tensor]) -> Tensor) -> FusedComparison {
    func run(_ f: ([Tensor]) -> Tensor) -> (Tensor, [Tensor?]) {
        let xs = make()
        for (i, x) in xs.enumerated() { x.requiresGrad = needsGrad?[i] ?? true; x.grad = nil }
        let tape = Tape()
        let y = tape.record { f(xs) }
        let g = randn(y.shape, seed: seed)
        tape.backward(y, gradient: g)
        return (y, xs.map { $0.grad })
    }
    let (yf, gf) = run(fused)
    let (yc, gc) = run(composite)
    var result = FusedComparison()
    result.forward = scaledRelativeError(yf, yc)
    for i in 0..<gf.count {
        switch (gf[i], gc[i]) {
        case let (a?, b?): result.grads.append(scaledRelativeError(a, b))
        case (nil, nil): result.grads.append(0)
        default: result.grads.append(.infinity)  // one produced a gradient and the other did not
        }
    }
    return result
}

/// The assertions every test target uses the same way (in the manner of tinygrad's
/// `helper_test_op`): gradients against central differences, fused ops against their composite
/// references.
extension XCTestCase {
    /// The op's gradients against central differences (`gradCheck`).
    public func assertGradCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                         _ what: String = "", file: StaticString = #filePath, line: UInt = #line,
                         _ f: ([Tensor]) -> Tensor) {
        let r = gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, f)
        XCTAssertTrue(r.passed, "\(what) \(r)", file: file, line: line)
    }

    /// `assertGradCheck` with the name first: `assertGradCheck("conv2d", [x, w]) { … }`.
    public func assertGradCheck(_ what: String, _ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                                file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
        assertGradCheck(inputs, eps: eps, atol: atol, rtol: rtol, what, file: file, line: line, f)
    }

    /// A fused op against its composite reference, forward and backward (`compareFused`).
    public func assertFused(_ make: () -> [Tensor], needsGrad: [Bool]? = nil, tolerance: Double = 1e-4, _ what: String = "",
                     file: StaticString = #filePath, line: UInt = #line,
                     _ fused: ([Tensor]) -> Tensor, _ composite: ([Tensor]) -> Tensor) {
        let c = compareFused(make, needsGrad: needsGrad, fused, composite)
        XCTAssertLessThanOrEqual(c.worst, tolerance, "\(what): fused vs composite \(c)", file: file, line: line)
    }
}
