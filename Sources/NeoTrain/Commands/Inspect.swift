import Foundation
import NeoIO
import NeoNN
import NeoTensor
import RewardModel
import Vocal

/// `neo-train inspect CHECKPOINT`: what a checkpoint holds, without loading its tensors.
public enum InspectCommand {
    /// The report: header (step, model kind, format, metric, metadata), every group with its
    /// datasets' shapes and types, and the recipe text. With `verify`, every dataset is read
    /// and checked against its checksum first.
    public static func describe(path: String, includeRecipe: Bool = true, verify: Bool = false) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainError("\(path): checkpoint file not found")
        }
        let info = try Checkpoint.info(of: path)
        var out = ""
        func line(_ key: String, _ value: String) { out += key.padding(toLength: 12, withPad: " ", startingAt: 0) + value + "\n" }
        line("checkpoint", path)
        line("format", "\(Checkpoint.formatName) version \(info.formatVersion)")
        line("step", String(info.step))
        line("model kind", info.modelKind.isEmpty ? "(none)" : info.modelKind)
        if let d = info.createdAt { line("created", ISO8601DateFormatter().string(from: d)) }
        if let m = info.metric { line("metric", "\(m)") }
        line("parameters", "\(info.parameterCount) in /model")
        for key in info.metadata.keys.sorted() { line("metadata", "\(key) = \(info.metadata[key]!)") }
        if verify {
            let c = try Checkpoint.read(from: path)
            line("checksums", "all \(info.datasets.count) datasets verified")
            line("recipe", c.hasRecipeChecksum ? "text matches its crc32" : "no checksum recorded (written by an older build)")
            line("structure", c.hasIndexChecksum ? "dataset list matches its crc32" : "no dataset list recorded (written by an older build)")
            line("model", try verifyParameters(c, path: path))
        }

        out += "groups:\n"
        let width = min(60, info.datasets.map(\.path.count).max() ?? 0)
        for group in info.groups {
            let members = info.datasets.filter { ($0.path as NSString).deletingLastPathComponent == group }
            let total = members.reduce(0) { $0 + $1.count }
            out += "  \(group)  (\(members.count) dataset\(members.count == 1 ? "" : "s"), \(total) element\(total == 1 ? "" : "s"))\n"
            for d in members {
                let shape = "[" + d.shape.map(String.init).joined(separator: ", ") + "]"
                out += "    " + d.path.padding(toLength: max(width, d.path.count), withPad: " ", startingAt: 0)
                    + "  " + shape + "  \(d.elementType)" + (d.filterIDs.isEmpty ? "" : "  filters \(d.filterIDs)") + "\n"
            }
        }
        if includeRecipe {
            out += "recipe:\n"
            out += info.recipe.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
            if !out.hasSuffix("\n") { out += "\n" }
        }
        return out
    }

    /// Checks /model (and /ema) against the model the checkpoint's recipe describes: every
    /// parameter present with its shape, nothing else. Returns the report line; a mismatch is
    /// an error listing what differs.
    static func verifyParameters(_ c: Checkpoint, path: String) throws -> String {
        guard let (name, expected) = try recipeModel(c, path: path) else {
            return "parameter set not checked: no model is known for kind '\(c.modelKind.isEmpty ? "(none)" : c.modelKind)'"
        }
        for section in [Checkpoint.Section.model, .ema] where section == .model || !c.ema.isEmpty {
            let report = ParameterLoadReport.compare(stored: c.parameters(section), expected: expected)
            guard report.isExact else {
                throw TrainError("\(path): /\(section.rawValue) does not match the \(name): \(report)")
            }
        }
        return "all \(expected.count) parameters match the \(name)" + (c.ema.isEmpty ? "" : " (/model and /ema)")
    }

    /// Names and shapes of the parameters of the model the checkpoint's recipe (or, for plain
    /// VOCAL models, its `vocal.config`) describes, with the model's name; nil for a kind this
    /// build cannot rebuild.
    static func recipeModel(_ c: Checkpoint, path: String) throws -> (String, [String: [Int]])? {
        func recipe(_ text: String) throws -> Recipe {
            try Recipe.parse(text: text, source: "\(path) (recipe)", kinds: ModelKind.builtIn.map(\.schema))
        }
        func shapes(_ m: Module) -> [String: [Int]] { m.stateDict(copy: false).mapValues(\.shape) }
        func normalized(_ text: String) throws -> [String: [Int]] {
            let r = try recipe(text)
            return shapes(try NormalizedVocal(config: VocalKind.config(r), relative: r.section(VocalSection.self).relativeMotion,
                                              generator: Generator(seed: 0)))
        }
        let g = Generator(seed: 0)
        switch c.modelKind {
        case ToyRegression.kind.name:
            let m = try recipe(c.recipe).section(ToyRegression.ModelSection.self)
            return ("MLP its recipe describes", shapes(ToyRegression.MLP([m.inputDim] + m.hidden + [m.outputDim], activation: m.activation, generator: g)))
        case RewardTraining.kind.name:
            return ("reward model its recipe describes", shapes(try RewardTransformer(config: try recipe(c.recipe).section(RewardModelSection.self).config, generator: g)))
        case "vocal", "vocal-grpo":
            if let text = c.metadata[GRPOPolicyCheckpoint.recipeKey] { return ("VOCAL model its pretraining recipe describes", try normalized(text)) }
            if c.metadata[VocalCheckpoint.configKey] == nil && !c.recipe.isEmpty && c.modelKind == "vocal" {
                return ("VOCAL model its recipe describes", try normalized(c.recipe))
            }
            let config = try VocalCheckpoint.config(of: c, path: path)
            if c.metadata[GRPOPolicyCheckpoint.layoutKey] == GRPOPolicyCheckpoint.normalizedLayout {
                return ("VOCAL model its vocal.config describes", shapes(try NormalizedVocal(config: config, relative: c.metadata[GRPOPolicyCheckpoint.relativeKey] == "true", generator: g)))
            }
            return ("VOCAL model its vocal.config describes", shapes(try VocalModel(config: config, generator: g)))
        default:
            return nil
        }
    }
}
