import Foundation
import NeoTensor

/// Train / validation / test, assigned per identity so that no identity is in two splits.
public enum DatasetSplit: String, Codable, CaseIterable, Sendable {
    case train, validation, test
}

/// The deterministic rule: identity → bucket 0…99 by FNV-1a-64 of (salt, identity); buckets below
/// `testPercent` are test, the next `validationPercent` validation, the rest train. The split of
/// an identity never changes when other identities are added.
public struct SplitRule: Codable, Sendable, Equatable {
    public var validationPercent: Int
    public var testPercent: Int
    public var salt: String
    public init(validationPercent: Int = 10, testPercent: Int = 10, salt: String = "neo-split-1") {
        self.validationPercent = validationPercent; self.testPercent = testPercent; self.salt = salt
    }

    public func bucket(of identity: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (salt + "/" + identity).utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(h % 100)
    }

    public func split(of identity: String) -> DatasetSplit {
        let b = bucket(of: identity)
        if b < testPercent { return .test }
        if b < testPercent + validationPercent { return .validation }
        return .train
    }
}

/// Where a loader is: the next batch is `batch` of `epoch`. Save it with a checkpoint; a loader
/// seeked to it continues with exactly the batches that would have come next.
public struct LoaderPosition: Codable, Sendable, Equatable {
    public var epoch: Int
    public var batch: Int
    public init(epoch: Int = 0, batch: Int = 0) { self.epoch = epoch; self.batch = batch }
}

public struct LoaderOptions: Sendable {
    /// Frames per window (N) and previous frames given as context (K).
    public var windowFrames: Int
    public var contextFrames: Int
    public var batchSize: Int
    public var seed: UInt64
    public var split: DatasetSplit
    public var splitRule: SplitRule
    /// Batches prepared ahead on the background thread (0: no background thread).
    public var prefetch: Int
    public var includeAudio: Bool
    /// Cached feature frames (2 per motion frame) when the clips have them.
    public var includeFeatures: Bool
    public var includeLabels: Bool
    /// Decoded clips kept in memory (bytes).
    public var cacheBytes: Int
    /// Consent keys to trust; nil trusts the key the dataset names.
    public var trustedKeys: Set<String>?

    public init(windowFrames: Int = 50, contextFrames: Int = 8, batchSize: Int = 16, seed: UInt64 = 0,
                split: DatasetSplit = .train, splitRule: SplitRule = SplitRule(), prefetch: Int = 4,
                includeAudio: Bool = true, includeFeatures: Bool = true, includeLabels: Bool = false,
                cacheBytes: Int = 1 << 30, trustedKeys: Set<String>? = nil) {
        self.windowFrames = windowFrames; self.contextFrames = contextFrames; self.batchSize = batchSize
        self.seed = seed; self.split = split; self.splitRule = splitRule; self.prefetch = prefetch
        self.includeAudio = includeAudio; self.includeFeatures = includeFeatures; self.includeLabels = includeLabels
        self.cacheBytes = cacheBytes; self.trustedKeys = trustedKeys
    }
}

/// One batch of windows.
public struct Batch: @unchecked Sendable {
    /// [B, N, D] motion of the window.
    public var motion: Tensor
    /// [B, K, D] the K frames before the window (zeros before the clip start) and [B, K] mask
    /// (1 real frame, 0 padding).
    public var previousMotion: Tensor
    public var previousMask: Tensor
    /// [B, N·640] 16 kHz audio of the window.
    public var audio: Tensor?
    /// [B, 2N, F] cached audio features of the window.
    public var features: Tensor?
    /// [B, N] per-frame labels (viseme, phoneme, accent, blink …) as floats.
    public var labels: [String: Tensor]
    /// Index into `DatasetLoader.identities` and into `Emotion.allCases` (−1: not one of the six).
    public var identity: [Int]
    public var emotion: [Int]
    public var clipIDs: [String]
    public var startFrames: [Int]
    /// This batch's position; `next` is where the loader goes on from.
    public var position: LoaderPosition
    public var next: LoaderPosition
}

/// Windows of N frames from a dataset folder: shuffled across shards and clips, batched into
/// tensors, deterministic for a seed, resumable from a `LoaderPosition`, restricted to one
/// identity split, prepared on a background thread.
public final class DatasetLoader: @unchecked Sendable {
    public let options: LoaderOptions
    public let dataset: DatasetFolder
    /// Clips of this split long enough for one window, in shard/id order.
    public let clips: [ClipInfo]
    /// Identities of this split, sorted; `Batch.identity` indexes this list.
    public let identities: [String]
    public let motionDim: Int
    public let featureDim: Int
    public let labelNames: [String]
    /// Clips of the split too short for a window (skipped).
    public let skippedClips: [String]

    private let context: EngineContext
    private let cache: ClipCache
    private let identityIndex: [String: Int]

    // Prefetch state.
    private let cond = NSCondition()
    private var queue: [(LoaderPosition, Result<Batch, Error>)] = []
    private var producerNext = LoaderPosition()
    private var consumerNext = LoaderPosition()
    private var generation = 0
    private var stopped = false
    private var producerStarted = false

    public init(folder: String, options: LoaderOptions = LoaderOptions()) throws {
        guard options.windowFrames > 0, options.contextFrames >= 0, options.batchSize > 0, options.prefetch >= 0 else {
            throw DataError(file: folder, "loader options: windowFrames and batchSize must be positive, contextFrames and prefetch not negative")
        }
        self.options = options
        dataset = try DatasetFolder(folder)
        try dataset.verifyConsent(trustedKeys: options.trustedKeys)
        let inSplit = dataset.clips.filter { options.splitRule.split(of: $0.identity) == options.split }
        clips = inSplit.filter { $0.frames >= options.windowFrames }
        skippedClips = inSplit.filter { $0.frames < options.windowFrames }.map(\.id)
        guard !clips.isEmpty else {
            throw DataError(file: folder, "no clip of the \(options.split.rawValue) split has \(options.windowFrames) frames (\(inSplit.count) clips in the split)")
        }
        identities = Set(clips.map(\.identity)).sorted()
        identityIndex = Dictionary(uniqueKeysWithValues: identities.enumerated().map { ($1, $0) })
        motionDim = dataset.manifest.motionDim
        let withFeatures = clips.filter { $0.featureDim > 0 }
        if options.includeFeatures && !withFeatures.isEmpty {
            guard withFeatures.count == clips.count, Set(withFeatures.map(\.featureDim)).count == 1 else {
                throw DataError(file: folder, "cached features must be present with one width in every clip of the split (or in none)")
            }
            featureDim = withFeatures[0].featureDim
        } else {
            featureDim = 0
        }
        labelNames = options.includeLabels ? clips.dropFirst().reduce(Set(clips[0].labelNames)) { $0.intersection($1.labelNames) }.sorted() : []
        context = EngineContext.current
        cache = ClipCache(budget: options.cacheBytes)
    }

    deinit { stop() }

    /// Windows and full batches of epoch 0 (other epochs differ by a few windows: each clip's
    /// windows start at an offset drawn per epoch).
    public var windowsPerEpoch: Int { windows(epoch: 0).count }
    public var batchesPerEpoch: Int { batchCount(epoch: 0) }
    public func batchCount(epoch: Int) -> Int { windows(epoch: epoch).count / options.batchSize }

    private let epochLock = NSLock()
    private var epochCache: [Int: [(clip: Int, start: Int)]] = [:]

    /// `windowStarts(epoch:)`, remembered for the last few epochs asked for.
    private func windows(epoch: Int) -> [(clip: Int, start: Int)] {
        epochLock.lock(); defer { epochLock.unlock() }
        if let w = epochCache[epoch] { return w }
        let w = windowStarts(epoch: epoch)
        if epochCache.count >= 3, let oldest = epochCache.keys.min() { epochCache[oldest] = nil }
        epochCache[epoch] = w
        return w
    }

    /// The shuffled (clip, start frame) windows of an epoch: each clip is cut into
    /// non-overlapping windows from an offset drawn per epoch, then all windows are shuffled.
    public func windowStarts(epoch: Int) -> [(clip: Int, start: Int)] {
        let root = Generator(seed: options.seed).derived(0x10AD, UInt64(epoch))
        let N = options.windowFrames
        var windows: [(clip: Int, start: Int)] = []
        for (ci, c) in clips.enumerated() {
            let spare = c.frames - N
            var s = spare > 0 ? root.derived(UInt64(ci)).nextInt(min(N, spare + 1)) : 0
            while s + N <= c.frames { windows.append((ci, s)); s += N }
        }
        for i in stride(from: windows.count - 1, to: 0, by: -1) {
            let j = root.nextInt(i + 1)
            windows.swapAt(i, j)
        }
        return windows
    }

    /// The batch at `position`, computed directly (no prefetch); the same every time.
    public func batch(at position: LoaderPosition) throws -> Batch {
        guard position.epoch >= 0, position.batch >= 0 else {
            throw DataError(file: dataset.folder, "loader position \(position) is negative")
        }
        var p = position
        if p.batch >= batchCount(epoch: p.epoch) { p = LoaderPosition(epoch: p.epoch + 1, batch: 0) }
        let all = windows(epoch: p.epoch)
        guard all.count >= options.batchSize else {
            throw DataError(file: dataset.folder, "the \(options.split.rawValue) split has \(all.count) windows, fewer than one batch of \(options.batchSize)")
        }
        let chosen = all[(p.batch * options.batchSize)..<((p.batch + 1) * options.batchSize)]
        var nextPos = LoaderPosition(epoch: p.epoch, batch: p.batch + 1)
        if nextPos.batch >= batchCount(epoch: p.epoch) { nextPos = LoaderPosition(epoch: p.epoch + 1, batch: 0) }
        return try context.run { try assemble(Array(chosen), position: p, next: nextPos) }
    }

    private func assemble(_ windows: [(clip: Int, start: Int)], position: LoaderPosition, next: LoaderPosition) throws -> Batch {
        let B = windows.count, N = options.windowFrames, K = options.contextFrames, D = motionDim
        let spf = ShardFormat.samplesPerFrame, fpf = ShardFormat.featuresPerFrame
        let motion = Tensor.empty([B, N, D])
        let prev = Tensor.zeros([B, K, D])
        let mask = Tensor.zeros([B, K])
        let audio = options.includeAudio ? Tensor.empty([B, N * spf]) : nil
        let feats = featureDim > 0 ? Tensor.empty([B, fpf * N, featureDim]) : nil
        var labels: [String: Tensor] = [:]
        for name in labelNames { labels[name] = Tensor.empty([B, N]) }
        var ids: [Int] = [], emos: [Int] = [], clipIDs: [String] = [], starts: [Int] = []
        for (b, w) in windows.enumerated() {
            let info = clips[w.clip]
            let c = try cache.clip(info, in: dataset, audio: options.includeAudio, labels: labelNames)
            let s = w.start
            c.motion.withUnsafeBufferPointer { m in
                (motion.data + b * N * D).update(from: m.baseAddress! + s * D, count: N * D)
                let first = max(0, s - K)
                let have = s - first
                if have > 0 {
                    (prev.data + (b * K + K - have) * D).update(from: m.baseAddress! + first * D, count: have * D)
                    for k in (K - have)..<K { mask.data[b * K + k] = 1 }
                }
            }
            if let audio {
                let dst = audio.data + b * N * spf
                let lo = s * spf, n = N * spf
                c.audio.withUnsafeBufferPointer { a in
                    let avail = max(0, min(n, a.count - lo))
                    if avail > 0 { dst.update(from: a.baseAddress! + lo, count: avail) }
                    if avail < n { (dst + avail).update(repeating: 0, count: n - avail) }
                }
            }
            if let feats, let f = c.features {
                let F = featureDim
                f.withUnsafeBufferPointer { src in
                    (feats.data + b * fpf * N * F).update(from: src.baseAddress! + fpf * s * F, count: fpf * N * F)
                }
            }
            for name in labelNames {
                let dst = labels[name]!.data + b * N
                let v = c.labels[name]!
                for t in 0..<N { dst[t] = v[s + t] }
            }
            ids.append(identityIndex[info.identity] ?? -1)
            emos.append(Emotion(rawValue: info.emotion)?.index ?? -1)
            clipIDs.append(info.id)
            starts.append(s)
        }
        return Batch(motion: motion, previousMotion: prev, previousMask: mask, audio: audio, features: feats, labels: labels,
                     identity: ids, emotion: emos, clipIDs: clipIDs, startFrames: starts, position: position, next: next)
    }

    // MARK: Iteration with prefetch

    /// Where `next()` continues from.
    public var position: LoaderPosition {
        cond.lock(); defer { cond.unlock() }
        return consumerNext
    }

    /// Continues from `position` (e.g. one saved in a checkpoint).
    public func seek(to position: LoaderPosition) {
        cond.lock()
        consumerNext = position
        producerNext = position
        queue.removeAll()
        generation += 1
        cond.broadcast()
        cond.unlock()
    }

    /// The next batch (prepared on the background thread when `prefetch` > 0).
    public func next() throws -> Batch {
        if options.prefetch == 0 {
            cond.lock(); let p = consumerNext; cond.unlock()
            let b = try batch(at: p)
            cond.lock(); consumerNext = b.next; cond.unlock()
            return b
        }
        cond.lock()
        defer { cond.unlock() }
        if !producerStarted { startProducer() }
        while true {
            if let i = queue.firstIndex(where: { $0.0 == consumerNext }) {
                let (_, result) = queue.remove(at: i)
                cond.broadcast()
                let b = try result.get()
                consumerNext = b.next
                return b
            }
            if stopped { throw DataError(file: dataset.folder, "loader stopped") }
            cond.wait()
        }
    }

    /// Stops the background thread (called on deinit).
    public func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    private func startProducer() {
        producerStarted = true
        producerNext = consumerNext
        // The thread holds the loader weakly between steps, so dropping the loader stops it.
        let t = Thread { [weak self] in
            while let loader = self, loader.produceStep() {}
        }
        t.name = "neo-data-prefetch"
        t.start()
    }

    /// Prepares one batch when the queue has room; false once stopped. Waits are bounded so the
    /// thread notices a loader that was dropped.
    private func produceStep() -> Bool {
        cond.lock()
        if !stopped && queue.count >= options.prefetch {
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1))
            let go = !stopped
            cond.unlock()
            return go
        }
        if stopped { cond.unlock(); return false }
        // After a failure the producer waits until the consumer has taken it or seeks elsewhere.
        if queue.contains(where: { if case .failure = $0.1 { return true }; return false }) {
            _ = cond.wait(until: Date(timeIntervalSinceNow: 0.1))
            cond.unlock()
            return true
        }
        let p = producerNext
        let gen = generation
        cond.unlock()
        let result: Result<Batch, Error> = Result { try batch(at: p) }
        cond.lock()
        if gen == generation && !stopped {
            queue.append((p, result))
            if case .success(let b) = result { producerNext = b.next }
            cond.broadcast()
        }
        cond.unlock()
        return true
    }
}

/// Decoded clips kept in memory up to a byte budget, least recently used evicted first.
final class ClipCache: @unchecked Sendable {
    struct Entry {
        var motion: [Float]
        var audio: [Float]
        var features: [Float]?
        var labels: [String: [Float]]
        var bytes: Int
        var used: Int
    }
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var bytes = 0
    private var tick = 0
    private let budget: Int

    init(budget: Int) { self.budget = budget }

    func clip(_ info: ClipInfo, in dataset: DatasetFolder, audio: Bool, labels: [String]) throws -> Entry {
        let key = info.shard + "#" + info.id
        lock.lock()
        tick += 1
        if var e = entries[key] {
            e.used = tick
            entries[key] = e
            lock.unlock()
            return e
        }
        lock.unlock()
        guard let reader = dataset.reader(for: info) else { throw DataError(file: info.shard, "shard not open") }
        let c = try reader.read(info.id, audio: audio, labels: !labels.isEmpty)
        var lab: [String: [Float]] = [:]
        for name in labels { lab[name] = c.labels[name]?.floatValues }
        let size = 4 * (c.motion.count + c.audio.count + (c.features?.count ?? 0) + lab.values.reduce(0) { $0 + $1.count })
        let e = Entry(motion: c.motion, audio: c.audio, features: c.features, labels: lab, bytes: size, used: tick)
        lock.lock()
        defer { lock.unlock() }
        entries[key] = e
        bytes += size
        while bytes > budget && entries.count > 1 {
            guard let victim = entries.filter({ $0.key != key }).min(by: { $0.value.used < $1.value.used }) else { break }
            bytes -= victim.value.bytes
            entries[victim.key] = nil
        }
        return e
    }
}
