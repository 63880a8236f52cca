import Foundation
import NeoTensor

/// Settings of the synthetic performer corpus (tests, the tiny recipes, and the experiments
/// until dataset shards exist).
public struct SyntheticCorpusSettings: Sendable, Equatable, Codable {
    public var identities = 12
    public var languages = 3
    /// Clips per (identity, language).
    public var clipsPerPair = 2
    /// Motion frames per clip (25 fps).
    public var clipFrames = 200
    /// Hidden states per audio frame and their width.
    public var audioLayers = 3
    public var audioWidth = 32
    public var seed = 0
    public init() {}
}

/// A synthetic speaker-performer: a speech-like loudness envelope (syllables at a
/// language-dependent rate, pauses, stressed syllables) drives lip opening; stressed syllables
/// raise the brows and nod the head; blinks come at random; head pose, gaze and every keypoint
/// drift smoothly. The audio "features" are noisy linear read-outs of the envelope, its change
/// and a pitch-like contour, one per layer with its own gain and noise, plus a speaker timbre
/// and a language offset. Identities differ in expressiveness (±15%), head-motion amplitude
/// (±20%), brow activity, blink rate, neutral face and timbre; languages in syllable rate and
/// pauses. Motion uses the 70-number layout of docs/architecture.md §3 (lip keypoints {6, 12, 14, 17, 19, 20}).
///
/// The motion depends on the audio frame by frame (lips follow the envelope with no lag), so
/// time offsets and swapped audio are detectable; it is smooth apart from the syllable rhythm,
/// so jitter, twitches, freezing and over-smoothing are detectable; identities' ranges are
/// narrow enough that damped or exaggerated expression at medium strength leaves them.
public enum SyntheticTalker {
    public static let motionDim = 70

    public static func identityName(_ i: Int) -> String { i < 10 ? "id0\(i)" : "id\(i)" }
    public static func languageName(_ l: Int) -> String { "lang\(l)" }

    /// Every clip of the corpus, ordered by identity, language, index.
    public static func corpus(_ s: SyntheticCorpusSettings) -> [PerformanceClip] {
        var out: [PerformanceClip] = []
        for i in 0..<s.identities {
            for l in 0..<s.languages {
                for k in 0..<s.clipsPerPair { out.append(clip(identity: i, language: l, index: k, settings: s)) }
            }
        }
        return out
    }

    struct Speaker {
        var expressiveness: Float, headAmplitude: Float, browAmplitude: Float, blinkRate: Float, nod: Float
        var neutral: [Float], timbre: [Float]
    }

    struct Language {
        var syllableRate: Float, pauseProbability: Float, offset: [Float]
    }

    static func speaker(_ i: Int, _ s: SyntheticCorpusSettings) -> Speaker {
        let g = Generator(seed: UInt64(s.seed)).derived(0x5BEA_4E12, UInt64(i))
        func u() -> Float { Float(g.nextUniform()) }
        return Speaker(expressiveness: 0.85 + 0.3 * u(), headAmplitude: 0.8 + 0.4 * u(), browAmplitude: 0.6 + 0.8 * u(),
                       blinkRate: 0.2 + 0.25 * u(), nod: 0.5 + u(),
                       neutral: Tensor.normal([63], std: 0.01, generator: g).toArray(),
                       timbre: Tensor.normal([s.audioWidth], std: 0.5, generator: g).toArray())
    }

    static func language(_ l: Int, _ s: SyntheticCorpusSettings) -> Language {
        let g = Generator(seed: UInt64(s.seed)).derived(0x1A46_0A6E, UInt64(l))
        return Language(syllableRate: 3.6 + 2.4 * Float(g.nextUniform()), pauseProbability: 0.06 + 0.1 * Float(g.nextUniform()),
                        offset: Tensor.normal([s.audioWidth], std: 0.5, generator: g).toArray())
    }

    /// Unit-variance Gaussian-smoothed noise `[frames, dims]` (correlation time ≈ sigma frames).
    static func smoothNoise(frames: Int, dims: Int, sigma: Float, generator: Generator) -> [Float] {
        let pad = Int((3 * sigma).rounded(.up))
        let n = frames + 2 * pad
        let white = Tensor.normal([n, dims], generator: generator).toArray()
        let smooth = gaussianSmooth(white, frames: n, dim: dims, sigma: sigma)
        var out = Array(smooth[(pad * dims)..<((pad + frames) * dims)])
        for j in 0..<dims {
            var sq = 0.0
            for f in 0..<frames { sq += Double(out[f * dims + j] * out[f * dims + j]) }
            let scale = Float(1 / max((sq / Double(frames)).squareRoot(), 1e-6))
            for f in 0..<frames { out[f * dims + j] *= scale }
        }
        return out
    }

    public static func clip(identity: Int, language lang: Int, index: Int, settings s: SyntheticCorpusSettings) -> PerformanceClip {
        let sp = speaker(identity, s), la = language(lang, s)
        let g = Generator(seed: UInt64(s.seed)).derived(0xC11B, UInt64(identity), UInt64(lang), UInt64(index))
        let corpus = Generator(seed: UInt64(s.seed)).derived(0xC0DE)
        let t = s.clipFrames, n = 2 * t, w = s.audioWidth
        func u() -> Float { Float(g.nextUniform()) }

        // Loudness envelope at 50 fps: syllables (sin² bumps) and pauses; stressed syllables
        // are accents.
        var envelope = [Float](repeating: 0, count: n)
        var accents: [Float] = []  // accent times in motion frames
        var tau: Float = -0.3 * u()  // seconds
        let seconds = Float(n) / 50
        while tau < seconds {
            if u() < la.pauseProbability { tau += 0.2 + 0.4 * u(); continue }
            let dur = (0.5 + 1.0 * u()) / la.syllableRate
            var amp = 0.35 + 0.65 * u()
            if u() < 0.25 { amp = max(amp, 0.9); accents.append((tau + dur / 2) * 25) }
            let lo = max(0, Int((tau * 50).rounded(.down))), hi = min(n, Int(((tau + dur) * 50).rounded(.up)))
            if lo < hi {
                for i in lo..<hi {
                    let x = (Float(i) / 50 - tau) / dur
                    if x > 0 && x < 1 {
                        let v = amp * Foundation.pow(Foundation.sin(Float.pi * x), 2)
                        envelope[i] = max(envelope[i], v)
                    }
                }
            }
            tau += dur
        }
        let pitch = smoothNoise(frames: n, dims: 1, sigma: 20, generator: g)

        // Audio features: per layer, gain·(envelope, its change, pitch read-outs) + timbre +
        // language offset + noise of a layer-specific level.
        let ue = Tensor.normal([w], std: 1, generator: corpus).toArray()
        let ud = Tensor.normal([w], std: 1, generator: corpus).toArray()
        let up = Tensor.normal([w], std: 1, generator: corpus).toArray()
        let gains: [Float] = [0.6, 1.0, 0.8, 0.5, 0.9, 0.7]
        let noise: [Float] = [0.6, 0.15, 0.35, 0.8, 0.25, 0.5]
        var audio = [Float](repeating: 0, count: s.audioLayers * n * w)
        let audioNoise = Tensor.normal([s.audioLayers * n * w], generator: g).toArray()
        for l in 0..<s.audioLayers {
            let gain = gains[l % gains.count], sigma = noise[l % noise.count]
            for i in 0..<n {
                let e = envelope[i], de = i > 0 ? envelope[i] - envelope[i - 1] : 0
                for k in 0..<w {
                    let idx = (l * n + i) * w + k
                    audio[idx] = gain * (2 * e * ue[k] + 4 * de * ud[k] + 0.5 * pitch[i] * up[k])
                        + sp.timbre[k] + la.offset[k] + sigma * audioNoise[idx]
                }
            }
        }

        // Motion at 25 fps.
        let d = motionDim
        var motion = [Float](repeating: 0, count: t * d)
        var opening = [Float](repeating: 0, count: t)
        for f in 0..<t { opening[f] = 0.5 * (envelope[2 * f] + envelope[2 * f + 1]) }
        var accent = [Float](repeating: 0, count: t)
        for a in accents {
            for f in 0..<t {
                let x = Float(f) - a - 1
                accent[f] += Foundation.exp(-x * x / 8)
            }
        }
        var blink = [Float](repeating: 0, count: t)
        var bt: Float = 25 * 2 * u()
        while bt < Float(t) {
            let b0 = Int(bt)
            for (k, v) in [Float(0.5), 1, 1, 0.5].enumerated() where b0 + k < t { blink[b0 + k] = max(blink[b0 + k], v) }
            bt += 25 * (0.6 + 0.8 * u()) / sp.blinkRate
        }
        let micro = smoothNoise(frames: t, dims: 63, sigma: 5, generator: g)
        let gaze = smoothNoise(frames: t, dims: 2, sigma: 15, generator: g)
        let head = smoothNoise(frames: t, dims: 7, sigma: 10, generator: g)
        let ex = sp.expressiveness
        func kp(_ k: Int, _ axis: Int) -> Int { 3 * k + axis }
        for f in 0..<t {
            let row = f * d
            var expr = [Float](repeating: 0, count: 63)
            for j in 0..<63 { expr[j] = 0.002 * micro[f * 63 + j] }
            let o = opening[f]
            expr[kp(14, 1)] += 0.012 * o
            expr[kp(12, 1)] -= 0.03 * o
            expr[kp(12, 2)] += 0.005 * o
            expr[kp(6, 1)] -= 0.02 * o
            expr[kp(17, 1)] -= 0.01 * o
            expr[kp(19, 0)] += 0.006 * o
            expr[kp(20, 0)] -= 0.006 * o
            for k in [1, 2, 3, 4] { expr[kp(k, 1)] += 0.01 * sp.browAmplitude * accent[f] }
            expr[kp(11, 1)] -= 0.012 * blink[f]
            expr[kp(15, 1)] -= 0.012 * blink[f]
            expr[kp(13, 1)] += 0.004 * blink[f]
            expr[kp(16, 1)] += 0.004 * blink[f]
            expr[kp(9, 0)] += 0.004 * gaze[f * 2]
            expr[kp(10, 0)] += 0.004 * gaze[f * 2]
            expr[kp(9, 1)] += 0.003 * gaze[f * 2 + 1]
            expr[kp(10, 1)] += 0.003 * gaze[f * 2 + 1]
            for j in 0..<63 { motion[row + j] = sp.neutral[j] + ex * expr[j] }
            let h = sp.headAmplitude
            let nodLag = f >= 2 ? accent[f - 2] : 0
            motion[row + 63] = 1 + 0.01 * head[f * 7]
            for k in 0..<3 { motion[row + 64 + k] = 0.01 * h * head[f * 7 + 1 + k] }
            motion[row + 67] = h * (2 * head[f * 7 + 4] + 1.5 * sp.nod * nodLag)
            motion[row + 68] = h * 3 * head[f * 7 + 5]
            motion[row + 69] = h * 1.5 * head[f * 7 + 6]
        }
        return try! PerformanceClip(id: "\(identityName(identity))-\(languageName(lang))-\(index)",
                                    identity: identityName(identity), language: languageName(lang),
                                    motion: motion, motionDim: d, audio: audio, audioLayers: s.audioLayers, audioWidth: w)
    }
}
