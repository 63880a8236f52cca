import Foundation
import NeoData
import NeoIO
import NeoTensor
import Vocal

/// `neo-train sample`: speech → motion latents with a trained VOCAL checkpoint.
public enum SampleCommand {
    public struct Options: Sendable {
        public var checkpoint: String
        public var audio: String
        /// A reference motion clip of the speaker, `.npy` float32 `[frames, D]`.
        public var identity: String?
        public var emotion: String?
        /// `audio=…,identity=…,reference=…` (any subset; the rest from the recipe's `[vocal]`).
        public var cfg: String?
        public var steps: Int?
        /// `ode` (the recipe's ODE solver, Euler unless it says Heun), `euler`, `heun` or `sde`.
        public var sampler: String?
        public var noiseLevel: Double?
        public var seed: Int = 0
        public var out: String
        /// Whisper encoder weights (default `Checkpoints/pretrained/whisper-tiny-en.safetensors`).
        public var weights: String?
        /// Use the raw training weights even when the checkpoint holds EMA weights.
        public var noEMA = false

        public init(checkpoint: String, audio: String, out: String) {
            self.checkpoint = checkpoint; self.audio = audio; self.out = out
        }
    }

    /// `audio=2,identity=1.5,reference=1` → weights (keys not given keep `defaults`).
    public static func parseGuidance(_ text: String, defaults: GuidanceWeights) throws -> GuidanceWeights {
        var w = defaults
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TrainError("--cfg: expected audio=W,identity=W,reference=W (any of them), got an empty value")
        }
        var seen = Set<String>()
        for item in items {
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty else {
                throw TrainError("--cfg: '\(item)' is not key=value (expected audio=W,identity=W,reference=W)")
            }
            guard let v = Double(kv[1]), v.isFinite else {
                throw TrainError("--cfg: \(kv[0]) = '\(kv[1])' is not a number")
            }
            guard seen.insert(kv[0]).inserted else { throw TrainError("--cfg: \(kv[0]) is given twice") }
            switch kv[0] {
            case "audio", "a": w.audio = v
            case "identity", "i": w.identity = v
            case "reference", "r": w.reference = v
            default: throw TrainError("--cfg: unknown condition '\(kv[0])' (expected audio, identity or reference)")
            }
        }
        return w
    }

    /// The emotion label of `name` among the model's `count` labels.
    public static func emotionIndex(_ name: String, count: Int) throws -> Int {
        let names = Emotion.allCases.prefix(count).map(\.rawValue)
        guard let i = names.firstIndex(of: name.lowercased()) else {
            throw TrainError("--emotion: unknown emotion '\(name)' (expected one of \(names.joined(separator: ", ")))")
        }
        return i
    }

    /// A speaker's reference motion `[1, R, D]` from `.npy` float32 `[R, D]`.
    public static func readIdentity(_ path: String, latentDim: Int) throws -> Tensor {
        guard FileManager.default.fileExists(atPath: path) else { throw TrainError("\(path): identity reference file not found (--identity)") }
        let t: Tensor
        do { t = try NPY.read(path) } catch { throw TrainError("--identity: \(error)") }
        guard t.rank == 2, t.shape[0] >= 1, t.shape[1] == latentDim else {
            throw TrainError("\(path): identity reference must be motion [frames ≥ 1, \(latentDim)] (25 fps, the model's latent_dim), got \(t.shape)")
        }
        guard t.toArray().allSatisfy(\.isFinite) else { throw TrainError("\(path): identity reference holds NaN or infinite values") }
        return t.reshape([1, t.shape[0], latentDim]).contiguous()
    }

    /// The most sampling steps `--steps` accepts: far beyond where samples stop changing, and
    /// still minutes, not days, for a long clip.
    public static let maximumSteps = 1000

    /// The sampling settings: the recipe's `[vocal]` with the command line's changes.
    public static func settings(_ o: Options, recipe v: VocalSection) throws -> SamplingSettings {
        var s = v.sampling
        if let cfg = o.cfg { s.guidance = try parseGuidance(cfg, defaults: s.guidance) }
        if let steps = o.steps {
            guard (1...maximumSteps).contains(steps) else {
                throw TrainError("--steps: expected an integer in 1…\(maximumSteps), got \(steps) (flow-matching samples stop improving after a few dozen steps)")
            }
            s.steps = steps
        }
        if let name = o.sampler {
            switch name.lowercased() {
            case "ode": s.sampler = s.sampler == .heun ? .heun : .euler
            case "euler": s.sampler = .euler
            case "heun": s.sampler = .heun
            case "sde": s.sampler = .sde
            default: throw TrainError("--sampler: expected ode, sde, euler or heun, got '\(name)'")
            }
        }
        if let a = o.noiseLevel {
            guard a >= 0 && a.isFinite else { throw TrainError("--noise-level: expected a number ≥ 0, got \(a)") }
            s.noiseLevel = a
        }
        try s.validate()
        return s
    }

    /// Samples and writes the motion; returns the line to print.
    public static func run(_ o: Options) throws -> String {
        guard o.seed >= 0 else { throw TrainError("--seed: expected an integer ≥ 0, got \(o.seed)") }
        _ = try settings(o, recipe: VocalSection())  // the command line's values first, before any loading
        if let cfg = o.cfg { _ = try parseGuidance(cfg, defaults: GuidanceWeights()) }  // syntax first
        let loaded = try LoadedVocal.load(o.checkpoint, preferEMA: !o.noEMA)
        let config = loaded.model.config
        let settings = try settings(o, recipe: loaded.vocalSection)
        let emotion = try o.emotion.map { [try emotionIndex($0, count: config.emotionCount)] }
        let identity = try o.identity.map { try readIdentity($0, latentDim: config.latentDim) }
        guard FileManager.default.fileExists(atPath: o.audio) else { throw TrainError("\(o.audio): audio file not found (--audio)") }
        let extractor = try AudioFeatureCache.extractor(weights: o.weights)
        let start = DispatchTime.now().uptimeNanoseconds
        let input = try AudioFeatureCache.modelInput(audioFile: o.audio, extractor: extractor)
        guard input.features.shape[1] == config.audioLayers, input.features.shape[3] == config.audioWidth else {
            throw TrainError("\(o.weights ?? AudioFeatureCache.defaultWeights): the encoder gives \(input.features.shape[1]) hidden states of width \(input.features.shape[3]); the checkpoint's model expects \(config.audioLayers) × \(config.audioWidth)")
        }
        let featureSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let reference = identity.map { $0.slice(dim: 1, start: 0, end: 1).squeeze(1).contiguous() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        if let bad = loaded.model.namedParameters().first(where: { !$0.1.value.toArray().allSatisfy(\.isFinite) }) {
            throw TrainError("\(o.checkpoint): \(loaded.usesEMA ? "EMA" : "model") parameter '\(bad.0)' holds NaN or infinite values; the checkpoint cannot be sampled")
        }
        guard input.features.toArray().allSatisfy(\.isFinite) else {
            throw TrainError("\(o.audio): its audio features hold NaN or infinite values")
        }
        // A line on stderr every few seconds while sampling runs long (many windows or steps).
        var lastReport = t0
        let motion = try loaded.model.sampleLong(settings: settings, audio: input.features, identity: identity, emotion: emotion,
                                                 reference: reference, generator: Generator(seed: UInt64(o.seed))) { done, total in
            let now = DispatchTime.now().uptimeNanoseconds
            guard done < total, now - lastReport > 2_000_000_000 else { return }
            lastReport = now
            let elapsed = Double(now - t0) / 1e9
            FileHandle.standardError.write(Data(String(format: "sampling: window %d of %d, %.0f s, about %.0f s left\n",
                                                       done, total, elapsed, elapsed / Double(done) * Double(total - done)).utf8))
        }
        let sampleSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let frames = motion.shape[1]
        let out = motion.reshape([frames, config.latentDim]).contiguous()
        guard out.toArray().allSatisfy(\.isFinite) else {
            throw TrainError("\(o.checkpoint): sampling \(o.audio) produced NaN or infinite motion from finite inputs (the model's weights are finite; try --steps or a smaller --cfg)")
        }
        let folder = (o.out as NSString).deletingLastPathComponent
        if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try NPY.write(out, to: o.out)
        let g = settings.guidance
        return String(format: "wrote %@: [%d, %d] float32 at 25 fps (%.2f s of audio, %d windows, %@ %d steps, cfg audio=%g identity=%g reference=%g, %@ weights of step %d); features %.2f s, sampling %.2f s",
                      o.out, frames, config.latentDim, Double(frames) / 25, VocalSampler(model: loaded.model.vocal).windows(frames: frames).count,
                      settings.sampler.rawValue, settings.steps, g.audio, g.identity, g.reference,
                      loaded.usesEMA ? "EMA" : "raw", loaded.step, featureSeconds, sampleSeconds)
    }
}
