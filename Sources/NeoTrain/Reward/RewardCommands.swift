import Foundation
import NeoIO
import NeoTensor
import RewardModel

/// `neo-train reward train|eval|score|synth`: the work behind the commands.
public enum RewardCommands {
    /// `reward train RECIPE`: `neo-train pretrain` with the reward kind.
    public static func train(recipePath: String, overrides: [String], runDirectory: String?, resume: Bool,
                             debug: DebugHooks = .fromEnvironment()) throws -> TrainingOutcome {
        let recipe = try Recipe.load(path: recipePath, overrides: overrides, kinds: ModelKind.builtIn.map(\.schema))
        guard recipe.modelKind == RewardTraining.kind.name else {
            throw TrainError("\(recipePath): model.kind: expected \"reward\" for `neo-train reward train`, got \"\(recipe.modelKind ?? "")\" (use `neo-train pretrain` for other kinds)")
        }
        return try PretrainCommand.run(recipePath: recipePath, overrides: overrides, runDirectory: runDirectory,
                                       resume: resume, kinds: ModelKind.builtIn, debug: debug)
    }

    /// `reward eval --checkpoint CKPT [--data DIR|synthetic] --out report.json`: the offline
    /// evaluation on the held-out subsets named by the checkpoint's recipe. Returns the report
    /// (also written to `out` when given).
    public static func evaluate(checkpoint: String, data: String?, out: String?, allHeldOut: Bool = false,
                                seed: Int? = nil, consentKey: String? = nil) throws -> RewardReport {
        let loaded = try LoadedRewardModel.load(checkpoint)
        let m = loaded.recipe.section(RewardModelSection.self)
        let d = loaded.recipe.section(RewardDataSection.self)
        let r = loaded.recipe.section(RewardSection.self)
        let folder = data == nil || data == "synthetic" ? nil : data
        var dataSection = d
        if data == "synthetic" { dataSection.source = .synthetic }
        let clips = try RewardClips(data: dataSection, model: m, folder: folder)
        let subsets = allHeldOut ? clips.everything(margin: r.maxOffsetFrames) : clips.heldOutSubsets(margin: r.maxOffsetFrames)
        guard subsets.contains(where: { !$0.windows.isEmpty }) else {
            throw TrainError("\(clips.description): no held-out clips of at least \(d.windowFrames) frames (held-out identities \(d.heldOutIdentities), languages \(d.heldOutLanguages)); pass --all-held-out to evaluate every clip")
        }
        let used = Set(subsets.flatMap { $0.windows.map(\.clipID) })
        try clips.verifyConsent(clips.all.filter { used.contains($0.id) }, scope: "evaluate", trustedKey: consentKey)
        var settings = r.evaluationSettings
        if let seed { settings.seed = seed }
        let report: RewardReport
        do {
            report = try RewardEvaluation.evaluate(model: loaded.model, subsets: subsets, settings: settings,
                                                   checkpoint: checkpoint, step: loaded.step,
                                                   data: clips.description + " (\(loaded.weights) weights)")
        } catch let e as RewardError {
            throw TrainError("\(clips.description): \(e.problem)")
        }
        if let out {
            let dir = (out as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try AtomicFile.write(try report.json(), to: out)
        }
        return report
    }

    /// The scores of one clip: the mean over windows of the training length (stride half a
    /// window, the last one flush with the end), or the whole clip when it is shorter.
    public struct ClipScore: Codable, Equatable, Sendable {
        public var overall: Double
        public var naturalness: Double
        public var expressionRange: Double
        public var audioAlignment: Double
        public var windows: Int
        public var frames: Int
    }

    /// `reward score --checkpoint CKPT --audio FILE --motion FILE.npy [--weights WHISPER]`: the
    /// audio is a sound file (Whisper hidden states computed with `weights`), or its features
    /// (.npy or a .h5 features file); see `RewardClipFiles.load`.
    public static func score(checkpoint: String, audio: String?, motion: String, weights: String? = nil) throws -> ClipScore {
        let loaded = try LoadedRewardModel.load(checkpoint)
        let c = loaded.model.config
        let clip = try RewardClipFiles.load(motion: motion, audio: audio, expectMotionDim: c.motionDim, weights: weights)
        guard clip.audioLayers == c.audioLayers, clip.audioWidth == c.audioWidth else {
            throw TrainError("\(audio ?? ""): audio features have \(clip.audioLayers) layers of width \(clip.audioWidth); the reward model expects \(c.audioLayers) of width \(c.audioWidth)")
        }
        let length = loaded.recipe.section(RewardDataSection.self).windowFrames
        var starts: [Int] = []
        if clip.frames <= length {
            starts = [0]
        } else {
            var s = 0
            while s + length < clip.frames { starts.append(s); s += max(1, length / 2) }
            starts.append(clip.frames - length)
        }
        let windows = starts.map { clip.window(start: $0, length: min(length, clip.frames))! }
        let scores = loaded.model.score(windows)
        var mean = [Double](repeating: 0, count: 4)
        for s in scores { for h in 0..<4 { mean[h] += Double(s[h]) / Double(scores.count) } }
        return ClipScore(overall: mean[0], naturalness: mean[1], expressionRange: mean[2], audioAlignment: mean[3],
                         windows: windows.count, frames: clip.frames)
    }

    /// `reward synth --recipe R --out DIR`: the recipe's synthetic corpus written as a clip folder.
    public static func writeSynthetic(recipePath: String, overrides: [String], out: String) throws -> Int {
        let recipe = try Recipe.load(path: recipePath, overrides: overrides, kinds: [RewardTraining.kind.schema])
        var d = recipe.section(RewardDataSection.self)
        d.source = .synthetic
        let clips = try RewardClips(data: d, model: recipe.section(RewardModelSection.self))
        try RewardClipFiles.writeFolder(clips.all, to: out)
        return clips.all.count
    }
}
