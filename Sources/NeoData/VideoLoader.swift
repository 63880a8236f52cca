import Foundation
import NeoTensor

/// Batches for the image half (Pictar): (source frame, driving frame, driving motion) pairs
/// drawn from one identity, and whole clips for evaluation. Frames are float RGB in [0, 1],
/// channels first. Deterministic: the batch at (seed, index) is always the same.
public final class VideoPairLoader: @unchecked Sendable {
    public struct Batch: @unchecked Sendable {
        /// [B, 3, S, S] each.
        public var source: Tensor
        public var driving: Tensor
        /// [B, motionDim]: the driving frame's motion.
        public var drivingMotion: Tensor
        public var identity: [String]
        /// (clip id, frame) of each source and driving frame.
        public var sourceFrames: [(clip: String, frame: Int)]
        public var drivingFrames: [(clip: String, frame: Int)]
    }

    public let dataset: DatasetFolder
    public let clips: [ClipInfo]
    public let identities: [String]
    public let size: Int
    public let seed: UInt64
    public let batchSize: Int
    private let byIdentity: [String: [Int]]
    private let lock = NSLock()
    private var cache: [String: Clip] = [:]
    private var order: [String] = []
    private let cacheClips: Int

    /// Opens the clips with video of `split` (consent checked as for training).
    public init(folder: String, split: DatasetSplit = .train, splitRule: SplitRule = SplitRule(), batchSize: Int = 8,
                seed: UInt64 = 0, cacheClips: Int = 16, trustedKeys: Set<String>? = nil) throws {
        guard batchSize > 0, cacheClips > 0 else { throw DataError(file: folder, "video loader: batchSize and cacheClips must be positive") }
        dataset = try DatasetFolder(folder)
        try dataset.verifyConsent(trustedKeys: trustedKeys)
        clips = dataset.clips.filter { $0.videoSize > 0 && splitRule.split(of: $0.identity) == split }
        guard let first = clips.first else {
            throw DataError(file: folder, "no clip of the \(split.rawValue) split has video (make it with `data synth --video` or `data import-video`)")
        }
        guard clips.allSatisfy({ $0.videoSize == first.videoSize }) else {
            throw DataError(file: folder, "clips have different frame sizes (\(Set(clips.map(\.videoSize)).sorted()))")
        }
        size = first.videoSize
        var groups: [String: [Int]] = [:]
        for (i, c) in clips.enumerated() { groups[c.identity, default: []].append(i) }
        byIdentity = groups
        identities = groups.keys.sorted()
        self.seed = seed; self.batchSize = batchSize; self.cacheClips = cacheClips
    }

    /// A whole clip with its frames (for evaluation).
    public func clip(_ index: Int) throws -> Clip {
        guard index >= 0 && index < clips.count else { throw DataError(file: dataset.folder, "clip index \(index) out of 0..<\(clips.count)") }
        return try load(clips[index])
    }

    private func load(_ info: ClipInfo) throws -> Clip {
        let key = info.shard + "#" + info.id
        lock.lock()
        if let c = cache[key] { lock.unlock(); return c }
        lock.unlock()
        guard let reader = dataset.reader(for: info) else { throw DataError(file: info.shard, "shard not open") }
        let c = try reader.read(info.id, audio: false, labels: false, video: true)
        lock.lock()
        defer { lock.unlock() }
        cache[key] = c
        order.append(key)
        if order.count > cacheClips { cache[order.removeFirst()] = nil }
        return c
    }

    /// Batch number `index`: per item an identity, then two frames of that identity's clips
    /// (possibly from different clips), the second with its motion.
    public func batch(_ index: Int) throws -> Batch {
        guard index >= 0 else { throw DataError(file: dataset.folder, "batch index \(index) is negative") }
        let g = Generator(seed: seed).derived(0xF1DE0, UInt64(index))
        let S = size, plane = S * S
        let src = Tensor.empty([batchSize, 3, S, S]), drv = Tensor.empty([batchSize, 3, S, S])
        let dim = dataset.manifest.motionDim
        let motion = Tensor.empty([batchSize, dim])
        var ids: [String] = [], sources: [(String, Int)] = [], drivings: [(String, Int)] = []
        for b in 0..<batchSize {
            let identity = identities[g.nextInt(identities.count)]
            let own = byIdentity[identity]!
            let a = try load(clips[own[g.nextInt(own.count)]]), d = try load(clips[own[g.nextInt(own.count)]])
            let ta = g.nextInt(a.frames), td = g.nextInt(d.frames)
            for (clip, t, out) in [(a, ta, src), (d, td, drv)] {
                let v = clip.video!
                v.frames.withUnsafeBufferPointer { fb in
                    let f = fb.baseAddress! + t * v.frameBytes
                    let o = out.data + b * 3 * plane
                    for i in 0..<plane {
                        o[i] = Float(f[3 &* i]) / 255; o[plane &+ i] = Float(f[3 &* i &+ 1]) / 255; o[2 &* plane &+ i] = Float(f[3 &* i &+ 2]) / 255
                    }
                }
            }
            for k in 0..<dim { motion.data[b * dim + k] = d.motion[td * dim + k] }
            ids.append(identity); sources.append((a.id, ta)); drivings.append((d.id, td))
        }
        return Batch(source: src, driving: drv, drivingMotion: motion, identity: ids, sourceFrames: sources, drivingFrames: drivings)
    }
}
