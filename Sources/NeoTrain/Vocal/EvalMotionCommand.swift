import Foundation
import NeoData
import NeoIO
import NeoTensor
import Vocal

/// `neo-train eval motion`: motion metrics of a VOCAL checkpoint's samples against the ground
/// truth of held-out identities, next to two references the model must beat —
///
/// - **mean motion**: the training split's mean motion held still (relative to the speaker's
///   reference frame when the model works relative to it): no lip sync, the spread of the data
///   collapsed to a point;
/// - **audio from other clips**: the same model, identity, emotion and seeds, but each clip's
///   audio features replaced by another held-out clip's (tiled to the length), which shows how
///   much of the lip sync comes from listening;
///
/// plus the ground truth itself for scale and, with `audioSweep`, the model at several audio
/// guidance weights.
///
/// Lip sync is the correlation of the lip opening with the ground-truth lip opening of the same
/// clip (the performer's viseme-driven track), and also with the audio energy envelope.
public enum EvalMotionCommand {
    public struct Options: Sendable {
        public var checkpoint: String
        /// Dataset folder; default: the checkpoint recipe's `data.path`.
        public var data: String?
        public var split = "test"
        public var out: String?
        public var maxClips: Int?
        public var steps: Int?
        public var cfg: String?
        public var sampler: String?
        public var seed = 0
        /// Extra rows: the model at these audio guidance weights.
        public var audioSweep: [Double] = []
        public var noEMA = false
        public init(checkpoint: String) { self.checkpoint = checkpoint }
    }

    /// One line of the table.
    public struct Row: Codable, Sendable {
        public var name: String
        public var metrics: MotionMetricReport
        /// Mean correlation of the lip opening with the audio energy envelope.
        public var lipEnergyCorrelation: Double?
        /// Fréchet distance on the motion as it is (head angles in degrees dominate it);
        /// `metrics.frechetDistance` is on motion standardised per dimension.
        public var frechetDistanceUnstandardised: Double?
        public var seconds: Double?
    }

    public struct Result: Codable, Sendable, JSONReport {
        public var checkpoint: String
        public var step: Int
        public var weights: String
        public var data: String
        public var split: String
        public var identities: [String]
        public var clips: Int
        public var minutes: Double
        public var sampler: String
        public var steps: Int
        public var cfgAudio: Double
        public var cfgIdentity: Double
        public var cfgReference: Double
        public var seed: Int
        public var lipSyncReference: String
        public var rows: [Row]


        /// The metrics as a fixed-width table.
        public func table() -> String {
            func f(_ v: Double?, _ d: Int = 3) -> String { v.map { String(format: "%.\(d)f", $0) } ?? "-" }
            let header = ["", "lip sync r", "lip~energy r", "|offset| fr", "sync dist", "sync conf", "jitter", "expr range", "pose div", "Fréchet"]
            var lines: [[String]] = [header]
            for r in rows {
                let m = r.metrics
                lines.append([r.name, f(m.lipSyncCorrelation), f(r.lipEnergyCorrelation), f(m.meanAbsoluteOffset, 2), f(m.syncDistance),
                              f(m.syncConfidence), String(format: "%.5f", m.jitter), f(m.expressionRange, 4), f(m.headPoseDiversity),
                              f(m.frechetDistance)])
            }
            let widths = (0..<header.count).map { c in lines.map { $0[c].count }.max()! }
            var out = "\(clips) clips (\(String(format: "%.1f", minutes)) min) of \(split) identities \(identities.joined(separator: ", ")) from \(data); checkpoint step \(step) (\(weights) weights); \(sampler), \(steps) steps, cfg audio=\(cfgAudio) identity=\(cfgIdentity) reference=\(cfgReference), seed \(seed)\n"
            out += "lip sync r: correlation of the lip opening with the \(lipSyncReference); lip~energy r: with the audio energy envelope; Fréchet: vs the real clips' windowed features of motion standardised per dimension\n"
            for (i, l) in lines.enumerated() {
                out += l.enumerated().map { c, s in c == 0 ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - s.count) + s }.joined(separator: "  ") + "\n"
                if i == 0 { out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
            }
            return out
        }
    }

    /// A held-out clip with what sampling and scoring need.
    struct EvalClip {
        let info: ClipInfo
        let motion: MotionClip
        let features: Tensor      // [1, L, 2T, W]
        let energy: [Float]
        let emotion: Int
        let identity: Tensor      // [1, R, D]
        var frames: Int { motion.frames }
    }

    /// The split named by the options, after every argument is checked.
    static func checkedSplit(_ o: Options) throws -> DatasetSplit {
        guard let split = DatasetSplit(rawValue: o.split) else {
            throw TrainError("--split: expected train, validation or test, got '\(o.split)'")
        }
        if let n = o.maxClips, n < 1 { throw TrainError("--max-clips: expected an integer ≥ 1, got \(n)") }
        guard o.seed >= 0 else { throw TrainError("--seed: expected an integer ≥ 0, got \(o.seed)") }
        if let cfg = o.cfg { _ = try SampleCommand.parseGuidance(cfg, defaults: GuidanceWeights()) }
        for w in o.audioSweep where !w.isFinite { throw TrainError("--audio-sweep: \(w) is not a finite number") }
        return split
    }

    /// The held-out clips with their cached features, energy envelope, emotion and identity
    /// reference.
    static func loadClips(_ infos: [ClipInfo], data: VocalDataset, config: VocalConfig) throws -> [EvalClip] {
        var clips: [EvalClip] = []
        for info in infos {
            guard let reader = data.dataset.reader(for: info) else { throw TrainError("\(info.shard): shard not open") }
            let c = try reader.read(info.id, audio: true, labels: false)
            guard let f = c.features else { throw TrainError("\(info.shard): clip '\(info.id)' has no cached features") }
            let t = c.frames
            let features = Tensor(f, shape: [1, 2 * t, config.audioLayers, config.audioWidth]).permute([0, 2, 1, 3]).contiguous()
            guard let e = Emotion(rawValue: c.emotion)?.index, e < config.emotionCount else {
                throw TrainError("\(info.shard): clip '\(info.id)' has emotion '\(c.emotion)', not one of the model's labels")
            }
            let ref = try data.reference(forClip: info.id)
            clips.append(EvalClip(info: info, motion: MotionClip(values: c.motion, frames: t, dim: c.motionDim), features: features,
                                  energy: MotionMetrics.audioEnergyEnvelope(c.audio, frames: t), emotion: e,
                                  identity: Tensor(ref, shape: [1, data.referenceFrames, config.latentDim])))
        }
        return clips
    }

    public static func run(_ o: Options) throws -> Result {
        let split = try checkedSplit(o)

        let loaded = try LoadedVocal.load(o.checkpoint, preferEMA: !o.noEMA)
        let config = loaded.model.config
        var sampleOptions = SampleCommand.Options(checkpoint: o.checkpoint, audio: "", out: "")
        sampleOptions.cfg = o.cfg; sampleOptions.steps = o.steps; sampleOptions.sampler = o.sampler
        let settings = try SampleCommand.settings(sampleOptions, recipe: loaded.vocalSection)
        let dataSection = loaded.dataSection
        let folder = o.data ?? dataSection.path
        if split == .test && dataSection.testIdentities == 0 {
            throw TrainError("--split test: the checkpoint's recipe holds out no test identities (data.test_identities = 0); use --split validation, or train with --set data.test_identities=N")
        }
        let data = try VocalDataset(folder: folder, config: config, data: dataSection)
        var infos = data.clips(split).filter { $0.frames >= 4 }
        guard !infos.isEmpty else { throw TrainError("\(folder): the \(split.rawValue) split has no clips") }
        if let n = o.maxClips { infos = Array(infos.prefix(n)) }
        let book = try data.dataset.consentBook()
        try book.require(infos.map { ($0.identity, $0.consentId, $0.id) }, file: data.dataset.consentPath,
                         requiredScope: "evaluate", trustedKeys: [data.dataset.manifest.consentKey])
        let geometry: LipGeometry = data.dataset.manifest.source["kind"] == "synthetic" ? .synthetic : .livePortrait

        let clips = try loadClips(infos, data: data, config: config)
        let real = clips.map(\.motion)
        let tracks = clips.map { MotionMetrics.lipOpening($0.motion, geometry: geometry) }

        // The Fréchet distance compares motion standardised per dimension with the training
        // split's statistics of absolute frames, so keypoint offsets (thousandths of a face) and
        // head angles (degrees) weigh alike.
        let mean = loaded.model.referenceMean.value.toArray(), scale = loaded.model.referenceScale.value.toArray()
        func standardised(_ c: MotionClip) -> MotionClip {
            MotionClip(values: c.values.enumerated().map { ($0.element - mean[$0.offset % c.dim]) / scale[$0.offset % c.dim] },
                       frames: c.frames, dim: c.dim)
        }
        let realStandardised = real.map(standardised)
        func score(_ name: String, _ generated: [MotionClip], seconds: Double? = nil) -> Row {
            var m = MotionMetricReport.evaluate(generated: generated, tracks: tracks, tracksAreViseme: true, real: real, geometry: geometry)
            m.lipSyncReference = "ground-truth lip opening"
            let raw = m.frechetDistance
            m.frechetDistance = MotionMetrics.frechetDistance(generated: generated.map(standardised), real: realStandardised)
            let energy = zip(generated, clips).map { MotionMetrics.lipSyncCorrelation($0, track: $1.energy, geometry: geometry) }
            return Row(name: name, metrics: m, lipEnergyCorrelation: energy.reduce(0, +) / Double(energy.count),
                       frechetDistanceUnstandardised: raw, seconds: seconds)
        }

        func sampleAll(_ weights: GuidanceWeights, audio: (Int) -> Tensor) throws -> ([MotionClip], Double) {
            var s = settings
            s.guidance = weights
            let t0 = DispatchTime.now().uptimeNanoseconds
            var out: [MotionClip] = []
            for (i, c) in clips.enumerated() {
                let reference = c.identity.slice(dim: 1, start: 0, end: 1).squeeze(1).contiguous()
                let x = try loaded.model.sampleLong(settings: s, audio: audio(i), identity: c.identity, emotion: [c.emotion],
                                                    reference: reference, generator: Generator(seed: UInt64(o.seed)).derived(UInt64(i)))
                out.append(MotionClip(x.reshape([c.frames, config.latentDim])))
            }
            return (out, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }

        var rows: [Row] = []
        rows.append(score("ground truth", real))
        let (samples, seconds) = try sampleAll(settings.guidance) { clips[$0].features }
        rows.append(score("model", samples, seconds: seconds))

        // Mean-motion baseline: the training split's mean motion held still — relative to the
        // clip's reference frame when the model works relative to it (the best constant given
        // what the model is given), else the mean frame. Its lips never move, so offsets are
        // undefined.
        var meanRow = score("mean motion", clips.map { c in
            let r = c.identity.slice(dim: 1, start: 0, end: 1).squeeze(1).contiguous()
            let still = loaded.model.denormalize(Tensor.zeros([1, c.frames, config.latentDim]), reference: r)
            return MotionClip(still.reshape([c.frames, config.latentDim]))
        })
        meanRow.metrics.meanAbsoluteOffset = nil
        meanRow.metrics.syncDistance = nil
        meanRow.metrics.syncConfidence = nil
        rows.append(meanRow)

        // Control: every clip hears another held-out clip (a single clip hears itself shifted
        // by half its length).
        let (control, controlSeconds) = try sampleAll(settings.guidance) { i in
            let n = clips.count
            let source = n > 1 ? clips[(i + 1) % n] : clips[i]
            let shift = n > 1 ? 0 : clips[i].frames / 2
            return tiledFeatures(source.features, frames: clips[i].frames, shift: shift)
        }
        rows.append(score("audio from other clips", control, seconds: controlSeconds))

        for w in o.audioSweep {
            var g = settings.guidance
            g.audio = w
            let (s, sec) = try sampleAll(g) { clips[$0].features }
            rows.append(score("model cfg_audio=\(String(format: "%g", w))", s, seconds: sec))
        }

        let g = settings.guidance
        let result = Result(checkpoint: o.checkpoint, step: loaded.step, weights: loaded.usesEMA ? "EMA" : "raw", data: folder,
                            split: split.rawValue, identities: Array(Set(infos.map(\.identity))).sorted(), clips: clips.count,
                            minutes: Double(clips.reduce(0) { $0 + $1.frames }) / 25 / 60, sampler: settings.sampler.rawValue,
                            steps: settings.steps, cfgAudio: g.audio, cfgIdentity: g.identity, cfgReference: g.reference,
                            seed: o.seed, lipSyncReference: "ground-truth lip opening", rows: rows)
        if let out = o.out { try write(result, to: out) }
        return result
    }

    /// The JSON report, written atomically (its folder made when missing).
    static func write(_ result: Result, to out: String) throws {
        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.write(Data((try result.json() + "\n").utf8), to: out)
    }

    /// Features `[1, L, 2S, W]` repeated (from `shift` frames on, wrapping) to cover `frames` frames.
    static func tiledFeatures(_ f: Tensor, frames: Int, shift: Int) -> Tensor {
        let source = f.shape[2] / 2
        var pieces: [Tensor] = []
        var at = shift % source, have = 0
        while have < frames {
            let take = Swift.min(source - at, frames - have)
            pieces.append(f.slice(dim: 2, start: 2 * at, end: 2 * (at + take)))
            have += take
            at = (at + take) % source
        }
        return (pieces.count == 1 ? pieces[0] : Tensor.concat(pieces, dim: 2)).contiguous()
    }
}
