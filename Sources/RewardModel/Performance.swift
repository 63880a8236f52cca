import NeoTensor

/// Where the pose numbers sit in a motion latent. The default 70-number layout (docs/architecture.md §3):
/// `[0..<63]` expression offsets of 21 keypoints, `[63]` scale, `[64..<67]` translation,
/// `[67..<70]` pitch, yaw, roll. For another width the last 7 numbers are taken as pose and the
/// rest as expression (a width of 7 or less is all expression).
public struct MotionLayout: Sendable, Equatable {
    public let dim: Int
    public let expression: Range<Int>
    public let pose: Range<Int>

    public init(dim: Int) {
        self.dim = dim
        if dim > 7 {
            expression = 0..<(dim - 7)
            pose = (dim - 7)..<dim
        } else {
            expression = 0..<dim
            pose = dim..<dim
        }
    }
}

/// One clip of a performance: motion at 25 fps and the audio features of the same stretch at
/// 50 fps (two feature frames per motion frame), with the clip's identity and language.
///
/// - `motion`: `[frames, motionDim]`, row-major.
/// - `audio`: `[audioLayers, 2·frames, audioWidth]`, row-major: every hidden state of the audio
///   encoder (Whisper: stem + each layer), or one plain feature (`audioLayers == 1`).
public struct PerformanceClip: Sendable {
    public var id: String
    public var identity: String
    public var language: String
    public let frames: Int
    public let motionDim: Int
    public let motion: [Float]
    public let audioLayers: Int
    public let audioWidth: Int
    public let audio: [Float]

    /// Checks the pieces fit together. Audio with one feature frame more than `2·frames` (an
    /// odd sample count at the end of a clip) is trimmed; any other mismatch is an error naming
    /// both lengths.
    public init(id: String, identity: String = "", language: String = "", motion: [Float], motionDim: Int,
                audio: [Float], audioLayers: Int, audioWidth: Int) throws {
        guard motionDim > 0 else { throw RewardError("clip \(id): motion width must be positive, got \(motionDim)") }
        guard motion.count % motionDim == 0 else {
            throw RewardError("clip \(id): \(motion.count) motion numbers are not a whole number of \(motionDim)-wide frames")
        }
        let frames = motion.count / motionDim
        guard frames >= 2 else { throw RewardError("clip \(id): motion has \(frames) frame(s); at least 2 are needed") }
        guard audioLayers > 0, audioWidth > 0 else {
            throw RewardError("clip \(id): audio features need at least one layer and a positive width, got \(audioLayers) layers of width \(audioWidth)")
        }
        guard !audio.isEmpty else { throw RewardError("clip \(id): no audio features (an empty audio array)") }
        let perFrame = audioLayers * audioWidth
        guard audio.count % perFrame == 0 else {
            throw RewardError("clip \(id): \(audio.count) audio numbers are not a whole number of frames of \(audioLayers) layers × \(audioWidth)")
        }
        let audioFrames = audio.count / perFrame
        var trimmed = audio
        if audioFrames == 2 * frames + 1 {
            trimmed = [Float](); trimmed.reserveCapacity(audioLayers * 2 * frames * audioWidth)
            for l in 0..<audioLayers {
                let base = l * audioFrames * audioWidth
                trimmed += audio[base..<(base + 2 * frames * audioWidth)]
            }
        } else if audioFrames != 2 * frames {
            throw RewardError("clip \(id): audio and motion lengths do not match: \(audioFrames) audio feature frames (50 fps) for \(frames) motion frames (25 fps); expected \(2 * frames) (two per motion frame)")
        }
        self.id = id
        self.identity = identity
        self.language = language
        self.frames = frames
        self.motionDim = motionDim
        self.motion = motion
        self.audioLayers = audioLayers
        self.audioWidth = audioWidth
        self.audio = trimmed
    }

    /// A window of `length` frames from `start`, with up to `margin` frames of motion on each
    /// side kept as context (for time offsets). Returns nil when the window does not fit.
    public func window(start: Int, length: Int, margin: Int = 0) -> PerformanceWindow? {
        guard start >= 0, length >= 2, start + length <= frames else { return nil }
        let d = motionDim
        let before = min(margin, start), after = min(margin, frames - start - length)
        let motionSlice = Array(motion[(start * d)..<((start + length) * d)])
        let leading = Array(motion[((start - before) * d)..<(start * d)])
        let trailing = Array(motion[((start + length) * d)..<((start + length + after) * d)])
        var audioSlice = [Float](); audioSlice.reserveCapacity(audioLayers * 2 * length * audioWidth)
        let rowsPerLayer = 2 * frames
        for l in 0..<audioLayers {
            let lo = (l * rowsPerLayer + 2 * start) * audioWidth
            audioSlice += audio[lo..<(lo + 2 * length * audioWidth)]
        }
        return PerformanceWindow(clipID: id, identity: identity, language: language, start: start, frames: length,
                                 motionDim: d, motion: motionSlice, leading: leading, trailing: trailing,
                                 audioLayers: audioLayers, audioWidth: audioWidth, audio: audioSlice)
    }
}

/// A stretch of a clip the reward model scores: `frames` motion frames `[frames, motionDim]`
/// and their audio `[audioLayers, 2·frames, audioWidth]`. `leading`/`trailing` hold up to a few
/// frames of the clip's motion before and after the window (empty for degraded copies), so a
/// time offset can shift real motion in rather than repeat an edge frame.
public struct PerformanceWindow: Sendable {
    public var clipID: String
    public var identity: String
    public var language: String
    public var start: Int
    public let frames: Int
    public let motionDim: Int
    public var motion: [Float]
    public var leading: [Float]
    public var trailing: [Float]
    public let audioLayers: Int
    public let audioWidth: Int
    public var audio: [Float]

    public init(clipID: String, identity: String, language: String, start: Int, frames: Int, motionDim: Int,
                motion: [Float], leading: [Float] = [], trailing: [Float] = [],
                audioLayers: Int, audioWidth: Int, audio: [Float]) {
        ensure(motion.count == frames * motionDim, "PerformanceWindow: motion has \(motion.count) numbers for \(frames)×\(motionDim)")
        ensure(audio.count == audioLayers * 2 * frames * audioWidth,
               "PerformanceWindow: audio has \(audio.count) numbers for \(audioLayers)×\(2 * frames)×\(audioWidth)")
        ensure(leading.count % motionDim == 0 && trailing.count % motionDim == 0, "PerformanceWindow: context is not whole frames")
        self.clipID = clipID
        self.identity = identity
        self.language = language
        self.start = start
        self.frames = frames
        self.motionDim = motionDim
        self.motion = motion
        self.leading = leading
        self.trailing = trailing
        self.audioLayers = audioLayers
        self.audioWidth = audioWidth
        self.audio = audio
    }

    /// A window made directly from arrays (one clip scored whole), checked like a clip.
    public init(clip: PerformanceClip) {
        self = clip.window(start: 0, length: clip.frames)!
    }

    /// The same window with other motion (and no context).
    public func with(motion newMotion: [Float]) -> PerformanceWindow {
        var w = self
        w.motion = newMotion
        w.leading = []
        w.trailing = []
        return w
    }

    /// The same window with other audio (and no context).
    public func with(audio newAudio: [Float]) -> PerformanceWindow {
        var w = self
        w.audio = newAudio
        w.leading = []
        w.trailing = []
        return w
    }
}

/// Per-dimension statistics of motion over a corpus: the model standardises its inputs with
/// them (they travel in the checkpoint), and degradations scale their noise and spikes by them.
public struct MotionStatistics: Sendable, Codable, Equatable {
    public var mean: [Float]
    /// Standard deviation over all frames, floored (see `estimate`).
    public var std: [Float]
    /// Standard deviation of frame-to-frame differences, floored likewise.
    public var deltaStd: [Float]

    public init(mean: [Float], std: [Float], deltaStd: [Float]) {
        self.mean = mean
        self.std = std
        self.deltaStd = deltaStd
    }

    /// Zero mean, unit scales.
    public static func unit(dim: Int) -> MotionStatistics {
        MotionStatistics(mean: .init(repeating: 0, count: dim), std: .init(repeating: 1, count: dim),
                         deltaStd: .init(repeating: 1, count: dim))
    }

    public var dim: Int { mean.count }

    /// Estimated over every frame of `clips` (Double accumulation). A dimension that barely
    /// moves gets its scales floored at 1% of the median scale, so standardising it does not
    /// blow up numerical noise.
    public static func estimate(_ clips: [PerformanceClip]) -> MotionStatistics {
        precondition(!clips.isEmpty, "MotionStatistics.estimate: no clips")
        let d = clips[0].motionDim
        var sum = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        var dsq = [Double](repeating: 0, count: d)
        var n = 0, nd = 0
        for c in clips {
            ensure(c.motionDim == d, "MotionStatistics.estimate: clips of widths \(d) and \(c.motionDim)")
            for t in 0..<c.frames {
                for j in 0..<d {
                    let v = Double(c.motion[t * d + j])
                    sum[j] += v; sq[j] += v * v
                    if t > 0 {
                        let dv = v - Double(c.motion[(t - 1) * d + j])
                        dsq[j] += dv * dv
                    }
                }
            }
            n += c.frames
            nd += c.frames - 1
        }
        let mean = sum.map { $0 / Double(n) }
        var std = (0..<d).map { ((sq[$0] / Double(n)) - mean[$0] * mean[$0]).squareRoot().nanToZero }
        var dstd = dsq.map { ($0 / Double(max(nd, 1))).squareRoot() }
        func floor(_ xs: inout [Double]) {
            let median = xs.sorted()[xs.count / 2]
            let lo = max(median * 0.01, 1e-8)
            xs = xs.map { max($0, lo) }
        }
        floor(&std)
        floor(&dstd)
        return MotionStatistics(mean: mean.map(Float.init), std: std.map(Float.init), deltaStd: dstd.map(Float.init))
    }
}

extension Double {
    var nanToZero: Double { isNaN ? 0 : self }
}

/// Windows stacked into the model's input tensors: motion `[B, T, D]` and audio
/// `[B, L, 2T, W]`.
public struct RewardInput {
    public let motion: Tensor
    public let audio: Tensor

    public init(motion: Tensor, audio: Tensor) {
        self.motion = motion
        self.audio = audio
    }

    /// Stacks windows of one shape; windows of different shapes are a programming error.
    public init(_ windows: [PerformanceWindow]) {
        precondition(!windows.isEmpty, "RewardInput: no windows")
        let w0 = windows[0]
        let t = w0.frames, d = w0.motionDim, l = w0.audioLayers, aw = w0.audioWidth
        for w in windows {
            ensure(w.frames == t && w.motionDim == d && w.audioLayers == l && w.audioWidth == aw,
                   "RewardInput: window \(w.clipID)@\(w.start) is \(w.frames)×\(w.motionDim) with audio \(w.audioLayers)×\(w.audioWidth), expected \(t)×\(d) with audio \(l)×\(aw)")
        }
        let m = Tensor.empty([windows.count, t, d])
        let a = Tensor.empty([windows.count, l, 2 * t, aw])
        let mp = m.data, ap = a.data
        let mStride = t * d, aStride = l * 2 * t * aw
        for (i, w) in windows.enumerated() {
            w.motion.withUnsafeBufferPointer { (mp + i &* mStride).update(from: $0.baseAddress!, count: mStride) }
            w.audio.withUnsafeBufferPointer { (ap + i &* aStride).update(from: $0.baseAddress!, count: aStride) }
        }
        motion = m
        audio = a
    }
}
