import Foundation
import NeoTensor
import RewardModel

/// `[model]` of `kind = "reward"`: the reward Transformer's shape.
public struct RewardModelSection: RecipeSection {
    public static let name = "model"
    public static let summary = "reward Transformer shape"
    public var motionDim = 70
    public var audioLayers = 3
    public var audioWidth = 32
    public var width = 64
    public var depth = 2
    public var heads = 4
    public var mlpRatio = 4
    public var syncLags = 12
    public var syncWidth = 16
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .integer("motion_dim", \.motionDim, .range(1...4096), "numbers per motion frame"),
        .integer("audio_layers", \.audioLayers, .range(1...64), "audio hidden states per feature frame (Whisper: layers + 1); 1 for a plain feature"),
        .integer("audio_width", \.audioWidth, .range(1...8192), "width of each audio hidden state"),
        .integer("width", \.width, .range(2...8192), "Transformer width"),
        .integer("depth", \.depth, .range(1...64), "joint-attention blocks"),
        .integer("heads", \.heads, .range(1...64), "attention heads (width/heads must be even)"),
        .integer("mlp_ratio", \.mlpRatio, .range(1...16), "MLP hidden width over model width"),
        .integer("sync_lags", \.syncLags, .range(0...1000), "the lag profile compares motion and audio at offsets up to ± this many frames"),
        .integer("sync_width", \.syncWidth, .range(1...4096), "width of the embeddings the lag profile compares"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        guard width % heads == 0, (width / heads) % 2 == 0 else {
            throw RecipeSectionCheck(key: "heads", "width \(width) must split into \(heads) heads of an even size, got head size \(Double(width) / Double(heads))")
        }
    }

    public var config: RewardModelConfig {
        RewardModelConfig(motionDim: motionDim, audioLayers: audioLayers, audioWidth: audioWidth, width: width,
                          depth: depth, heads: heads, mlpRatio: mlpRatio, syncLags: syncLags, syncWidth: syncWidth)
    }
}

public enum RewardDataKind: String, CaseIterable, Sendable {
    /// The built-in synthetic performer corpus.
    case synthetic
    /// A folder of clips: `NAME.motion.npy` [T, D] with `NAME.audio.npy` [L, 2T, W] or [2T, W],
    /// identities and languages in an optional `clips.json`.
    case clips
    /// A NeoData dataset folder (dataset.json, shards) whose clips carry cached audio features
    /// `[2T, L·W]` (each feature frame: the L hidden states one after another).
    case shards
}

/// `[data]` of `kind = "reward"`: where clips come from, the window length and the held-out
/// split.
public struct RewardDataSection: RecipeSection {
    public static let name = "data"
    public static let summary = "clips, windows and the held-out split"
    public var source = RewardDataKind.synthetic
    public var path = ""
    public var windowFrames = 50
    public var heldOutIdentities = ["id09", "id10", "id11"]
    public var heldOutLanguages = ["lang2"]
    /// Windows per held-out subset used by the evaluation during training.
    public var evalWindows = 48
    public var syntheticIdentities = 12
    public var syntheticLanguages = 3
    public var syntheticClips = 2
    public var syntheticClipFrames = 200
    public var syntheticSeed = 0
    /// The consent authority's key id; empty trusts the key the dataset's manifest names.
    public var consentKey = ""
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .choice("source", \.source, "synthetic (built-in corpus), clips (a folder of .npy clips) or shards (a dataset folder with cached features)"),
        .text("path", \.path, "the clip folder or dataset folder (source = \"clips\" or \"shards\")"),
        .integer("window_frames", \.windowFrames, .range(2...100_000), "motion frames (25 fps) per scored window"),
        .strings("held_out_identities", \.heldOutIdentities, "identities kept out of training and evaluated"),
        .strings("held_out_languages", \.heldOutLanguages, "languages kept out of training and evaluated"),
        .integer("eval_windows", \.evalWindows, .range(1...1_000_000), "windows per held-out subset evaluated during training"),
        .integer("synthetic_identities", \.syntheticIdentities, .range(2...10_000), "synthetic corpus: identities"),
        .integer("synthetic_languages", \.syntheticLanguages, .range(1...1000), "synthetic corpus: languages"),
        .integer("synthetic_clips", \.syntheticClips, .range(1...10_000), "synthetic corpus: clips per identity and language"),
        .integer("synthetic_clip_frames", \.syntheticClipFrames, .range(2...1_000_000), "synthetic corpus: frames per clip"),
        .integer("synthetic_seed", \.syntheticSeed, .atLeast(0), "synthetic corpus: seed"),
        .text("consent_key", \.consentKey, "id of the key that must sign every clip's consent record (source = \"shards\"); empty: the key the dataset names"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        if source != .synthetic && path.isEmpty {
            throw RecipeSectionCheck(key: "path", "expected the \(source == .clips ? "clip" : "dataset") folder when source = \"\(source.rawValue)\"")
        }
    }

    /// The synthetic corpus settings, with the audio shape of the model.
    public func syntheticSettings(model: RewardModelSection) -> SyntheticCorpusSettings {
        var s = SyntheticCorpusSettings()
        s.identities = syntheticIdentities
        s.languages = syntheticLanguages
        s.clipsPerPair = syntheticClips
        s.clipFrames = syntheticClipFrames
        s.audioLayers = model.audioLayers
        s.audioWidth = model.audioWidth
        s.seed = syntheticSeed
        return s
    }
}

/// `[reward]`: how preference pairs are made and weighed.
public struct RewardSection: RecipeSection {
    public static let name = "reward"
    public static let summary = "preference pairs, degradations and loss weights"
    public var degradations = Degradation.allCases.map(\.rawValue)
    public var realFraction = 0.7
    public var minStrength = 0.15
    public var minGap = 0.25
    public var aspectWeight = 1.0
    public var invarianceWeight = 0.1
    public var scoreL2 = 1e-3
    public var maxOffsetFrames = 12
    public var jitterScale = 0.25
    public var dampFloor = 0.15
    public var exaggeration = 1.5
    public var twitchesPerSecond = 2.0
    public var twitchScale = 1.5
    public var maxSmoothingSigma = 4.0
    public var evalSeed = 0
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .strings("degradations", \.degradations, "degradations used for pairs: " + Degradation.allCases.map(\.rawValue).joined(separator: ", ")),
        .number("real_fraction", \.realFraction, .unitClosed, "fraction of ground-truth-over-degraded pairs (the rest: weaker over stronger)"),
        .number("min_strength", \.minStrength, .range(0...0.9), "strengths are drawn from [min_strength, 1]"),
        .number("min_gap", \.minGap, .range(0.01...1), "strength gap of weaker-over-stronger pairs"),
        .number("aspect_weight", \.aspectWeight, .nonNegative, "weight of each aspect head's Bradley–Terry loss"),
        .number("invariance_weight", \.invarianceWeight, .nonNegative, "weight of each aspect head's indifference to the other aspects' pairs"),
        .number("score_l2", \.scoreL2, .nonNegative, "weight of the mean squared score (keeps scores centred)"),
        .integer("max_offset_frames", \.maxOffsetFrames, .range(1...1000), "time offset at strength 1 (motion frames)"),
        .number("jitter_scale", \.jitterScale, .positive, "jitter noise at strength 1, in per-dimension standard deviations"),
        .number("damp_floor", \.dampFloor, .range(0...1), "damped expression: scale left at strength 1"),
        .number("exaggeration", \.exaggeration, .positive, "exaggerated expression: extra scale at strength 1"),
        .number("twitches_per_second", \.twitchesPerSecond, .positive, "twitches per second at strength 1"),
        .number("twitch_scale", \.twitchScale, .positive, "twitch peak in standard deviations (×(1 + 2·strength))"),
        .number("max_smoothing_sigma", \.maxSmoothingSigma, .positive, "over-smoothing Gaussian sigma at strength 1 (frames)"),
        .integer("eval_seed", \.evalSeed, .atLeast(0), "seed of the evaluation's degradations"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        guard !degradations.isEmpty else { throw RecipeSectionCheck(key: "degradations", "expected at least one degradation") }
        for d in degradations where Degradation(rawValue: d) == nil {
            throw RecipeSectionCheck(key: "degradations", "unknown degradation \"\(d)\" (known: \(Degradation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    public var degradationSettings: DegradationSettings {
        var s = DegradationSettings()
        s.maxOffsetFrames = maxOffsetFrames
        s.jitterScale = Float(jitterScale)
        s.dampFloor = Float(dampFloor)
        s.exaggeration = Float(exaggeration)
        s.twitchesPerSecond = Float(twitchesPerSecond)
        s.twitchScale = Float(twitchScale)
        s.maxSmoothingSigma = Float(maxSmoothingSigma)
        return s
    }

    public var lossWeights: RewardLossWeights {
        RewardLossWeights(aspect: Float(aspectWeight), invariance: Float(invarianceWeight), scoreL2: Float(scoreL2))
    }

    public var pairSettings: PairSettings {
        var p = PairSettings()
        p.degradations = degradations.compactMap(Degradation.init(rawValue:))
        p.realFraction = Float(realFraction)
        p.minStrength = Float(minStrength)
        p.minGap = Float(minGap)
        p.degradation = degradationSettings
        return p
    }

    public var evaluationSettings: EvaluationSettings {
        var e = EvaluationSettings()
        e.degradations = degradations.compactMap(Degradation.init(rawValue:))
        e.degradation = degradationSettings
        e.seed = evalSeed
        return e
    }
}

extension RecipeField {
    /// An array of strings (may be empty).
    static func strings(_ key: String, _ path: WritableKeyPath<Section, [String]> & Sendable, _ doc: String = "") -> Self {
        let expected = "an array of strings"
        return Self(key: key, doc: doc, expected: expected,
                    read: { s, v throws(FieldProblem) in
                        guard case .array(let xs) = v else { throw FieldProblem(expected: expected, got: v) }
                        var out: [String] = []
                        for x in xs {
                            guard case .string(let t) = x else { throw FieldProblem(expected: expected, got: v) }
                            out.append(t)
                        }
                        s[keyPath: path] = out
                    },
                    write: { .array($0[keyPath: path].map { .string($0) }) })
    }
}
