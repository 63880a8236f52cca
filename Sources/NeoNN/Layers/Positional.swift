import Foundation
import NeoTensor

/// Sinusoidal features of positions (or timesteps): for i < dim/2 the frequency
/// fᵢ = maxPeriod^(−i/(dim/2)), and the row for position p is [sin(p·f), cos(p·f)]
/// (or [cos, sin] with `cosFirst`, the DiT timestep layout); an odd `dim` gets a zero last
/// column. Computed in Double, returned as a constant `[positions.count, dim]` tensor.
public func sinusoidalEmbedding(_ positions: [Float], dim: Int, maxPeriod: Double = 10_000, cosFirst: Bool = false) -> Tensor {
    ensure(dim >= 2, "sinusoidalEmbedding: dim must be ≥ 2")
    let half = dim / 2
    let out = Tensor.zeros([positions.count, dim])
    let o = out.data
    for (r, pos) in positions.enumerated() {
        let row = o + r * dim
        for i in 0..<half {
            let freq = Foundation.exp(-Foundation.log(maxPeriod) * Double(i) / Double(half))
            let a = Double(pos) * freq
            let s = Float(Foundation.sin(a)), c = Float(Foundation.cos(a))
            row[i] = cosFirst ? c : s
            row[half + i] = cosFirst ? s : c
        }
    }
    return out
}

/// Fixed sinusoidal position embedding (no parameters): adds nothing by itself; call it for the
/// table of positions 0..<T, or explicit positions.
public final class SinusoidalPositionEmbedding: Module {
    public let dim: Int
    public let maxPeriod: Double
    public init(dim: Int, maxPeriod: Double = 10_000) {
        self.dim = dim
        self.maxPeriod = maxPeriod
    }
    /// `[positions.count, dim]`.
    public func callAsFunction(positions: [Float]) -> Tensor {
        sinusoidalEmbedding(positions, dim: dim, maxPeriod: maxPeriod)
    }
    /// `[length, dim]` for positions 0..<length.
    public func callAsFunction(length: Int) -> Tensor {
        callAsFunction(positions: (0..<length).map(Float.init))
    }
}

/// Rotary position embedding (RoPE) in the half-split layout: for the first `rotaryDim` numbers
/// of each head vector, pair i with i + rotaryDim/2 and rotate the pair by the angle p·θᵢ,
/// θᵢ = base^(−2i/rotaryDim); the remaining numbers pass through. Scores q·k then depend on
/// positions only through their difference. Positions are explicit, so two streams can share
/// them (frame i of audio and of motion at the same position).
public final class RotaryEmbedding: Module {
    public let rotaryDim: Int
    public let base: Double

    public init(rotaryDim: Int, base: Double = 10_000) {
        ensure(rotaryDim >= 2 && rotaryDim % 2 == 0, "RotaryEmbedding: rotaryDim must be even and ≥ 2, got \(rotaryDim)")
        self.rotaryDim = rotaryDim
        self.base = base
    }

    /// cos and sin tables `[T, rotaryDim/2]` for the given positions.
    public func tables(_ positions: [Float]) -> (cos: Tensor, sin: Tensor) {
        let half = rotaryDim / 2
        let c = Tensor.empty([positions.count, half]), s = Tensor.empty([positions.count, half])
        let cp = c.data, sp = s.data
        for (t, pos) in positions.enumerated() {
            for i in 0..<half {
                let theta = Foundation.pow(base, -2.0 * Double(i) / Double(rotaryDim))
                let a = Double(pos) * theta
                cp[t * half + i] = Float(Foundation.cos(a))
                sp[t * half + i] = Float(Foundation.sin(a))
            }
        }
        return (c, s)
    }

    /// Rotates `x` shaped `[…, T, D]` (D ≥ rotaryDim) with one position per row of T.
    public func callAsFunction(_ x: Tensor, positions: [Float]) -> Tensor {
        let (c, s) = tables(positions)
        return applyRotary(x, cos: c, sin: s)
    }
}

/// Rotary embedding as a fused op: x `[…, T, D]`, cos/sin `[T, R/2]` with R ≤ D even; rotates
/// the pairs (i, i + R/2) of the first R numbers of each row. Backward rotates the gradient by
/// the opposite angle.
public func applyRotary(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    ensure(x.rank >= 2, "applyRotary: input needs shape […, T, D], got \(x.shape)")
    let T = x.shape[x.rank - 2], D = x.shape[x.rank - 1]
    ensure(cos.shape == sin.shape && cos.rank == 2 && cos.shape[0] == T && 2 * cos.shape[1] <= D,
                 "applyRotary: tables \(cos.shape)/\(sin.shape) do not fit input \(x.shape)")
    let c = contiguousValues(cos), s = contiguousValues(sin)
    let out = Tensor.empty(x.shape)
    rotate(contiguousValues(x), into: out, c, s, T: T, D: D, sign: 1)
    return recordOp("rotary", inputs: [x], output: out) { g in
        guard x.requiresGrad else { return [nil] }
        let gx = Tensor.empty(g.shape)
        rotate(contiguousValues(g), into: gx, c, s, T: T, D: D, sign: -1)
        return [gx]
    }
}

private func rotate(_ x: Tensor, into out: Tensor, _ cos: Tensor, _ sin: Tensor, T: Int, D: Int, sign: Float) {
    let half = cos.shape[1]
    let rows = x.count / Swift.max(D, 1)
    let xp = x.data, op = out.data, cp = cos.data, sp = sin.data
    parallelRanges(rows, minPerThread: 256) { lo, hi in
        var r = lo
        while r < hi {
            let t = r % T
            let xr = xp + r &* D, orow = op + r &* D
            let ct = cp + t &* half, st = sp + t &* half
            var i = 0
            while i < half {
                let a = xr[i], b = xr[i &+ half]
                let cv = ct[i], sv = sign * st[i]
                orow[i] = a * cv - b * sv
                orow[i &+ half] = b * cv + a * sv
                i &+= 1
            }
            var j = 2 &* half
            while j < D { orow[j] = xr[j]; j &+= 1 }
            r &+= 1
        }
    }
}

/// DiT-style timestep embedding: sinusoidal features of t (`[cos, sin]` layout, t multiplied by
/// `timeScale` first, so t in [0, 1] spans the same frequencies as integer steps 0…1000) fed
/// through Linear → SiLU → Linear.
public final class TimestepEmbedding: Module {
    public let frequencyDim: Int
    public let timeScale: Float
    public let maxPeriod: Double
    public let mlp: MLP

    public init(dim: Int, frequencyDim: Int = 256, timeScale: Float = 1000, maxPeriod: Double = 10_000, generator: Generator) {
        self.frequencyDim = frequencyDim
        self.timeScale = timeScale
        self.maxPeriod = maxPeriod
        mlp = MLP(frequencyDim, hidden: dim, out: dim, activation: .silu, generator: generator)
    }

    /// `[t.count, dim]` for one timestep per batch element.
    public func callAsFunction(_ t: [Float]) -> Tensor {
        let features = sinusoidalEmbedding(t.map { $0 * timeScale }, dim: frequencyDim, maxPeriod: maxPeriod, cosFirst: true)
        return mlp(features)
    }

    /// Same, with t given as a tensor `[B]` (values read, no gradient through t).
    public func callAsFunction(_ t: Tensor) -> Tensor {
        ensure(t.rank <= 1, "TimestepEmbedding: t must be a scalar or [B], got \(t.shape)")
        return callAsFunction(t.toArray())
    }
}
