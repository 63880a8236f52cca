import Foundation
import NeoIO
import NeoNN
import NeoTensor
import Vocal

/// A trained VOCAL model read back from a training checkpoint: the model built from the
/// checkpoint's own recipe, with the EMA weights when the checkpoint holds them.
public struct LoadedVocal: @unchecked Sendable {
    public let model: NormalizedVocal
    public let recipe: Recipe
    public let step: Int
    /// Whether the weights are the EMA shadows (else the raw training weights).
    public let usesEMA: Bool
    public let path: String

    public var vocalSection: VocalSection { recipe.section(VocalSection.self) }
    public var dataSection: VocalDataSection { recipe.section(VocalDataSection.self) }

    /// Reads `path`. `preferEMA` (the default) loads the EMA weights when present.
    public static func load(_ path: String, preferEMA: Bool = true) throws -> LoadedVocal {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainError("\(path): checkpoint file not found")
        }
        guard !isDir.boolValue else { throw TrainError("\(path): is a folder, expected a checkpoint file (.h5)") }
        let c: Checkpoint
        do { c = try Checkpoint.read(from: path) } catch {
            throw TrainError("\(path): cannot read checkpoint: \(CommandLineError.oneLine(String(describing: error)))")
        }
        // GRPO checkpoints (kind `vocal-grpo`) carry the pretraining recipe under `vocal.recipe`.
        let grpoRecipe = c.modelKind == "vocal-grpo" ? c.metadata["vocal.recipe"] : nil
        if c.modelKind == "vocal" && c.metadata[VocalCheckpoint.configKey] != nil {
            throw TrainError("\(path): a plain VOCAL model without a pretraining recipe (as `grpo random-policy` writes), so it has no motion statistics or sampling settings; sample a checkpoint of `neo-train pretrain` or of a GRPO run started from one")
        }
        guard c.modelKind == "vocal" || grpoRecipe != nil else {
            if c.modelKind == "vocal-grpo" {
                throw TrainError("\(path): a GRPO checkpoint of a plain VOCAL model (no pretraining recipe under metadata vocal.recipe); only GRPO runs started from a `neo-train pretrain` checkpoint can be sampled here")
            }
            throw TrainError("\(path): holds a '\(c.modelKind.isEmpty ? "(unknown)" : c.modelKind)' model, expected a 'vocal' checkpoint")
        }
        let recipe = try Recipe.parse(text: grpoRecipe ?? c.recipe, source: "\(path) (recipe)", kinds: ModelKind.builtIn.map(\.schema))
        var config = VocalKind.config(recipe)
        config.gradientCheckpointing = false
        let model = try NormalizedVocal(config: config, relative: recipe.section(VocalSection.self).relativeMotion, generator: Generator(seed: 0))
        let useEMA = preferEMA && !c.ema.isEmpty
        do {
            try model.load(stateDict: useEMA ? c.ema : c.model, strict: true)
        } catch let e as StateDictError {
            throw TrainError("\(path): \(useEMA ? "EMA" : "model") weights do not fit the recipe's model: " + e.report.problems.prefix(3).joined(separator: "; "))
        }
        model.eval()
        return LoadedVocal(model: model, recipe: recipe, step: c.step, usesEMA: useEMA, path: path)
    }
}
