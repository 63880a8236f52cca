import NeoNN
import NeoTensor

/// Everything a training checkpoint holds, in the trainer's terms; `RunCheckpoints` maps it to
/// and from NeoIO's HDF5 `Checkpoint`.
public struct TrainingSnapshot: @unchecked Sendable {
    /// Optimiser steps completed.
    public var step: Int
    public var modelKind: String
    /// The effective recipe text of the run.
    public var recipeText: String
    /// Parameters by dotted path.
    public var model: [String: Tensor] = [:]
    /// The main optimiser's state.
    public var optimizer: OptimizerState?
    /// Further optimisers (a GAN's discriminator optimiser …), by name.
    public var extraOptimizers: [String: OptimizerState] = [:]
    /// EMA shadows by parameter path, when EMA is on.
    public var ema: [String: Tensor]?
    public var emaUpdates = 0
    /// Every generator of the task, by name.
    public var rngStates: [String: RNGState] = [:]
    /// The batch source's position.
    public var loaderPosition: [String: Int] = [:]
    /// Evaluation results at this step (the first one ranks the "best" checkpoint).
    public var metrics: [(String, Float)] = []
    /// Further checkpoint metadata the step asks for (model layout, provenance …).
    public var metadata: [String: String] = [:]
    /// The file it was read from, when read.
    public var path: String?

    public init(step: Int, modelKind: String, recipeText: String) {
        self.step = step
        self.modelKind = modelKind
        self.recipeText = recipeText
    }
}
