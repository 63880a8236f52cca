import NeoNN
import NeoTensor

extension OptimSection {
    /// The optimiser this section describes over `parameters`. Weight decay applies to
    /// matrices and higher-rank weights only (biases and norm gains are exempt).
    public func makeOptimizer(_ parameters: [(String, Parameter)]) -> any Optimizer {
        let groups = ParameterGroup.decayAndNoDecay(parameters, weightDecay: Float(weightDecay))
            .filter { !$0.parameters.isEmpty }
        switch optimizer {
        case .adamw:
            return AdamW(groups: groups, learningRate: Float(lr), beta1: Float(betas[0]), beta2: Float(betas[1]),
                         eps: Float(eps))
        case .sgd:
            return SGD(groups: groups, learningRate: Float(lr), momentum: Float(momentum))
        }
    }

    /// The line to show when `warmup` is longer than the run's `totalSteps` optimiser steps:
    /// the warm-up is then cut at the run's end, so the learning rate only reaches `lr` at the
    /// last step and never decays.
    public func warmupWarning(totalSteps: Int, stepsKey: String) -> String? {
        guard warmup > totalSteps else { return nil }
        return "optim.warmup = \(warmup) is longer than the run (\(totalSteps) optimiser steps from \(stepsKey)); the warm-up is cut to \(totalSteps) steps, so the learning rate reaches optim.lr only at the last step"
    }

    /// The learning-rate schedule over `totalSteps` optimiser steps (a warm-up longer than the
    /// run is cut to it: `warmupWarning`).
    public func makeSchedule(totalSteps: Int) -> any LearningRateSchedule {
        let warm = min(warmup, totalSteps)
        let peak = Float(lr)
        let end = Float(lr * minLRRatio)
        switch schedule {
        case .constant:
            return warm == 0 ? ConstantSchedule(peak) as any LearningRateSchedule
                : WarmupLinearSchedule(peak: peak, warmupSteps: warm, totalSteps: warm, endLR: peak)
        case .cosine:
            return WarmupCosineSchedule(peak: peak, warmupSteps: warm, totalSteps: totalSteps, minLR: end)
        case .linear:
            return WarmupLinearSchedule(peak: peak, warmupSteps: warm, totalSteps: totalSteps, endLR: end)
        }
    }
}
