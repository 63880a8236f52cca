import NeoNN
import NeoTensor

/// Shape of the reward model.
public struct RewardModelConfig: Sendable, Equatable, Codable {
    /// Numbers per motion frame (70 in the default layout).
    public var motionDim = 70
    /// Audio hidden states per feature frame (Whisper: layers + 1); 1 for a plain feature.
    public var audioLayers = 1
    /// Width of each audio hidden state.
    public var audioWidth = 32
    /// Transformer width.
    public var width = 64
    /// Joint-attention blocks.
    public var depth = 2
    public var heads = 4
    /// MLP hidden width = mlpRatio · width.
    public var mlpRatio = 4
    /// The lag profile compares motion and audio at offsets −syncLags…syncLags frames.
    public var syncLags = 12
    /// Width of the embeddings the lag profile compares.
    public var syncWidth = 16

    public init() {}

    /// The defaults with the given fields changed (the defaults live once, above).
    public init(motionDim: Int? = nil, audioLayers: Int? = nil, audioWidth: Int? = nil, width: Int? = nil, depth: Int? = nil,
                heads: Int? = nil, mlpRatio: Int? = nil, syncLags: Int? = nil, syncWidth: Int? = nil) {
        if let motionDim { self.motionDim = motionDim }
        if let audioLayers { self.audioLayers = audioLayers }
        if let audioWidth { self.audioWidth = audioWidth }
        if let width { self.width = width }
        if let depth { self.depth = depth }
        if let heads { self.heads = heads }
        if let mlpRatio { self.mlpRatio = mlpRatio }
        if let syncLags { self.syncLags = syncLags }
        if let syncWidth { self.syncWidth = syncWidth }
    }

    public var headDim: Int { width / heads }

    /// Throws when the numbers cannot make a model.
    public func validate() throws {
        guard motionDim > 0 else { throw RewardError("reward model: motion_dim must be positive, got \(motionDim)") }
        guard audioLayers > 0, audioWidth > 0 else {
            throw RewardError("reward model: audio_layers and audio_width must be positive, got \(audioLayers) and \(audioWidth)")
        }
        guard width > 0, depth > 0, heads > 0, mlpRatio > 0 else {
            throw RewardError("reward model: width, depth, heads and mlp_ratio must be positive")
        }
        guard syncLags >= 0, syncWidth > 0 else {
            throw RewardError("reward model: sync_lags must be ≥ 0 and sync_width positive, got \(syncLags) and \(syncWidth)")
        }
        guard width % heads == 0, headDim % 2 == 0 else {
            throw RewardError("reward model: width \(width) must split into \(heads) heads of an even size (rotary positions rotate pairs)")
        }
    }
}

/// One joint-attention block over the motion and audio streams (MMDiT-style without
/// conditioning): each stream has its own norms, q/k/v/out projections and MLP; attention runs
/// over both streams' tokens at once, with rotary positions shared so that motion frame i and
/// audio frame i sit at the same position.
public final class RewardBlock: Module {
    public let motionNorm1: LayerNorm
    public let audioNorm1: LayerNorm
    public let attention: JointAttention
    public let motionNorm2: LayerNorm
    public let audioNorm2: LayerNorm
    public let motionMLP: MLP
    public let audioMLP: MLP

    public init(width: Int, heads: Int, mlpRatio: Int, generator: Generator) {
        motionNorm1 = LayerNorm(width)
        audioNorm1 = LayerNorm(width)
        attention = JointAttention(dims: [width, width], heads: heads, qkNorm: true, rotaryDim: width / heads,
                                   generator: generator)
        motionNorm2 = LayerNorm(width)
        audioNorm2 = LayerNorm(width)
        motionMLP = MLP(width, hidden: mlpRatio * width, activation: .gelu, generator: generator)
        audioMLP = MLP(width, hidden: mlpRatio * width, activation: .gelu, generator: generator)
    }

    public func callAsFunction(_ motion: Tensor, _ audio: Tensor) -> (Tensor, Tensor) {
        let att = attention([motionNorm1(motion), audioNorm1(audio)])
        let m = motion + att[0], a = audio + att[1]
        return (m + motionMLP(motionNorm2(m)), a + audioMLP(audioNorm2(a)))
    }
}

/// Attention pooling: a learned score per token, softmax over the tokens, weighted mean.
public final class AttentionPool: Module {
    public let score: Linear
    public init(width: Int, generator: Generator) { score = Linear(width, 1, generator: generator) }
    /// `[B, T, W]` → `[B, W]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let w = score(x).softmax(dim: 1)
        return (x * w).sum(axes: [1])
    }
}

/// The reward model: a Transformer over audio tokens and motion tokens, pooled into four scores
/// — overall, naturalness, expression range, audio alignment (columns in that order,
/// `RewardHead`).
///
/// - Audio tokens: the `L` hidden states of each 50 fps feature frame are layer-normalised
///   (no gain) and mixed by a learned softmax over layers (`layerLogits`, absent when L = 1);
///   the two feature frames of each motion frame are concatenated and projected (`audioIn`).
/// - Motion tokens: each frame standardised by the corpus statistics (`motionMean`,
///   `motionStd`, frozen), concatenated with its difference from the previous frame divided by
///   `deltaStd` (zero for the first), projected (`motionIn`); the differences make jitter and
///   twitches visible to the first layer. The frame's own audio pair is projected and added
///   (`frameAudioIn`), so each motion token starts out knowing what it should be saying.
/// - `depth` joint-attention blocks (`RewardBlock`), rotary positions shared between the
///   streams.
/// - Pooling: per stream a final layer norm, then the mean and an attention pool; with the
///   window summary and the lag profile (below) the six vectors are concatenated and normalised
///   (`poolNorm`).
/// - Window summary (`summaryIn`): the log standard deviation over the window of every
///   standardised motion number and of its frame differences, projected — how much each
///   dimension moves and how jerkily, which damping, exaggeration, head-motion removal and
///   jitter change directly.
/// - Lag profile (`syncMotion`, `syncAudio`, `lagIn`): motion-only and audio-only token
///   embeddings projected to `syncWidth` and compared at every offset −syncLags…syncLags
///   (`lagProfile`), projected — where the profile peaks says how far the face is off the
///   audio, which plain attention learns slowly.
/// - Heads: four separate MLPs (6·width → width → 1). The overall score is its own head rather
///   than a combination of the aspect scores, so an aspect head is trained only by the pairs of
///   its own degradations and can specialise, while the overall head sees every pair.
public final class RewardTransformer: Module {
    public let config: RewardModelConfig
    public let motionMean: Parameter
    public let motionStd: Parameter
    public let deltaStd: Parameter
    public let layerLogits: Parameter?
    public let audioIn: Linear
    public let motionIn: Linear
    public let frameAudioIn: Linear
    public let summaryIn: Linear
    public let syncMotion: Linear
    public let syncAudio: Linear
    public let lagIn: Linear
    public let blocks: [RewardBlock]
    public let motionNorm: LayerNorm
    public let audioNorm: LayerNorm
    public let motionPool: AttentionPool
    public let audioPool: AttentionPool
    public let poolNorm: LayerNorm
    public let overallHead: MLP
    public let naturalnessHead: MLP
    public let expressionHead: MLP
    public let alignmentHead: MLP

    public init(config: RewardModelConfig, statistics: MotionStatistics? = nil, generator: Generator) throws {
        try config.validate()
        let stats = statistics ?? .unit(dim: config.motionDim)
        guard stats.dim == config.motionDim else {
            throw RewardError("reward model: motion statistics have width \(stats.dim), the model expects \(config.motionDim)")
        }
        self.config = config
        let w = config.width
        motionMean = Parameter(Tensor(stats.mean, shape: [config.motionDim]), frozen: true)
        motionStd = Parameter(Tensor(stats.std, shape: [config.motionDim]), frozen: true)
        deltaStd = Parameter(Tensor(stats.deltaStd, shape: [config.motionDim]), frozen: true)
        layerLogits = config.audioLayers > 1 ? Parameter(Tensor.zeros([config.audioLayers])) : nil
        audioIn = Linear(2 * config.audioWidth, w, generator: generator)
        motionIn = Linear(2 * config.motionDim, w, generator: generator)
        frameAudioIn = Linear(2 * config.audioWidth, w, generator: generator)
        summaryIn = Linear(2 * config.motionDim, w, generator: generator)
        syncMotion = Linear(w, config.syncWidth, generator: generator)
        syncAudio = Linear(w, config.syncWidth, generator: generator)
        lagIn = Linear(2 * config.syncLags + 1, w, generator: generator)
        blocks = (0..<config.depth).map { _ in
            RewardBlock(width: w, heads: config.heads, mlpRatio: config.mlpRatio, generator: generator)
        }
        motionNorm = LayerNorm(w)
        audioNorm = LayerNorm(w)
        motionPool = AttentionPool(width: w, generator: generator)
        audioPool = AttentionPool(width: w, generator: generator)
        poolNorm = LayerNorm(6 * w)
        overallHead = MLP(6 * w, hidden: w, out: 1, activation: .gelu, generator: generator)
        naturalnessHead = MLP(6 * w, hidden: w, out: 1, activation: .gelu, generator: generator)
        expressionHead = MLP(6 * w, hidden: w, out: 1, activation: .gelu, generator: generator)
        alignmentHead = MLP(6 * w, hidden: w, out: 1, activation: .gelu, generator: generator)
    }

    /// The statistics the model standardises motion with.
    public var statistics: MotionStatistics {
        MotionStatistics(mean: motionMean.value.toArray(), std: motionStd.value.toArray(), deltaStd: deltaStd.value.toArray())
    }

    /// Replaces the standardisation statistics (before training).
    public func setStatistics(_ s: MotionStatistics) {
        ensure(s.dim == config.motionDim, "RewardTransformer.setStatistics: width \(s.dim), expected \(config.motionDim)")
        motionMean.assign(Tensor(s.mean, shape: [s.dim]))
        motionStd.assign(Tensor(s.std, shape: [s.dim]))
        deltaStd.assign(Tensor(s.deltaStd, shape: [s.dim]))
    }

    /// The softmax weights over audio layers (all 1 for a single layer).
    public var layerWeights: [Float] {
        guard let layerLogits else { return [1] }
        return noGrad { layerLogits.value.softmax(dim: 0).toArray() }
    }

    /// Checks user-supplied inputs: motion `[B, T, motionDim]`, audio `[B, L, 2T, audioWidth]`
    /// (or `[B, 2T, audioWidth]` when L = 1), finite values.
    public func validate(motion: Tensor, audio: Tensor) throws {
        let c = config
        guard motion.rank == 3 else { throw RewardError("motion must be [batch, frames, \(c.motionDim)], got shape \(motion.shape)") }
        guard motion.shape[2] == c.motionDim else {
            throw RewardError("motion has \(motion.shape[2]) numbers per frame; this reward model expects \(c.motionDim)")
        }
        let b = motion.shape[0], t = motion.shape[1]
        guard t >= 2 else { throw RewardError("motion has \(t) frame(s); at least 2 are needed") }
        let a4 = audio.rank == 3 && c.audioLayers == 1 ? audio.unsqueeze(1) : audio
        guard a4.rank == 4 else {
            throw RewardError("audio features must be [batch, \(c.audioLayers), frames, \(c.audioWidth)], got shape \(audio.shape)")
        }
        guard a4.shape[1] == c.audioLayers, a4.shape[3] == c.audioWidth else {
            throw RewardError("audio features have \(a4.shape[1]) layers of width \(a4.shape[3]); this reward model expects \(c.audioLayers) of width \(c.audioWidth)")
        }
        guard a4.shape[0] == b else { throw RewardError("audio batch \(a4.shape[0]) differs from motion batch \(b)") }
        guard a4.shape[2] == 2 * t else {
            throw RewardError("audio and motion lengths do not match: \(a4.shape[2]) audio feature frames (50 fps) for \(t) motion frames (25 fps); expected \(2 * t)")
        }
        for (name, x) in [("motion", motion), ("audio", audio)] {
            if x.toArray().contains(where: { !$0.isFinite }) { throw RewardError("\(name) holds NaN or infinite values") }
        }
    }

    /// Scores `[B, 4]` (overall, naturalness, expression range, audio alignment) for motion
    /// `[B, T, D]` and audio `[B, L, 2T, W]` (or `[B, 2T, W]` when L = 1). Shapes are the
    /// caller's responsibility here; `validate` checks user input first.
    public func callAsFunction(motion: Tensor, audio: Tensor) -> Tensor {
        let c = config
        let audio4 = audio.rank == 3 ? audio.unsqueeze(1) : audio
        ensure(motion.rank == 3 && motion.shape[2] == c.motionDim, "RewardTransformer: motion shape \(motion.shape)")
        let b = motion.shape[0], t = motion.shape[1]
        ensure(audio4.rank == 4 && audio4.shape == [b, c.audioLayers, 2 * t, c.audioWidth],
               "RewardTransformer: audio shape \(audio.shape) for motion \(motion.shape)")

        // Audio tokens: per-layer norm, softmax mix over layers, frame pairs projected.
        var mixed = layerNorm(audio4, weight: nil, bias: nil)
        if let layerLogits {
            let weights = layerLogits.value.softmax(dim: 0).reshape([1, c.audioLayers, 1, 1])
            mixed = (mixed * weights).sum(axes: [1])
        } else {
            mixed = mixed.squeeze(1)
        }
        let pairs = mixed.reshape([b, t, 2 * c.audioWidth])
        var a = audioIn(pairs)

        // Motion tokens: standardised frames and standardised frame differences.
        let x = (motion - motionMean.value) / motionStd.value
        let diff = motion.slice(dim: 1, start: 1, end: t) - motion.slice(dim: 1, start: 0, end: t - 1)
        let delta = Tensor.concat([Tensor.zeros([b, 1, c.motionDim]), diff / deltaStd.value], dim: 1)
        let features = Tensor.concat([x, delta], dim: 2)
        let motionTokens = motionIn(features)
        var m = motionTokens + frameAudioIn(pairs)
        let lags = lagProfile(motion: motionTokens, audio: a)
        // Window summary: log standard deviation over time of every standardised number and
        // of its frame differences — how much each dimension moves, and how jerkily.
        let spread = (features.variance(axes: [1], correction: 0) + 1e-6).log() * 0.5
        let summary = summaryIn(spread)

        for block in blocks { (m, a) = block(m, a) }
        m = motionNorm(m)
        a = audioNorm(a)
        let pooled = poolNorm(Tensor.concat([m.mean(axes: [1]), motionPool(m), a.mean(axes: [1]), audioPool(a), summary, lagIn(lags)], dim: 1))
        return Tensor.concat([overallHead(pooled), naturalnessHead(pooled), expressionHead(pooled), alignmentHead(pooled)], dim: 1)
    }

    /// The lag profile `[B, 2L+1]`: for each offset ℓ in −L…L frames (L = syncLags, limited to
    /// T − 1), the mean over the overlapping frames of the dot product between the normalised
    /// sync embeddings of motion frame i + ℓ and audio frame i, divided by √syncWidth. Aligned
    /// speech peaks at ℓ = 0; motion lagging the audio by k frames peaks at ℓ = k. Offsets
    /// beyond the window give 0.
    func lagProfile(motion: Tensor, audio: Tensor) -> Tensor {
        let t = motion.shape[1], lagCount = config.syncLags
        let em = layerNorm(syncMotion(motion), weight: nil, bias: nil)
        let ea = layerNorm(syncAudio(audio), weight: nil, bias: nil)
        let scale = 1 / Float(Double(config.syncWidth).squareRoot())
        var columns: [Tensor] = []
        for lag in -lagCount...lagCount {
            guard abs(lag) < t else { columns.append(Tensor.zeros([motion.shape[0], 1])); continue }
            let mm = em.slice(dim: 1, start: max(0, lag), end: t + min(0, lag))
            let aa = ea.slice(dim: 1, start: max(0, -lag), end: t - max(0, lag))
            columns.append((mm * aa).sum(axes: [2]).mean(axes: [1], keepDims: false).unsqueeze(1) * scale)
        }
        return Tensor.concat(columns, dim: 1)
    }

    /// Scores of windows, without gradients and in evaluation mode, in chunks of `batchSize`;
    /// row i is window i's four scores.
    public func score(_ windows: [PerformanceWindow], batchSize: Int = 64) -> [[Float]] {
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        var out: [[Float]] = []
        out.reserveCapacity(windows.count)
        var i = 0
        while i < windows.count {
            let chunk = Array(windows[i..<min(i + batchSize, windows.count)])
            let input = RewardInput(chunk)
            let s = noGrad { self(motion: input.motion, audio: input.audio) }.toArray()
            for r in 0..<chunk.count { out.append(Array(s[(r * 4)..<(r * 4 + 4)])) }
            i += batchSize
        }
        return out
    }
}
