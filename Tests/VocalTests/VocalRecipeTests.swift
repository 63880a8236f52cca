import Foundation
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// The subset of TOML the recipes use (sections, `key = value` with numbers, booleans, strings
/// and flat arrays, `#` comments), enough to check them here without NeoTrain's parser.
private func readRecipe(_ url: URL) throws -> [String: [String: String]] {
    var out: [String: [String: String]] = [:]
    var section = ""
    for raw in try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
        var line = Substring(raw)
        var inString = false
        if let hash = line.indices.first(where: { i in
            if line[i] == "\"" { inString.toggle() }
            return line[i] == "#" && !inString
        }) { line = line[..<hash] }
        let text = line.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { continue }
        if text.hasPrefix("[") { section = String(text.dropFirst().dropLast()); continue }
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { throw VocalError("\(url.lastPathComponent): cannot read line '\(raw)'") }
        out[section, default: [:]][parts[0]] = parts[1]
    }
    return out
}

/// Builds the VOCAL settings from a recipe the way NeoTrain's schema is expected to: every key
/// of `[model]` and `[vocal]` must be known.
private func vocalSettings(_ recipe: [String: [String: String]], file: String) throws -> (VocalConfig, FlowMatchingSettings, SamplingSettings) {
    var config = VocalConfig()
    func int(_ v: String, _ key: String) throws -> Int {
        guard let i = Int(v) else { throw VocalError("\(file): \(key) = \(v) is not an integer") }
        return i
    }
    func num(_ v: String, _ key: String) throws -> Double {
        guard let d = Double(v) else { throw VocalError("\(file): \(key) = \(v) is not a number") }
        return d
    }
    for (key, v) in recipe["model"] ?? [:] {
        switch key {
        case "kind": guard v == "\"vocal\"" else { throw VocalError("\(file): model.kind = \(v)") }
        case "latent_dim": config.latentDim = try int(v, key)
        case "width": config.width = try int(v, key)
        case "depth": config.depth = try int(v, key)
        case "heads": config.heads = try int(v, key)
        case "mlp_ratio": config.mlpRatio = try num(v, key)
        case "window_frames": config.windowFrames = try int(v, key)
        case "prefix_frames": config.prefixFrames = try int(v, key)
        case "emotion_count": config.emotionCount = try int(v, key)
        case "identity_dim": config.identityDim = try int(v, key)
        case "audio_layers": config.audioLayers = try int(v, key)
        case "audio_width": config.audioWidth = try int(v, key)
        case "timestep_dim": config.timestepDim = try int(v, key)
        case "rotary_base": config.rotaryBase = try num(v, key)
        default: throw VocalError("\(file): unknown key model.\(key)")
        }
    }
    if let gc = recipe["train"]?["gradient_checkpointing"] { config.gradientCheckpointing = gc == "true" }
    var fm = FlowMatchingSettings(), sampling = SamplingSettings()
    var guidance = GuidanceWeights()
    for (key, v) in recipe["vocal"] ?? [:] {
        switch key {
        case "logit_normal_mean": fm.logitNormalMean = try num(v, key)
        case "logit_normal_std": fm.logitNormalStd = try num(v, key)
        case "drop_audio": fm.dropAudio = try num(v, key)
        case "drop_identity": fm.dropIdentity = try num(v, key)
        case "drop_emotion": fm.dropEmotion = try num(v, key)
        case "drop_reference": fm.dropReference = try num(v, key)
        case "drop_prefix": fm.dropPrefix = try num(v, key)
        case "sampler":
            guard let kind = SamplerKind(rawValue: v.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) else {
                throw VocalError("\(file): vocal.sampler = \(v)")
            }
            sampling.sampler = kind
        case "sample_steps": sampling.steps = try int(v, key)
        case "shift": sampling.shift = try num(v, key)
        case "noise_level": sampling.noiseLevel = try num(v, key)
        case "cfg_audio": guidance.audio = try num(v, key)
        case "cfg_identity": guidance.identity = try num(v, key)
        case "cfg_reference": guidance.reference = try num(v, key)
        default: throw VocalError("\(file): unknown key vocal.\(key)")
        }
    }
    sampling.guidance = guidance
    try config.validate(); try fm.validate(); try sampling.validate()
    return (config, fm, sampling)
}

final class VocalRecipeTests: XCTestCase {
    private func recipe(_ name: String) throws -> (text: String, sections: [String: [String: String]]) {
        let url = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/\(name)")
        return (try String(contentsOf: url, encoding: .utf8), try readRecipe(url))
    }

    /// Every recipe reads into valid settings, names its data folder, and builds a model with the
    /// parameter count its header states (base: ~40M).
    func testRecipesBuildModelsOfTheStatedSize() throws {
        var counts: [String: Int] = [:]
        for name in ["vocal-tiny.toml", "vocal-small.toml", "vocal-base.toml"] {
            let (text, sections) = try recipe(name)
            let (config, _, _) = try vocalSettings(sections, file: name)
            XCTAssertNotNil(sections["data"]?["path"], "\(name) names data.path")
            for s in ["run", "model", "data", "optim", "train", "vocal"] { XCTAssertNotNil(sections[s], "\(name) has [\(s)]") }
            let model = try VocalModel(config: config, generator: Generator(seed: 0))
            counts[name] = model.parameterCount
            let stated = text.split(separator: "\n").first { $0.contains("Parameters:") }
                .flatMap { line in line.split(separator: " ").first { $0.contains(",") }.map { Int($0.replacingOccurrences(of: ",", with: "")) } }
            XCTAssertEqual(stated ?? nil, model.parameterCount, "\(name): the header's parameter count")
        }
        print("VOCAL recipe parameter counts: \(counts)")
        XCTAssertGreaterThan(counts["vocal-base.toml"]!, 35_000_000)
        XCTAssertLessThan(counts["vocal-base.toml"]!, 45_000_000)
    }

    /// The tiny recipe trains: on a fixed batch of its window shape the loss falls.
    func testTinyRecipeTrains() throws {
        let (_, sections) = try recipe("vocal-tiny.toml")
        let (config, fm, sampling) = try vocalSettings(sections, file: "vocal-tiny.toml")
        let model = try VocalModel(config: config, generator: Generator(seed: 1))
        let b = 4, n = config.windowFrames, d = config.latentDim
        // Motion that follows the audio: the first latent dims are a projection of the features.
        let audio = randn([b, config.audioLayers, 2 * n, config.audioWidth], seed: 2)
        let motion = (audio.mean(axes: [1]).reshape([b, n, 2 * config.audioWidth]).slice(dim: 2, start: 0, end: d) * 2).contiguous()
        let batch = VocalBatch(motion: motion, audio: audio, identity: randn([b, 25, d], seed: 3), emotion: [0, 1, 2, 3],
                               prefix: randn([b, config.prefixFrames, d], seed: 4))
        try batch.validate(config)
        let opt = AdamW(model.trainableParameters(), learningRate: 3e-3, weightDecay: 0)
        let evalBatches = [batch]
        let before = flowMatchingValidationLoss(model: model, batches: evalBatches, settings: fm, seed: 5)
        let g = Generator(seed: 6)
        for _ in 0..<160 {
            let tape = Tape()
            tape.backward(tape.record { flowMatchingLoss(model: model, batch: batch, settings: fm, generator: g) })
            clipGradientNorm(model.parameters(), maxNorm: 1)
            opt.step()
            opt.zeroGrad()
        }
        let after = flowMatchingValidationLoss(model: model, batches: evalBatches, settings: fm, seed: 5)
        XCTAssertLessThan(after, 0.8 * before, "validation loss \(before) → \(after)")
        // And samples a clip longer than a window with the recipe's sampler settings.
        let clip = try VocalSampler(model: model, settings: sampling)
            .sampleLong(audio: randn([1, config.audioLayers, 2 * 23, config.audioWidth], seed: 7), identity: randn([1, 25, d], seed: 8),
                        emotion: [2], generator: Generator(seed: 9))
        XCTAssertEqual(clip.shape, [1, 23, d])
        XCTAssertTrue(clip.toArray().allSatisfy(\.isFinite))
    }
}
