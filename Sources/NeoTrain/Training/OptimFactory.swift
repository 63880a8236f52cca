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

    /// The learning-rate schedule over `totalSteps` optimiser steps.
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
