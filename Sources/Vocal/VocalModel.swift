import Foundation
import NeoNN
import NeoTensor

/// What a window is conditioned on, as plain tensors (batch B, window of N frames).
public struct VocalConditions: @unchecked Sendable {
    /// All hidden states of the audio encoder for the window: `[B, audioLayers, 2N, audioWidth]`
    /// (two 50 fps feature frames per 25 fps motion frame).
    public var audio: Tensor
    /// A reference motion clip of each speaker, `[B, R, D]` (R ≥ 1 frames), for the identity
    /// features; nil: no identity (the null embedding).
    public var identity: Tensor?
    /// Emotion label of each sample in 0..<emotionCount; nil: no emotion (the null label).
    public var emotion: [Int]?
    /// The reference frame (e.g. the latent of the photo to animate), `[B, D]`; one token in
    /// the motion stream. nil: no reference token.
    public var reference: Tensor?
    /// The previous window's last K clean frames, `[B, K, D]`; K tokens in the motion stream at
    /// positions −K…−1. nil: no prefix.
    public var prefix: Tensor?
    /// Which prefix frames exist, `[B, K]` (1 real, 0 missing, e.g. at the start of a clip);
    /// nil: all of them.
    public var prefixMask: Tensor?

    public init(audio: Tensor, identity: Tensor? = nil, emotion: [Int]? = nil, reference: Tensor? = nil,
                prefix: Tensor? = nil, prefixMask: Tensor? = nil) {
        self.audio = audio; self.identity = identity; self.emotion = emotion
        self.reference = reference; self.prefix = prefix; self.prefixMask = prefixMask
    }

    public var batch: Int { audio.shape[0] }
    /// Motion frames N of the window (half the audio feature frames).
    public var frames: Int { audio.rank == 4 ? audio.shape[2] / 2 : 0 }

    /// Throws a `VocalError` naming the first input whose shape or values do not fit `config`.
    public func validate(_ config: VocalConfig) throws {
        let d = config.latentDim
        guard audio.rank == 4, audio.shape[1] == config.audioLayers, audio.shape[3] == config.audioWidth,
              audio.shape[2] >= 2, audio.shape[2] % 2 == 0 else {
            throw VocalError("audio features: expected [B, \(config.audioLayers), 2N, \(config.audioWidth)] with an even number ≥ 2 of feature frames, got \(audio.shape)")
        }
        let b = batch
        if let identity, identity.rank != 3 || identity.shape[0] != b || identity.shape[1] < 1 || identity.shape[2] != d {
            throw VocalError("identity reference clip: expected [\(b), R ≥ 1, \(d)], got \(identity.shape)")
        }
        if let emotion {
            if emotion.count != b { throw VocalError("emotion: \(emotion.count) labels for a batch of \(b)") }
            if let bad = emotion.first(where: { $0 < 0 || $0 >= config.emotionCount }) {
                throw VocalError("emotion: label \(bad) is outside 0..<\(config.emotionCount)")
            }
        }
        if let reference, reference.shape != [b, d] {
            throw VocalError("reference frame: expected [\(b), \(d)], got \(reference.shape)")
        }
        if let prefix {
            guard prefix.rank == 3, prefix.shape[0] == b, prefix.shape[2] == d, prefix.shape[1] <= config.prefixFrames else {
                throw VocalError("prefix: expected [\(b), K ≤ \(config.prefixFrames), \(d)], got \(prefix.shape)")
            }
            if let prefixMask, prefixMask.shape != [b, prefix.shape[1]] {
                throw VocalError("prefix mask: expected [\(b), \(prefix.shape[1])], got \(prefixMask.shape)")
            }
        } else if prefixMask != nil {
            throw VocalError("prefix mask given without a prefix")
        }
    }
}

/// Which conditions one row of a batch keeps (the rest are dropped: audio → null token,
/// identity/emotion → null embedding, reference/prefix → their tokens removed).
public struct ConditionKeep: Sendable, Equatable, Hashable {
    public var audio: Bool
    public var identity: Bool
    public var emotion: Bool
    public var reference: Bool
    public var prefix: Bool
    public init(audio: Bool = true, identity: Bool = true, emotion: Bool = true, reference: Bool = true, prefix: Bool = true) {
        self.audio = audio; self.identity = identity; self.emotion = emotion; self.reference = reference; self.prefix = prefix
    }
    public static let all = ConditionKeep()
    /// Every guided condition dropped; the prefix (continuity, not guidance) kept.
    public static let unconditional = ConditionKeep(audio: false, identity: false, emotion: false, reference: false, prefix: true)
}

/// Conditions turned into what the blocks read, for R rows (R = B, or S·B when S condition sets
/// are evaluated in one batched forward, set-major: row r is sample r % B).
public struct EncodedConditions: @unchecked Sendable {
    /// `[R, N, C]`.
    public let audioTokens: Tensor
    /// Identity + emotion contribution to the conditioning vector, `[R, C]`.
    public let context: Tensor
    /// Reference and prefix tokens prepended to the motion stream, `[R, E, C]` (nil: E = 0).
    public let extraTokens: Tensor?
    /// Rotary positions of the extra tokens.
    public let extraPositions: [Float]
    /// Additive key mask `[R, 1, 1, E + 2N]` (−∞ removes a token), nil when nothing is removed.
    public let keyMask: Tensor?

    public var rows: Int { audioTokens.shape[0] }
    public var frames: Int { audioTokens.shape[1] }
    public var extraCount: Int { extraPositions.count }
}

/// VOCAL: the audio-to-motion MMDiT of docs/architecture.md §4, predicting the flow-matching velocity of a
/// window of motion latents.
///
/// Tokens: the motion stream holds [reference (1), prefix (K), noisy motion (N)] tokens at
/// rotary positions [−(K_max+1), −K…−1, 0…N−1]; the audio stream holds N fused audio tokens at
/// positions 0…N−1, so audio frame i and motion frame i share a position. The conditioning
/// vector c = MLP(timestep embedding) + identity features + emotion embedding drives every
/// block's adaLN-Zero modulation and the output layer.
///
/// Parameter paths: `motionIn`, `prefixIn`, `referenceIn`, `audioFusion.*`, `nullAudio`,
/// `time.mlp.*`, `identity.*`, `nullIdentity`, `emotion.weight` (row emotionCount is the null
/// label), `blocks.i.{motion,audio}.{modulation,qkv,qNorm,kNorm,proj,mlp}.*`, `final.*`.
public final class VocalModel: Module {
    public let config: VocalConfig
    public let motionIn: Linear
    public let prefixIn: Linear
    public let referenceIn: Linear
    public let audioFusion: AudioFusion
    /// Replaces the audio tokens of a sample whose audio is dropped, `[C]`.
    public let nullAudio: Parameter
    public let time: TimestepEmbedding
    public let identity: IdentityEncoder
    /// Replaces the identity features when identity is dropped, `[C]`.
    public let nullIdentity: Parameter
    /// `[emotionCount + 1, C]`; the last row is the null label.
    public let emotion: Embedding
    public let blocks: [VocalBlock]
    public let final: VocalFinalLayer
    let rotary: RotaryEmbedding
    /// Recompute each block in backward (a recipe switch; the numbers do not change).
    public var gradientCheckpointing: Bool

    /// Builds the model with weights drawn from `generator` (throws when the config is invalid).
    public init(config: VocalConfig, generator g: Generator) throws {
        try config.validate()
        self.config = config
        let c = config.width, d = config.latentDim
        motionIn = Linear(d, c, generator: g)
        prefixIn = Linear(d, c, generator: g)
        referenceIn = Linear(d, c, generator: g)
        audioFusion = AudioFusion(layers: config.audioLayers, audioWidth: config.audioWidth, width: c, generator: g)
        nullAudio = Parameter(Initializer.normal(std: 0.02).make([c], generator: g))
        time = TimestepEmbedding(dim: c, frequencyDim: config.timestepDim, generator: g)
        identity = IdentityEncoder(latentDim: d, hidden: config.identityDim, width: c, generator: g)
        nullIdentity = Parameter(Initializer.normal(std: 0.02).make([c], generator: g))
        emotion = Embedding(config.emotionCount + 1, c, generator: g, initializer: .normal(std: 0.02))
        blocks = (0..<config.depth).map { i in
            VocalBlock(width: c, heads: config.heads, mlpHidden: config.mlpHidden, last: i == config.depth - 1, generator: g)
        }
        final = VocalFinalLayer(width: c, latentDim: d, generator: g)
        rotary = RotaryEmbedding(rotaryDim: config.headDim, base: config.rotaryBase)
        gradientCheckpointing = config.gradientCheckpointing
    }

    /// Rotary position of the reference token (just before the longest prefix).
    public var referencePosition: Float { -Float(config.prefixFrames + 1) }

    // MARK: Conditions

    /// Encodes `conditions` for the rows described by `keep`: `keep.count` must be a multiple
    /// S of the batch B, row r being sample r % B with the conditions `keep[r]` keeps. The audio
    /// fusion, identity encoder and token projections run once per sample whatever S is.
    public func encode(_ conditions: VocalConditions, keep: [ConditionKeep]) -> EncodedConditions {
        let b = conditions.batch, n = conditions.frames, c = config.width
        let r = keep.count
        ensure(r > 0 && r % b == 0, "VocalModel.encode: \(r) keep flags for a batch of \(b) (need a positive multiple)")
        let sample = (0..<r).map { $0 % b }
        func rows(_ t: Tensor) -> Tensor { r == b ? t : t.indexSelect(dim: 0, indices: sample) }
        func flags(_ f: (ConditionKeep) -> Bool, _ shape: [Int]) -> Tensor { Tensor(keep.map { f($0) ? 1 : 0 }, shape: shape) }

        // Audio stream: fused tokens, or the null token where dropped.
        let audioTokens: Tensor
        if keep.contains(where: \.audio) {
            let fused = rows(audioFusion(conditions.audio))
            audioTokens = keep.allSatisfy(\.audio) ? fused : Tensor.where(flags(\.audio, [r, 1, 1]), fused, nullAudio.value)
        } else {
            ensure(conditions.audio.rank == 4 && conditions.audio.shape[2] % 2 == 0, "VocalModel: audio features must be [B, L, 2N, W], got \(conditions.audio.shape)")
            audioTokens = nullAudio.value.reshape([1, 1, c]).expand([r, n, c]).contiguous()
        }

        // Conditioning context: identity features (or null) + emotion embedding (or null).
        let identityVector: Tensor
        if let clip = conditions.identity, keep.contains(where: \.identity) {
            let features = rows(identity(clip))
            identityVector = keep.allSatisfy(\.identity) ? features : Tensor.where(flags(\.identity, [r, 1]), features, nullIdentity.value)
        } else {
            identityVector = nullIdentity.value.reshape([1, c]).expand([r, c])
        }
        let labels = conditions.emotion
        if let labels { ensure(labels.count == b, "VocalModel: \(labels.count) emotion labels for a batch of \(b)") }
        let emotionIds = (0..<r).map { i in
            if let labels, keep[i].emotion { return labels[sample[i]] }
            return config.emotionCount
        }
        let context = identityVector + emotion(emotionIds)

        // Extra motion-stream tokens: the reference frame, then the prefix, each removed per
        // row through the key mask (−∞ scores, exactly zero attention).
        var extras: [Tensor] = [], positions: [Float] = [], removed: [[Bool]] = []
        if let ref = conditions.reference, keep.contains(where: \.reference) {
            extras.append(rows(referenceIn(ref).reshape([b, 1, c])))
            positions.append(referencePosition)
            removed.append(keep.map { !$0.reference })
        }
        if let prefix = conditions.prefix, prefix.shape[1] > 0, keep.contains(where: \.prefix) {
            let k = prefix.shape[1]
            extras.append(rows(prefixIn(prefix)))
            positions += (0..<k).map { Float($0 - k) }
            let valid = conditions.prefixMask?.contiguous().toArray()
            for j in 0..<k {
                removed.append((0..<r).map { i in !keep[i].prefix || (valid.map { $0[sample[i] * k + j] == 0 } ?? false) })
            }
        }
        let extraTokens = extras.isEmpty ? nil : (extras.count == 1 ? extras[0] : Tensor.concat(extras, dim: 1))
        var keyMask: Tensor? = nil
        if removed.contains(where: { $0.contains(true) }) {
            let e = positions.count, total = e + 2 * n
            var m = [Float](repeating: 0, count: r * total)
            for (j, col) in removed.enumerated() { for i in 0..<r where col[i] { m[i * total + j] = -.infinity } }
            keyMask = Tensor(m, shape: [r, 1, 1, total])
        }
        return EncodedConditions(audioTokens: audioTokens, context: context, extraTokens: extraTokens,
                                 extraPositions: positions, keyMask: keyMask)
    }

    /// Encodes with the same `keep` for every sample.
    public func encode(_ conditions: VocalConditions, keep: ConditionKeep = .all) -> EncodedConditions {
        encode(conditions, keep: Array(repeating: keep, count: conditions.batch))
    }

    // MARK: Velocity

    /// The predicted velocity `[R, N, D]` for noisy latents `xt` `[R, N, D]` at times `t` (one
    /// per row) under encoded conditions.
    public func velocity(_ xt: Tensor, t: [Float], conditions enc: EncodedConditions) -> Tensor {
        let r = enc.rows, n = enc.frames, e = enc.extraCount
        ensure(xt.shape == [r, n, config.latentDim], "VocalModel: noisy latents must be [\(r), \(n), \(config.latentDim)] to match the conditions, got \(xt.shape)")
        ensure(t.count == r, "VocalModel: \(t.count) timesteps for \(r) rows")
        var x = motionIn(xt)
        if let extra = enc.extraTokens { x = Tensor.concat([extra, x], dim: 1) }
        var a: Tensor? = enc.audioTokens
        let cond = (time(t) + enc.context).silu()
        let frames = (0..<n).map(Float.init)
        let (cosT, sinT) = rotary.tables(enc.extraPositions + frames + frames)
        let tables = RotaryTables(cos: cosT, sin: sinT)
        let tm = e + n
        for block in blocks {
            let audioIn = a!
            if gradientCheckpointing && isRecording {
                let keepsAudio = !block.audio.keysOnly
                let mask = enc.keyMask
                let packed = checkpoint([x, audioIn, cond]) { xs in
                    let (m2, a2) = block(motion: xs[0], audio: xs[1], conditioning: xs[2], rotary: tables, mask: mask)
                    return a2.map { Tensor.concat([m2, $0], dim: 1) } ?? m2
                }
                if keepsAudio {
                    let parts = packed.split([tm, n], dim: 1)
                    x = parts[0]; a = parts[1]
                } else {
                    x = packed; a = nil
                }
            } else {
                (x, a) = block(motion: x, audio: audioIn, conditioning: cond, rotary: tables, mask: enc.keyMask)
            }
        }
        let motionTokens = e > 0 ? x.slice(dim: 1, start: e, end: tm) : x
        return final(motionTokens, conditioning: cond)
    }

    /// Velocity under `conditions` with the same `keep` for every sample (t one per sample).
    public func callAsFunction(_ xt: Tensor, t: [Float], conditions: VocalConditions, keep: ConditionKeep = .all) -> Tensor {
        velocity(xt, t: t, conditions: encode(conditions, keep: keep))
    }
}
