import Foundation
import NeoTensor

/// Adam with decoupled weight decay (Loshchilov & Hutter), in the arithmetic order of
/// `torch.optim.AdamW` (single-tensor path), per parameter p with gradient g at its update t:
///
///     p ← p·(1 − lr·wd)
///     m ← m + (1 − β₁)·(g − m)          v ← β₂·v + (1 − β₂)·g²
///     p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// The update runs on raw pointers over each parameter's buffer, split over threads for large
/// parameters; the moments are allocated at a parameter's first update and reused after.
public final class AdamW: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var groups: [ParameterGroup]
    public private(set) var stepCount: Int = 0
    var store: SlotStore

    public init(groups: [ParameterGroup], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        store = SlotStore(slotNames: ["exp_avg", "exp_avg_sq"], groups: groups)
    }

    /// One group holding `parameters` with weight decay `weightDecay`.
    public convenience init(_ parameters: [(String, Parameter)], learningRate: Float, beta1: Float = 0.9,
                            beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.init(groups: [ParameterGroup(name: "default", parameters: parameters, weightDecay: weightDecay)],
                  learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps)
    }

    public func step() {
        stepCount += 1
        var index = 0
        for group in groups {
            let lr = Double(learningRate) * Double(group.lrScale)
            for (_, p) in group.parameters {
                defer { index += 1 }
                guard let grad = p.grad, !p.isFrozen else { continue }
                let i = index
                store.steps[i] += 1
                let t = Double(store.steps[i])
                let m = store.slot(0, i), v = store.slot(1, i)
                let g = contiguousValues(grad)
                let decay = Float(1 - lr * Double(group.weightDecay))
                let stepSize = Float(lr / (1 - Foundation.pow(Double(beta1), t)))
                let bc2Sqrt = Float((1 - Foundation.pow(Double(beta2), t)).squareRoot())
                AdamW.update(param: p.value.data, grad: g.data, m: m.data, v: v.data, count: p.count,
                             decay: decay, beta1: beta1, beta2: beta2, eps: eps, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
            }
        }
    }

    static func update(param: UnsafeMutablePointer<Float>, grad: UnsafeMutablePointer<Float>,
                       m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
                       decay: Float, beta1: Float, beta2: Float, eps: Float, stepSize: Float, bc2Sqrt: Float) {
        let oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2
        let applyDecay = decay != 1
        // Eight lanes at a time in the scalar loop's exact operation order (sqrt and division
        // are correctly rounded in both), then the scalar tail.
        let d8 = SIMD8<Float>(repeating: decay), b18 = SIMD8<Float>(repeating: oneMinusB1)
        let b28 = SIMD8<Float>(repeating: beta2), ob28 = SIMD8<Float>(repeating: oneMinusB2)
        let bc8 = SIMD8<Float>(repeating: bc2Sqrt), eps8 = SIMD8<Float>(repeating: eps), st8 = SIMD8<Float>(repeating: -stepSize)
        parallelRanges(count) { lo, hi in
            var j = lo
            while j &+ 8 <= hi {
                let gj = load8(grad + j)
                var pj = load8(param + j)
                if applyDecay { pj = pj * d8 }
                let m0 = load8(m + j)
                let mj = m0 + b18 * (gj - m0)
                let vj = load8(v + j) * b28 + ob28 * gj * gj
                store8(mj, m + j)
                store8(vj, v + j)
                let denom = vj.squareRoot() / bc8 + eps8
                store8(pj + st8 * (mj / denom), param + j)
                j &+= 8
            }
            while j < hi {
                let gj = grad[j]
                var pj = param[j]
                if applyDecay { pj = pj * decay }
                let mj = m[j] + oneMinusB1 * (gj - m[j])
                let vj = v[j] * beta2 + oneMinusB2 * gj * gj
                m[j] = mj
                v[j] = vj
                let denom = vj.squareRoot() / bc2Sqrt + eps
                param[j] = pj + (-stepSize) * (mj / denom)
                j &+= 1
            }
        }
    }

    public func exportState() -> OptimizerState {
        var st = store.export(kind: "adamw", step: stepCount, learningRate: learningRate)
        st.scalars["beta1"] = Double(beta1)
        st.scalars["beta2"] = Double(beta2)
        st.scalars["eps"] = Double(eps)
        return st
    }

    public func importState(_ state: OptimizerState) throws {
        try store.importing(state, kind: "adamw")
        stepCount = state.step
        if let lr = state.scalars["learning_rate"] { learningRate = Float(lr) }
    }
}
