import NeoTensor

/// Pointwise nonlinearities used by the layers.
public enum Activation: Sendable, Equatable {
    case gelu
    /// GELU with the tanh approximation.
    case geluTanh
    case silu
    case relu
    case identity

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu(approximate: false)
        case .geluTanh: return x.gelu(approximate: true)
        case .silu: return x.silu()
        case .relu: return x.relu()
        case .identity: return x
        }
    }
}

/// Two-layer perceptron `fc2(act(fc1(x)))`, or with `gated` the GLU form
/// `fc2(act(fc1(x)) · gate(x))` (SwiGLU with `.silu`), where `gate` is a third Linear.
public final class MLP: Module, UnaryLayer {
    public let fc1: Linear
    public let gate: Linear?
    public let fc2: Linear
    public let activation: Activation
    public let dropout: Dropout?

    /// `generator` initialises the weights; `dropoutGenerator` (required when `dropout` > 0)
    /// draws the dropout masks and is kept for the life of the module.
    public init(_ dim: Int, hidden: Int, out: Int? = nil, activation: Activation = .gelu, gated: Bool = false,
                bias: Bool = true, dropout: Float = 0, generator: Generator, dropoutGenerator: Generator? = nil) {
        ensure(dropout == 0 || dropoutGenerator != nil, "MLP: dropout > 0 needs a dropoutGenerator")
        fc1 = Linear(dim, hidden, bias: bias, generator: generator)
        gate = gated ? Linear(dim, hidden, bias: bias, generator: generator) : nil
        fc2 = Linear(hidden, out ?? dim, bias: bias, generator: generator)
        self.activation = activation
        self.dropout = dropout > 0 ? Dropout(dropout, generator: dropoutGenerator!) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = activation(fc1(x))
        if let gate { h = h * gate(x) }
        if let dropout { h = dropout(h) }
        return fc2(h)
    }
}
