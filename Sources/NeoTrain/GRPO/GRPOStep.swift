import Foundation
import KineticGRPO
import NeoNN
import NeoTensor
import Vocal

/// One GRPO iteration as a `RunStep`: the iteration's clips, a rollout and its
/// `updates_per_rollout` optimiser updates (`GRPOLearner`). Iteration i's clips, noises and
/// draws come from the run seed and i alone, so the position is just the iteration count and a
/// resumed run repeats the uninterrupted one bit for bit.
///
/// Evaluation: the mean reward of deterministic samples on the held-out clips
/// (`GRPOEvaluation`); `best.h5` keeps the highest (`eval_reward_ema` when EMA is on).
public final class GRPOStep: RunStep {
    public let setup: GRPOCommand.Setup
    public let learner: GRPOLearner
    public let optimizer: any Optimizer
    public let ema: EMA?
    let folder: RunFolder
    let evalClips: [GRPOEvaluationClip]
    var dumpPending: String?
    private var iteration = 0

    public init(setup: GRPOCommand.Setup, folder: RunFolder, dumpRollout: String?) throws {
        self.setup = setup
        self.folder = folder
        let recipe = setup.recipe, settings = setup.settings
        optimizer = recipe.optim.makeOptimizer(setup.policy.trainableParameters())
        let schedule = recipe.optim.makeSchedule(totalSteps: setup.train.iterations * settings.updatesPerRollout)
        ema = setup.train.ema > 0 ? EMA(setup.policy, decay: Float(setup.train.ema)) : nil
        learner = try GRPOLearner(policy: setup.policy.vocal, reference: setup.reference.vocal, reward: setup.reward, settings: settings,
                                  optimizer: optimizer, schedule: schedule, clipNorm: Float(recipe.optim.clip), ema: ema,
                                  seed: Generator.stream(seed: recipe.run.seed, "grpo-rollouts").seed)
        evalClips = try setup.clips.evaluationClips()
        dumpPending = dumpRollout
    }

    public var model: Module { setup.policy }
    public var optimizers: [(name: String, optimizer: any Optimizer)] { [("", optimizer)] }
    public var position: [String: Int] { ["iteration": iteration] }

    public func restore(position: [String: Int], step: Int) throws {
        guard let i = position["iteration"], i == step else {
            throw TrainError("checkpoint at iteration \(step): iteration \(position["iteration"].map(String.init) ?? "(missing)") does not match step \(step)")
        }
        iteration = i
    }

    public var checkpointMetadata: [String: String] {
        var m = GRPOPolicyCheckpoint.metadata(for: setup.policy, pretrainingRecipe: setup.pretrainingRecipe)
        m["grpo.reference"] = setup.recipe.section(GRPOPolicySection.self).checkpoint
        return m
    }

    public func run(step index: Int, context: StepContext) throws -> StepSummary {
        let recipe = setup.recipe, settings = setup.settings
        let t0 = DispatchTime.now().uptimeNanoseconds
        let clips = try setup.clips.trainingClips(iteration: index, seed: recipe.run.seed, count: settings.clipsPerIteration)
        let result = try learner.iteration(index, clips: clips, recordAll: dumpPending != nil,
                                           reduceGradients: context.reducer.reduce)
        if let path = dumpPending {
            try RolloutDump.write(result.rollout, to: path, recipe: recipe.text)
            folder.note("rollout of iteration \(index) written to \(path)")
            dumpPending = nil
        }
        iteration = index + 1

        var record = MetricsRecord(step: iteration)
        let loss = GRPOCommand.log(result, into: &record, settings: settings)
        var summary = StepSummary(loss: loss, learningRate: Double(result.updates.last?.learningRate ?? 0), record: record)
        summary.timings = [("iteration_s", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)]
            + GRPOCommand.timings(result)
        let rewards = result.rollout.allRewards
        let rewardMean = rewards.reduce(0.0) { $0 + Double($1) } / Double(Swift.max(1, rewards.count))
        summary.progress = "reward \(ProgressLine.format(Float(rewardMean)))"
            + "  kl \(ProgressLine.format(Float(result.updates.last.map { GRPOCommand.klMean($0.pass) } ?? 0)))"
        return summary
    }

    public func evaluate() throws -> [(String, Float)] {
        guard !evalClips.isEmpty else { return [] }
        return try GRPOEvaluation.run(policy: setup.policy, reference: setup.reference, clips: evalClips, reward: setup.reward,
                                      settings: setup.settings, seed: UInt64(setup.recipe.run.seed) &+ 0x5eed,
                                      candidates: setup.evalCandidates, geometry: setup.clips.geometry).named()
    }

    /// The highest held-out reward is the best (the EMA's when EMA is on).
    public func rank(_ metrics: [(String, Float)]) -> Double? {
        metrics.first { $0.0 == (ema != nil ? "eval_reward_ema" : "eval_reward") }.map { -Double($0.1) }
    }
}
