import Foundation
import NeoData
import NeoTensor
import Vocal

/// Held-out identities by count: the NeoData split rule (identity → bucket 0…99 by a salted
/// hash) with its percentages chosen so that exactly `test` identities land in the test split
/// and `validation` in the validation split. Salts are tried in a fixed order until no two
/// identities share a bucket at a boundary, so the split depends only on the identity names
/// and the two counts.
public enum IdentitySplit {
    public static func rule(identities: [String], validation: Int, test: Int, folder: String) throws -> SplitRule {
        let ids = Array(Set(identities)).sorted()
        guard validation + test < ids.count else {
            throw TrainError("\(folder): \(ids.count) identit\(ids.count == 1 ? "y" : "ies") in the dataset; data.validation_identities (\(validation)) + data.test_identities (\(test)) must leave at least one for training")
        }
        for attempt in 0..<10_000 {
            let salt = attempt == 0 ? "neo-split-1" : "neo-split-1.\(attempt)"
            let probe = SplitRule(validationPercent: 0, testPercent: 0, salt: salt)
            let buckets = ids.map { probe.bucket(of: $0) }.sorted()
            func clean(_ boundary: Int) -> Bool { boundary == 0 || buckets[boundary - 1] < buckets[boundary] }
            guard clean(test), clean(test + validation) else { continue }
            let testPercent = test == 0 ? 0 : buckets[test]
            let validationPercent = buckets[test + validation] - testPercent
            return SplitRule(validationPercent: validationPercent, testPercent: testPercent, salt: salt)
        }
        throw TrainError("\(folder): cannot split \(ids.count) identities into \(test) test and \(validation) validation ones (too many identities for 100 buckets)")
    }
}

/// A VOCAL dataset: the folder, its identity split, and the conversion of NeoData batches to
/// `VocalBatch`es (audio hidden states `[B, L, 2N, W]`, identity reference clips, emotion,
/// prefix with its mask).
///
/// Identity reference: a window of clip c is conditioned on the first `referenceFrames` frames
/// of the next clip of the same speaker in the split (c itself when the speaker has one clip),
/// so the identity encoder sees the speaker, not the window's own motion. The choice depends on
/// nothing random, which keeps resumed runs identical.
public final class VocalDataset: @unchecked Sendable {
    public let folder: String
    public let config: VocalConfig
    public let rule: SplitRule
    public let dataset: DatasetFolder
    public let referenceFrames: Int

    public init(folder: String, config: VocalConfig, data: VocalDataSection) throws {
        guard !folder.isEmpty else {
            throw TrainError("data.path: no dataset folder; give one in the recipe or with --set data.path=DIR (make one with `neo-train data synth`)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw TrainError("\(folder): dataset folder not found (data.path); make one with `neo-train data synth --out \(folder)` or point --set data.path=DIR elsewhere")
        }
        self.folder = folder
        self.config = config
        dataset = try DatasetFolder(folder)
        referenceFrames = data.referenceFrames
        let clips = dataset.clips
        guard !clips.isEmpty else { throw TrainError("\(folder): the dataset holds no clips") }
        guard dataset.manifest.motionDim == config.latentDim else {
            throw TrainError("\(folder): motion has \(dataset.manifest.motionDim) numbers per frame, the recipe's model.latent_dim is \(config.latentDim)")
        }
        rule = try IdentitySplit.rule(identities: clips.map(\.identity), validation: data.validationIdentities,
                                      test: data.testIdentities, folder: folder)
        let want = config.audioLayers * config.audioWidth
        let withFeatures = clips.filter { $0.featureDim > 0 }
        guard !withFeatures.isEmpty else {
            throw TrainError("\(folder): no cached audio features; run `neo-train data features --dataset \(folder)` first")
        }
        guard withFeatures.count == clips.count else {
            throw TrainError("\(folder): \(clips.count - withFeatures.count) of \(clips.count) clips have no cached audio features; run `neo-train data features --dataset \(folder) --force`")
        }
        if let bad = clips.first(where: { $0.featureDim != want }) {
            throw TrainError("\(folder): clip '\(bad.id)' has cached features of width \(bad.featureDim), the recipe expects model.audio_layers × model.audio_width = \(config.audioLayers) × \(config.audioWidth) = \(want) (features from another encoder?)")
        }
        let ids = clips.map(\.id)
        if Set(ids).count != ids.count { throw TrainError("\(folder): clip ids repeat across shards; the loader needs them unique") }
    }

    /// The identities of a split, sorted.
    public func identities(_ split: DatasetSplit) -> [String] {
        Set(dataset.clips.map(\.identity)).filter { rule.split(of: $0) == split }.sorted()
    }

    /// The clips of a split, in dataset order.
    public func clips(_ split: DatasetSplit) -> [ClipInfo] {
        dataset.clips.filter { rule.split(of: $0.identity) == split }
    }

    /// A loader over windows of the split (cached features, no raw audio, no labels).
    public func loader(_ split: DatasetSplit, batch: Int, seed: Int, prefetch: Int) throws -> DatasetLoader {
        var o = LoaderOptions(windowFrames: config.windowFrames, contextFrames: config.prefixFrames, batchSize: batch,
                              seed: UInt64(seed), split: split, splitRule: rule, prefetch: prefetch,
                              includeAudio: false, includeFeatures: true, includeLabels: false)
        o.cacheBytes = 1 << 30
        return try DatasetLoader(folder: folder, options: o)
    }

    /// Standardisation statistics of a split (`NormalizedVocal`): of absolute frames, and of
    /// the motion the network sees (offsets from each window's reference frame when `relative`).
    public func motionStatistics(_ split: DatasetSplit, relative: Bool) throws -> NormalizedVocal.Statistics {
        var absolute: [[Float]] = [], offsets: [[Float]] = []
        let d = config.latentDim
        for info in self.clips(split) {
            guard let reader = dataset.reader(for: info) else { throw TrainError("\(info.shard): shard not open") }
            let m = try reader.read(info.id, audio: false, labels: false).motion
            absolute.append(m)
            if relative {
                let r = Array(try reference(forClip: info.id).prefix(d))
                offsets.append(m.enumerated().map { $0.element - r[$0.offset % d] })
            }
        }
        guard !absolute.isEmpty else { throw TrainError("\(folder): the \(split.rawValue) split has no clips") }
        let a = NormalizedVocal.statistics(absolute, dim: d)
        let m = relative ? NormalizedVocal.statistics(offsets, dim: d) : a
        return NormalizedVocal.Statistics(motionMean: m.mean, motionScale: m.scale, referenceMean: a.mean, referenceScale: a.scale)
    }

    // MARK: Identity references

    private let lock = NSLock()
    private var references: [String: [Float]] = [:]  // clip id → [R, D] reference motion

    /// The clip whose opening frames serve as the identity reference for windows of `clip`.
    public func referenceClip(for clip: ClipInfo) -> ClipInfo {
        let same = dataset.clips.filter { $0.identity == clip.identity }
        guard let i = same.firstIndex(where: { $0.id == clip.id && $0.shard == clip.shard }) else { return clip }
        return same[(i + 1) % same.count]
    }

    /// The reference motion `[R, D]` (R = `data.reference_frames`) for windows of clip `id`; a
    /// reference clip shorter than R is repeated from its start.
    public func reference(forClip id: String) throws -> [Float] {
        let r = referenceFrames, d = config.latentDim
        lock.lock()
        if let cached = references[id], cached.count == r * d { lock.unlock(); return cached }
        lock.unlock()
        guard let info = dataset.clips.first(where: { $0.id == id }) else {
            throw TrainError("\(folder): no clip '\(id)'")
        }
        let source = referenceClip(for: info)
        guard let reader = dataset.reader(for: source) else { throw TrainError("\(source.shard): shard not open") }
        let motion = try reader.read(source.id, audio: false, labels: false).motion
        let frames = motion.count / d
        guard frames >= 1 else { throw TrainError("\(source.shard): clip '\(source.id)' has no motion frames") }
        var out = Array(motion.prefix(r * d))
        while out.count < r * d { out += motion.prefix(Swift.min(frames * d, r * d - out.count)) }
        lock.lock(); references[id] = out; lock.unlock()
        return out
    }

    // MARK: Batches

    /// A NeoData batch as a `VocalBatch`.
    public func vocalBatch(_ b: Batch) throws -> VocalBatch {
        let bsz = b.motion.shape[0], n = b.motion.shape[1], d = config.latentDim
        let layers = config.audioLayers, width = config.audioWidth
        guard let features = b.features else {
            throw TrainError("\(folder): the loader gave no cached features; run `neo-train data features --dataset \(folder)`")
        }
        let audio = features.reshape([bsz, 2 * n, layers, width]).permute([0, 2, 1, 3]).contiguous()
        let r = referenceFrames
        var refs: [Float] = []
        refs.reserveCapacity(bsz * r * d)
        for id in b.clipIDs { refs += try reference(forClip: id) }
        let identity = Tensor(refs, shape: [bsz, r, d])
        for (i, e) in b.emotion.enumerated() where e < 0 || e >= config.emotionCount {
            let name = dataset.clips.first { $0.id == b.clipIDs[i] }?.emotion ?? "?"
            throw TrainError("\(folder): clip '\(b.clipIDs[i])' has emotion '\(name)', not one of the model's \(config.emotionCount) labels (\(Emotion.allCases.prefix(config.emotionCount).map(\.rawValue).joined(separator: ", ")))")
        }
        let k = config.prefixFrames
        return VocalBatch(motion: b.motion, audio: audio, identity: identity, emotion: b.emotion,
                          prefix: k > 0 ? b.previousMotion : nil, prefixMask: k > 0 ? b.previousMask : nil)
    }

    /// The first `count` batches of epoch 0 of a split (fewer when the split is smaller), for
    /// validation: the same windows every time.
    public func fixedBatches(_ split: DatasetSplit, count: Int, batch: Int, seed: Int) throws -> [VocalBatch] {
        let loader = try loader(split, batch: batch, seed: seed, prefetch: 0)
        defer { loader.stop() }
        let available = loader.batchCount(epoch: 0)
        guard available >= 1 else {
            throw TrainError("\(folder): the \(split.rawValue) split (\(identities(split).joined(separator: ", "))) has \(loader.windowsPerEpoch) windows of \(config.windowFrames) frames, fewer than one batch of \(batch)")
        }
        return try (0..<Swift.min(count, available)).map { i in
            try vocalBatch(loader.batch(at: LoaderPosition(epoch: 0, batch: i)))
        }
    }
}
