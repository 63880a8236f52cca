import Foundation
import NeoTensor

/// Which fan Kaiming initialisation preserves the variance of.
public enum FanMode: Sendable {
    case fanIn, fanOut
}

/// Ways to fill a new parameter, each drawing only from the generator it is given.
///
/// Fans follow the PyTorch convention for weights shaped `[out, in, k…]`:
/// fan_in = in·∏k, fan_out = out·∏k (a 1-D tensor has fan_in = fan_out = its length).
public enum Initializer: Sendable {
    case zeros
    case ones
    case constant(Float)
    case normal(mean: Float = 0, std: Float)
    case uniform(low: Float, high: Float)
    /// U(−a, a) with a = gain·√(6 / (fan_in + fan_out)).
    case xavierUniform(gain: Float = 1)
    /// N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out)).
    case xavierNormal(gain: Float = 1)
    /// U(−b, b) with b = √3·gain/√fan, gain = √(2 / (1 + a²)) (leaky-ReLU slope a; a = 0 is ReLU).
    case kaimingUniform(a: Float = 0, mode: FanMode = .fanIn)
    /// N(0, σ²) with σ = gain/√fan, gain as for `kaimingUniform`.
    case kaimingNormal(a: Float = 0, mode: FanMode = .fanIn)

    /// (fan_in, fan_out) of a weight shape.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        ensure(!shape.isEmpty, "Initializer.fans: a scalar has no fans")
        if shape.count == 1 { return (shape[0], shape[0]) }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// A new tensor of `shape` filled by this rule.
    public func make(_ shape: [Int], generator: Generator) -> Tensor {
        let t = Tensor.empty(shape)
        fill(t, generator: generator)
        return t
    }

    /// Fills a contiguous tensor in place.
    public func fill(_ t: Tensor, generator: Generator) {
        ensure(t.isContiguous, "Initializer.fill: tensor must be contiguous")
        let p = t.data, n = t.count
        switch self {
        case .zeros: p.update(repeating: 0, count: n)
        case .ones: p.update(repeating: 1, count: n)
        case .constant(let v): p.update(repeating: v, count: n)
        case .normal(let mean, let std): generator.fillNormal(p, count: n, mean: mean, std: std)
        case .uniform(let lo, let hi): generator.fillUniform(p, count: n, low: lo, high: hi)
        case .xavierUniform(let gain):
            let (fi, fo) = Initializer.fans(t.shape)
            let a = gain * Float((6.0 / Double(fi + fo)).squareRoot())
            generator.fillUniform(p, count: n, low: -a, high: a)
        case .xavierNormal(let gain):
            let (fi, fo) = Initializer.fans(t.shape)
            generator.fillNormal(p, count: n, mean: 0, std: gain * Float((2.0 / Double(fi + fo)).squareRoot()))
        case .kaimingUniform(let a, let mode):
            let std = Initializer.kaimingStd(t.shape, a: a, mode: mode)
            let bound = Float(3.0.squareRoot()) * std
            generator.fillUniform(p, count: n, low: -bound, high: bound)
        case .kaimingNormal(let a, let mode):
            generator.fillNormal(p, count: n, mean: 0, std: Initializer.kaimingStd(t.shape, a: a, mode: mode))
        }
    }

    static func kaimingStd(_ shape: [Int], a: Float, mode: FanMode) -> Float {
        let (fi, fo) = fans(shape)
        let fan = Double(mode == .fanIn ? fi : fo)
        let gain = (2.0 / (1.0 + Double(a) * Double(a))).squareRoot()
        return Float(gain / fan.squareRoot())
    }

    /// PyTorch's default for Linear/Conv weights: Kaiming uniform with a = √5, i.e. U(±1/√fan_in).
    public static let torchDefault = Initializer.kaimingUniform(a: Float(5.0.squareRoot()), mode: .fanIn)

    /// PyTorch's default for Linear/Conv biases: U(±1/√fan_in) of the weight's fan_in.
    public static func torchBias(fanIn: Int) -> Initializer {
        let b = fanIn > 0 ? 1 / Float(Double(fanIn).squareRoot()) : 0
        return .uniform(low: -b, high: b)
    }
}
