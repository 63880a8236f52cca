import Foundation
import NeoIO
import NeoNN
import NeoTensor
import Vocal

/// VOCAL checkpoints: NeoIO checkpoints whose `/model` (and optionally `/ema`) holds a
/// `VocalModel`'s parameters. The model's shape is read from the metadata key `vocal.config`
/// (the JSON of `VocalConfig`) or, when that is absent, from the `[model]` table of the
/// checkpoint's recipe text (keys `latent_dim`, `width`, `depth`, … as in `VocalConfig`).
public enum VocalCheckpoint {
    public static let configKey = "vocal.config"
    /// Model kinds accepted as a VOCAL policy.
    public static let modelKinds: Set<String> = ["vocal", "vocal-grpo"]

    /// The JSON stored under `vocal.config`.
    public static func encode(_ config: VocalConfig) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(config)) ?? Data(), as: UTF8.self)
    }

    /// The model shape of checkpoint `c` read from `path`.
    public static func config(of c: Checkpoint, path: String) throws -> VocalConfig {
        if let json = c.metadata[configKey] {
            do {
                let config = try JSONDecoder().decode(VocalConfig.self, from: Data(json.utf8))
                try config.validate()
                return config
            } catch {
                throw TrainError("\(path): metadata \(configKey) does not describe a VOCAL model: \(error)")
            }
        }
        guard let table = try? RecipeTOML.parse(c.recipe, source: path),
              case .table(let model)? = table.first(where: { $0.0 == "model" })?.1 else {
            throw TrainError("\(path): holds neither metadata \(configKey) nor a recipe with a [model] table, so the VOCAL model's shape is unknown")
        }
        var config = VocalConfig()
        func int(_ key: String, _ set: (Int) -> Void) throws {
            guard let v = model.first(where: { $0.0 == key })?.1 else { return }
            guard case .integer(let i) = v else { throw TrainError("\(path): recipe model.\(key): expected an integer, got \(v.shownInMessage)") }
            set(i)
        }
        func number(_ key: String, _ set: (Double) -> Void) throws {
            guard let v = model.first(where: { $0.0 == key })?.1 else { return }
            switch v {
            case .integer(let i): set(Double(i))
            case .float(let d): set(d)
            default: throw TrainError("\(path): recipe model.\(key): expected a number, got \(v.shownInMessage)")
            }
        }
        try int("latent_dim") { config.latentDim = $0 }
        try int("width") { config.width = $0 }
        try int("depth") { config.depth = $0 }
        try int("heads") { config.heads = $0 }
        try number("mlp_ratio") { config.mlpRatio = $0 }
        try int("window_frames") { config.windowFrames = $0 }
        try int("prefix_frames") { config.prefixFrames = $0 }
        try int("emotion_count") { config.emotionCount = $0 }
        try int("identity_dim") { config.identityDim = $0 }
        try int("audio_layers") { config.audioLayers = $0 }
        try int("audio_width") { config.audioWidth = $0 }
        try int("timestep_dim") { config.timestepDim = $0 }
        try number("rotary_base") { config.rotaryBase = $0 }
        do { try config.validate() } catch { throw TrainError("\(path): the recipe's [model] is not a valid VOCAL shape: \(error)") }
        return config
    }

    /// Reads a VOCAL checkpoint into a new model (the raw weights, or the EMA with `ema`).
    public static func load(path: String, ema: Bool = false, gradientCheckpointing: Bool = false) throws -> (model: VocalModel, checkpoint: Checkpoint) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TrainError("\(path): VOCAL checkpoint not found")
        }
        let c: Checkpoint
        do { c = try Checkpoint.read(from: path) } catch { throw TrainError("\(path): cannot read as a checkpoint: \(error)") }
        guard modelKinds.contains(c.modelKind) else {
            throw TrainError("\(path): holds a '\(c.modelKind.isEmpty ? "(no kind)" : c.modelKind)' model, expected a VOCAL checkpoint (kind \(modelKinds.sorted().map { "'\($0)'" }.joined(separator: " or ")))")
        }
        if c.metadata[GRPOPolicyCheckpoint.layoutKey] != nil || c.metadata[GRPOPolicyCheckpoint.recipeKey] != nil
            || (c.modelKind == "vocal" && c.metadata[configKey] == nil && !c.recipe.isEmpty && c.model.keys.contains { $0.hasPrefix("vocal.") }) {
            // A NormalizedVocal's weights (pretraining or GRPO): its network.
            let loaded = try GRPOPolicyCheckpoint.load(path: path, ema: ema, gradientCheckpointing: gradientCheckpointing)
            return (loaded.model.vocal, c)
        }
        var config = try self.config(of: c, path: path)
        config.gradientCheckpointing = gradientCheckpointing
        let model = try VocalModel(config: config, generator: Generator(seed: 0))
        let section: Checkpoint.Section = ema ? .ema : .model
        if ema && c.ema.isEmpty { throw TrainError("\(path): holds no EMA weights (policy.weights = \"ema\")") }
        do {
            try c.loadParameters(into: model.stateDict(copy: false), from: section, strict: true)
        } catch {
            throw TrainError("\(path): /\(section.rawValue) does not match the VOCAL shape it declares: \(error)")
        }
        return (model, c)
    }

    /// Writes `model` as a VOCAL checkpoint (kind `vocal`, its shape under `vocal.config`).
    public static func write(_ model: VocalModel, to path: String, step: Int = 0, recipe: String = "",
                             metadata: [String: String] = [:]) throws {
        var c = Checkpoint(step: step, modelKind: "vocal", recipe: recipe)
        c.model = model.stateDict(copy: false)
        c.metadata = metadata
        c.metadata[configKey] = encode(model.config)
        try c.write(to: path)
    }
}

extension VocalCheckpoint {
    /// Writes a randomly initialised VOCAL checkpoint (for smoke runs and measurements, not
    /// for quality). A fresh VOCAL predicts v = 0 (zero-initialised gates and output layer);
    /// `perturbZeroInitialised` > 0 gives those parameters N(0, std²) values so that samples
    /// depend on the conditions.
    public static func writeRandom(to path: String, config: VocalConfig, seed: Int, perturbZeroInitialised std: Float = 0) throws {
        let model = try VocalModel(config: config, generator: Generator.stream(seed: seed, "model-init"))
        if std > 0 {
            let g = Generator.stream(seed: seed, "perturb-zero-init")
            noGrad {
                for (_, p) in model.namedParameters() where p.value.toArray().allSatisfy({ $0 == 0 }) {
                    p.assign(Tensor.normal(p.shape, std: std, generator: g))
                }
            }
        }
        try write(model, to: path, metadata: ["vocal.origin": "random initialisation, seed \(seed), zero-init perturbation \(std)"])
    }
}

extension VocalCheckpoint {
    /// The VOCAL shape of a pretraining recipe's `[model]` table (e.g. Recipes/vocal-small.toml).
    public static func config(ofRecipe path: String) throws -> VocalConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw TrainError("\(path): cannot read the recipe: \(error.localizedDescription)")
        }
        return try config(of: Checkpoint(modelKind: "vocal", recipe: text), path: path)
    }

    /// `writeRandom` for the CLI's `grpo random-policy`: the shape of `like` (a VOCAL recipe) or
    /// `VocalConfig`'s defaults, then the keys given (non-nil) on top.
    public static func writeRandom(to path: String, like: String?, shape: [String: Double], seed: Int, perturb: Float) throws {
        var config = try like.map { try self.config(ofRecipe: $0) } ?? VocalConfig()
        for (key, value) in shape {
            let i = Int(value)
            switch key {
            case "latent_dim": config.latentDim = i
            case "width": config.width = i
            case "depth": config.depth = i
            case "heads": config.heads = i
            case "mlp_ratio": config.mlpRatio = value
            case "window_frames": config.windowFrames = i
            case "prefix_frames": config.prefixFrames = i
            case "audio_layers": config.audioLayers = i
            case "audio_width": config.audioWidth = i
            case "identity_dim": config.identityDim = i
            case "timestep_dim": config.timestepDim = i
            case "emotion_count": config.emotionCount = i
            default: throw TrainError("random-policy: unknown shape key \(key)")
            }
        }
        do { try config.validate() } catch { throw TrainError("random-policy: \(error)") }
        try writeRandom(to: path, config: config, seed: seed, perturbZeroInitialised: perturb)
    }

    /// `writeRandom` with the main shape keys given one by one.
    public static func writeRandom(to path: String, latentDim: Int, width: Int, depth: Int, heads: Int, windowFrames: Int,
                                   prefixFrames: Int, audioLayers: Int, audioWidth: Int, seed: Int, perturb: Float) throws {
        try writeRandom(to: path, like: nil,
                        shape: ["latent_dim": Double(latentDim), "width": Double(width), "depth": Double(depth), "heads": Double(heads),
                                "window_frames": Double(windowFrames), "prefix_frames": Double(prefixFrames),
                                "audio_layers": Double(audioLayers), "audio_width": Double(audioWidth)],
                        seed: seed, perturb: perturb)
    }
}
