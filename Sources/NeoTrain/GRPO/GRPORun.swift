import Distributed
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
            return RewardModelScore(model: loaded.model, head: r.head, policyAudio: (policy.audioLayers, policy.audioWidth))
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
        guard Communicator.world.size == 1 else {
            throw TrainError("grpo runs as one process for now, but an MPI launcher started \(Communicator.world.size); run it without mpirun (docs/distributed.md)")
        }
        let setup = try prepare(recipePath: recipePath, overrides: overrides)
        let recipe = setup.recipe, train = setup.train, settings = setup.settings
        let folder = try RunFolder(path: runDirectory ?? recipe.run.outputDir + "/" + recipe.run.name)
        var options = RunOptions(steps: train.iterations)
        options.stepsKey = "train.iterations"
        options.unit = "iteration"
        options.evalEvery = train.evalEvery
        options.evaluateAtStart = true
        options.checkpointEvery = train.checkpointEvery
        options.keepLast = train.keepLast
        options.logEvery = train.logEvery
        options.debug = debug
        let run = try TrainingRun(folder: folder, recipeText: recipe.text, modelKind: modelKind, options: options, resume: resume) { previous in
            (try? Recipe.parse(text: previous, source: folder.recipePath, sections: Recipe.grpoSections)).map(recipe.differences(from:))
        }
        let totalUpdates = train.iterations * settings.updatesPerRollout
        if let warning = recipe.optim.warmupWarning(totalSteps: totalUpdates, stepsKey: "train.iterations × grpo.updates_per_rollout") {
            folder.warn(warning)
        }
        let step = try GRPOStep(setup: setup, folder: folder, dumpRollout: dumpRollout)
        folder.note("grpo run in \(folder.path): \(train.iterations) iterations of \(settings.clipsPerIteration)×\(settings.groupSize) candidates, \(settings.steps) steps, trained window \(settings.window.lowerBound)..<\(settings.window.upperBound), reward \(setup.reward.name); clips: \(setup.clips.summary)")
        return try run.run(step)
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
    static func timings(_ result: GRPOIterationResult) -> [(String, Double)] {
        let mb = 1.0 / (1024 * 1024)
        var out: [(String, Double)] = [("rollout_s", result.rollout.samplingSeconds + result.rollout.scoringSeconds),
                                       ("update_s", result.updates.reduce(0.0) { $0 + $1.seconds })]
        if let p = result.rolloutPeakResident { out.append(("rollout_peak_rss_mb", Double(p) * mb)) }
        if let p = result.updatePeakResident { out.append(("update_peak_rss_mb", Double(p) * mb)) }
        let all = result.updates.flatMap(\.pass.steps)
        for k in Set(all.map(\.k)).sorted() {
            let steps = all.filter { $0.k == k }
            let replays = steps.reduce(0) { $0 + $1.replays }
            let seconds = steps.reduce(0.0) { $0 + $1.seconds }
            out.append(("replay_ms_k\(k)", replays == 0 ? 0 : 1000 * seconds / Double(replays)))
            if let rss = steps.compactMap(\.residentBytes).max() { out.append(("replay_rss_mb_k\(k)", Double(rss) * mb)) }
            out.append(("replay_pool_peak_mb_k\(k)", Double(steps.map(\.poolPeakBytes).max() ?? 0) * mb))
        }
        return out
    }
}
