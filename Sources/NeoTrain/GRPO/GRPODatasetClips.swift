import Foundation
import KineticGRPO
import NeoData
import NeoTensor
import Vocal

/// GRPO clips from a NeoData dataset folder (`data.source = "dataset"`): windows of the real
/// clips' cached Whisper features, the speaker's identity reference clip and reference frame
/// (`VocalDataset`'s rule: the opening frames of the speaker's next clip), the emotion label
/// and, for held-out clips, the ground-truth motion of the window.
///
/// The identity split is VOCAL's (`IdentitySplit` with the pretraining recipe's
/// `data.validation_identities` / `data.test_identities`): training clips come from the
/// training identities, evaluation clips from the held-out split `data.eval_split`, so neither
/// VOCAL nor GRPO ever trained on the identities GRPO is evaluated on.
///
/// Windows: each clip of at least N frames gives the windows starting at 0, N, 2N, … that fit.
/// Clip i of the training pool has seed index i; held-out window j has seed index
/// `evaluationIndexBase + j`, so the two never share noise.
public final class GRPODatasetClips: GRPOClipSource, @unchecked Sendable {
    public static let evaluationIndexBase = 1_000_000

    public struct Window: Sendable, Equatable {
        public let clip: ClipInfo
        public let start: Int
    }

    public let data: VocalDataset
    public let space: NormalizedVocal
    public let frames: Int
    public let trainWindows: [Window]
    public let evalWindows: [Window]
    public let evalSplit: DatasetSplit
    public let geometry: LipGeometry

    /// `vocalData`: the split rule and reference frames (the pretraining recipe's `[data]`).
    public init(folder: String, space: NormalizedVocal, vocalData: VocalDataSection, data grpo: GRPODataSection, seed: Int) throws {
        let config = space.config
        data = try VocalDataset(folder: folder, config: config, data: vocalData)
        self.space = space
        frames = grpo.frames > 0 ? grpo.frames : config.windowFrames
        guard frames <= config.windowFrames else {
            throw TrainError("data.frames: \(frames) frames per clip, the policy's windows hold at most model.window_frames = \(config.windowFrames)")
        }
        guard let split = DatasetSplit(rawValue: grpo.evalSplit.rawValue) else {
            throw TrainError("data.eval_split: unknown split \(grpo.evalSplit.rawValue)")
        }
        evalSplit = split
        if split == .test && vocalData.testIdentities == 0 {
            throw TrainError("data.eval_split = \"test\": the policy's pretraining holds out no test identities (data.test_identities = 0); use eval_split = \"validation\"")
        }
        if split == .validation && vocalData.validationIdentities == 0 {
            throw TrainError("data.eval_split = \"validation\": the policy's pretraining holds out no validation identities")
        }
        geometry = data.dataset.manifest.source["kind"] == "synthetic" ? .synthetic : .livePortrait
        let n = frames
        func windows(_ infos: [ClipInfo]) -> [Window] {
            infos.flatMap { info in stride(from: 0, through: info.frames - n, by: n).map { Window(clip: info, start: $0) } }
        }
        var train = windows(data.clips(.train))
        guard !train.isEmpty else {
            throw TrainError("\(folder): no training clip of the split (identities \(data.identities(.train).joined(separator: ", "))) holds a window of \(n) frames")
        }
        if grpo.trainClips > 0 && grpo.trainClips < train.count {
            // A fixed subset spread over the whole list (every speaker keeps its share).
            let g = Generator.stream(seed: seed, "grpo-train-windows")
            for i in 0..<grpo.trainClips { train.swapAt(i, i + g.nextInt(train.count - i)) }
            train = Array(train.prefix(grpo.trainClips))
        }
        trainWindows = train
        var held = windows(data.clips(split))
        guard !held.isEmpty || grpo.evalClips == 0 else {
            throw TrainError("\(folder): no clip of the \(split.rawValue) identities (\(data.identities(split).joined(separator: ", "))) holds a window of \(n) frames")
        }
        if grpo.evalClips > 0 && grpo.evalClips < held.count {
            // Evenly spaced over the split (both held-out speakers, every emotion).
            let step = Double(held.count) / Double(grpo.evalClips)
            held = (0..<grpo.evalClips).map { held[Int(Double($0) * step)] }
        }
        evalWindows = held
        let book = try data.dataset.consentBook()
        try book.require(trainWindows.map { ($0.clip.identity, $0.clip.consentId, $0.clip.id) }, file: data.dataset.consentPath,
                         trustedKeys: [data.dataset.manifest.consentKey])
        try book.require(evalWindows.map { ($0.clip.identity, $0.clip.consentId, $0.clip.id) }, file: data.dataset.consentPath,
                         requiredScope: "evaluate", trustedKeys: [data.dataset.manifest.consentKey])
    }

    public var trainCount: Int { trainWindows.count }

    public var summary: String {
        "\(trainWindows.count) training windows of \(frames) frames from identities \(data.identities(.train).joined(separator: ", ")); \(evalWindows.count) held-out windows of \(evalSplit.rawValue) identities \(Set(evalWindows.map(\.clip.identity)).sorted().joined(separator: ", ")) (\(data.folder))"
    }

    public func clip(_ index: Int) throws -> GRPOClip {
        guard index >= 0 && index < trainWindows.count else {
            throw TrainError("\(data.folder): training clip \(index) of \(trainWindows.count)")
        }
        return try read(trainWindows[index], index: index).clip
    }

    public func evaluationClips() throws -> [GRPOEvaluationClip] {
        try evalWindows.enumerated().map { j, w in try read(w, index: Self.evaluationIndexBase + j) }
    }

    /// The window `w` as a clip in network space, with its ground truth.
    func read(_ w: Window, index: Int) throws -> GRPOEvaluationClip {
        let config = space.config, d = config.latentDim, n = frames
        let layers = config.audioLayers, width = config.audioWidth
        guard let reader = data.dataset.reader(for: w.clip) else { throw TrainError("\(w.clip.shard): shard not open") }
        let c = try reader.read(w.clip.id, audio: false, labels: false)
        guard let f = c.features else { throw TrainError("\(w.clip.shard): clip '\(w.clip.id)' has no cached features") }
        guard w.start + n <= c.frames else { throw TrainError("\(w.clip.shard): clip '\(w.clip.id)' is shorter than its window") }
        let perFrame = 2 * layers * width
        let window = Array(f[(w.start * perFrame)..<((w.start + n) * perFrame)])
        let audio = Tensor(window, shape: [1, 2 * n, layers, width]).permute([0, 2, 1, 3]).contiguous()
        guard let e = Emotion(rawValue: c.emotion)?.index, e < config.emotionCount else {
            throw TrainError("\(w.clip.shard): clip '\(w.clip.id)' has emotion '\(c.emotion)', not one of the model's \(config.emotionCount) labels")
        }
        let ref = try data.reference(forClip: w.clip.id)
        let identity = Tensor(ref, shape: [1, data.referenceFrames, d])
        let reference = Tensor(Array(ref.prefix(d)), shape: [1, d])
        let conditions = space.networkConditions(audio: audio, identity: identity, emotion: [e], reference: reference)
        let truth = MotionClip(values: Array(c.motion[(w.start * d)..<((w.start + n) * d)]), frames: n, dim: d)
        return GRPOEvaluationClip(clip: GRPOClip(index: index, conditions: conditions), truth: truth, identity: w.clip.identity)
    }
}
