import Foundation
import NeoTensor

/// The three aspect scores of the reward model. Column 0 of the model's output is the overall
/// score; aspect `a` is column `a.column`.
public enum Aspect: String, CaseIterable, Sendable, Codable {
    case naturalness
    case expressionRange = "expression_range"
    case audioAlignment = "audio_alignment"

    public var column: Int {
        switch self {
        case .naturalness: return 1
        case .expressionRange: return 2
        case .audioAlignment: return 3
        }
    }
}

/// The model's four output columns, in order: the overall score, then the aspects. The raw
/// value is the name recipes use (`[reward] head`).
public enum RewardHead: String, CaseIterable, Sendable {
    case overall, naturalness
    case expressionRange = "expression-range"
    case audioAlignment = "audio-alignment"

    /// Column of the model's output.
    public var column: Int {
        switch self {
        case .overall: return 0
        case .naturalness: return Aspect.naturalness.column
        case .expressionRange: return Aspect.expressionRange.column
        case .audioAlignment: return Aspect.audioAlignment.column
        }
    }
}

/// Settings of the degradation zoo: how far each kind goes at strength 1.
public struct DegradationSettings: Sendable, Equatable, Codable {
    /// Time offset at strength 1, in motion frames (25 fps): motion shifted against the audio
    /// by round(s·maxOffsetFrames) frames, direction random.
    public var maxOffsetFrames = 12
    /// Jitter: white noise of standard deviation s·jitterScale·std(dim) per frame.
    public var jitterScale: Float = 0.25
    /// Damped expression: expression dims scaled toward their window mean by 1 − s·(1 − dampFloor).
    public var dampFloor: Float = 0.15
    /// Exaggerated expression: expression dims scaled away from the mean by 1 + s·exaggeration.
    public var exaggeration: Float = 1.5
    /// Twitches per second at strength 1 (at least one at any strength > 0).
    public var twitchesPerSecond: Float = 2
    /// Twitch peak in units of std(dim): (1 + 2s)·twitchScale.
    public var twitchScale: Float = 1.5
    /// Over-smoothing: Gaussian low-pass of standard deviation s·maxSmoothingSigma frames.
    public var maxSmoothingSigma: Float = 4
    public init() {}
}

/// The kinds of damage done to a ground-truth performance to make preference pairs. Each takes
/// a strength in [0, 1] (0 is the identity, larger is worse) and is deterministic given the
/// generator; for a fixed generator state the damage grows monotonically with the strength
/// (the same random draws are used at every strength).
public enum Degradation: String, CaseIterable, Sendable, Codable {
    /// Motion shifted against the audio by up to ±maxOffsetFrames.
    case timeOffset = "time_offset"
    /// High-frequency noise on every dimension.
    case jitter
    /// One frame held for a segment of round(s·T) frames (the whole window at s = 1).
    case frozenFace = "frozen_face"
    /// Expression dims scaled toward their mean.
    case dampedExpression = "damped_expression"
    /// Expression dims scaled away from their mean.
    case exaggeratedExpression = "exaggerated_expression"
    /// Sudden short spikes (3 frames) on one keypoint or one pose angle at a time.
    case twitches
    /// Gaussian low-pass over time.
    case overSmoothing = "over_smoothing"
    /// The audio of a segment of round(s·T) frames replaced by another clip's (all of it at s = 1).
    case swappedAudio = "swapped_audio"
    /// Pose dims (scale, translation, rotation) scaled toward their mean by 1 − s.
    case headMotionRemoval = "head_motion_removal"

    /// The aspect head trained on (and judged by) this degradation's pairs.
    ///
    /// - audio alignment: what only the audio can tell — time offset, swapped audio;
    /// - naturalness: how the motion moves frame to frame — jitter, twitches, over-smoothing,
    ///   frozen face;
    /// - expression range: how much it moves overall — damped and exaggerated expression,
    ///   head-motion removal.
    public var aspect: Aspect {
        switch self {
        case .timeOffset, .swappedAudio: return .audioAlignment
        case .jitter, .twitches, .overSmoothing, .frozenFace: return .naturalness
        case .dampedExpression, .exaggeratedExpression, .headMotionRemoval: return .expressionRange
        }
    }

    /// Whether applying it needs a donor window (another clip's audio).
    public var needsDonor: Bool { self == .swappedAudio }

    /// Parses a name as written in recipes and reports (`time_offset`, …).
    public static func named(_ name: String) -> Degradation? { Degradation(rawValue: name) }

    /// The damaged copy of `window` (context dropped). `donor` supplies the audio for
    /// `.swappedAudio` and must have the same shape; `statistics` gives per-dimension scales.
    public func apply(to window: PerformanceWindow, strength: Float, generator: Generator,
                      statistics: MotionStatistics, settings: DegradationSettings = DegradationSettings(),
                      donor: PerformanceWindow? = nil) -> PerformanceWindow {
        ensure(strength >= 0 && strength <= 1, "Degradation.\(rawValue): strength \(strength) outside [0, 1]")
        ensure(statistics.dim == window.motionDim,
               "Degradation.\(rawValue): statistics of width \(statistics.dim) for motion of width \(window.motionDim)")
        let s = strength
        let t = window.frames, d = window.motionDim
        let layout = MotionLayout(dim: d)
        var m = window.motion
        switch self {
        case .timeOffset:
            let sign: Int = generator.nextUniform() < 0.5 ? -1 : 1
            let k = Int((s * Float(settings.maxOffsetFrames)).rounded()) * sign
            if k == 0 { return window.with(motion: m) }
            // Motion frame t shows what the performer did at t − k: with k > 0 the face lags
            // the audio. Frames outside the clip's known context repeat the nearest known one.
            let before = window.leading.count / d, after = window.trailing.count / d
            for f in 0..<t {
                var src = f - k
                src = max(-before, min(t - 1 + after, src))
                let row: ArraySlice<Float>
                if src < 0 {
                    let i = before + src
                    row = window.leading[(i * d)..<((i + 1) * d)]
                } else if src >= t {
                    let i = src - t
                    row = window.trailing[(i * d)..<((i + 1) * d)]
                } else {
                    row = window.motion[(src * d)..<((src + 1) * d)]
                }
                m.replaceSubrange((f * d)..<((f + 1) * d), with: row)
            }
            return window.with(motion: m)

        case .jitter:
            let noise = Tensor.normal([t, d], generator: generator).toArray()
            for f in 0..<t {
                for j in 0..<d { m[f * d + j] += s * settings.jitterScale * statistics.std[j] * noise[f * d + j] }
            }
            return window.with(motion: m)

        case .frozenFace:
            let u = Float(generator.nextUniform())
            let length = Int((s * Float(t)).rounded())
            if length < 2 { return window.with(motion: m) }
            let start = min(t - length, Int(u * Float(t - length + 1)))
            let held = Array(window.motion[(start * d)..<((start + 1) * d)])
            for f in start..<(start + length) { m.replaceSubrange((f * d)..<((f + 1) * d), with: held) }
            return window.with(motion: m)

        case .dampedExpression, .exaggeratedExpression:
            let factor = self == .dampedExpression ? 1 - s * (1 - settings.dampFloor) : 1 + s * settings.exaggeration
            scaleAroundMean(&m, frames: t, dim: d, dims: layout.expression, factor: factor)
            return window.with(motion: m)

        case .headMotionRemoval:
            scaleAroundMean(&m, frames: t, dim: d, dims: layout.pose, factor: 1 - s)
            return window.with(motion: m)

        case .twitches:
            // The draws for the largest count are made first, so weaker twitches are a subset
            // of stronger ones (same places and dims, smaller peaks).
            let maxCount = max(1, Int((settings.twitchesPerSecond * Float(t) / 25).rounded(.up)))
            var planned: [(frame: Int, dims: [Int], signs: [Float])] = []
            let keypoints = layout.expression.count / 3
            let groups = keypoints + (layout.pose.isEmpty ? 0 : 3)
            for _ in 0..<maxCount {
                let frame = generator.nextInt(max(t - 2, 1))
                let g = generator.nextInt(groups)
                let dims = g < keypoints ? [3 * g, 3 * g + 1, 3 * g + 2] : [layout.pose.upperBound - 3 + (g - keypoints)]
                let signs = dims.map { _ in Float(generator.nextUniform() < 0.5 ? -1 : 1) }
                planned.append((frame, dims, signs))
            }
            if s == 0 { return window.with(motion: m) }
            let count = max(1, Int((s * Float(maxCount)).rounded(.up)))
            let peak = (1 + 2 * s) * settings.twitchScale
            let shape: [Float] = [0.6, 1, 0.4]
            for tw in planned.prefix(count) {
                for (k, w) in shape.enumerated() where tw.frame + k < t {
                    for (j, sign) in zip(tw.dims, tw.signs) {
                        m[(tw.frame + k) * d + j] += sign * w * peak * statistics.std[j]
                    }
                }
            }
            return window.with(motion: m)

        case .overSmoothing:
            let sigma = s * settings.maxSmoothingSigma
            if sigma < 1e-3 { return window.with(motion: m) }
            m = gaussianSmooth(window.motion, frames: t, dim: d, sigma: sigma)
            return window.with(motion: m)

        case .swappedAudio:
            guard let donor else { ensureFailed("Degradation.swappedAudio needs a donor window") }
            ensure(donor.audioLayers == window.audioLayers && donor.audioWidth == window.audioWidth && donor.frames == t,
                   "Degradation.swappedAudio: donor audio \(donor.audioLayers)×\(2 * donor.frames)×\(donor.audioWidth) does not match \(window.audioLayers)×\(2 * t)×\(window.audioWidth)")
            let u = Float(generator.nextUniform())
            let length = Int((s * Float(t)).rounded())
            if length == 0 { return window.with(motion: m) }
            let start = min(t - length, Int(u * Float(t - length + 1)))
            var audio = window.audio
            let w = window.audioWidth, rows = 2 * t
            for l in 0..<window.audioLayers {
                let lo = (l * rows + 2 * start) * w, hi = (l * rows + 2 * (start + length)) * w
                audio.replaceSubrange(lo..<hi, with: donor.audio[lo..<hi])
            }
            var out = window.with(audio: audio)
            out.motion = m
            return out
        }
    }
}

/// x ← mean + factor·(x − mean) on the given dims, mean taken over the window's frames.
func scaleAroundMean(_ m: inout [Float], frames t: Int, dim d: Int, dims: Range<Int>, factor: Float) {
    if factor == 1 { return }  // exactly the identity, not mean + 1·(x − mean)
    for j in dims {
        var mean: Double = 0
        for f in 0..<t { mean += Double(m[f * d + j]) }
        let mu = Float(mean / Double(t))
        for f in 0..<t { m[f * d + j] = mu + factor * (m[f * d + j] - mu) }
    }
}

/// Gaussian smoothing along time (kernel radius ⌈3σ⌉, edges mirrored).
func gaussianSmooth(_ x: [Float], frames t: Int, dim d: Int, sigma: Float) -> [Float] {
    let radius = max(1, Int((3 * sigma).rounded(.up)))
    var kernel = (-radius...radius).map { Foundation.exp(-Double($0 * $0) / (2 * Double(sigma * sigma))) }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    func mirror(_ i: Int) -> Int {
        guard t > 1 else { return 0 }
        var j = i
        let period = 2 * (t - 1)
        j = ((j % period) + period) % period
        return j < t ? j : period - j
    }
    var out = [Float](repeating: 0, count: x.count)
    for f in 0..<t {
        for j in 0..<d {
            var acc = 0.0
            for (k, w) in kernel.enumerated() { acc += w * Double(x[mirror(f + k - radius) * d + j]) }
            out[f * d + j] = Float(acc)
        }
    }
    return out
}
