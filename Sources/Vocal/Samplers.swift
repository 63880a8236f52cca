import Foundation
import NeoTensor

/// The time grid of the samplers: t_k = S·u/(1 + (S − 1)·u), u = 1 − k/N, k = 0…N, so
/// t_0 = 1 (noise) > t_1 > … > t_N = 0 (data). S = 1 is uniform; S > 1 spends more steps at
/// high noise. Computed in Double; the ends are exactly 1 and 0.
public func shiftedTimeGrid(steps: Int, shift: Double) -> [Float] {
    ensure(steps >= 1, "shiftedTimeGrid: steps must be ≥ 1, got \(steps)")
    ensure(shift > 0 && shift.isFinite, "shiftedTimeGrid: shift must be > 0, got \(shift)")
    return (0...steps).map { k in
        if k == 0 { return 1 }
        if k == steps { return 0 }
        let u = 1 - Double(k) / Double(steps)
        return Float(shift * u / (1 + (shift - 1) * u))
    }
}

/// A velocity field v(x, t) for a batch sharing one time t.
public typealias VelocityField = (_ x: Tensor, _ t: Float) -> Tensor

/// One Euler step of the flow ODE dx/dt = v from t to tNext: x + v·(tNext − t).
public func eulerStep(x: Tensor, v: Tensor, t: Float, tNext: Float) -> Tensor {
    x + v * (tNext - t)
}

/// One step of the SDE of docs/architecture.md §6, whose marginals equal the ODE's:
///   σ = a·√(t/(1 − t)) (with t₁ = `tNext` in the denominator at t = 1),
///   μ = x + [v + σ²/(2t)·(x + (1 − t)·v)]·Δt,  s = σ·√|Δt|,  x_next = μ + s·ξ,  Δt = tNext − t.
/// Differentiable in x and v (GRPO replays it with the tape). With noise level a = 0 it is the
/// Euler step, computed by `eulerStep` itself, so the two agree bit for bit.
public func sdeStep(x: Tensor, v: Tensor, t: Float, tNext: Float, noiseLevel: Float, xi: Tensor) -> (mu: Tensor, s: Float, xNext: Tensor) {
    ensure(xi.shape == x.shape && v.shape == x.shape, "sdeStep: x \(x.shape), v \(v.shape) and ξ \(xi.shape) must have the same shape")
    ensure(t > 0 && t <= 1 && tNext >= 0 && tNext < t, "sdeStep: need 1 ≥ t > tNext ≥ 0, got t = \(t), tNext = \(tNext)")
    let sigma = sdeSigma(t: t, tNext: tNext, noiseLevel: noiseLevel)
    if sigma == 0 {
        let mu = eulerStep(x: x, v: v, t: t, tNext: tNext)
        return (mu, 0, mu)
    }
    let dt = Double(tNext) - Double(t)
    let kappa = Float(Double(sigma) * Double(sigma) / (2 * Double(t)))
    let mu = x + (v + (x + v * (1 - t)) * kappa) * Float(dt)
    let s = Float(Double(sigma) * Swift.abs(dt).squareRoot())
    return (mu, s, mu + xi * s)
}

/// σ of the SDE step at t (the next grid time replaces t in 1 − t when t = 1).
public func sdeSigma(t: Float, tNext: Float, noiseLevel: Float) -> Float {
    if noiseLevel == 0 { return 0 }
    let denominator = 1 - Double(t == 1 ? tNext : t)
    return Float(Double(noiseLevel) * (Double(t) / denominator).squareRoot())
}

/// ODE solvers.
public enum ODESolver: Sendable {
    case euler
    /// Heun's method: Euler predictor, then the average of the velocities at both ends
    /// (two evaluations per step, all steps including the last).
    case heun
}

/// Integrates the flow from `noise` (at grid[0] = 1) down the grid; no tape is recorded.
public func sampleODE(from noise: Tensor, grid: [Float], solver: ODESolver = .euler, velocity: VelocityField) -> Tensor {
    ensure(grid.count >= 2, "sampleODE: the grid needs at least two times")
    return noGrad {
        var x = noise
        for k in 0..<(grid.count - 1) {
            let t = grid[k], tNext = grid[k + 1]
            let v = velocity(x, t)
            switch solver {
            case .euler:
                x = eulerStep(x: x, v: v, t: t, tNext: tNext)
            case .heun:
                let predicted = eulerStep(x: x, v: v, t: t, tNext: tNext)
                let v2 = velocity(predicted, tNext)
                x = x + (v + v2) * (0.5 * (tNext - t))
            }
        }
        return x
    }
}

/// What the SDE sampler did at each step k (k = 0…steps−1), for GRPO replay: the state x_k,
/// the time t_k (and the grid's next time), the noise ξ_k, the mean μ_k and the std s_k.
public struct SDETrajectory: @unchecked Sendable {
    public var times: [Float] = []
    public var nextTimes: [Float] = []
    public var states: [Tensor] = []
    public var noises: [Tensor] = []
    public var means: [Tensor] = []
    public var stds: [Float] = []
    public var noiseLevel: Float = 0
    public init() {}
    public var steps: Int { times.count }
}

/// Samples with the SDE of docs/architecture.md §6 down the grid, drawing ξ_k ~ N(0, I) from `generator` at
/// every step (also when the noise level is 0, so the stream does not depend on it). Returns
/// the final x and, when `record` is set, the trajectory. No tape is recorded.
public func sampleSDE(from noise: Tensor, grid: [Float], noiseLevel: Float, generator: Generator, record: Bool = false,
                      velocity: VelocityField) -> (sample: Tensor, trajectory: SDETrajectory?) {
    ensure(grid.count >= 2, "sampleSDE: the grid needs at least two times")
    ensure(noiseLevel >= 0 && noiseLevel.isFinite, "sampleSDE: noise level must be ≥ 0, got \(noiseLevel)")
    return noGrad {
        var x = noise
        var trajectory: SDETrajectory? = record ? SDETrajectory() : nil
        trajectory?.noiseLevel = noiseLevel
        for k in 0..<(grid.count - 1) {
            let t = grid[k], tNext = grid[k + 1]
            let v = velocity(x, t)
            let xi = Tensor.normal(x.shape, generator: generator)
            let (mu, s, xNext) = sdeStep(x: x, v: v, t: t, tNext: tNext, noiseLevel: noiseLevel, xi: xi)
            if record {
                trajectory!.times.append(t); trajectory!.nextTimes.append(tNext)
                trajectory!.states.append(x); trajectory!.noises.append(xi)
                trajectory!.means.append(mu); trajectory!.stds.append(s)
            }
            x = xNext
        }
        return (x, trajectory)
    }
}
