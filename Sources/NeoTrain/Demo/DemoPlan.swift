import Foundation

/// What `neo-train demo` runs: corpus size, recipes and the overrides of each stage. The
/// `standard` plan is the README's first command (well under an hour on two cores); `quick`
/// runs the same stages on the tiny recipes in about a minute (tests, and a look at the pipeline).
public struct DemoPlan: Sendable, Equatable {
    public var name: String
    public var seed: Int
    /// Synthetic corpus: speakers and minutes of speech.
    public var identities: Int
    public var minutes: Double
    /// Identities VOCAL holds out for the validation loss and for the final test evaluation.
    public var validationIdentities: Int
    public var testIdentities: Int
    public var vocalRecipe: String
    public var vocalSteps: Int
    public var vocalEvalEvery: Int
    public var rewardRecipe: String
    public var rewardSteps: Int
    public var rewardEvalEvery: Int
    public var grpoRecipe: String
    public var grpoIterations: Int
    public var grpoEvalEvery: Int
    /// Held-out clips sampled when base and tuned models are evaluated (0: all of the split).
    public var evalClips: Int
    /// Extra recipe overrides per stage (TOML values), after the plan's own.
    public var vocalOverrides: [String] = []
    public var rewardOverrides: [String] = []
    public var grpoOverrides: [String] = []

    public static let standard = DemoPlan(
        name: "standard", seed: 1, identities: 12, minutes: 12, validationIdentities: 2, testIdentities: 2,
        vocalRecipe: "Recipes/vocal-small.toml", vocalSteps: 2000, vocalEvalEvery: 250,
        rewardRecipe: "Recipes/reward-small-shards.toml", rewardSteps: 500, rewardEvalEvery: 125,
        grpoRecipe: "Recipes/grpo-small.toml", grpoIterations: 60, grpoEvalEvery: 10,
        evalClips: 16,
        rewardOverrides: ["train.checkpoint_every=125"],
        grpoOverrides: ["optim.lr=5e-5", "grpo.beta=0.04", "data.eval_clips=16"])

    public static let quick = DemoPlan(
        name: "quick", seed: 1, identities: 5, minutes: 1.5, validationIdentities: 1, testIdentities: 1,
        vocalRecipe: "Recipes/vocal-tiny.toml", vocalSteps: 30, vocalEvalEvery: 15,
        rewardRecipe: "Recipes/reward-small-shards.toml", rewardSteps: 20, rewardEvalEvery: 10,
        grpoRecipe: "Recipes/grpo-small.toml", grpoIterations: 3, grpoEvalEvery: 3,
        evalClips: 2,
        rewardOverrides: ["model.width=16", "model.depth=1", "model.heads=2", "train.batch=8", "data.eval_windows=8",
                          "train.checkpoint_every=10"],
        grpoOverrides: ["grpo.group_size=2", "grpo.replay_batch=2", "grpo.clips_per_iteration=1", "grpo.steps=4", "grpo.window_size=1",
                        "grpo.eval_candidates=1", "grpo.updates_per_rollout=1", "data.eval_clips=2",
                        "train.checkpoint_every=1"])

    public static func named(_ name: String) -> DemoPlan? {
        switch name {
        case "standard": return .standard
        case "quick": return .quick
        default: return nil
        }
    }

    /// TOML string literal of a path.
    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
