import Foundation
import NeoNN
import NeoTensor

/// The optimiser step's settings, normally taken from a recipe's `[train]` and `[optim]`.
public struct TrainerOptions: Sendable {
    public var steps: Int
    public var accumulation = 1
    /// Global gradient-norm clip; 0 turns clipping off.
    public var clip: Float = 0
    public var evalEvery = 0
    /// Checkpoint every N steps (0: only at the end); one is always written at the end and on
    /// SIGINT/SIGTERM.
    public var checkpointEvery = 0
    public var keepLast = 3
    /// EMA decay; 0 turns EMA off.
    public var emaDecay: Float = 0
    public var logEvery = 10
    /// Debugging aids read from the environment (see `DebugHooks`).
    public var debug = DebugHooks()

    public init(steps: Int) { self.steps = steps }

    /// The driver's part of these options.
    public var run: RunOptions {
        var r = RunOptions(steps: steps)
        r.evalEvery = evalEvery
        r.checkpointEvery = checkpointEvery
        r.keepLast = keepLast
        r.logEvery = logEvery
        r.debug = debug
        return r
    }
}

/// A pretraining step for a `TrainingTask`: `accumulation` micro-batches of forward and
/// backward, the gradients reduced across processes, global-norm clipping, the scheduled
/// optimiser step, EMA.
public final class PretrainStep<Task: TrainingTask>: RunStep {
    public let task: Task
    public let optimizer: any Optimizer
    public let schedule: any LearningRateSchedule
    public let accumulation: Int
    public let clip: Float
    public let ema: EMA?
    let parameters: [Parameter]

    public init(task: Task, optimizer: any Optimizer, schedule: any LearningRateSchedule, accumulation: Int, clip: Float,
                emaDecay: Float) {
        self.task = task
        self.optimizer = optimizer
        self.schedule = schedule
        self.accumulation = accumulation
        self.clip = clip
        ema = emaDecay > 0 ? EMA(task.model, decay: emaDecay) : nil
        parameters = optimizer.allParameters.map(\.1)
    }

    /// The step a recipe describes: optimiser and schedule from `[optim]`, accumulation and
    /// EMA from `[train]`.
    public convenience init(task: Task, recipe: Recipe) {
        self.init(task: task, optimizer: recipe.optim.makeOptimizer(task.model.trainableParameters()),
                  schedule: recipe.optim.makeSchedule(totalSteps: recipe.train.steps),
                  accumulation: recipe.train.accumulation, clip: Float(recipe.optim.clip), emaDecay: Float(recipe.train.ema))
    }

    public var model: Module { task.model }
    public var optimizers: [(name: String, optimizer: any Optimizer)] { [("", optimizer)] }
    public var generators: [String: Generator] { task.generators }
    public var position: [String: Int] { task.source.position }
    public func restore(position: [String: Int], step: Int) throws { try task.source.restore(position: position) }
    public func evaluate() throws -> [(String, Float)] { try task.evaluate() }

    public func run(step index: Int, context: StepContext) throws -> StepSummary {
        let step = index + 1
        var lossSum = 0.0
        for _ in 0..<accumulation {
            let before = task.source.position
            let batch = try task.source.next()
            let tape = Tape()
            let loss = try tape.record { try task.loss(batch, shard: context.shard) }
            guard loss.count == 1 else {
                throw TrainError("the loss returned shape \(loss.shape), expected a scalar")
            }
            let value = loss.item
            guard value.isFinite else {
                let which = task.source.describe(batch) ?? "the batch at loader position \(before.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                throw TrainError("step \(step): loss is \(value.isNaN ? "nan" : "\(value)") on \(which); stopping (last checkpoint: \(context.lastCheckpoint ?? "none"))")
            }
            lossSum += Double(value)
            tape.backward(loss, gradient: Tensor.full(loss.shape, 1 / Float(accumulation)))
        }
        try context.reducer.reduce(parameters)
        let gradNorm = clip > 0 ? clipGradientNorm(parameters, maxNorm: clip) : gradientNorm(parameters)
        guard gradNorm.isFinite else {
            throw TrainError("step \(step): gradient norm is \(gradNorm); stopping (last checkpoint: \(context.lastCheckpoint ?? "none"))")
        }
        let lr = schedule.lr(at: optimizer.stepCount)
        optimizer.learningRate = lr
        optimizer.step()
        optimizer.zeroGrad()
        ema?.update()

        // Every rank's part is equal, so the mean of the ranks' losses is the batch's loss.
        let loss = Float(context.reducer.average([lossSum])[0] / Double(accumulation))
        var record = MetricsRecord(step: step)
        record.set("loss", loss)
        record.set("lr", lr)
        record.set("grad_norm", gradNorm)
        return StepSummary(loss: loss, learningRate: Double(lr), record: record)
    }
}

/// A `TrainingTask` trained by `TrainingRun` with a `PretrainStep`: the loop of
/// `neo-train pretrain` for every model kind.
public final class Trainer<Task: TrainingTask> {
    public let step: PretrainStep<Task>
    public let options: TrainerOptions
    public let runFolder: RunFolder
    /// Stored in every checkpoint.
    public let recipeText: String
    public let modelKind: String

    public var task: Task { step.task }
    public var optimizer: any Optimizer { step.optimizer }
    public var ema: EMA? { step.ema }

    public init(task: Task, optimizer: any Optimizer, schedule: any LearningRateSchedule, options: TrainerOptions,
                runFolder: RunFolder, recipeText: String, modelKind: String) {
        step = PretrainStep(task: task, optimizer: optimizer, schedule: schedule, accumulation: options.accumulation,
                            clip: options.clip, emaDecay: options.emaDecay)
        self.options = options
        self.runFolder = runFolder
        self.recipeText = recipeText
        self.modelKind = modelKind
    }

    /// Trains to `options.steps` in `runFolder` (see `TrainingRun.run`).
    public func run(resume: Bool) throws -> TrainingOutcome {
        try TrainingRun(folder: runFolder, recipeText: recipeText, modelKind: modelKind, options: options.run, resume: resume)
            .run(step)
    }
}
