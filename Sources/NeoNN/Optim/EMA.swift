import NeoTensor

/// Exponential moving average of a model's parameters: after each update,
/// shadow ← d·shadow + (1 − d)·param, with d = decay, or with warm-up
/// d = min(decay, (1 + n)/(10 + n)) at the n-th update (n = 0 first), so early shadows follow
/// the fast-moving weights instead of the initialisation.
public final class EMA: @unchecked Sendable {
    public let decay: Float
    public let warmup: Bool
    public private(set) var updates: Int = 0
    /// (path, parameter, shadow) for every parameter of the model, frozen ones included.
    let entries: [(String, Parameter, Tensor)]

    /// Starts the shadow as a copy of `model`'s current parameters.
    public init(_ model: Module, decay: Float, warmup: Bool = false) {
        ensure(decay >= 0 && decay <= 1, "EMA: decay must be in [0, 1]")
        self.decay = decay
        self.warmup = warmup
        entries = model.namedParameters().map { ($0.0, $0.1, $0.1.value.clone()) }
    }

    /// The decay the next update will use.
    public var currentDecay: Float {
        guard warmup else { return decay }
        let n = Double(updates)
        return Float(min(Double(decay), (1 + n) / (10 + n)))
    }

    /// Moves every shadow toward the current parameters.
    public func update() {
        let d = currentDecay
        let w = 1 - d
        for (_, p, s) in entries {
            let sp = s.data, pp = p.value.data
            parallelRanges(s.count) { lo, hi in
                var j = lo
                while j < hi { sp[j] = d * sp[j] + w * pp[j]; j &+= 1 }
            }
        }
        updates += 1
    }

    /// Writes the averaged values into `model`'s parameters (matched by path; the model must
    /// have the same parameters as the one the EMA was made from).
    public func copy(into model: Module) throws {
        try model.load(stateDict: shadowDict(), strict: true)
    }

    /// Exchanges the model's parameters and the shadow in place: call once to evaluate with the
    /// averaged weights, and again to go back to training.
    public func swap() {
        for (_, p, s) in entries {
            let a = p.value.data, b = s.data
            parallelRanges(s.count) { lo, hi in
                var j = lo
                while j < hi { let t = a[j]; a[j] = b[j]; b[j] = t; j &+= 1 }
            }
        }
    }

    /// Path → shadow tensor (live buffers).
    public func shadowDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (path, _, s) in entries { d[path] = s }
        return d
    }

    /// State for a checkpoint: the shadows by path and the update count.
    public func exportState() -> (tensors: [String: Tensor], updates: Int) {
        var d: [String: Tensor] = [:]
        for (path, _, s) in entries { d[path] = s.clone() }
        return (d, updates)
    }

    /// Restores a state from `exportState()`; throws listing every missing, unexpected or
    /// mis-shaped entry, changing nothing.
    public func importState(tensors: [String: Tensor], updates: Int) throws {
        var problems: [String] = []
        var known = Set<String>()
        for (path, _, s) in entries {
            known.insert(path)
            guard let t = tensors[path] else { problems.append("missing: \(path)"); continue }
            if t.shape != s.shape { problems.append("mis-shaped: \(path) (model has \(s.shape), state has \(t.shape))") }
        }
        for k in tensors.keys.sorted() where !known.contains(k) { problems.append("unexpected: \(k)") }
        if updates < 0 { problems.append("update count \(updates) is negative") }
        if !problems.isEmpty { throw StateMismatchError(what: "EMA state", problems: problems) }
        for (path, _, s) in entries { s.copy(from: tensors[path]!) }
        self.updates = updates
    }
}
