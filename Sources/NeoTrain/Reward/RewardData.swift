import Foundation
import NeoAudio
import NeoData
import NeoIO
import NeoTensor
import RewardModel

/// Clip files of the reward model: one clip is `NAME.motion.npy` (`[T, D]` float) and
/// `NAME.audio.npy` (`[L, 2T, W]` hidden states, or `[2T, W]` for one plain feature). A clip
/// folder holds such pairs and optionally `clips.json`, an object mapping NAME to
/// `{"identity": "...", "language": "..."}`.
public enum RewardClipFiles {
    /// One clip from its two files; every problem names the file. The audio is
    ///
    /// - `.npy`: hidden states `[L, 2T, W]` or one feature `[2T, W]`;
    /// - `.h5`: a features file of `neo-train data features --audio … --out FILE.h5`
    ///   (`/hidden_states` `[L, 2T, W]`);
    /// - anything else: an audio file (any format libsndfile reads), turned into Whisper hidden
    ///   states by the encoder at `weights` (default: the one `scripts/setup.sh` converts); its
    ///   length must match the motion's within one frame (40 ms).
    public static func load(motion motionPath: String, audio audioPath: String?, id: String? = nil,
                            identity: String = "", language: String = "",
                            expectMotionDim: Int? = nil, weights: String? = nil) throws -> PerformanceClip {
        let name = id ?? URL(fileURLWithPath: motionPath).lastPathComponent
        guard FileManager.default.fileExists(atPath: motionPath) else {
            throw TrainError("\(motionPath): motion file not found")
        }
        guard let audioPath, !audioPath.isEmpty else {
            throw TrainError("\(motionPath): no audio for this motion; pass its audio (a sound file, or its features as .npy [layers, frames, width] at 50 fps or .h5)")
        }
        guard FileManager.default.fileExists(atPath: audioPath) else {
            throw TrainError("\(audioPath): audio not found (the audio for \(motionPath))")
        }
        let motion = try readNPY(motionPath)
        guard motion.rank == 2 else {
            throw TrainError("\(motionPath): motion must be [frames, \(expectMotionDim.map(String.init) ?? "width")], got shape \(motion.shape)")
        }
        if let d = expectMotionDim, motion.shape[1] != d {
            throw TrainError("\(motionPath): motion has \(motion.shape[1]) numbers per frame; the reward model expects \(d)")
        }
        let audio: Tensor
        switch URL(fileURLWithPath: audioPath).pathExtension.lowercased() {
        case "npy": audio = try readNPY(audioPath)
        case "h5", "hdf5": audio = try readFeaturesFile(audioPath)
        default: audio = try whisperFeatures(audioPath, frames: motion.shape[0], weights: weights)
        }
        let layers: Int, frames: Int, width: Int
        switch audio.rank {
        case 2: (layers, frames, width) = (1, audio.shape[0], audio.shape[1])
        case 3: (layers, frames, width) = (audio.shape[0], audio.shape[1], audio.shape[2])
        default:
            throw TrainError("\(audioPath): audio features must be [layers, frames, width] or [frames, width], got shape \(audio.shape)")
        }
        _ = frames
        for (path, t) in [(motionPath, motion), (audioPath, audio)] where t.toArray().contains(where: { !$0.isFinite }) {
            throw TrainError("\(path): holds NaN or infinite values")
        }
        do {
            return try PerformanceClip(id: name, identity: identity, language: language, motion: motion.toArray(),
                                       motionDim: motion.shape[1], audio: audio.contiguous().toArray(),
                                       audioLayers: layers, audioWidth: width)
        } catch let e as RewardError {
            throw TrainError("\(motionPath) with \(audioPath): \(e.problem)")
        }
    }

    /// `/hidden_states` of a features file written by `FeatureExtractor.write`.
    static func readFeaturesFile(_ path: String) throws -> Tensor {
        do {
            let f = try HDF5File.open(path)
            defer { try? f.close() }
            guard try f.exists("/hidden_states") else {
                throw TrainError("\(path): no /hidden_states dataset (expected a features file of `neo-train data features`)")
            }
            return try f.readTensor(at: "/hidden_states")
        } catch let e as TrainError { throw e } catch {
            throw TrainError("\(path): cannot read audio features: \(error)")
        }
    }

    /// Whisper hidden states `[L, 2T, W]` of an audio file for `frames` motion frames.
    static func whisperFeatures(_ path: String, frames: Int, weights: String?) throws -> Tensor {
        let decoded = try AudioDecoder.load(path)
        let audioFrames = decoded.samples.count / ShardFormat.samplesPerFrame
        guard abs(audioFrames - frames) <= 1 else {
            throw TrainError("\(path): audio and motion lengths do not match: \(String(format: "%.2f", decoded.duration)) s of audio (\(audioFrames) frames at 25 fps) for \(frames) motion frames")
        }
        let extractor = try AudioFeatureCache.extractor(weights: weights)
        let (values, layers, width) = try AudioFeatureCache.clipFeatures(extractor, samples: decoded.samples, frames: frames, source: path)
        return Tensor(values, shape: [2 * frames, layers, width]).permute([1, 0, 2]).contiguous()
    }

    static func readNPY(_ path: String) throws -> Tensor {
        do { return try NPY.read(path) } catch let e as NeoIOError { throw TrainError(e.description) }
    }

    /// Every clip of a folder, in name order.
    public static func loadFolder(_ dir: String, expectMotionDim: Int? = nil) throws -> [PerformanceClip] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw TrainError("\(dir): clip folder not found")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        let motions = names.filter { $0.hasSuffix(".motion.npy") }.sorted()
        guard !motions.isEmpty else { throw TrainError("\(dir): no clips (expected NAME.motion.npy with NAME.audio.npy)") }
        var meta: [String: [String: String]] = [:]
        let metaPath = dir + "/clips.json"
        if FileManager.default.fileExists(atPath: metaPath) {
            guard let data = FileManager.default.contents(atPath: metaPath),
                  let m = try? JSONDecoder().decode([String: [String: String]].self, from: data) else {
                throw TrainError("\(metaPath): expected a JSON object mapping clip names to {\"identity\": …, \"language\": …}")
            }
            meta = m
        }
        return try motions.map { file in
            let name = String(file.dropLast(".motion.npy".count))
            let audio = dir + "/" + name + ".audio.npy"
            guard FileManager.default.fileExists(atPath: audio) else {
                throw TrainError("\(dir)/\(file): missing audio (expected \(audio))")
            }
            return try load(motion: dir + "/" + file, audio: audio, id: name, identity: meta[name]?["identity"] ?? "",
                            language: meta[name]?["language"] ?? "", expectMotionDim: expectMotionDim)
        }
    }

    /// Writes clips as a clip folder (motion, audio `[L, 2T, W]`, and `clips.json`).
    public static func writeFolder(_ clips: [PerformanceClip], to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var meta: [String: [String: String]] = [:]
        for c in clips {
            try NPY.write(Tensor(c.motion, shape: [c.frames, c.motionDim]), to: dir + "/\(c.id).motion.npy")
            try NPY.write(Tensor(c.audio, shape: [c.audioLayers, 2 * c.frames, c.audioWidth]), to: dir + "/\(c.id).audio.npy")
            meta[c.id] = ["identity": c.identity, "language": c.language]
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(meta), to: dir + "/clips.json")
    }
}

/// Clips of a NeoData dataset folder as reward-model clips.
public enum RewardShards {
    /// Every clip of the dataset with its consent record id. Each clip must carry cached audio
    /// features `[2T, audioLayers·audioWidth]`, a feature frame holding the hidden states one
    /// after another (state 0's `audioWidth` numbers, then state 1's, …).
    public static func load(_ folder: String, model: RewardModelSection) throws -> (dataset: DatasetFolder, clips: [PerformanceClip], consent: [String: String]) {
        let ds = try DatasetFolder(folder)
        guard ds.manifest.motionDim == model.config.motionDim else {
            throw TrainError("\(folder): the dataset's motion has \(ds.manifest.motionDim) numbers per frame; model.motion_dim is \(model.config.motionDim)")
        }
        let layers = model.config.audioLayers, width = model.config.audioWidth
        var clips: [PerformanceClip] = []
        var consent: [String: String] = [:]
        for shard in ds.shards {
            for info in shard.clips {
                guard info.featureFrames > 0 else {
                    throw TrainError("\(shard.path): clip '\(info.id)' has no cached audio features; add them (DatasetFolder.cacheFeatures) before training a reward model")
                }
                guard info.featureDim == layers * width else {
                    throw TrainError("\(shard.path): clip '\(info.id)' has audio features of width \(info.featureDim); the recipe's model expects model.audio_layers × model.audio_width = \(layers) × \(width) = \(layers * width)")
                }
                let c = try shard.read(info.id, audio: false, labels: false)
                guard let f = c.features else {
                    throw TrainError("\(shard.path): clip '\(info.id)' has no cached audio features")
                }
                // [2T, L, W] → [L, 2T, W].
                let rows = f.count / (layers * width)
                var audio = [Float](repeating: 0, count: f.count)
                for r in 0..<rows {
                    for l in 0..<layers {
                        let src = (r * layers + l) * width, dst = (l * rows + r) * width
                        for k in 0..<width { audio[dst + k] = f[src + k] }
                    }
                }
                do {
                    clips.append(try PerformanceClip(id: c.id, identity: c.identity, language: c.language, motion: c.motion,
                                                     motionDim: c.motionDim, audio: audio, audioLayers: layers, audioWidth: width))
                } catch let e as RewardError {
                    throw TrainError("\(shard.path): \(e.problem)")
                }
                consent[c.id] = c.consentId
            }
        }
        return (ds, clips, consent)
    }
}

/// The clips a reward recipe's `[data]` names, split into training clips and held-out subsets.
public struct RewardClips {
    public let all: [PerformanceClip]
    public let description: String
    public let data: RewardDataSection
    /// The dataset (source = "shards") and each clip's consent record id.
    let dataset: DatasetFolder?
    let consentIDs: [String: String]

    public init(data: RewardDataSection, model: RewardModelSection, folder: String? = nil) throws {
        self.data = data
        var dataset: DatasetFolder? = nil
        var consentIDs: [String: String] = [:]
        if let folder {
            if FileManager.default.fileExists(atPath: folder + "/" + DatasetManifest.fileName) {
                let loaded = try RewardShards.load(folder, model: model)
                (dataset, all, consentIDs) = (loaded.dataset, loaded.clips, loaded.consent)
            } else {
                all = try RewardClipFiles.loadFolder(folder, expectMotionDim: model.config.motionDim)
            }
            description = folder
        } else {
            switch data.source {
            case .shards:
                let loaded = try RewardShards.load(data.path, model: model)
                (dataset, all, consentIDs) = (loaded.dataset, loaded.clips, loaded.consent)
                description = data.path
            case .synthetic:
                guard model.config.motionDim == SyntheticTalker.motionDim else {
                    throw TrainError("model.motion_dim: the synthetic corpus has \(SyntheticTalker.motionDim) numbers per frame, got \(model.config.motionDim)")
                }
                all = SyntheticTalker.corpus(data.syntheticSettings(model: model))
                description = "synthetic (seed \(data.syntheticSeed))"
            case .clips:
                all = try RewardClipFiles.loadFolder(data.path, expectMotionDim: model.config.motionDim)
                description = data.path
            }
        }
        self.dataset = dataset
        self.consentIDs = consentIDs
        for c in all where c.audioLayers != model.config.audioLayers || c.audioWidth != model.config.audioWidth {
            throw TrainError("clip \(c.id): audio features have \(c.audioLayers) layers of width \(c.audioWidth); the recipe's model expects model.audio_layers = \(model.config.audioLayers), model.audio_width = \(model.config.audioWidth)")
        }
    }

    /// For a dataset folder, checks that every clip of `clips` has a valid consent record with
    /// `scope` ("train" for training, "evaluate" for evaluation); other sources have no consent
    /// records.
    /// The signing key is `trustedKey` when given, else the recipe's `data.consent_key`, else
    /// the key the dataset's manifest names; records signed by any other key are refused.
    public func verifyConsent(_ clips: [PerformanceClip], scope: String, trustedKey: String? = nil) throws {
        guard let dataset else { return }
        let key = trustedKey ?? (data.consentKey.isEmpty ? dataset.manifest.consentKey : data.consentKey)
        try dataset.consentBook().require(clips.map { ($0.identity, consentIDs[$0.id] ?? "", $0.id) }, file: dataset.consentPath,
                                          requiredScope: scope, trustedKeys: [key])
    }

    /// Clips of a held-out identity or language (the evaluation's clips).
    public var heldOut: [PerformanceClip] {
        all.filter { data.heldOutIdentities.contains($0.identity) || data.heldOutLanguages.contains($0.language) }
    }

    /// Clips of neither a held-out identity nor a held-out language.
    public var training: [PerformanceClip] {
        all.filter { !data.heldOutIdentities.contains($0.identity) && !data.heldOutLanguages.contains($0.language) }
    }

    /// The evaluation subsets: held-out identities, held-out languages (each possibly empty),
    /// windows of `data.window_frames` with context for offsets; `limit` keeps the first N
    /// windows of each (spread over clips).
    public func heldOutSubsets(margin: Int, limit: Int? = nil) -> [EvaluationSubset] {
        let ids = all.filter { data.heldOutIdentities.contains($0.identity) }
        let langs = all.filter { data.heldOutLanguages.contains($0.language) }
        func windows(_ clips: [PerformanceClip]) -> [PerformanceWindow] {
            let w = PairSampler.evaluationWindows(clips, frames: data.windowFrames, margin: margin)
            guard let limit, w.count > limit else { return w }
            // Every k-th window so that all clips are represented.
            return (0..<limit).map { w[$0 * w.count / limit] }
        }
        return [EvaluationSubset(name: "held_out_identities", windows: windows(ids)),
                EvaluationSubset(name: "held_out_languages", windows: windows(langs))]
    }

    /// Every clip as one subset (`--all-held-out`).
    public func everything(margin: Int) -> [EvaluationSubset] {
        [EvaluationSubset(name: "all_clips", windows: PairSampler.evaluationWindows(all, frames: data.windowFrames, margin: margin))]
    }
}
