import Foundation
import KineticGRPO
import NeoIO
import NeoNN
import NeoTensor
import Vocal

/// The policy of a GRPO run: a `NormalizedVocal`, so that rollouts, replays and the KL anchor
/// work in the network's own (standardised, reference-relative) latent space, while the reward
/// and the motion metrics see real motion (`motion(fromNetwork:conditions:)`).
///
/// Where it comes from (`load`):
/// - a **pretraining checkpoint** (kind `vocal`, written by `neo-train pretrain`): the model is
///   rebuilt from the checkpoint's own recipe, statistics included, like `LoadedVocal`;
/// - a **GRPO checkpoint** (kind `vocal-grpo`): the same, the pretraining recipe read from the
///   metadata key `vocal.recipe`; or, for a run started from a plain model, the layout keys;
/// - a **plain VOCAL** (kind `vocal` with `vocal.config` metadata, e.g. `grpo random-policy`):
///   wrapped with identity statistics and absolute motion, so the network space is motion itself.
public struct GRPOPolicyCheckpoint {
    /// Metadata keys of the checkpoints GRPO writes.
    public static let recipeKey = "vocal.recipe"
    public static let layoutKey = "vocal.layout"
    public static let relativeKey = "vocal.relative"
    public static let normalizedLayout = "normalized"

    public let model: NormalizedVocal
    /// The pretraining recipe (text and decoded) when the checkpoint descends from one: its
    /// `[data]` fixes the identity split, its `[vocal]` the sampling defaults.
    public let pretrainingRecipeText: String?
    public let pretrainingRecipe: Recipe?
    public let checkpoint: Checkpoint

    /// Reads `path` (the raw weights, or the EMA shadows with `ema`).
    public static func load(path: String, ema: Bool = false, gradientCheckpointing: Bool = false) throws -> GRPOPolicyCheckpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TrainError("\(path): VOCAL checkpoint not found")
        }
        let c: Checkpoint
        do { c = try Checkpoint.read(from: path) } catch { throw TrainError("\(path): cannot read as a checkpoint: \(error)") }
        guard VocalCheckpoint.modelKinds.contains(c.modelKind) else {
            throw TrainError("\(path): holds a '\(c.modelKind.isEmpty ? "(no kind)" : c.modelKind)' model, expected a VOCAL checkpoint (kind \(VocalCheckpoint.modelKinds.sorted().map { "'\($0)'" }.joined(separator: " or ")))")
        }
        if ema && c.ema.isEmpty { throw TrainError("\(path): holds no EMA weights (policy.weights = \"ema\")") }
        let weights = ema ? c.ema : c.model
        let section = ema ? "EMA" : "model"

        func loadNormalized(_ model: NormalizedVocal) throws {
            do { try model.load(stateDict: weights, strict: true) } catch let e as StateDictError {
                throw TrainError("\(path): \(section) weights do not fit the VOCAL model it declares: " + e.report.problems.prefix(3).joined(separator: "; "))
            }
        }

        // Pretraining checkpoints carry their recipe as the checkpoint's recipe; GRPO checkpoints
        // carry it under `vocal.recipe`.
        // (A pretraining checkpoint holds a NormalizedVocal: its network under `vocal.`.)
        let pretraining = c.modelKind == "vocal" && c.metadata[VocalCheckpoint.configKey] == nil && !c.recipe.isEmpty
            && c.model.keys.contains { $0.hasPrefix("vocal.") }
        let recipeText = c.metadata[recipeKey] ?? (pretraining ? c.recipe : nil)
        if let recipeText {
            let recipe: Recipe
            do {
                recipe = try Recipe.parse(text: recipeText, source: "\(path) (VOCAL recipe)", kinds: ModelKind.builtIn.map(\.schema))
            } catch {
                throw TrainError("\(path): the VOCAL recipe it carries does not decode: \(error)")
            }
            guard recipe.modelKind == VocalKind.kind.name else {
                throw TrainError("\(path): the recipe it carries is for a '\(recipe.modelKind ?? "(none)")' model, not a VOCAL one")
            }
            var config = VocalKind.config(recipe)
            config.gradientCheckpointing = gradientCheckpointing
            let model = try NormalizedVocal(config: config, relative: recipe.section(VocalSection.self).relativeMotion,
                                            generator: Generator(seed: 0))
            try loadNormalized(model)
            return GRPOPolicyCheckpoint(model: model, pretrainingRecipeText: recipeText, pretrainingRecipe: recipe, checkpoint: c)
        }
        var config = try VocalCheckpoint.config(of: c, path: path)
        config.gradientCheckpointing = gradientCheckpointing
        if c.metadata[layoutKey] == normalizedLayout {
            let model = try NormalizedVocal(config: config, relative: c.metadata[relativeKey] == "true", generator: Generator(seed: 0))
            try loadNormalized(model)
            return GRPOPolicyCheckpoint(model: model, pretrainingRecipeText: nil, pretrainingRecipe: nil, checkpoint: c)
        }
        // A plain VocalModel: identity statistics, absolute motion.
        let model = try NormalizedVocal(config: config, relative: false, generator: Generator(seed: 0))
        do {
            try c.loadParameters(into: model.vocal.stateDict(copy: false), from: ema ? .ema : .model, strict: true)
        } catch {
            throw TrainError("\(path): /\(ema ? "ema" : "model") does not match the VOCAL shape it declares: \(error)")
        }
        return GRPOPolicyCheckpoint(model: model, pretrainingRecipeText: nil, pretrainingRecipe: nil, checkpoint: c)
    }

    /// The metadata a GRPO checkpoint of `model` carries so that this loader, `LoadedVocal`
    /// (`neo-train sample`, `neo-train eval motion`) and `VocalCheckpoint.load` read it back.
    public static func metadata(for model: NormalizedVocal, pretrainingRecipe: String?) -> [String: String] {
        var m: [String: String] = [
            VocalCheckpoint.configKey: VocalCheckpoint.encode(model.config),
            layoutKey: normalizedLayout,
            relativeKey: model.relative ? "true" : "false",
        ]
        if let pretrainingRecipe { m[recipeKey] = pretrainingRecipe }
        return m
    }
}
