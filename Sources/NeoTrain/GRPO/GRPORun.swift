import Foundation
import KineticGRPO
import NeoIO
import NeoNN
import NeoTensor
import RewardModel
import Vocal

/// `neo-train grpo RECIPE`: Kinetic-GRPO from a VOCAL checkpoint, with the run folder,
/// checkpoints, resume, `metrics.jsonl`, a progress line and a clean stop on SIGINT/SIGTERM of
/// the pretraining loop. One checkpoint "step" is one GRPO iteration (a rollout and its
/// `updates_per_rollout` optimiser steps).
///
/// Determinism: iteration i's clips, noises and draws come from the run seed and i alone, and a
/// checkpoint holds the policy, the optimiser and the EMA, so a resumed run repeats the
/// uninterrupted one bit for bit.
public enum GRPOCommand {
    /// Model kind of the checkpoints a GRPO run writes (loadable as a VOCAL policy).
    public static let modelKind = "vocal-grpo"

    /// Everything a GRPO run is built from, checked against each other.
    public struct Setup {
        public let recipe: Recipe
        /// The policy and its frozen reference, in the network's own latent space.
        public let policy: NormalizedVocal
        public let reference: NormalizedVocal
        /// The pretraining recipe the policy descends from (carried into GRPO checkpoints).
        public let pretrainingRecipe: String?
        /// Scores network-space latents (the loaded reward applied to real motion).
        public let reward: MotionReward
        public let clips: any GRPOClipSource
        public let settings: GRPOSettings
        public let evalCandidates: Int
        public let train: GRPOTrainSection
    }

    /// Decodes the recipe and loads what it names; every problem is an error naming the recipe
    /// key and the file.
    public static func prepare(recipePath: String, overrides: [String]) throws -> Setup {
        let recipe = try Recipe.load(path: recipePath, overrides: overrides, sections: Recipe.grpoSections)
        let source = recipe.source
        let policySection = recipe.section(GRPOPolicySection.self)
        let rewardSection = recipe.section(GRPORewardSection.self)
        let data = recipe.section(GRPODataSection.self)
        let grpo = recipe.section(GRPOSection.self)
        let train = recipe.section(GRPOTrainSection.self)

        func loadPolicy() throws -> GRPOPolicyCheckpoint {
            do {
                return try GRPOPolicyCheckpoint.load(path: policySection.checkpoint, ema: policySection.weights == .ema,
                                                     gradientCheckpointing: policySection.gradientCheckpointing)
            } catch {
                throw TrainError("\(source): policy.checkpoint: \(error)")
            }
        }
        let loaded = try loadPolicy()
        let policy = loaded.model
        // The reference is a second, frozen copy of the starting weights.
        let reference = try loadPolicy().model
        reference.eval()

        let inner = try makeReward(rewardSection, source: source, policy: policy.config)
        do { try inner.checkCompatible(latentDim: policy.config.latentDim) } catch {
            throw TrainError("\(source): reward: \(error) (policy \(policySection.checkpoint))")
        }
        let reward = NetworkSpaceReward(inner, space: policy)
        let clips: any GRPOClipSource
        switch data.source {
        case .synthetic:
            clips = GRPOClipPool(config: policy.config, data: data, seed: recipe.run.seed, rewardAudio: reward.audioFormat)
        case .dataset:
            // VOCAL's identity split: the pretraining recipe's, else the GRPO recipe's keys.
            var split = loaded.pretrainingRecipe?.section(VocalDataSection.self) ?? VocalDataSection()
            if loaded.pretrainingRecipe == nil {
                split.referenceFrames = data.referenceFrames
                split.validationIdentities = data.validationIdentities
                split.testIdentities = data.testIdentities
            }
            do {
                clips = try GRPODatasetClips(folder: data.path, space: policy, vocalData: split, data: data, seed: recipe.run.seed)
            } catch {
                throw TrainError("\(source): data: \(error)")
            }
            if inner.audioFormat != nil {
                throw TrainError("\(source): reward: '\(inner.name)' reads audio features of another format than the policy's (\(policy.config.audioLayers) × \(policy.config.audioWidth)); dataset clips carry only the cached features")
            }
        }
        if grpo.settings.clipsPerIteration > clips.trainCount {
            throw TrainError("\(source): grpo.clips_per_iteration: \(grpo.settings.clipsPerIteration) clips per iteration from a pool of \(clips.trainCount) training clips")
        }
        return Setup(recipe: recipe, policy: policy, reference: reference, pretrainingRecipe: loaded.pretrainingRecipeText,
                     reward: reward, clips: clips, settings: grpo.settings, evalCandidates: grpo.evalCandidates, train: train)
    }

    static func makeReward(_ r: GRPORewardSection, source: String, policy: VocalConfig) throws -> MotionReward {
        switch r.kind {
        case .model:
            let loaded: LoadedRewardModel
            do { loaded = try LoadedRewardModel.load(r.checkpoint, preferEMA: true) } catch {
                throw TrainError("\(source): reward.checkpoint: \(error)")
            }
            let head: RewardModelScore.Head = switch r.head {
            case .overall: .overall
            case .naturalness: .naturalness
            case .expressionRange: .expressionRange
            case .audioAlignment: .audioAlignment
            }
            return RewardModelScore(model: loaded.model, head: head, policyAudio: (policy.audioLayers, policy.audioWidth))
        case .target:
            return TargetReward(target: Float(r.target), latentDim: r.latentDim > 0 ? r.latentDim : nil)
        case .lipOpening:
            let geometry: LipGeometry = r.geometry == .synthetic ? .synthetic : .livePortrait
            do { return try LipOpeningReward(geometry: geometry, latentDim: r.latentDim > 0 ? r.latentDim : 70) } catch {
                throw TrainError("\(source): reward.latent_dim: \(error)")
            }
        }
    }

    /// Runs (or resumes) the GRPO run of the recipe. With `dumpRollout`, the first iteration this
    /// call runs records every step and is written there (docs/grpo-rollout-dump.md).
    public static func run(recipePath: String, overrides: [String], runDirectory: String?, resume: Bool,
                           dumpRollout: String? = nil, debug: DebugHooks = .fromEnvironment()) throws -> TrainingOutcome {
        let setup = try prepare(recipePath: recipePath, overrides: overrides)
        let recipe = setup.recipe, train = setup.train, settings = setup.settings
        let folder = try RunFolder(path: runDirectory ?? recipe.run.outputDir + "/" + recipe.run.name)
        let checkpoints = try folder.checkpoints(keepLast: train.keepLast)
        if !resume && checkpoints.hasAny() {
            throw TrainError("\(folder.path) already holds checkpoints; pass --resume to continue that run, or choose another --run-dir")
        }
        if resume, let previous = try? String(contentsOfFile: folder.recipePath, encoding: .utf8),
           let old = try? Recipe.parse(text: previous, source: folder.recipePath, sections: Recipe.grpoSections) {
            let changes = recipe.differences(from: old)
            if !changes.isEmpty { folder.note("recipe changed since the last start of this run: " + changes.joined(separator: ", ")) }
        }
        try folder.writeRecipe(recipe.text)

        let policy = setup.policy
        let optimizer = recipe.optim.makeOptimizer(policy.trainableParameters())
        let totalUpdates = train.iterations * settings.updatesPerRollout
        let schedule = recipe.optim.makeSchedule(totalSteps: totalUpdates)
        let ema = train.ema > 0 ? EMA(policy, decay: Float(train.ema)) : nil
        let learner = try GRPOLearner(policy: policy.vocal, reference: setup.reference.vocal, reward: setup.reward, settings: settings,
                                      optimizer: optimizer, schedule: schedule, clipNorm: Float(recipe.optim.clip), ema: ema,
                                      seed: Generator.stream(seed: recipe.run.seed, "grpo-rollouts").seed)

        var start = 0
        var lastCheckpoint: String? = nil
        if resume, let snap = try checkpoints.latestValid() {
            guard snap.modelKind == modelKind else {
                throw TrainError("\(snap.path ?? "checkpoint"): holds a '\(snap.modelKind)' model, a GRPO run resumes from '\(modelKind)' checkpoints")
            }
            try restore(snap, policy: policy, optimizer: optimizer, ema: ema)
            start = snap.step
            lastCheckpoint = snap.path
            folder.note("resuming from \(snap.path ?? "checkpoint") at iteration \(snap.step)")
        }
        guard start <= train.iterations else {
            throw TrainError("checkpoint is at iteration \(start), past train.iterations = \(train.iterations)")
        }
        folder.note("grpo run in \(folder.path): \(train.iterations) iterations of \(settings.clipsPerIteration)×\(settings.groupSize) candidates, \(settings.steps) steps, trained window \(settings.window.lowerBound)..<\(settings.window.upperBound), reward \(setup.reward.name); clips: \(setup.clips.summary)")

        // Resumed before the first checkpoint, the run starts over: a fresh log, so the step-0
        // evaluation below is not written twice.
        let metrics = try MetricsLog(path: folder.metricsPath, keepingThrough: start > 0 ? start : nil)
        let evalClips = try setup.clips.evaluationClips()
        var evalSeconds = 0.0
        func evaluate() throws -> [(String, Float)] {
            guard !evalClips.isEmpty else { return [] }
            let evalSeed = UInt64(recipe.run.seed) &+ 0x5eed
            let t0 = DispatchTime.now().uptimeNanoseconds
            func once() throws -> GRPOEvaluation.Result {
                try GRPOEvaluation.run(policy: policy, reference: setup.reference, clips: evalClips, reward: setup.reward,
                                       settings: settings, seed: evalSeed, candidates: setup.evalCandidates, geometry: setup.clips.geometry)
            }
            var out = try once().named()
            if let ema {
                ema.swap()
                defer { ema.swap() }
                out += try once().named(suffix: "_ema")
            }
            evalSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            return out
        }
        if start == 0 && train.evalEvery > 0 {
            var record = MetricsRecord(step: 0)
            for (k, v) in try evaluate() { record.set(k, v) }
            try metrics.append(record)
        }

        let stop = StopSignal()
        defer { stop.stop() }
        let progress = ProgressLine(total: train.iterations, every: train.logEvery)
        defer { progress.finish() }
        let sessionStart = DispatchTime.now().uptimeNanoseconds
        var iteration = start
        var lastLoss: Float? = nil
        var lastCheckpointIteration = start
        var dumpPending = dumpRollout

        func save(_ evalMetrics: [(String, Float)]) throws {
            var snap = TrainingSnapshot(step: iteration, modelKind: modelKind, recipeText: recipe.text)
            snap.model = policy.stateDict(copy: false)
            snap.optimizer = optimizer.exportState()
            if let ema { let e = ema.exportState(); snap.ema = e.tensors; snap.emaUpdates = e.updates }
            snap.loaderPosition = ["iteration": iteration]
            snap.metrics = evalMetrics
            var c = RunCheckpoints.checkpoint(from: snap)
            for (k, v) in GRPOPolicyCheckpoint.metadata(for: policy, pretrainingRecipe: setup.pretrainingRecipe) { c.metadata[k] = v }
            c.metadata["grpo.reference"] = recipe.section(GRPOPolicySection.self).checkpoint
            // best.h5 keeps the highest held-out reward (the manager keeps the lowest metric).
            let reward = evalMetrics.first { $0.0 == (ema != nil ? "eval_reward_ema" : "eval_reward") }?.1
            lastCheckpoint = try checkpoints.manager.save(c, metric: reward.map { -Double($0) }).path
            lastCheckpointIteration = iteration
        }

        while iteration < train.iterations {
            if let sig = stop.requested {
                if lastCheckpointIteration != iteration { try save([]) }
                return TrainingOutcome(ending: .interrupted(signal: sig), step: iteration, startStep: start,
                                       lastLoss: lastLoss, checkpointPath: lastCheckpoint)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let clips = try setup.clips.trainingClips(iteration: iteration, seed: recipe.run.seed, count: settings.clipsPerIteration)
            let result = try learner.iteration(iteration, clips: clips, recordAll: dumpPending != nil)
            if let path = dumpPending {
                try RolloutDump.write(result.rollout, to: path, recipe: recipe.text)
                folder.note("rollout of iteration \(iteration) written to \(path)")
                dumpPending = nil
            }
            iteration += 1

            var record = MetricsRecord(step: iteration)
            let loss = log(result, into: &record, settings: settings)
            lastLoss = loss
            var evalMetrics: [(String, Float)] = []
            if train.evalEvery > 0 && (iteration % train.evalEvery == 0 || iteration == train.iterations) {
                evalMetrics = try evaluate()
                for (k, v) in evalMetrics { record.set(k, v) }
            }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let seconds = Double(t1 - t0) / 1e9
            record.setTiming("elapsed_s", Double(t1 - sessionStart) / 1e9)
            record.setTiming("it_s", 1 / Swift.max(seconds, 1e-9))
            record.setTiming("iteration_s", seconds - (evalMetrics.isEmpty ? 0 : evalSeconds))
            if !evalMetrics.isEmpty { record.setTiming("eval_s", evalSeconds) }
            logTiming(result, into: &record)
            try metrics.append(record)

            let due = train.checkpointEvery > 0 && iteration % train.checkpointEvery == 0
            if due || iteration == train.iterations || stop.requested != nil { try save(evalMetrics) }
            let rewardMean = result.rollout.allRewards.reduce(0.0) { $0 + Double($1) } / Double(Swift.max(1, result.rollout.allRewards.count))
            var extra = "reward \(ProgressLine.format(Float(rewardMean)))"
            extra += "  kl \(ProgressLine.format(Float(result.updates.last.map { klMean($0.pass) } ?? 0)))"
            for (k, v) in evalMetrics { extra += "  \(k) \(ProgressLine.format(v))" }
            progress.update(step: iteration, loss: loss, lr: Double(result.updates.last?.learningRate ?? 0),
                            itPerSecond: 1 / Swift.max(seconds, 1e-9), extra: extra)
            if debug.stepDelay > 0 { Thread.sleep(forTimeInterval: debug.stepDelay) }
        }
        return TrainingOutcome(ending: .finished, step: iteration, startStep: start, lastLoss: lastLoss,
                               checkpointPath: lastCheckpoint)
    }

    static func restore(_ s: TrainingSnapshot, policy: NormalizedVocal, optimizer: any Optimizer, ema: EMA?) throws {
        let at = s.path ?? "checkpoint at iteration \(s.step)"
        do { try policy.load(stateDict: s.model, strict: true) } catch let e as StateDictError {
            throw TrainError("\(at): policy parameters do not match the recipe's VOCAL shape: " + e.report.problems.prefix(5).joined(separator: "; "))
        }
        guard let o = s.optimizer else { throw TrainError("\(at): holds no optimizer state") }
        do { try optimizer.importState(o) } catch let e as StateMismatchError {
            throw TrainError("\(at): optimizer state does not match: " + e.problems.prefix(5).joined(separator: "; "))
        }
        if let ema {
            guard let tensors = s.ema else { throw TrainError("\(at): holds no EMA but the recipe asks for train.ema") }
            do { try ema.importState(tensors: tensors, updates: s.emaUpdates) } catch let e as StateMismatchError {
                throw TrainError("\(at): EMA does not match: " + e.problems.prefix(5).joined(separator: "; "))
            }
        }
        guard s.loaderPosition["iteration"] == s.step else {
            throw TrainError("\(at): iteration \(s.loaderPosition["iteration"].map(String.init) ?? "(missing)") does not match step \(s.step)")
        }
    }

    static func klMean(_ pass: ReplayPass) -> Double {
        let all = pass.steps.flatMap(\.klPerDimension)
        return all.isEmpty ? 0 : all.reduce(0.0) { $0 + Double($1) } / Double(all.count)
    }

    /// The deterministic per-iteration metrics; returns the mean loss over the updates.
    static func log(_ result: GRPOIterationResult, into record: inout MetricsRecord, settings: GRPOSettings) -> Float {
        let rewards = result.rollout.allRewards.map(Double.init)
        let mean = rewards.reduce(0, +) / Double(Swift.max(1, rewards.count))
        let std = (rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(Swift.max(1, rewards.count))).squareRoot()
        record.set("reward_mean", mean)
        record.set("reward_std", std)
        record.set("reward_min", rewards.min() ?? 0)
        record.set("reward_max", rewards.max() ?? 0)
        record.set("dropped_groups", result.rollout.droppedGroups)
        record.set("groups", result.rollout.groups.count)
        let updates = result.updates
        let n = Double(Swift.max(1, updates.count))
        let loss = updates.reduce(0.0) { $0 + $1.pass.loss } / n
        record.set("loss", loss)
        record.set("policy_loss", updates.reduce(0.0) { $0 + $1.pass.policyLoss } / n)
        record.set("kl_loss", updates.reduce(0.0) { $0 + $1.pass.klLoss } / n)
        record.set("lr", updates.last?.learningRate ?? 0)
        record.set("grad_norm", updates.reduce(0.0) { $0 + Double($1.gradientNorm) } / n)
        record.set("grad_norm_max", updates.map(\.gradientNorm).max() ?? 0)
        record.set("updates", updates.filter(\.stepped).count)
        // Over every replay of every update: clip fraction, KL per dimension, ratios per step.
        let all = updates.flatMap(\.pass.steps)
        let ratios = all.reduce(0) { $0 + $1.ratios.count }
        record.set("clip_fraction", ratios == 0 ? 0 : Double(all.reduce(0) { $0 + $1.clipped }) / Double(ratios))
        let kls = all.flatMap(\.klPerDimension)
        record.set("kl", kls.isEmpty ? 0 : kls.reduce(0.0) { $0 + Double($1) } / Double(kls.count))
        for k in settings.window {
            let steps = all.filter { $0.k == k }
            let r = steps.flatMap(\.ratios), kl = steps.flatMap(\.klPerDimension)
            record.set("kl_k\(k)", kl.isEmpty ? 0 : kl.reduce(0.0) { $0 + Double($1) } / Double(kl.count))
            record.set("ratio_mean_k\(k)", r.isEmpty ? 1 : r.reduce(0.0) { $0 + Double($1) } / Double(r.count))
            record.set("ratio_min_k\(k)", r.min() ?? 1)
            record.set("ratio_max_k\(k)", r.max() ?? 1)
            record.set("log_ratio_abs_max_k\(k)", steps.flatMap(\.logRatios).map { Swift.abs($0) }.max() ?? 0)
        }
        return Float(loss)
    }

    /// Wall-clock and memory figures (they differ from run to run).
    static func logTiming(_ result: GRPOIterationResult, into record: inout MetricsRecord) {
        let mb = 1.0 / (1024 * 1024)
        record.setTiming("rollout_s", result.rollout.samplingSeconds + result.rollout.scoringSeconds)
        record.setTiming("update_s", result.updates.reduce(0.0) { $0 + $1.seconds })
        if let p = result.rolloutPeakResident { record.setTiming("rollout_peak_rss_mb", Double(p) * mb) }
        if let p = result.updatePeakResident { record.setTiming("update_peak_rss_mb", Double(p) * mb) }
        let all = result.updates.flatMap(\.pass.steps)
        guard !all.isEmpty else { return }
        for k in Set(all.map(\.k)).sorted() {
            let steps = all.filter { $0.k == k }
            let replays = steps.reduce(0) { $0 + $1.replays }
            let seconds = steps.reduce(0.0) { $0 + $1.seconds }
            record.setTiming("replay_ms_k\(k)", replays == 0 ? 0 : 1000 * seconds / Double(replays))
            if let rss = steps.compactMap(\.residentBytes).max() { record.setTiming("replay_rss_mb_k\(k)", Double(rss) * mb) }
            record.setTiming("replay_pool_peak_mb_k\(k)", Double(steps.map(\.poolPeakBytes).max() ?? 0) * mb)
        }
    }
}
