import Foundation
import NeoIO
import NeoNN
import NeoTensor
import RewardModel

/// The reward model as a `neo-train` model kind: `[model] kind = "reward"`, trained by the
/// generic `Trainer` on Bradley–Terry preference pairs.
public enum RewardTraining {
    public static let kind = ModelKind(
        name: "reward",
        summary: "Transformer reward model (overall, naturalness, expression range, audio alignment) trained on preference pairs",
        sections: [SectionSchema(RewardModelSection.self), SectionSchema(RewardDataSection.self), SectionSchema(RewardSection.self)],
        memory: memory
    ) { recipe in
        try Task(recipe: recipe)
    }

    /// Parameters of the blocks (with gradients, moments, EMA) and the activations a batch of
    /// pairs (two windows each) keeps for backward.
    @Sendable public static func memory(_ recipe: Recipe) -> [MemoryRequest] {
        let c = recipe.section(RewardModelSection.self).config
        let frames = recipe.section(RewardDataSection.self).windowFrames
        let hidden = c.width * c.mlpRatio
        let parameters = MemoryBudget.transformerParameters(width: c.width, depth: c.depth, mlpHidden: hidden)
        let perWindow = MemoryBudget.transformerActivations(tokens: 3 * frames, width: c.width, depth: c.depth, heads: c.heads,
                                                            mlpHidden: hidden, checkpointing: false)
        return [
            MemoryRequest(key: "model.width", bytes: 4 * parameters * MemoryBudget.floatsPerParameter(recipe),
                          what: "about \(Int(parameters)) parameters with their gradients and optimiser state"),
            MemoryRequest(key: "train.batch", bytes: 2 * Double(recipe.train.batch) * perWindow,
                          what: "the activations of a batch of \(recipe.train.batch) pairs"),
        ]
    }

    /// Batch i of pairs comes from the sampler's stream derived with i; the position is the
    /// number of batches drawn.
    public final class Source: BatchSource {
        public let sampler: PairSampler
        public let pairs: Int
        public private(set) var drawn = 0

        init(sampler: PairSampler, pairs: Int) {
            self.sampler = sampler
            self.pairs = pairs
        }

        public func next() throws -> PreferenceBatch {
            let drawnPairs = sampler.batch(drawn, count: pairs)
            last = drawnPairs.map { "'\($0.preferred.clipID)' frames \($0.preferred.start)..<\($0.preferred.start + $0.preferred.frames)" }
            let b = PreferenceBatch(drawnPairs)
            drawn += 1
            return b
        }

        /// The clip windows of the batch `next()` returned last.
        private var last: [String] = []

        public func describe(_ batch: PreferenceBatch) -> String? {
            "batch \(drawn - 1) (pairs of clips " + Set(last).sorted().joined(separator: ", ") + ")"
        }

        public var position: [String: Int] { ["batches": drawn] }

        public func restore(position: [String: Int]) throws {
            guard let n = position["batches"], n >= 0 else {
                throw TrainError("reward: loader position \(position) has no valid 'batches' entry")
            }
            drawn = n
        }
    }

    public final class Task: TrainingTask {
        public let model: Module
        public let source: Source
        public let reward: RewardTransformer
        let section: RewardSection
        let evalSubsets: [EvaluationSubset]

        public init(recipe: Recipe) throws {
            let m = recipe.section(RewardModelSection.self)
            let d = recipe.section(RewardDataSection.self)
            let r = recipe.section(RewardSection.self)
            section = r
            let clips = try RewardClips(data: d, model: m)
            let training = clips.training
            // Every split: the training clips need the training scope, the held-out clips the
            // evaluation needs (they are scored at every evaluation).
            try clips.verifyConsent(training, scope: "train")
            try clips.verifyConsent(clips.heldOut, scope: "evaluate")
            guard training.count >= 2 else {
                throw TrainError("\(recipe.source): data: \(training.count) training clip(s) left after holding out identities \(d.heldOutIdentities) and languages \(d.heldOutLanguages); at least 2 are needed")
            }
            let statistics = MotionStatistics.estimate(training)
            reward = try RewardTransformer(config: m.config, statistics: statistics,
                                           generator: Generator.stream(seed: recipe.run.seed, "model-init"))
            model = reward
            let sampler: PairSampler
            do {
                sampler = try PairSampler(clips: training, windowFrames: d.windowFrames, statistics: statistics,
                                          settings: r.pairSettings, seed: Generator.stream(seed: recipe.run.seed, "reward-pairs").seed)
            } catch let e as RewardError {
                throw TrainError("\(recipe.source): data: \(e.problem)")
            }
            source = Source(sampler: sampler, pairs: recipe.train.batch)
            evalSubsets = clips.heldOutSubsets(margin: r.maxOffsetFrames, limit: d.evalWindows)
                .filter { !$0.windows.isEmpty }
        }

        public func loss(_ batch: PreferenceBatch) throws -> Tensor {
            let scores = reward(motion: batch.input.motion, audio: batch.input.audio)
            return rewardPreferenceLoss(scores: scores, mask: batch.mask, invarianceMask: batch.invarianceMask,
                                        weights: section.lossWeights)
        }

        /// On the held-out identities (the first subset with windows, `data.eval_windows` of
        /// them): `eval_error` = 1 − the mean over degradations of ½·(pairwise accuracy at
        /// medium strength + Spearman(strength, −score)) — it ranks checkpoints for `best.h5`, so
        /// it rewards both telling damage apart and scoring it by how bad it is — then the
        /// smallest medium accuracy, the smallest Spearman and the AUROC.
        public func evaluate() throws -> [(String, Float)] {
            guard let subset = evalSubsets.first else { return [] }
            let report = try RewardEvaluation.evaluate(model: reward, subsets: [subset], settings: section.evaluationSettings,
                                                       checkpoint: "", step: 0, data: "")
            let s = report.subsets[0]
            let mean = s.degradations.map { ($0.accuracy.medium + $0.spearman) / 2 }.reduce(0, +) / Double(s.degradations.count)
            return [("eval_error", Float(1 - mean)), ("eval_min_accuracy", Float(s.minimumMediumAccuracy)),
                    ("eval_min_spearman", Float(s.minimumSpearman)), ("eval_auroc", Float(s.auroc))]
        }
    }
}

/// A trained reward model read back from a checkpoint.
public struct LoadedRewardModel {
    public let model: RewardTransformer
    public let recipe: Recipe
    public let step: Int
    /// "ema" when the checkpoint's EMA weights were loaded, else "model".
    public let weights: String
    public let path: String

    /// Reads `path`; refuses checkpoints of other model kinds and ones whose tensors do not fit
    /// the model their recipe describes. With `preferEMA` the EMA weights are used when present.
    public static func load(_ path: String, preferEMA: Bool = true) throws -> LoadedRewardModel {
        guard FileManager.default.fileExists(atPath: path) else { throw TrainError("\(path): checkpoint file not found") }
        let c: Checkpoint
        do { c = try Checkpoint.read(from: path) } catch {
            throw TrainError("\(path): cannot read checkpoint: \(error)")
        }
        guard c.modelKind == RewardTraining.kind.name else {
            throw TrainError("\(path): incompatible checkpoint: it holds a '\(c.modelKind.isEmpty ? "(unnamed)" : c.modelKind)' model, not a reward model")
        }
        let recipe: Recipe
        do {
            recipe = try Recipe.parse(text: c.recipe, source: "\(path) (recipe)", kinds: [RewardTraining.kind.schema])
        } catch {
            throw TrainError("\(path): incompatible checkpoint: its recipe does not decode as a reward recipe: \(error)")
        }
        let model = try RewardTransformer(config: recipe.section(RewardModelSection.self).config,
                                          generator: Generator(seed: 0))
        let useEMA = preferEMA && !c.ema.isEmpty
        do {
            try model.load(stateDict: useEMA ? c.ema : c.model, strict: true)
        } catch let e as StateDictError {
            throw TrainError("\(path): incompatible checkpoint: its tensors do not fit the reward model of its recipe: "
                             + e.report.problems.prefix(4).joined(separator: "; "))
        }
        return LoadedRewardModel(model: model, recipe: recipe, step: c.step, weights: useEMA ? "ema" : "model", path: path)
    }
}
