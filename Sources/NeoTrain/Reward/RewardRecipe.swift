import Foundation
import NeoTensor
import RewardModel

/// `[model]` of `kind = "reward"`: the reward Transformer's shape, bound to `RewardModelConfig`
/// (its defaults).
public struct RewardModelSection: RecipeSection {
    public static let name = "model"
    public static let summary = "reward Transformer shape"
    public var config = RewardModelConfig()
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .integer("motion_dim", \.config.motionDim, .range(1...4096), "numbers per motion frame"),
        .integer("audio_layers", \.config.audioLayers, .range(1...64), "audio hidden states per feature frame (Whisper: layers + 1); 1 for a plain feature"),
        .integer("audio_width", \.config.audioWidth, .range(1...8192), "width of each audio hidden state"),
        .integer("width", \.config.width, .range(2...8192), "Transformer width"),
        .integer("depth", \.config.depth, .range(1...64), "joint-attention blocks"),
        .integer("heads", \.config.heads, .range(1...64), "attention heads (width/heads must be even)"),
        .integer("mlp_ratio", \.config.mlpRatio, .range(1...16), "MLP hidden width over model width"),
        .integer("sync_lags", \.config.syncLags, .range(0...1000), "the lag profile compares motion and audio at offsets up to ± this many frames"),
        .integer("sync_width", \.config.syncWidth, .range(1...4096), "width of the embeddings the lag profile compares"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        let c = config
        guard c.width % c.heads == 0, (c.width / c.heads) % 2 == 0 else {
            throw RecipeSectionCheck(key: "heads", "width \(c.width) must split into \(c.heads) heads of an even size, got head size \(Double(c.width) / Double(c.heads))")
        }
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
        s.audioLayers = model.config.audioLayers
        s.audioWidth = model.config.audioWidth
        s.seed = syntheticSeed
        return s
    }
}

/// `[reward]`: how preference pairs are made and weighed, bound to RewardModel's
/// `PairSettings` (with its `DegradationSettings`), `RewardLossWeights` and the evaluation's seed
/// (their defaults).
public struct RewardSection: RecipeSection {
    public static let name = "reward"
    public static let summary = "preference pairs, degradations and loss weights"
    public var pairs = PairSettings()
    public var loss = RewardLossWeights()
    public var evalSeed = EvaluationSettings().seed
    /// The names as written (checked against `Degradation` in `check`).
    public var degradations = PairSettings().degradations.map(\.rawValue)
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .strings("degradations", \.degradations, "degradations used for pairs: " + Degradation.allCases.map(\.rawValue).joined(separator: ", ")),
        .number("real_fraction", \.pairs.realFraction, .unitClosed, "fraction of ground-truth-over-degraded pairs (the rest: weaker over stronger)"),
        .number("min_strength", \.pairs.minStrength, .range(0...0.9), "strengths are drawn from [min_strength, 1]"),
        .number("min_gap", \.pairs.minGap, .range(0.01...1), "strength gap of weaker-over-stronger pairs"),
        .number("aspect_weight", \.loss.aspect, .nonNegative, "weight of each aspect head's Bradley–Terry loss"),
        .number("invariance_weight", \.loss.invariance, .nonNegative, "weight of each aspect head's indifference to the other aspects' pairs"),
        .number("score_l2", \.loss.scoreL2, .nonNegative, "weight of the mean squared score (keeps scores centred)"),
        .integer("max_offset_frames", \.pairs.degradation.maxOffsetFrames, .range(1...1000), "time offset at strength 1 (motion frames)"),
        .number("jitter_scale", \.pairs.degradation.jitterScale, .positive, "jitter noise at strength 1, in per-dimension standard deviations"),
        .number("damp_floor", \.pairs.degradation.dampFloor, .range(0...1), "damped expression: scale left at strength 1"),
        .number("exaggeration", \.pairs.degradation.exaggeration, .positive, "exaggerated expression: extra scale at strength 1"),
        .number("twitches_per_second", \.pairs.degradation.twitchesPerSecond, .positive, "twitches per second at strength 1"),
        .number("twitch_scale", \.pairs.degradation.twitchScale, .positive, "twitch peak in standard deviations (×(1 + 2·strength))"),
        .number("max_smoothing_sigma", \.pairs.degradation.maxSmoothingSigma, .positive, "over-smoothing Gaussian sigma at strength 1 (frames)"),
        .integer("eval_seed", \.evalSeed, .atLeast(0), "seed of the evaluation's degradations"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        guard !degradations.isEmpty else { throw RecipeSectionCheck(key: "degradations", "expected at least one degradation") }
        for d in degradations where Degradation(rawValue: d) == nil {
            throw RecipeSectionCheck(key: "degradations", "unknown degradation \"\(d)\" (known: \(Degradation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    /// Time offset at strength 1 (the held-out windows keep this margin).
    public var maxOffsetFrames: Int { pairs.degradation.maxOffsetFrames }
    public var degradation: DegradationSettings { pairs.degradation }
    public var lossWeights: RewardLossWeights { loss }

    public var pairSettings: PairSettings {
        var p = pairs
        p.degradations = degradations.compactMap(Degradation.init(rawValue:))
        return p
    }

    public var evaluationSettings: EvaluationSettings {
        var e = EvaluationSettings()
        e.degradations = degradations.compactMap(Degradation.init(rawValue:))
        e.degradation = pairs.degradation
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
