import NeoTensor

/// Shape of the VOCAL MMDiT. Each field names the recipe key (section `[model]`) it is read from.
public struct VocalConfig: Sendable, Equatable, Codable {
    /// `latent_dim`: numbers per motion frame (70 in the LivePortrait layout of docs/architecture.md §3).
    public var latentDim = 70
    /// `width`: token width C of both streams.
    public var width = 128
    /// `depth`: number of MMDiT blocks.
    public var depth = 4
    /// `heads`: attention heads; the head width is width / heads.
    public var heads = 4
    /// `mlp_ratio`: hidden width of each stream's MLP as a multiple of `width`.
    public var mlpRatio = 4.0
    /// `window_frames`: frames N of one training / sampling window (the model itself accepts any N).
    public var windowFrames = 50
    /// `prefix_frames`: frames K of the previous window carried as prefix tokens.
    public var prefixFrames = 10
    /// `emotion_count`: emotion labels (an extra null label is added for dropped emotion).
    public var emotionCount = 6
    /// `identity_dim`: per-frame feature width of the identity encoder (mean+std pooled → 2·identity_dim).
    public var identityDim = 128
    /// `audio_layers`: hidden states per audio feature frame from the encoder (its layers + 1,
    /// the stem output included).
    public var audioLayers = 5
    /// `audio_width`: width W of the audio encoder's hidden states.
    public var audioWidth = 384
    /// `timestep_dim`: sinusoidal features of t fed to the timestep MLP.
    public var timestepDim = 256
    /// `rotary_base`: base of the rotary position frequencies (positions are frame indices).
    public var rotaryBase = 10_000.0
    /// `gradient_checkpointing` (in `[train]`): recompute each block in backward instead of
    /// keeping its activations. Changes memory and time, never the numbers.
    public var gradientCheckpointing = false

    public init() {}

    public var headDim: Int { heads > 0 ? width / heads : 0 }
    public var mlpHidden: Int { Swift.max(1, Int((Double(width) * mlpRatio).rounded())) }

    /// Throws a `VocalError` naming the first recipe key whose value cannot work.
    public func validate() throws(VocalError) {
        func need(_ ok: Bool, _ key: String, _ what: String) throws(VocalError) {
            if !ok { throw VocalError(section: "model", key: key, what) }
        }
        try need(latentDim >= 1, "latent_dim", "must be ≥ 1, got \(latentDim)")
        try need(width >= 2, "width", "must be ≥ 2, got \(width)")
        try need(depth >= 1, "depth", "must be ≥ 1, got \(depth)")
        try need(heads >= 1 && width % heads == 0, "heads", "must divide width \(width), got \(heads)")
        try need(headDim % 2 == 0, "heads", "width / heads = \(headDim) must be even (rotary pairs)")
        try need(mlpRatio > 0 && mlpRatio.isFinite, "mlp_ratio", "must be > 0, got \(mlpRatio)")
        try need(windowFrames >= 1, "window_frames", "must be ≥ 1, got \(windowFrames)")
        try need(prefixFrames >= 0 && prefixFrames < windowFrames, "prefix_frames",
                 "must be less than window_frames (\(windowFrames)), got \(prefixFrames)")
        try need(emotionCount >= 1, "emotion_count", "must be ≥ 1, got \(emotionCount)")
        try need(identityDim >= 1, "identity_dim", "must be ≥ 1, got \(identityDim)")
        try need(audioLayers >= 1, "audio_layers", "must be ≥ 1, got \(audioLayers)")
        try need(audioWidth >= 1, "audio_width", "must be ≥ 1, got \(audioWidth)")
        try need(timestepDim >= 2 && timestepDim % 2 == 0, "timestep_dim", "must be even and ≥ 2, got \(timestepDim)")
        try need(rotaryBase > 1, "rotary_base", "must be > 1, got \(rotaryBase)")
    }
}

/// Flow-matching training settings (recipe section `[vocal]`).
public struct FlowMatchingSettings: Sendable, Equatable, Codable {
    /// `logit_normal_mean`, `logit_normal_std`: t = sigmoid(mean + std·n), n ~ N(0, 1).
    public var logitNormalMean = 0.0
    public var logitNormalStd = 1.0
    /// `drop_audio`: probability of replacing a sample's audio tokens by the null token.
    public var dropAudio = 0.1
    /// `drop_identity`: probability of replacing the identity features by the null embedding.
    public var dropIdentity = 0.1
    /// `drop_emotion`: probability of replacing the emotion label by the null label.
    public var dropEmotion = 0.1
    /// `drop_reference`: probability of removing the reference-frame token.
    public var dropReference = 0.1
    /// `drop_prefix`: probability of removing the previous-window prefix tokens.
    public var dropPrefix = 0.5

    public init() {}

    public func validate() throws(VocalError) {
        if !(logitNormalStd > 0 && logitNormalStd.isFinite) { throw VocalError(section: "vocal", key: "logit_normal_std", "must be > 0, got \(logitNormalStd)") }
        if !logitNormalMean.isFinite { throw VocalError(section: "vocal", key: "logit_normal_mean", "must be finite, got \(logitNormalMean)") }
        for (key, p) in [("drop_audio", dropAudio), ("drop_identity", dropIdentity), ("drop_emotion", dropEmotion),
                         ("drop_reference", dropReference), ("drop_prefix", dropPrefix)] where !(p >= 0 && p <= 1) {
            throw VocalError(section: "vocal", key: key, "a probability in [0, 1], got \(p)")
        }
    }
}

/// The sampler of `VocalSampler`.
public enum SamplerKind: String, Sendable, Codable, CaseIterable {
    /// Euler ODE steps on the shifted grid.
    case euler
    /// Heun (second-order) ODE steps: two velocity evaluations per step.
    case heun
    /// The SDE of docs/architecture.md §6 with noise level `noise_level` (0 reproduces `euler` bit for bit).
    case sde
}

/// Multi-condition classifier-free guidance weights:
/// v = v(∅) + w_a·(v(a) − v(∅)) + w_i·(v(a,i) − v(a)) + w_r·(v(a,i,r) − v(a,i)).
/// All weights 1 is plain conditional sampling; w_a = 0 ignores the audio.
public struct GuidanceWeights: Sendable, Equatable, Codable {
    /// `cfg_audio`
    public var audio: Double
    /// `cfg_identity` (identity features and emotion together)
    public var identity: Double
    /// `cfg_reference` (the reference-frame token)
    public var reference: Double

    public init(audio: Double = 1, identity: Double = 1, reference: Double = 1) {
        self.audio = audio; self.identity = identity; self.reference = reference
    }
    public static let none = GuidanceWeights()
}

/// Sampling settings (recipe section `[vocal]`; the CLI's flags override them).
public struct SamplingSettings: Sendable, Equatable, Codable {
    /// `sampler`: "euler", "heun" or "sde".
    public var sampler = SamplerKind.euler
    /// `sample_steps`: steps N of the time grid.
    public var steps = 10
    /// `shift`: S of the grid t_k = S·u/(1 + (S−1)·u), u = 1 − k/N (S = 1: uniform; S > 1 spends
    /// more steps at high noise).
    public var shift = 1.0
    /// `noise_level`: a of the SDE, σ_k = a·√(t/(1−t)).
    public var noiseLevel = 0.7
    /// `cfg_audio`, `cfg_identity`, `cfg_reference`.
    public var guidance = GuidanceWeights()

    public init() {}

    public func validate() throws(VocalError) {
        if steps < 1 { throw VocalError(section: "vocal", key: "sample_steps", "must be ≥ 1, got \(steps)") }
        if !(shift > 0 && shift.isFinite) { throw VocalError(section: "vocal", key: "shift", "must be > 0, got \(shift)") }
        if !(noiseLevel >= 0 && noiseLevel.isFinite) { throw VocalError(section: "vocal", key: "noise_level", "must be ≥ 0, got \(noiseLevel)") }
        for (key, w) in [("cfg_audio", guidance.audio), ("cfg_identity", guidance.identity), ("cfg_reference", guidance.reference)]
        where !w.isFinite {
            throw VocalError(section: "vocal", key: key, "must be finite, got \(w)")
        }
    }
}
