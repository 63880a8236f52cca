import Vocal

/// `[model]` of `kind = "vocal"`: the shape of the MMDiT (`VocalConfig`).
public struct VocalModelSection: RecipeSection {
    public static let name = "model"
    public static let summary = "shape of the VOCAL MMDiT"
    public var latentDim = 70
    public var width = 128
    public var depth = 4
    public var heads = 4
    public var mlpRatio = 4.0
    public var windowFrames = 50
    public var prefixFrames = 10
    public var emotionCount = 6
    public var identityDim = 128
    public var audioLayers = 5
    public var audioWidth = 384
    public var timestepDim = 256
    public var rotaryBase = 10_000.0
    public init() {}

    public static var fields: [RecipeField<Self>] {[
        .integer("latent_dim", \.latentDim, .atLeast(1), "numbers per motion frame (70: LivePortrait layout)"),
        .integer("width", \.width, .atLeast(2), "token width C of both streams"),
        .integer("depth", \.depth, .atLeast(1), "MMDiT blocks"),
        .integer("heads", \.heads, .atLeast(1), "attention heads (width / heads even)"),
        .number("mlp_ratio", \.mlpRatio, .positive, "MLP hidden width as a multiple of width"),
        .integer("window_frames", \.windowFrames, .atLeast(1), "frames N per training / sampling window (25 fps)"),
        .integer("prefix_frames", \.prefixFrames, .atLeast(0), "frames K of the previous window carried as prefix (< window_frames)"),
        .integer("emotion_count", \.emotionCount, .atLeast(1), "emotion labels (a null label is added)"),
        .integer("identity_dim", \.identityDim, .atLeast(1), "per-frame width of the identity encoder"),
        .integer("audio_layers", \.audioLayers, .atLeast(1), "hidden states per audio frame (encoder layers + 1)"),
        .integer("audio_width", \.audioWidth, .atLeast(1), "width of the audio encoder's hidden states"),
        .integer("timestep_dim", \.timestepDim, .atLeast(2), "sinusoidal features of t (even)"),
        .number("rotary_base", \.rotaryBase, .positive, "rotary frequency base"),
    ]}

    /// The model configuration (gradient checkpointing comes from `[train]`).
    public var config: VocalConfig {
        var c = VocalConfig()
        c.latentDim = latentDim; c.width = width; c.depth = depth; c.heads = heads; c.mlpRatio = mlpRatio
        c.windowFrames = windowFrames; c.prefixFrames = prefixFrames; c.emotionCount = emotionCount
        c.identityDim = identityDim; c.audioLayers = audioLayers; c.audioWidth = audioWidth
        c.timestepDim = timestepDim; c.rotaryBase = rotaryBase
        return c
    }

    public func check() throws(RecipeSectionCheck) {
        if heads > 0 && width % heads != 0 { throw RecipeSectionCheck(key: "heads", "must divide width \(width), got \(heads)") }
        if heads > 0 && (width / heads) % 2 != 0 {
            throw RecipeSectionCheck(key: "heads", "width / heads = \(width / heads) must be even (rotary pairs)")
        }
        if prefixFrames >= windowFrames {
            throw RecipeSectionCheck(key: "prefix_frames", "must be less than window_frames (\(windowFrames)), got \(prefixFrames)")
        }
        if timestepDim % 2 != 0 { throw RecipeSectionCheck(key: "timestep_dim", "must be even, got \(timestepDim)") }
        if !(rotaryBase > 1) { throw RecipeSectionCheck(key: "rotary_base", "must be > 1, got \(rotaryBase)") }
    }
}

/// `[data]` of `kind = "vocal"`: the dataset folder and how identities are held out.
public struct VocalDataSection: RecipeSection {
    public static let name = "data"
    public static let summary = "dataset folder, identity reference clips, held-out identities"
    public var path = ""
    public var referenceFrames = 100
    public var validationIdentities = 1
    public var testIdentities = 0
    public var validationBatches = 4
    public init() {}

    public static var fields: [RecipeField<Self>] {[
        .text("path", \.path, "dataset folder (shards with cached audio features)"),
        .integer("reference_frames", \.referenceFrames, .atLeast(1), "frames of the speaker's reference clip fed to the identity encoder"),
        .integer("validation_identities", \.validationIdentities, .atLeast(1), "identities held out for the validation loss"),
        .integer("test_identities", \.testIdentities, .atLeast(0), "identities held out for `neo-train eval motion --split test`"),
        .integer("validation_batches", \.validationBatches, .atLeast(1), "batches of held-out windows in each validation loss"),
    ]}
}

/// `[vocal]`: flow-matching training (timesteps, condition dropout) and sampling defaults.
public struct VocalSection: RecipeSection {
    public static let name = "vocal"
    public static let summary = "flow matching, condition dropout, sampler defaults"
    public var logitNormalMean = 0.0
    public var logitNormalStd = 1.0
    public var dropAudio = 0.1
    public var dropIdentity = 0.1
    public var dropEmotion = 0.1
    public var dropReference = 0.1
    public var dropPrefix = 0.5
    public var sampler = SamplerKind.euler
    public var sampleSteps = 10
    public var shift = 1.0
    public var noiseLevel = 0.7
    public var cfgAudio = 2.0
    public var cfgIdentity = 1.0
    public var cfgReference = 1.0
    public var relativeMotion = true
    public init() {}

    public static var fields: [RecipeField<Self>] {[
        .number("logit_normal_mean", \.logitNormalMean, .any, "t = sigmoid(mean + std·n), n ~ N(0, 1)"),
        .number("logit_normal_std", \.logitNormalStd, .positive, "spread of the logit-normal timesteps"),
        .number("drop_audio", \.dropAudio, .unitClosed, "P(audio tokens → learned null token)"),
        .number("drop_identity", \.dropIdentity, .unitClosed, "P(identity features → null embedding)"),
        .number("drop_emotion", \.dropEmotion, .unitClosed, "P(emotion → null label)"),
        .number("drop_reference", \.dropReference, .unitClosed, "P(reference-frame token removed)"),
        .number("drop_prefix", \.dropPrefix, .unitClosed, "P(previous-window prefix tokens removed)"),
        .choice("sampler", \.sampler, "euler | heun | sde"),
        .integer("sample_steps", \.sampleSteps, .atLeast(1), "steps of the sampling grid"),
        .number("shift", \.shift, .positive, "grid t_k = S·u/(1+(S−1)u), u = 1 − k/N"),
        .number("noise_level", \.noiseLevel, .nonNegative, "a of the SDE; 0 reproduces euler exactly"),
        .number("cfg_audio", \.cfgAudio, .any, "guidance weight w_a"),
        .number("cfg_identity", \.cfgIdentity, .any, "guidance weight w_i (identity features and emotion)"),
        .number("cfg_reference", \.cfgReference, .any, "guidance weight w_r (reference-frame token)"),
        .flag("relative_motion", \.relativeMotion, "model motion as offsets from the reference frame (NormalizedVocal)"),
    ]}

    public var flowMatching: FlowMatchingSettings {
        var f = FlowMatchingSettings()
        f.logitNormalMean = logitNormalMean; f.logitNormalStd = logitNormalStd
        f.dropAudio = dropAudio; f.dropIdentity = dropIdentity; f.dropEmotion = dropEmotion
        f.dropReference = dropReference; f.dropPrefix = dropPrefix
        return f
    }

    public var sampling: SamplingSettings {
        var s = SamplingSettings()
        s.sampler = sampler; s.steps = sampleSteps; s.shift = shift; s.noiseLevel = noiseLevel
        s.guidance = GuidanceWeights(audio: cfgAudio, identity: cfgIdentity, reference: cfgReference)
        return s
    }
}
