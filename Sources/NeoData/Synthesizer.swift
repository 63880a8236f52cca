import Foundation
import NeoAudio
import NeoIO
import NeoTensor
import HeadRender

/// The dataset folder's manifest (`dataset.json`).
public struct DatasetManifest: Codable, Sendable, Equatable {
    public static let fileName = "dataset.json"
    public var format: String = "neo-dataset-1"
    public var fps: Int = ShardFormat.fps
    public var sampleRate: Int = ShardFormat.sampleRate
    public var motionDim: Int
    /// Shard file names relative to the folder, in order.
    public var shards: [String]
    /// Consent file name (relative) and the id of the key that signs its records.
    public var consent: String = ConsentBook.fileName
    public var consentKey: String
    /// How the data came to be ("synthetic" or "imported") and its parameters.
    public var source: [String: String]

    public init(motionDim: Int, shards: [String], consentKey: String, source: [String: String]) {
        self.motionDim = motionDim; self.shards = shards; self.consentKey = consentKey; self.source = source
    }

    public static func read(folder: String) throws -> DatasetManifest {
        let path = (folder as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "dataset manifest missing (is \(folder) a NEO-train dataset folder?)")
        }
        do { return try JSONDecoder().decode(DatasetManifest.self, from: data) } catch {
            throw DataError(file: path, "not a valid dataset manifest: \(error)")
        }
    }

    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }
}

/// What `synthesize` produced.
public struct SynthesisReport: Sendable {
    public var folder: String
    public var clips: Int
    public var seconds: Double
    public var shards: [String]
    public var identities: [IdentityStyle]
    /// The rig that made the motion ("mesh" or "rules").
    public var rig: String = "rules"
}

/// A folder is written under a temporary sibling name and renamed at the end, so an interrupted
/// run leaves no half dataset at `out`.
public enum StagedFolder {
    public static func begin(_ out: String) throws -> String {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: out).standardizedFileURL
        // Staging folders and temporaries of interrupted earlier runs (their process is gone).
        AtomicFile.removeStaleTemporaries(in: url.deletingLastPathComponent().path)
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw DataError(file: out, "--out names an existing file; the output is a dataset folder, so give a folder that does not exist yet (or an empty one)")
            }
            guard (try? fm.contentsOfDirectory(atPath: out))?.isEmpty == true else {
                throw DataError(file: out, "output folder exists and is not empty; remove it or choose another")
            }
        }
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        try? fm.removeItem(atPath: staging)
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw DataError(file: out, "cannot create a staging folder next to it: \(error)")
        }
        PendingTemporaries.shared.add(staging)
        return staging
    }

    public static func commit(_ staging: String, to out: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: out) { try? fm.removeItem(atPath: out) }  // empty, checked in begin
        guard rename(staging, out) == 0 else {
            let msg = String(cString: strerror(errno))
            try? fm.removeItem(atPath: staging)
            PendingTemporaries.shared.remove(staging)
            throw DataError(file: out, "cannot move the finished dataset into place: \(msg)")
        }
        PendingTemporaries.shared.remove(staging)
    }

    public static func abandon(_ staging: String) {
        try? FileManager.default.removeItem(atPath: staging)
        PendingTemporaries.shared.remove(staging)
    }
}

/// The synthetic performer's corpus generator.
public enum SyntheticPerformer {
    /// Default clips per shard file.
    public static let clipsPerShard = 64

    /// Generates `minutes` minutes in all of speech and ground-truth motion for `identities`
    /// identities into the dataset folder `out` (shards, consent.json, dataset.json).
    /// Deterministic: the same arguments give byte-identical files. Speech synthesis is
    /// serialised (espeak-ng is not thread-safe); motion, resampling and shard writing run on
    /// `threads` threads, one identity at a time each.
    ///
    /// `rig` turns articulations into motion (default: the head model's mesh when its asset is
    /// installed, else the keypoint rules); `videoSize` also renders frames of that side, which
    /// needs the mesh rig.
    public static func synthesize(identities: Int, minutes: Double, seed: UInt64, out: String, threads: Int = 2,
                                  clipsPerShard: Int = SyntheticPerformer.clipsPerShard, rig: FaceRig? = nil,
                                  videoSize: Int? = nil,
                                  progress: (@Sendable (String) -> Void)? = nil) throws -> SynthesisReport {
        guard identities > 0 else { throw DataError(file: out, "identities must be at least 1 (got \(identities))") }
        let rig = rig ?? defaultRig()
        if let v = videoSize {
            guard FaceVideo.sizes.contains(v) else { throw DataError(file: out, "--video must be one of \(FaceVideo.sizes.map(String.init).joined(separator: ", ")) px (got \(v))") }
            guard rig is MeshRig else { throw DataError(file: HeadAsset.defaultPath, "video needs the head model; \(HeadAsset.setupHint)") }
        }
        guard minutes > 0, minutes.isFinite else { throw DataError(file: out, "minutes must be positive (got \(minutes))") }
        guard clipsPerShard > 0 else { throw DataError(file: out, "clipsPerShard must be positive") }
        let staging = try StagedFolder.begin(out)
        do {
            let styles = (0..<identities).map { IdentityStyle.derive(index: $0, seed: seed) }
            let secondsPerIdentity = minutes * 60 / Double(identities)
            let results = ResultSlots<(shards: [String], clips: Int, seconds: Double)>(count: identities)
            try runWorkers(count: identities, threads: max(1, threads)) { i in
                let r = try synthesizeIdentity(styles[i], index: i, seconds: secondsPerIdentity, seed: seed,
                                               folder: staging, clipsPerShard: clipsPerShard, rig: rig, videoSize: videoSize,
                                               renderThreads: max(1, threads / min(threads, identities)))
                results.set(i, r)
                progress?("\(styles[i].identity): \(r.clips) clips, \(Int(r.seconds)) s")
            }
            let done = results.values.map { $0! }
            // Consent: one record per identity, signed with the demo key of this seed.
            let key = ConsentKey.demoPrivateKey(seed: seed)
            let keyInfo = ConsentKey(publicKey: key.publicKey,
                                     note: "demo key derived from synthesis seed \(seed); signs synthetic identities only, not anyone's real consent")
            var records: [ConsentRecord] = []
            for s in styles {
                var r = ConsentRecord(id: "consent-\(s.identity)", identity: s.identity,
                                      scopes: ["evaluate", "publish-samples", "train"], date: "2025-01-01", key: keyInfo.id)
                try r.sign(with: key)
                records.append(r)
            }
            let book = ConsentBook(keys: [keyInfo], records: records)
            try book.write(to: (staging as NSString).appendingPathComponent(ConsentBook.fileName))
            let shards = done.flatMap(\.shards)
            let manifest = DatasetManifest(motionDim: FaceKeypoint.dimension, shards: shards, consentKey: keyInfo.id, source: [
                "kind": "synthetic", "seed": String(seed), "identities": String(identities), "minutes": String(minutes),
                "generator": "NeoData.SyntheticPerformer (espeak-ng speech, rule-based performer)",
                "motion_rig": rig.name, "video": videoSize.map(String.init) ?? "none",
            ])
            try AtomicWrite.data(try manifest.encoded(), to: (staging as NSString).appendingPathComponent(DatasetManifest.fileName))
            try StagedFolder.commit(staging, to: out)
            return SynthesisReport(folder: out, clips: done.reduce(0) { $0 + $1.clips },
                                   seconds: done.reduce(0) { $0 + $1.seconds }, shards: shards, identities: styles, rig: rig.name)
        } catch {
            StagedFolder.abandon(staging)
            throw error
        }
    }

    /// One identity's clips until its share of the corpus is reached, written to its shards.
    static func synthesizeIdentity(_ style: IdentityStyle, index: Int, seconds target: Double, seed: UInt64,
                                   folder: String, clipsPerShard: Int, rig: FaceRig, videoSize: Int?,
                                   renderThreads: Int) throws -> (shards: [String], clips: Int, seconds: Double) {
        let root = Generator(seed: seed)
        var renderer: HeadRenderer?
        if let size = videoSize, let mesh = rig as? MeshRig {
            do {
                renderer = try HeadRenderer(model: mesh.model, identity: FaceVideo.identity(index: index, seed: seed, model: mesh.model),
                                            size: size, threads: renderThreads)
            } catch { throw DataError(file: folder, "\(error)") }
        }
        let emotionOffset = root.derived(0xE40, UInt64(index)).nextInt(Emotion.allCases.count)
        var total = 0.0
        var k = 0
        var shardNames: [String] = []
        var writer: ShardWriter?
        var inShard = 0
        while total < target {
            let g = root.derived(0xC11B, UInt64(index), UInt64(k))
            let emotion = Emotion.allCases[(emotionOffset + k) % Emotion.allCases.count]
            let clip = try makeClip(style: style, clipIndex: k, emotion: emotion, generator: g, remaining: target - total,
                                    rig: rig, renderer: renderer)
            if writer == nil {
                let name = "shard-\(style.identity)-\(shardNames.count).h5"
                shardNames.append(name)
                writer = try ShardWriter(path: (folder as NSString).appendingPathComponent(name))
            }
            try writer!.append(clip)
            inShard += 1
            if inShard == clipsPerShard { try writer!.finish(); writer = nil; inShard = 0 }
            total += clip.duration
            k += 1
        }
        if let w = writer { try w.finish() }
        return (shardNames, k, total)
    }

    /// Speaks 1–3 sentences (plus laughter when laughing) and performs them.
    static func makeClip(style: IdentityStyle, clipIndex: Int, emotion: Emotion, generator g: Generator,
                         remaining: Double, rig: FaceRig, renderer: HeadRenderer?) throws -> Clip {
        let prof = emotion.profile
        let language = style.languages.count > 1 && g.nextUniform() < 0.3 ? style.languages[1] : style.languages[0]
        let pool = SentenceList.sentences(for: language)
        let count = remaining < 5 ? 1 : 1 + g.nextInt(3)
        var chosen: [String] = []
        var used = Set<Int>()
        while chosen.count < count {
            let j = g.nextInt(pool.count)
            if used.insert(j).inserted { chosen.append(pool[j]) }
        }
        var voice = style.voice
        voice.language = language
        voice.pitch = voice.pitch + prof.voicePitch + g.nextInt(7) - 3
        voice.rate = Int(Float(voice.rate) * prof.voiceRate) + g.nextInt(11) - 5
        voice.range = voice.range + prof.voiceRange
        var laughVoice = voice
        laughVoice.pitch += 15
        laughVoice.rate = Int(Float(voice.rate) * 1.2)
        // Plan the texts first so that the espeak session only speaks.
        var texts: [(text: String, voice: VoiceSettings, laugh: Bool)] = []
        for s in chosen {
            texts.append((s, voice, false))
            if emotion == .laughing && g.nextUniform() < 0.8 {
                texts.append((SentenceList.laughter[g.nextInt(SentenceList.laughter.count)], laughVoice, true))
            }
        }
        let gaps = (0...texts.count).map { i -> Double in
            i == 0 ? 0.25 + 0.2 * g.nextUniform() : (i == texts.count ? 0.3 + 0.2 * g.nextUniform() : 0.2 + 0.4 * g.nextUniform())
        }
        let spoken = try SpeechSynthesizer.shared.session { s in try texts.map { try s.speak($0.text, voice: $0.voice) } }
        let nativeRate = spoken.first?.sampleRate ?? 22_050
        // Assemble at the native rate: silence, text, silence, …
        var native: [Float] = []
        var phonemes: [TimedPhoneme] = []
        var sentenceStarts: [Double] = []
        var laughSpans: [ClosedRange<Double>] = []
        for (i, sp) in spoken.enumerated() {
            native.append(contentsOf: repeatElement(0, count: Int(gaps[i] * Double(nativeRate))))
            let offset = native.count
            let start = Double(offset) / Double(nativeRate)
            let end = Double(offset + sp.samples.count) / Double(nativeRate)
            if texts[i].laugh { laughSpans.append(start...end) } else { sentenceStarts.append(start) }
            for (j, p) in sp.phonemes.enumerated() {
                let s = Double(offset + p.sample) / Double(nativeRate)
                let e = j + 1 < sp.phonemes.count ? Double(offset + sp.phonemes[j + 1].sample) / Double(nativeRate) : end
                if e > s { phonemes.append(TimedPhoneme(name: p.name, start: s, end: e)) }
            }
            native.append(contentsOf: sp.samples)
        }
        native.append(contentsOf: repeatElement(0, count: Int(gaps[texts.count] * Double(nativeRate))))
        var audio = try Resampler.resample(native, from: nativeRate, to: ShardFormat.sampleRate, file: "espeak-ng output")
        let frames = audio.count / ShardFormat.samplesPerFrame + (audio.count % ShardFormat.samplesPerFrame == 0 ? 0 : 1)
        audio.append(contentsOf: repeatElement(0, count: frames * ShardFormat.samplesPerFrame - audio.count))
        let script = PerformanceScript(audio: audio, phonemes: phonemes, sentenceStarts: sentenceStarts, laughSpans: laughSpans)
        let perf = Performer.perform(script, style: style, emotion: emotion, generator: g.derived(0x9E4F), rig: rig)
        let id = "\(style.identity)-c" + String(repeating: "0", count: max(0, 4 - String(clipIndex).count)) + String(clipIndex)
        var clip = Clip(id: id, identity: style.identity, emotion: emotion.rawValue, language: language,
                    consentId: "consent-\(style.identity)", audio: audio, motion: perf.motion, motionDim: FaceKeypoint.dimension,
                    labels: ["viseme": .ints(perf.viseme.map { Int64($0) }), "phoneme": .ints(perf.phoneme.map { Int64($0) }),
                             "accent": .floats(perf.accent), "blink": .floats(perf.blink)],
                    extra: ["source": "synthetic", "text": texts.map(\.text).joined(separator: " "),
                            "voice": "\(voice.espeakName) rate \(voice.rate) pitch \(voice.pitch) range \(voice.range)",
                            "phoneme_inventory": perf.phonemeInventory.joined(separator: " ")])
        if let renderer, let mesh = rig as? MeshRig {
            clip.video = FaceVideo.render(perf.articulation, renderer: renderer, rig: mesh)
        }
        return clip
    }

    /// The mesh rig when the head model is installed, else the keypoint rules.
    public static func defaultRig() -> FaceRig {
        if let model = HeadAsset.shared() { return MeshRig(model: model) }
        return KeypointRules()
    }
}

/// Fixed slots written by worker threads (each index by exactly one worker).
final class ResultSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [T?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: T) { lock.lock(); values[i] = v; lock.unlock() }
}

/// Runs `body(i)` for i in 0..<count on `threads` threads; the first error stops new work and
/// is rethrown.
func runWorkers(count: Int, threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    final class State: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var error: Error?
        func take() -> Int? {
            lock.lock(); defer { lock.unlock() }
            if error != nil || next >= count { return nil }
            next += 1
            return next - 1
        }
        let count: Int
        init(count: Int) { self.count = count }
    }
    let state = State(count: count)
    let n = min(threads, count)
    let group = DispatchGroup()
    for _ in 0..<n {
        group.enter()
        let t = Thread {
            while let i = state.take() {
                do { try body(i) } catch {
                    state.lock.lock(); if state.error == nil { state.error = error }; state.lock.unlock()
                }
            }
            group.leave()
        }
        t.stackSize = 8 << 20
        t.start()
    }
    group.wait()
    if let e = state.error { throw e }
}
