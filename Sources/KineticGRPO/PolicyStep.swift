import Foundation
import NeoTensor
import Vocal

/// The Gaussian transition x_{k+1} ~ N(μ_k, s_k² I) of one sampling step, as a function of the
/// predicted velocity. The rollout (no tape) and the replay (tape) both call `mean`, so with
/// unchanged weights and the same batch shape the replayed μ equals the recorded one bit for bit.
public enum PolicyStep {
    /// The standard deviation s_k of step t → tNext (0 for a deterministic step).
    public static func std(kind: SDEKind, t: Float, tNext: Float, noiseLevel: Float) -> Float {
        if noiseLevel == 0 { return 0 }
        switch kind {
        case .flow:
            let sigma = sdeSigma(t: t, tNext: tNext, noiseLevel: noiseLevel)
            return Float(Double(sigma) * Swift.abs(Double(tNext) - Double(t)).squareRoot())
        case .cps:
            return Float(Double(tNext) * Foundation.sin(Double(noiseLevel) * Double.pi / 2))
        }
    }

    /// The mean μ_k of step t → tNext at state x with velocity v (differentiable in x and v).
    /// A noise level of 0 is the Euler step itself (`eulerStep`), so a = 0 reproduces the ODE
    /// bit for bit.
    public static func mean(kind: SDEKind, x: Tensor, v: Tensor, t: Float, tNext: Float, noiseLevel: Float) -> Tensor {
        ensure(x.shape == v.shape, "PolicyStep.mean: x \(x.shape) and v \(v.shape) must have the same shape")
        ensure(t > 0 && t <= 1 && tNext >= 0 && tNext < t, "PolicyStep.mean: need 1 ≥ t > tNext ≥ 0, got t = \(t), tNext = \(tNext)")
        if noiseLevel == 0 { return eulerStep(x: x, v: v, t: t, tNext: tNext) }
        let dt = Float(Double(tNext) - Double(t))
        switch kind {
        case .flow:
            // μ = x + [v + σ²/(2t)·(x + (1 − t)·v)]·Δt, the same expression as Vocal's `sdeStep`.
            let sigma = sdeSigma(t: t, tNext: tNext, noiseLevel: noiseLevel)
            let kappa = Float(Double(sigma) * Double(sigma) / (2 * Double(t)))
            return x + (v + (x + v * (1 - t)) * kappa) * dt
        case .cps:
            // x̂₀ = x − t·v, ε̂ = x + (1 − t)·v, μ = (1 − t')·x̂₀ + t'·cos(aπ/2)·ε̂.
            let keep = Float(Double(tNext) * Foundation.cos(Double(noiseLevel) * Double.pi / 2))
            let x0 = x - v * t
            let eps = x + v * (1 - t)
            return x0 * (1 - tNext) + eps * keep
        }
    }

    /// The Euler (ODE) step used outside the SDE window.
    public static func deterministic(x: Tensor, v: Tensor, t: Float, tNext: Float) -> Tensor {
        eulerStep(x: x, v: v, t: t, tNext: tNext)
    }

    /// log ρ per row of a batch `[B, …]`: with d = μ_θ − μ_old,
    /// log ρ = (ξ·d)/s − ‖d‖²/(2 s²), the log-ratio of N(x_{k+1}; μ_θ, s²) to N(x_{k+1}; μ_old, s²)
    /// at x_{k+1} = μ_old + s·ξ, written so that it is exactly 0 when μ_θ = μ_old. Returns `[B]`
    /// (summed over each row's numbers), differentiable in `muTheta`.
    public static func logRatio(muTheta: Tensor, muOld: Tensor, xi: Tensor, s: Float) -> Tensor {
        ensure(muTheta.shape == muOld.shape && xi.shape == muOld.shape && muOld.rank >= 2,
               "PolicyStep.logRatio: μ_θ \(muTheta.shape), μ_old \(muOld.shape) and ξ \(xi.shape) must be equal shapes [B, …]")
        ensure(s > 0 && s.isFinite, "PolicyStep.logRatio: needs s > 0, got \(s)")
        let axes = Array(1..<muOld.rank)
        let d = muTheta - muOld
        let cross = (xi * d).sum(axes: axes)
        let square = d.square().sum(axes: axes)
        return cross * (1 / s) - square * (1 / (2 * s * s))
    }

    /// KL(N(μ_θ, s²) ‖ N(μ_ref, s²)) = ‖μ_θ − μ_ref‖²/(2 s²) per row, `[B]`.
    public static func meanKL(muTheta: Tensor, muRef: Tensor, s: Float) -> Tensor {
        ensure(muTheta.shape == muRef.shape && muRef.rank >= 2, "PolicyStep.meanKL: shapes \(muTheta.shape) and \(muRef.shape)")
        ensure(s > 0 && s.isFinite, "PolicyStep.meanKL: needs s > 0, got \(s)")
        return (muTheta - muRef).square().sum(axes: Array(1..<muRef.rank)) * (1 / (2 * s * s))
    }

    /// log N(x_{k+1}; μ, s² I) for x_{k+1} = μ + s·ξ, from ξ alone (per row, summed over the row's
    /// D numbers, in Double): −‖ξ‖²/2 − D·log s − D/2·log 2π.
    public static func gaussianLogDensity(xi: [Float], s: Float) -> Double {
        let d = Double(xi.count)
        var sq = 0.0
        for v in xi { sq += Double(v) * Double(v) }
        return -0.5 * sq - d * Foundation.log(Double(s)) - 0.5 * d * Foundation.log(2 * Double.pi)
    }
}
