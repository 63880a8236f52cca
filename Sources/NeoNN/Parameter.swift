import NeoTensor

/// A trainable tensor owned by a module. The wrapped tensor object never changes: optimisers,
/// EMA and state-dict loading write its buffer in place, so references taken once (by an
/// optimiser, a tape, a checkpoint writer) stay valid for the whole run.
public final class Parameter: @unchecked Sendable, CustomStringConvertible {
    /// The value: a contiguous leaf tensor; `requiresGrad` is true unless the parameter is frozen.
    public let value: Tensor

    /// A frozen parameter records no gradient and is left out of `trainableParameters()`.
    public var isFrozen: Bool {
        didSet {
            value.requiresGrad = !isFrozen
            if isFrozen { value.grad = nil }
        }
    }

    /// Wraps `value` (made contiguous and cut from any tape) as a trainable leaf.
    public init(_ value: Tensor, frozen: Bool = false) {
        let leaf = value.isContiguous && value.isLeaf && !value.requiresGrad ? value : value.clone()
        leaf.requiresGrad = !frozen
        self.value = leaf
        self.isFrozen = frozen
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// The gradient accumulated by the last backward passes (nil when none reached it).
    public var grad: Tensor? {
        get { value.grad }
        set { value.grad = newValue }
    }

    /// Overwrites the value in place (no gradient is recorded).
    public func assign(_ newValue: Tensor) {
        ensure(newValue.shape == value.shape, "Parameter.assign: shape \(newValue.shape) does not match \(value.shape)")
        value.copy(from: newValue)
    }

    public var description: String { "Parameter(shape: \(shape)\(isFrozen ? ", frozen" : ""))" }
}
