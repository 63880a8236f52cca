import Foundation
import NeoNN
import NeoTensor

/// The loop's settings, normally taken from a recipe's `[train]` and `[optim]`.
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

    public init(recipe: Recipe) {
        let t = recipe.train, o = recipe.optim
        steps = t.steps
        accumulation = t.accumulation
        clip = Float(o.clip)
        evalEvery = t.evalEvery
        checkpointEvery = t.checkpointEvery
        keepLast = t.keepLast
        emaDecay = Float(t.ema)
        logEvery = t.logEvery
    }
}

/// How a `Trainer.run()` ended.
public struct TrainingOutcome: Sendable {
    public enum Ending: Sendable, Equatable {
        case finished
        /// Stopped by this signal after writing a checkpoint.
        case interrupted(signal: Int32)
    }
    public let ending: Ending
    /// Steps completed (the checkpoint's step).
    public let step: Int
    /// The step training started from (0, or the resumed checkpoint's step).
    public let startStep: Int
    public let lastLoss: Float?
    public let checkpointPath: String?
}

/// The generic training loop: for each step, `accumulation` micro-batches of forward and
/// backward, global-norm clipping, the scheduled optimiser step, EMA; evaluation and
/// checkpoints every N steps; `metrics.jsonl`; a progress line; resume; and a checkpoint then a
/// clean stop on SIGINT/SIGTERM.
///
/// Determinism: given the same recipe, a run resumed from a checkpoint at step k reproduces the
/// uninterrupted run bit for bit, because everything the remaining steps read is restored —
/// parameters, optimiser moments and step counts, EMA, every generator the task declares, and
/// the batch source's position.
public final class Trainer<Task: TrainingTask> {
    public let task: Task
    public let optimizer: any Optimizer
    public let schedule: any LearningRateSchedule
    public let options: TrainerOptions
    public let runFolder: RunFolder
    public let ema: EMA?
    /// Stored in every checkpoint.
    public let recipeText: String
    public let modelKind: String

    public init(task: Task, optimizer: any Optimizer, schedule: any LearningRateSchedule, options: TrainerOptions,
                runFolder: RunFolder, recipeText: String, modelKind: String) {
        self.task = task
        self.optimizer = optimizer
        self.schedule = schedule
        self.options = options
        self.runFolder = runFolder
        self.recipeText = recipeText
        self.modelKind = modelKind
        ema = options.emaDecay > 0 ? EMA(task.model, decay: options.emaDecay) : nil
    }

    /// A trainer built from a recipe: optimiser and schedule from `[optim]`, the loop from
    /// `[train]`.
    public convenience init(task: Task, recipe: Recipe, runFolder: RunFolder, debug: DebugHooks = DebugHooks()) {
        var options = TrainerOptions(recipe: recipe)
        options.debug = debug
        self.init(task: task,
                  optimizer: recipe.optim.makeOptimizer(task.model.trainableParameters()),
                  schedule: recipe.optim.makeSchedule(totalSteps: recipe.train.steps),
                  options: options, runFolder: runFolder, recipeText: recipe.text,
                  modelKind: recipe.modelKind ?? "")
    }

    // MARK: Snapshots

    /// The state a checkpoint holds after `step` steps.
    func snapshot(step: Int, metrics: [(String, Float)]) -> TrainingSnapshot {
        var s = TrainingSnapshot(step: step, modelKind: modelKind, recipeText: recipeText)
        s.model = task.model.stateDict(copy: false)
        s.optimizer = optimizer.exportState()
        if let ema { let e = ema.exportState(); s.ema = e.tensors; s.emaUpdates = e.updates }
        for (name, g) in task.generators { s.rngStates[name] = g.state }
        s.loaderPosition = task.source.position
        s.metrics = metrics
        return s
    }

    /// Puts the model, optimiser, EMA, generators and source back where `s` left them.
    func restore(_ s: TrainingSnapshot) throws {
        let where_ = "checkpoint at step \(s.step)"
        do {
            try task.model.load(stateDict: s.model, strict: true)
        } catch let e as StateDictError {
            throw TrainError("\(where_): model parameters do not match this model: " + e.report.problems.prefix(5).joined(separator: "; "))
        }
        guard let opt = s.optimizer else { throw TrainError("\(where_): holds no optimizer state") }
        do { try optimizer.importState(opt) } catch let e as StateMismatchError {
            throw TrainError("\(where_): optimizer state does not match: " + e.problems.prefix(5).joined(separator: "; "))
        }
        if let ema {
            guard let tensors = s.ema else { throw TrainError("\(where_): holds no EMA but the recipe asks for train.ema") }
            do { try ema.importState(tensors: tensors, updates: s.emaUpdates) } catch let e as StateMismatchError {
                throw TrainError("\(where_): EMA does not match: " + e.problems.prefix(5).joined(separator: "; "))
            }
        }
        for (name, g) in task.generators {
            guard let st = s.rngStates[name] else { throw TrainError("\(where_): holds no state for generator '\(name)'") }
            g.state = st
        }
        try task.source.restore(position: s.loaderPosition)
    }

    // MARK: The loop

    /// Trains to `options.steps`. With `resume`, continues from the run folder's latest valid
    /// checkpoint (starting fresh when there is none); without, the run folder must hold no
    /// checkpoints. SIGINT/SIGTERM end the current step, write a checkpoint and return
    /// `.interrupted`.
    public func run(resume: Bool) throws -> TrainingOutcome {
        let checkpoints = try runFolder.checkpoints(keepLast: options.keepLast)
        var startStep = 0
        var resumedFrom: String? = nil
        if resume {
            if let snap = try checkpoints.latestValid() {
                guard snap.modelKind == modelKind else {
                    throw TrainError("\(snap.path ?? "checkpoint"): holds a '\(snap.modelKind)' model, the recipe trains '\(modelKind)'")
                }
                try restore(snap)
                startStep = snap.step
                resumedFrom = snap.path
                
                runFolder.note("resuming from \(snap.path ?? "checkpoint") at step \(snap.step)")
            } else {
                runFolder.note("no checkpoint in \(runFolder.path) yet; starting from step 0")
            }
        } else if checkpoints.hasAny() {
            throw TrainError("\(runFolder.path) already holds checkpoints; pass --resume to continue that run, or choose another --run-dir")
        }
        guard startStep <= options.steps else {
            throw TrainError("checkpoint is at step \(startStep), past train.steps = \(options.steps)")
        }
        let metrics = try MetricsLog(path: runFolder.metricsPath, keepingThrough: startStep)

        let stop = StopSignal()
        defer { stop.stop() }
        let progress = ProgressLine(total: options.steps, every: options.logEvery)
        defer { progress.finish() }

        let parameters = optimizer.allParameters.map(\.1)
        let sessionStart = DispatchTime.now().uptimeNanoseconds
        var smoothedRate: Double? = nil
        var step = startStep
        var lastLoss: Float? = nil
        var lastCheckpoint: String? = resumedFrom
        var lastCheckpointStep = startStep
        task.model.train()

        while step < options.steps {
            if let sig = stop.requested {
                // A signal that arrived while the previous step's checkpoint was being written.
                if lastCheckpointStep != step {
                    lastCheckpoint = try checkpoints.save(snapshot(step: step, metrics: []), debug: options.debug)
                }
                return TrainingOutcome(ending: .interrupted(signal: sig), step: step, startStep: startStep,
                                       lastLoss: lastLoss, checkpointPath: lastCheckpoint)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds

            var lossSum = 0.0
            for _ in 0..<options.accumulation {
                let batch = try task.source.next()
                let tape = Tape()
                let loss = try tape.record { try task.loss(batch) }
                guard loss.count == 1 else {
                    throw TrainError("the \(modelKind) loss returned shape \(loss.shape), expected a scalar")
                }
                let value = loss.item
                guard value.isFinite else {
                    throw TrainError("step \(step + 1): loss is \(value); stopping (last checkpoint: \(lastCheckpoint ?? "none"))")
                }
                lossSum += Double(value)
                tape.backward(loss, gradient: Tensor.full(loss.shape, 1 / Float(options.accumulation)))
            }
            let gradNorm = options.clip > 0 ? clipGradientNorm(parameters, maxNorm: options.clip) : gradientNorm(parameters)
            guard gradNorm.isFinite else {
                throw TrainError("step \(step + 1): gradient norm is \(gradNorm); stopping (last checkpoint: \(lastCheckpoint ?? "none"))")
            }
            let lr = schedule.lr(at: optimizer.stepCount)
            optimizer.learningRate = lr
            optimizer.step()
            optimizer.zeroGrad()
            ema?.update()
            step += 1

            let loss = Float(lossSum / Double(options.accumulation))
            lastLoss = loss
            var record = MetricsRecord(step: step)
            record.set("loss", loss)
            record.set("lr", lr)
            record.set("grad_norm", gradNorm)

            var evalMetrics: [(String, Float)] = []
            if options.evalEvery > 0 && (step % options.evalEvery == 0 || step == options.steps) {
                evalMetrics = try evaluate()
                for (k, v) in evalMetrics { record.set(k, v) }
            }

            let t1 = DispatchTime.now().uptimeNanoseconds
            let seconds = Double(t1 - t0) / 1e9
            let rate = 1 / max(seconds, 1e-9)
            smoothedRate = smoothedRate.map { 0.9 * $0 + 0.1 * rate } ?? rate
            record.setTiming("it_s", rate)
            record.setTiming("elapsed_s", Double(t1 - sessionStart) / 1e9)
            try metrics.append(record)

            let due = options.checkpointEvery > 0 && step % options.checkpointEvery == 0
            if due || step == options.steps || stop.requested != nil {
                lastCheckpoint = try checkpoints.save(snapshot(step: step, metrics: evalMetrics), debug: options.debug)
                lastCheckpointStep = step
            }
            let extra = evalMetrics.map { "\($0.0) \(ProgressLine.format($0.1))" }.joined(separator: "  ")
            progress.update(step: step, loss: loss, lr: Double(lr), itPerSecond: smoothedRate ?? rate, extra: extra)

            if options.debug.stepDelay > 0 { Thread.sleep(forTimeInterval: options.debug.stepDelay) }
        }
        return TrainingOutcome(ending: .finished, step: step, startStep: startStep, lastLoss: lastLoss,
                               checkpointPath: lastCheckpoint)
    }

    /// The task's metrics in evaluation mode without gradients, then the same with the EMA
    /// weights (suffix `_ema`) when EMA is on.
    func evaluate() throws -> [(String, Float)] {
        task.model.eval()
        defer { task.model.train() }
        var out = try noGrad { try task.evaluate() }
        if let ema {
            ema.swap()
            defer { ema.swap() }
            out += try noGrad { try task.evaluate() }.map { ($0.0 + "_ema", $0.1) }
        }
        return out
    }
}
