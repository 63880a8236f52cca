import NeoTensor

/// Parameters that share a learning-rate multiplier and a weight decay.
public struct ParameterGroup: @unchecked Sendable {
    public var name: String
    /// (path, parameter) pairs; paths name the optimiser state in checkpoints.
    public var parameters: [(String, Parameter)]
    /// This group's learning rate is `optimizer.learningRate · lrScale`.
    public var lrScale: Float
    public var weightDecay: Float

    public init(name: String, parameters: [(String, Parameter)], lrScale: Float = 1, weightDecay: Float = 0) {
        self.name = name
        self.parameters = parameters
        self.lrScale = lrScale
        self.weightDecay = weightDecay
    }

    /// Two groups: "decay" (weights of rank ≥ 2, with `weightDecay`) and "no_decay" (biases,
    /// norm gains and other vectors, without), the usual split for Transformers. Extra rules can
    /// exempt more paths through `exempt`.
    public static func decayAndNoDecay(_ parameters: [(String, Parameter)], weightDecay: Float,
                                       exempt: (String, Parameter) -> Bool = { _, _ in false }) -> [ParameterGroup] {
        var decay: [(String, Parameter)] = [], plain: [(String, Parameter)] = []
        for (path, p) in parameters {
            if p.value.rank < 2 || exempt(path, p) { plain.append((path, p)) } else { decay.append((path, p)) }
        }
        return [ParameterGroup(name: "decay", parameters: decay, weightDecay: weightDecay),
                ParameterGroup(name: "no_decay", parameters: plain, weightDecay: 0)]
    }
}

/// An optimiser's resumable state: per-parameter tensors under `"<slot>.<parameter path>"`
/// (e.g. `exp_avg.blocks.0.attn.qkv.weight`) and scalars (`step`, `learning_rate`, and
/// `step.<path>` for parameters whose own update count differs from `step`).
public struct OptimizerState: @unchecked Sendable {
    public var kind: String
    public var step: Int
    public var scalars: [String: Double]
    public var tensors: [String: Tensor]
    public init(kind: String, step: Int, scalars: [String: Double] = [:], tensors: [String: Tensor] = [:]) {
        self.kind = kind; self.step = step; self.scalars = scalars; self.tensors = tensors
    }
}

/// Saved state (optimiser or EMA) that does not fit what it is loaded into; lists every problem.
public struct StateMismatchError: Error, CustomStringConvertible {
    /// What was being loaded, e.g. "optimizer state" or "EMA state".
    public let what: String
    public let problems: [String]
    public var description: String {
        "\(what) does not match (\(problems.count) problems):\n  " + problems.joined(separator: "\n  ")
    }
}

/// What every optimiser offers the training loop.
public protocol Optimizer: AnyObject {
    /// Base learning rate; a schedule sets it before each step.
    var learningRate: Float { get set }
    /// Number of `step()` calls so far.
    var stepCount: Int { get }
    var groups: [ParameterGroup] { get set }
    /// Updates every parameter that has a gradient (parameters without one are left alone).
    func step()
    func exportState() -> OptimizerState
    /// Restores a state from `exportState()`; throws listing every mismatch, changing nothing.
    func importState(_ state: OptimizerState) throws
}

extension Optimizer {
    /// Changes a group's learning-rate multiplier or weight decay (by group name) after
    /// construction.
    public func configureGroup(_ name: String, lrScale: Float? = nil, weightDecay: Float? = nil) {
        for i in groups.indices where groups[i].name == name {
            if let lrScale { groups[i].lrScale = lrScale }
            if let weightDecay { groups[i].weightDecay = weightDecay }
        }
    }

    /// Every parameter of every group.
    public var allParameters: [(String, Parameter)] { groups.flatMap(\.parameters) }

    /// Drops the gradients of every parameter the optimiser updates.
    public func zeroGrad() {
        for g in groups { for (_, p) in g.parameters { p.grad = nil } }
    }

    /// Sets `learningRate` from `schedule` for the coming step, then steps.
    public func step(schedule: some LearningRateSchedule) {
        learningRate = schedule.lr(at: stepCount)
        step()
    }
}

/// Per-parameter bookkeeping shared by the optimisers: slot tensors allocated once, the number
/// of updates each parameter has received, and export/import by path.
struct SlotStore {
    let slotNames: [String]
    /// slots[s][i]: slot s of parameter i (nil until its first update).
    var slots: [[Tensor?]]
    var steps: [Int]
    let paths: [String]
    let shapes: [[Int]]

    init(slotNames: [String], groups: [ParameterGroup]) {
        let params = groups.flatMap(\.parameters)
        self.slotNames = slotNames
        paths = params.map(\.0)
        shapes = params.map { $0.1.shape }
        slots = slotNames.map { _ in [Tensor?](repeating: nil, count: params.count) }
        steps = [Int](repeating: 0, count: params.count)
        var seen = Set<String>()
        for p in paths { ensure(seen.insert(p).inserted, "optimizer: parameter path '\(p)' appears in two groups") }
    }

    /// Slot s of parameter i, zero-filled on first use.
    mutating func slot(_ s: Int, _ i: Int) -> Tensor {
        if let t = slots[s][i] { return t }
        let t = Tensor.zeros(shapes[i])
        slots[s][i] = t
        return t
    }

    func export(kind: String, step: Int, learningRate: Float) -> OptimizerState {
        var st = OptimizerState(kind: kind, step: step)
        st.scalars["learning_rate"] = Double(learningRate)
        for i in 0..<paths.count {
            if steps[i] != step { st.scalars["step.\(paths[i])"] = Double(steps[i]) }
            for s in 0..<slotNames.count {
                if let t = slots[s][i] { st.tensors["\(slotNames[s]).\(paths[i])"] = t.clone() }
            }
        }
        return st
    }

    /// Validates `st` completely, then replaces the store's contents.
    mutating func importing(_ st: OptimizerState, kind: String, slotsRequired: Bool = true) throws {
        var problems: [String] = []
        if st.kind != kind { problems.append("state is for optimizer '\(st.kind)', this is '\(kind)'") }
        if st.step < 0 { problems.append("step \(st.step) is negative") }
        var index: [String: Int] = [:]
        for (i, p) in paths.enumerated() { index[p] = i }
        var newSlots = slotNames.map { _ in [Tensor?](repeating: nil, count: paths.count) }
        var newSteps = [Int](repeating: st.step, count: paths.count)
        for (key, value) in st.scalars where key.hasPrefix("step.") {
            let path = String(key.dropFirst("step.".count))
            guard let i = index[path] else { problems.append("unexpected: \(key)"); continue }
            guard value >= 0, value == value.rounded() else { problems.append("\(key) = \(value) is not a step count"); continue }
            newSteps[i] = Int(value)
        }
        for key in st.tensors.keys.sorted() {
            let t = st.tensors[key]!
            guard let s = slotNames.firstIndex(where: { key.hasPrefix($0 + ".") }) else {
                problems.append("unexpected: \(key) (no slot of that name)"); continue
            }
            let path = String(key.dropFirst(slotNames[s].count + 1))
            guard let i = index[path] else { problems.append("unexpected: \(key) (no such parameter)"); continue }
            guard t.shape == shapes[i] else {
                problems.append("mis-shaped: \(key) (parameter has \(shapes[i]), state has \(t.shape))"); continue
            }
            newSlots[s][i] = t.clone()
        }
        for i in 0..<paths.count where slotsRequired && newSteps[i] > 0 {
            for s in 0..<slotNames.count where newSlots[s][i] == nil {
                problems.append("missing: \(slotNames[s]).\(paths[i]) (parameter has \(newSteps[i]) updates)")
            }
        }
        if !problems.isEmpty { throw StateMismatchError(what: "optimizer state", problems: problems) }
        slots = newSlots
        steps = newSteps
    }
}
