import NeoTensor

/// Stochastic gradient descent with optional momentum (and Nesterov) and L2 weight decay, in the
/// arithmetic order of `torch.optim.SGD`:
///
///     g ← g + wd·p
///     b ← g (first update), else b ← μ·b + (1 − dampening)·g
///     g ← g + μ·b (Nesterov) or g ← b
///     p ← p − lr·g
public final class SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var dampening: Float
    public var nesterov: Bool
    public var groups: [ParameterGroup]
    public private(set) var stepCount: Int = 0
    var store: SlotStore

    public init(groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false) {
        ensure(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and no dampening")
        self.groups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        store = SlotStore(slotNames: ["momentum_buffer"], groups: groups)
    }

    public convenience init(_ parameters: [(String, Parameter)], learningRate: Float, momentum: Float = 0,
                            dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.init(groups: [ParameterGroup(name: "default", parameters: parameters, weightDecay: weightDecay)],
                  learningRate: learningRate, momentum: momentum, dampening: dampening, nesterov: nesterov)
    }

    public func step() {
        stepCount += 1
        var index = 0
        for group in groups {
            let lr = Float(Double(learningRate) * Double(group.lrScale))
            let wd = group.weightDecay
            for (_, p) in group.parameters {
                defer { index += 1 }
                guard let grad = p.grad, !p.isFrozen else { continue }
                let i = index
                let first = store.steps[i] == 0 || store.slots[0][i] == nil
                store.steps[i] += 1
                let g = contiguousValues(grad)
                let buf: UnsafeMutablePointer<Float>? = momentum != 0 ? store.slot(0, i).data : nil
                let pp = p.value.data, gp = g.data
                let mu = momentum, damp = 1 - dampening, nest = nesterov
                parallelRanges(p.count) { lo, hi in
                    var j = lo
                    while j < hi {
                        var gj = gp[j]
                        if wd != 0 { gj = gj + wd * pp[j] }
                        if let buf {
                            let bj = first ? gj : buf[j] * mu + damp * gj
                            buf[j] = bj
                            gj = nest ? gj + mu * bj : bj
                        }
                        pp[j] = pp[j] + (-lr) * gj
                        j &+= 1
                    }
                }
            }
        }
    }

    public func exportState() -> OptimizerState {
        var st = store.export(kind: "sgd", step: stepCount, learningRate: learningRate)
        st.scalars["momentum"] = Double(momentum)
        return st
    }

    public func importState(_ state: OptimizerState) throws {
        // Plain SGD keeps no buffers, so none are required then.
        try store.importing(state, kind: "sgd", slotsRequired: momentum != 0)
        stepCount = state.step
        if let lr = state.scalars["learning_rate"] { learningRate = Float(lr) }
    }
}
