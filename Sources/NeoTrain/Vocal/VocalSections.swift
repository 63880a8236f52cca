import Vocal

/// `[model]` of `kind = "vocal"`: the shape of the MMDiT, bound to `VocalConfig` (its defaults,
/// its validation).
public struct VocalModelSection: RecipeSection {
    public static let name = "model"
    public static let summary = "shape of the VOCAL MMDiT"
    /// The model configuration (gradient checkpointing comes from `[train]`: `VocalKind.config`).
    public var config = VocalConfig()
    public init() {}

    public static var fields: [RecipeField<Self>] {[
        .integer("latent_dim", \.config.latentDim, .atLeast(1), "numbers per motion frame (70: LivePortrait layout)"),
        .integer("width", \.config.width, .atLeast(2), "token width C of both streams"),
        .integer("depth", \.config.depth, .atLeast(1), "MMDiT blocks"),
        .integer("heads", \.config.heads, .atLeast(1), "attention heads (width / heads even)"),
        .number("mlp_ratio", \.config.mlpRatio, .positive, "MLP hidden width as a multiple of width"),
        .integer("window_frames", \.config.windowFrames, .atLeast(1), "frames N per training / sampling window (25 fps)"),
        .integer("prefix_frames", \.config.prefixFrames, .atLeast(0), "frames K of the previous window carried as prefix (< window_frames)"),
        .integer("emotion_count", \.config.emotionCount, .atLeast(1), "emotion labels (a null label is added)"),
        .integer("identity_dim", \.config.identityDim, .atLeast(1), "per-frame width of the identity encoder"),
        .integer("audio_layers", \.config.audioLayers, .atLeast(1), "hidden states per audio frame (encoder layers + 1)"),
        .integer("audio_width", \.config.audioWidth, .atLeast(1), "width of the audio encoder's hidden states"),
        .integer("timestep_dim", \.config.timestepDim, .atLeast(2), "sinusoidal features of t (even)"),
        .number("rotary_base", \.config.rotaryBase, .positive, "rotary frequency base"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        do { try config.validate() } catch { throw RecipeSectionCheck(error) }
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

/// `[vocal]`: flow-matching training (`FlowMatchingSettings`) and sampling defaults
/// (`SamplingSettings`), bound to those types (their defaults, their validation).
public struct VocalSection: RecipeSection {
    public static let name = "vocal"
    public static let summary = "flow matching, condition dropout, sampler defaults"
    public var flowMatching = FlowMatchingSettings()
    public var sampling = SamplingSettings()
    public var relativeMotion = true
    public init() {}

    public static var fields: [RecipeField<Self>] {[
        .number("logit_normal_mean", \.flowMatching.logitNormalMean, .any, "t = sigmoid(mean + std·n), n ~ N(0, 1)"),
        .number("logit_normal_std", \.flowMatching.logitNormalStd, .positive, "spread of the logit-normal timesteps"),
        .number("drop_audio", \.flowMatching.dropAudio, .unitClosed, "P(audio tokens → learned null token)"),
        .number("drop_identity", \.flowMatching.dropIdentity, .unitClosed, "P(identity features → null embedding)"),
        .number("drop_emotion", \.flowMatching.dropEmotion, .unitClosed, "P(emotion → null label)"),
        .number("drop_reference", \.flowMatching.dropReference, .unitClosed, "P(reference-frame token removed)"),
        .number("drop_prefix", \.flowMatching.dropPrefix, .unitClosed, "P(previous-window prefix tokens removed)"),
        .choice("sampler", \.sampling.sampler, "euler | heun | sde"),
        .integer("sample_steps", \.sampling.steps, .atLeast(1), "steps of the sampling grid"),
        .number("shift", \.sampling.shift, .positive, "grid t_k = S·u/(1+(S−1)u), u = 1 − k/N"),
        .number("noise_level", \.sampling.noiseLevel, .nonNegative, "a of the SDE; 0 reproduces euler exactly"),
        .number("cfg_audio", \.sampling.guidance.audio, .any, "guidance weight w_a"),
        .number("cfg_identity", \.sampling.guidance.identity, .any, "guidance weight w_i (identity features and emotion)"),
        .number("cfg_reference", \.sampling.guidance.reference, .any, "guidance weight w_r (reference-frame token)"),
        .flag("relative_motion", \.relativeMotion, "model motion as offsets from the reference frame (NormalizedVocal)"),
    ]}

    public func check() throws(RecipeSectionCheck) {
        do {
            try flowMatching.validate()
            try sampling.validate()
        } catch {
            throw RecipeSectionCheck(error)
        }
    }
}
