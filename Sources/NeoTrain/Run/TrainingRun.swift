import Distributed
import Foundation
import NeoIO
import NeoNN
import NeoTensor

/// The loop's rhythm, normally from a recipe's `[train]`.
public struct RunOptions: Sendable {
    /// Steps of the whole run (`train.steps`; GRPO: `train.iterations`).
    public var steps: Int
    /// The recipe key of `steps` and the name of one step, for messages.
    public var stepsKey = "train.steps"
    public var unit = "step"
    /// Evaluate every N steps and at the last one; 0 never.
    public var evalEvery = 0
    /// Also evaluate the starting weights as a step-0 record (GRPO: the policy before training).
    public var evaluateAtStart = false
    /// Checkpoint every N steps (0: only at the end); one is always written at the end and on
    /// SIGINT/SIGTERM.
    public var checkpointEvery = 0
    public var keepLast = 3
    public var logEvery = 10
    public var debug = DebugHooks()

    public init(steps: Int) { self.steps = steps }

    /// `[train]` of a pretraining recipe.
    public init(train t: TrainSection, debug: DebugHooks = DebugHooks()) {
        steps = t.steps
        evalEvery = t.evalEvery
        checkpointEvery = t.checkpointEvery
        keepLast = t.keepLast
        logEvery = t.logEvery
        self.debug = debug
    }
}

/// How a run ended.
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

/// The one training-run driver: every trainer (`neo-train pretrain` for each model kind,
/// `reward train`, `grpo`) is a `RunStep` run by it.
///
/// - **Run folder** (`RunFolder`): locked for the run's lifetime (`RunLock`); a fresh start
///   refuses a folder holding checkpoints; the effective recipe is written to `recipe.toml` only
///   once the start or resume has been accepted, so a refused resume leaves it as it was.
/// - **Resume** from the newest checkpoint that reads back with valid checksums.
/// - **Stop signals**: SIGINT/SIGTERM end the current step, write a checkpoint and return
///   `.interrupted`.
/// - **Logging**: a progress line; one `metrics.jsonl` record per step (mirrored to
///   TensorBoard), trimmed back to the checkpoint's step on resume.
/// - **Checkpoints** every `checkpoint_every` steps and at the end, keep-last-N plus `best.h5`:
///   the lowest `RunStep.rank` of the step's evaluation. A non-finite evaluation metric is
///   reported and never ranks.
///
/// Determinism: a run resumed from the checkpoint of step k repeats the uninterrupted run bit
/// for bit, because the checkpoint holds everything the remaining steps read (`RunStep`).
///
/// Under an MPI launcher (`mpirun -np N neo-train …`) every rank runs this loop in lockstep
/// (`docs/distributed.md`): rank 0 alone holds the lock and writes the recipe, the log and the
/// checkpoints; on resume it sends the checkpoint's bytes to the others; the parameters are
/// broadcast from rank 0 before the first step; each rank trains on its `BatchShard` and the
/// gradients are averaged by `AllReduceReducer`; a stop signal on any rank stops all of them
/// after the same step.
public final class TrainingRun {
    public let folder: RunFolder
    public let recipeText: String
    /// The kind written into checkpoints and required of a resumed one.
    public let modelKind: String
    public let options: RunOptions
    public let resume: Bool
    /// Where gradients are averaged across processes (one process: nothing to do).
    public var reducer: GradientReducer
    /// The processes training together (a world of one without an MPI launcher).
    public let world: Communicator
    /// Held by rank 0 only.
    private let lock: RunLock?

    /// Takes the folder's lock and checks that a fresh start finds no checkpoints. With
    /// `previousRecipe`, a resumed run lists the recipe keys changed since its last start.
    public init(folder: RunFolder, recipeText: String, modelKind: String, options: RunOptions, resume: Bool,
                previousRecipe: ((String) -> [String]?)? = nil, world: Communicator = .world) throws {
        self.world = world
        reducer = world.size > 1 ? AllReduceReducer(world: world) : SingleProcessReducer()
        self.folder = folder
        self.recipeText = recipeText
        self.modelKind = modelKind
        self.options = options
        self.resume = resume
        lock = world.isRoot ? try RunLock(folder: folder.path, note: folder.note) : nil
        if try world.isRoot && !resume && folder.checkpoints(keepLast: options.keepLast).hasAny() {
            throw TrainError("\(folder.path) already holds checkpoints; pass --resume to continue that run, or choose another --run-dir")
        }
        if resume, world.isRoot, let previousRecipe, let text = try? String(contentsOfFile: folder.recipePath, encoding: .utf8),
           let changes = previousRecipe(text), !changes.isEmpty {
            folder.note("recipe changed since the last start of this run: " + changes.joined(separator: ", "))
        }
    }

    /// Releases the folder's lock (also done when the run is dropped).
    public func close() { lock?.release() }

    // MARK: Checkpoints

    func snapshot(_ step: RunStep, at index: Int, metrics: [(String, Float)]) -> TrainingSnapshot {
        var s = TrainingSnapshot(step: index, modelKind: modelKind, recipeText: recipeText)
        s.model = step.model.stateDict(copy: false)
        for (i, o) in step.optimizers.enumerated() {
            if i == 0 { s.optimizer = o.optimizer.exportState() } else { s.extraOptimizers[o.name] = o.optimizer.exportState() }
        }
        if let ema = step.ema { let e = ema.exportState(); s.ema = e.tensors; s.emaUpdates = e.updates }
        for (name, g) in step.generators { s.rngStates[name] = g.state }
        s.loaderPosition = step.position
        s.metrics = metrics
        s.metadata = step.checkpointMetadata
        return s
    }

    /// Puts the step's model, optimisers, EMA, generators and position back where `s` left them.
    func restore(_ s: TrainingSnapshot, into step: RunStep) throws {
        let at = s.path ?? "checkpoint at \(options.unit) \(s.step)"
        guard s.modelKind == modelKind else {
            throw TrainError("\(at): holds a '\(s.modelKind)' model, this run trains '\(modelKind)'")
        }
        do { try step.model.load(stateDict: s.model, strict: true) } catch let e as StateDictError {
            throw TrainError("\(at): model parameters do not match this model: " + e.report.problems.prefix(5).joined(separator: "; "))
        }
        for (i, o) in step.optimizers.enumerated() {
            let name = i == 0 ? "optimizer" : "optimizer '\(o.name)'"
            guard let state = i == 0 ? s.optimizer : s.extraOptimizers[o.name] else { throw TrainError("\(at): holds no \(name) state") }
            do { try o.optimizer.importState(state) } catch let e as StateMismatchError {
                throw TrainError("\(at): \(name) state does not match: " + e.problems.prefix(5).joined(separator: "; "))
            }
        }
        if let ema = step.ema {
            guard let tensors = s.ema else { throw TrainError("\(at): holds no EMA but the recipe asks for train.ema") }
            do { try ema.importState(tensors: tensors, updates: s.emaUpdates) } catch let e as StateMismatchError {
                throw TrainError("\(at): EMA does not match: " + e.problems.prefix(5).joined(separator: "; "))
            }
        }
        for (name, g) in step.generators {
            guard let state = s.rngStates[name] else { throw TrainError("\(at): holds no state for generator '\(name)'") }
            g.state = state
        }
        try step.restore(position: s.loaderPosition, step: s.step)
    }

    /// The step's metrics in evaluation mode without a tape, then with the EMA weights
    /// (suffix `_ema`). Non-finite values are reported on stderr.
    func evaluate(_ step: RunStep, at index: Int) throws -> [(String, Float)] {
        step.model.eval()
        defer { step.model.train() }
        var out = try noGrad { try step.evaluate() }
        if let ema = step.ema {
            ema.swap()
            defer { ema.swap() }
            out += try noGrad { try step.evaluate() }.map { ($0.0 + "_ema", $0.1) }
        }
        let bad = out.filter { !$0.1.isFinite }
        if !bad.isEmpty {
            folder.warn("\(options.unit) \(index): evaluation gave \(bad.map { "\($0.0) = \($0.1)" }.joined(separator: ", ")) (non-finite values in the held-out data or a diverged model?); this checkpoint cannot become best.h5")
        }
        return out
    }

    // MARK: Processes

    /// A line for the user, from rank 0 only.
    func note(_ s: String) { if world.isRoot { folder.note(s) } }

    /// The newest valid checkpoint. Several processes: rank 0 chooses and reads it and sends
    /// its bytes to the others (no shared file system needed), which read them back from a
    /// private temporary file.
    func latestCheckpoint(_ checkpoints: RunCheckpoints) throws -> TrainingSnapshot? {
        guard world.size > 1 else { return try checkpoints.latestValid() }
        var bytes: [UInt8] = [], path = "", chosen: Checkpoint? = nil
        if world.isRoot, let (p, c) = checkpoints.manager.latestValid() {
            guard let data = FileManager.default.contents(atPath: p) else { throw TrainError("\(p): cannot be read") }
            bytes = [UInt8](data); path = p; chosen = c
        }
        bytes = world.broadcast(bytes: bytes)
        path = String(decoding: world.broadcast(bytes: Array(path.utf8)), as: UTF8.self)
        guard !bytes.isEmpty else { return nil }
        if let chosen { return try RunCheckpoints.snapshot(from: chosen, path: path) }
        let copy = NSTemporaryDirectory() + "neo-train-rank\(world.rank)-\(getpid()).h5"
        defer { unlink(copy) }
        guard FileManager.default.createFile(atPath: copy, contents: Data(bytes)) else {
            throw TrainError("\(copy): cannot write rank \(world.rank)'s copy of \(path)")
        }
        return try RunCheckpoints.snapshot(from: try Checkpoint.read(from: copy), path: path)
    }

    /// The checkpoint stores rank 0's loader position and generator states as every rank's:
    /// before each checkpoint the ranks compare a hash of theirs (one 16-byte all-reduce), so a
    /// divergence is an error instead of a silently wrong resume.
    func checkRanksAgree(_ step: RunStep, at index: Int, lastCheckpoint: String?) throws {
        guard world.size > 1 else { return }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3 }
        for (k, v) in step.position.sorted(by: { $0.key < $1.key }) { k.utf8.forEach { mix(UInt64($0)) }; mix(UInt64(bitPattern: Int64(v))) }
        for (k, g) in step.generators.sorted(by: { $0.key < $1.key }) { k.utf8.forEach { mix(UInt64($0)) }; mix(g.state.seed); mix(g.state.counter) }
        let v = Int64(bitPattern: h >> 2)   // 62 bits, so that −v never overflows
        let r = world.allReduceMax([v, -v])
        guard r[0] == -r[1] else {
            throw TrainError("\(options.unit) \(index): the ranks' loader positions or random generators differ, so no checkpoint can hold them all; stopping (last checkpoint: \(lastCheckpoint ?? "none"))")
        }
    }

    /// Every parameter (frozen ones too) takes rank 0's values, so all ranks start equal.
    func broadcastParameters(_ step: RunStep) {
        guard world.size > 1 else { return }
        let state = step.model.stateDict(copy: false)
        world.broadcast(state.keys.sorted().map { state[$0]! })
    }

    // MARK: The loop

    /// Runs `step` to `options.steps`: from the newest valid checkpoint when resuming (from
    /// step 0 when there is none), else from the start.
    public func run(_ step: RunStep) throws -> TrainingOutcome {
        defer { close() }
        let checkpoints = try folder.checkpoints(keepLast: options.keepLast)
        var start = 0
        var lastCheckpoint: String? = nil
        if resume {
            if let snap = try latestCheckpoint(checkpoints) {
                try restore(snap, into: step)
                start = snap.step
                lastCheckpoint = snap.path
                note("resuming from \(snap.path ?? "checkpoint") at \(options.unit) \(snap.step)" +
                     (world.size > 1 ? " on \(world.size) processes" : ""))
            } else {
                note("no checkpoint in \(folder.path) yet; starting from \(options.unit) 0")
            }
        }
        broadcastParameters(step)
        guard start <= options.steps else {
            throw TrainError("\(lastCheckpoint ?? "checkpoint") is at \(options.unit) \(start), past \(options.stepsKey) = \(options.steps)")
        }
        if world.isRoot { try folder.writeRecipe(recipeText) }

        // Resumed before the first checkpoint, the run starts over with a fresh log.
        let metrics = world.isRoot ? try MetricsLog(path: folder.metricsPath, keepingThrough: start > 0 ? start : nil) : nil
        if start == 0 && options.evaluateAtStart && options.evalEvery > 0 && world.isRoot {
            var record = MetricsRecord(step: 0)
            for (k, v) in try evaluate(step, at: 0) { record.set(k, v) }
            try metrics?.append(record)
        }

        let stop = StopSignal()
        defer { stop.stop() }
        let progress = world.isRoot ? ProgressLine(total: options.steps, every: options.logEvery) : nil
        defer { progress?.finish() }
        let shard = BatchShard(rank: world.rank, count: world.size)
        let sessionStart = DispatchTime.now().uptimeNanoseconds
        var smoothedRate: Double? = nil
        var index = start
        var lastLoss: Float? = nil
        var lastCheckpointStep = start
        step.model.train()

        func save(_ evalMetrics: [(String, Float)]) throws {
            lastCheckpointStep = index
            try checkRanksAgree(step, at: index, lastCheckpoint: lastCheckpoint)
            guard world.isRoot else { lastCheckpoint = checkpoints.manager.path(step: index); return }
            let s = snapshot(step, at: index, metrics: evalMetrics)
            let rank = step.rank(evalMetrics).flatMap { $0.isFinite ? $0 : nil }
            lastCheckpoint = try checkpoints.save(s, rank: rank, debug: options.debug)
        }
        // A stop asked of any rank stops every rank after the same step.
        func stopRequested() -> Int32? {
            guard world.size > 1 else { return stop.requested }
            let s = world.allReduceMax([Int64(stop.requested ?? 0)])[0]
            return s > 0 ? Int32(s) : nil
        }

        while index < options.steps {
            if let sig = stopRequested() {
                // A signal that arrived while the previous step's checkpoint was being written.
                if lastCheckpointStep != index { try save([]) }
                return TrainingOutcome(ending: .interrupted(signal: sig), step: index, startStep: start,
                                       lastLoss: lastLoss, checkpointPath: lastCheckpoint)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let summary = try step.run(step: index, context: StepContext(reducer: reducer, lastCheckpoint: lastCheckpoint,
                                                                         debug: options.debug, shard: shard))
            index += 1
            lastLoss = summary.loss
            var record = summary.record

            var evalMetrics: [(String, Float)] = []
            var evalSeconds = 0.0
            if options.evalEvery > 0 && (index % options.evalEvery == 0 || index == options.steps) && world.isRoot {
                let e0 = DispatchTime.now().uptimeNanoseconds
                evalMetrics = try evaluate(step, at: index)
                evalSeconds = Double(DispatchTime.now().uptimeNanoseconds - e0) / 1e9
                for (k, v) in evalMetrics { record.set(k, v) }
            }

            let t1 = DispatchTime.now().uptimeNanoseconds
            let rate = 1 / max(Double(t1 - t0) / 1e9, 1e-9)
            smoothedRate = smoothedRate.map { 0.9 * $0 + 0.1 * rate } ?? rate
            record.setTiming("it_s", rate)
            record.setTiming("elapsed_s", Double(t1 - sessionStart) / 1e9)
            if !evalMetrics.isEmpty { record.setTiming("eval_s", evalSeconds) }
            for (k, v) in summary.timings { record.setTiming(k, v) }
            try metrics?.append(record)

            let due = options.checkpointEvery > 0 && index % options.checkpointEvery == 0
            let stopping = index < options.steps && stopRequested() != nil
            if due || index == options.steps || stopping { try save(evalMetrics) }
            let extra = ([summary.progress].filter { !$0.isEmpty } + evalMetrics.map { "\($0.0) \(ProgressLine.format($0.1))" })
                .joined(separator: "  ")
            progress?.update(step: index, loss: summary.loss, lr: summary.learningRate, itPerSecond: smoothedRate ?? rate, extra: extra)

            if options.debug.stepDelay > 0 { Thread.sleep(forTimeInterval: options.debug.stepDelay) }
        }
        return TrainingOutcome(ending: .finished, step: index, startStep: start, lastLoss: lastLoss, checkpointPath: lastCheckpoint)
    }
}
