import NeoTensor

/// Draws windows and preference pairs from a set of clips. Batch `i` depends only on the seed
/// and `i` (each pair from a generator derived from (seed, i, j)), so a training run's batches
/// are reproducible and a checkpoint needs to store only the batch count.
public final class PairSampler: @unchecked Sendable {
    public let clips: [PerformanceClip]
    public let windowFrames: Int
    /// Motion context kept on each side of a window (for time offsets).
    public let margin: Int
    public let statistics: MotionStatistics
    public let settings: PairSettings
    public let seed: UInt64

    public init(clips: [PerformanceClip], windowFrames: Int, statistics: MotionStatistics, settings: PairSettings,
                seed: UInt64) throws {
        guard clips.count >= 2 else {
            throw RewardError("preference pairs need at least 2 clips (swapped audio takes another clip's), got \(clips.count)")
        }
        guard windowFrames >= 2 else { throw RewardError("window length must be at least 2 frames, got \(windowFrames)") }
        let c0 = clips[0]
        for c in clips {
            guard c.motionDim == c0.motionDim, c.audioLayers == c0.audioLayers, c.audioWidth == c0.audioWidth else {
                throw RewardError("clip \(c.id): motion width \(c.motionDim) and audio \(c.audioLayers)×\(c.audioWidth) differ from clip \(c0.id)'s \(c0.motionDim) and \(c0.audioLayers)×\(c0.audioWidth)")
            }
            guard c.frames >= windowFrames else {
                throw RewardError("clip \(c.id) has \(c.frames) frames, shorter than a \(windowFrames)-frame window")
            }
        }
        guard statistics.dim == c0.motionDim else {
            throw RewardError("motion statistics have width \(statistics.dim), clips \(c0.motionDim)")
        }
        self.clips = clips
        self.windowFrames = windowFrames
        margin = settings.degradation.maxOffsetFrames
        self.statistics = statistics
        self.settings = settings
        self.seed = seed
    }

    /// A window of a random clip at a random start.
    public func window(_ g: Generator, excludingClip: Int? = nil) -> (clip: Int, window: PerformanceWindow) {
        var c = g.nextInt(clips.count)
        if let e = excludingClip, c == e { c = (c + 1 + g.nextInt(clips.count - 1)) % clips.count }
        let clip = clips[c]
        let start = g.nextInt(clip.frames - windowFrames + 1)
        return (c, clip.window(start: start, length: windowFrames, margin: margin)!)
    }

    /// Pair `j` of batch `i`.
    public func pair(batch i: Int, index j: Int) -> PreferencePair {
        let g = Generator(seed: seed).derived(UInt64(i), UInt64(j))
        let (c, w) = window(g)
        let donor = window(g, excludingClip: c).window
        return PreferencePairs.sample(window: w, donor: donor, settings: settings, statistics: statistics, generator: g)
    }

    /// The `count` pairs of batch `i`.
    public func batch(_ i: Int, count: Int) -> [PreferencePair] {
        (0..<count).map { pair(batch: i, index: $0) }
    }

    /// Non-overlapping evaluation windows of every clip: starts at `margin` (so time offsets
    /// shift real motion in), every `frames` frames, while a window and its trailing margin fit;
    /// a clip too short for that gives one window at its start.
    public static func evaluationWindows(_ clips: [PerformanceClip], frames: Int, margin: Int) -> [PerformanceWindow] {
        var out: [PerformanceWindow] = []
        for c in clips where c.frames >= frames {
            var start = margin
            var any = false
            while start + frames + margin <= c.frames {
                out.append(c.window(start: start, length: frames, margin: margin)!)
                any = true
                start += frames
            }
            if !any { out.append(c.window(start: 0, length: frames, margin: margin)!) }
        }
        return out
    }
}
