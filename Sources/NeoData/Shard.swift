import Foundation
import NeoIO
import NeoTensor

/// A per-frame label track: integers (viseme, phoneme) or floats (accent strength, blink closure).
public enum LabelTrack: Sendable, Equatable {
    case ints([Int64])
    case floats([Float])

    public var count: Int {
        switch self {
        case .ints(let v): return v.count
        case .floats(let v): return v.count
        }
    }
    /// The values as floats (integers converted).
    public var floatValues: [Float] {
        switch self {
        case .ints(let v): return v.map { Float($0) }
        case .floats(let v): return v
        }
    }
}

/// One clip in memory: 16 kHz audio, motion [frames, motionDim] at 25 fps, optional cached
/// audio features [2·frames, featureDim], per-frame labels and the attributes of docs/architecture.md §3.
public struct Clip: Sendable {
    public var id: String
    public var identity: String
    public var emotion: String
    public var language: String
    public var consentId: String
    public var fps: Int
    public var sampleRate: Int
    public var audio: [Float]
    public var motion: [Float]
    public var motionDim: Int
    public var features: [Float]?
    public var featureDim: Int
    public var labels: [String: LabelTrack]
    /// Free-form string attributes (text spoken, voice, source, phoneme inventory joined by spaces).
    public var extra: [String: String]
    /// Rendered or imported frames, when the clip has video.
    public var video: ClipVideo?

    public init(id: String, identity: String, emotion: String, language: String, consentId: String,
                fps: Int = 25, sampleRate: Int = 16_000, audio: [Float], motion: [Float], motionDim: Int,
                features: [Float]? = nil, featureDim: Int = 0, labels: [String: LabelTrack] = [:], extra: [String: String] = [:]) {
        self.id = id; self.identity = identity; self.emotion = emotion; self.language = language
        self.consentId = consentId; self.fps = fps; self.sampleRate = sampleRate
        self.audio = audio; self.motion = motion; self.motionDim = motionDim
        self.features = features; self.featureDim = featureDim; self.labels = labels; self.extra = extra
    }

    public var frames: Int { motionDim > 0 ? motion.count / motionDim : 0 }
    public var duration: Double { Double(frames) / Double(fps) }
}

/// A clip's frames: uint8 RGB [frames, size, size, 3] at the clip's fps, with the ground truth of
/// rendered clips: each frame's 2-D keypoints [frames, 21, 2] (pixels, x right, y down) and the
/// camera (vertical field of view in radians, distance, frame offset x, y). Imported clips have
/// frames only.
public struct ClipVideo: Sendable, Equatable {
    public var size: Int
    public var frames: [UInt8]
    public var keypoints: [Float]
    public var camera: [Float]
    /// Rendered clips: the 52 face-unit weights of each frame [T, 52] (ARKit order) and the seed
    /// of the rendered identity, enough to render the clip again at any size.
    public var faceUnits: [Float]
    public var headSeed: UInt64?
    public init(size: Int, frames: [UInt8], keypoints: [Float] = [], camera: [Float] = [], faceUnits: [Float] = [], headSeed: UInt64? = nil) {
        self.size = size; self.frames = frames; self.keypoints = keypoints; self.camera = camera
        self.faceUnits = faceUnits; self.headSeed = headSeed
    }
    public var frameBytes: Int { size * size * 3 }
    public var count: Int { size > 0 ? frames.count / frameBytes : 0 }
}

/// What a shard says about a clip without reading its arrays.
public struct ClipInfo: Sendable, Equatable {
    public var shard: String
    public var id: String
    public var identity: String
    public var emotion: String
    public var language: String
    public var consentId: String
    public var frames: Int
    public var samples: Int
    public var motionDim: Int
    public var featureFrames: Int
    public var featureDim: Int
    public var labelNames: [String]
    /// Side of the clip's square frames, 0 when it has no video.
    public var videoSize: Int = 0
}

/// The shard format (docs/dataset-format.md): one HDF5 file, root attributes `format`, `fps`,
/// `sample_rate`, `motion_dim`, `clip_count`; one group per clip under `/clips`.
public enum ShardFormat {
    public static let name = "neo-shard-1"
    public static let fps = 25
    public static let sampleRate = 16_000
    public static let samplesPerFrame = sampleRate / fps
    public static let featuresPerFrame = 2
    public static let compression = HDF5DatasetOptions.zstd(level: 3)

    static func clipGroup(_ id: String) -> String { "/clips/\(id)" }

    /// Clip ids become HDF5 link names: letters, digits and - _ . only.
    static func validClipID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46
        } && id != "." && id != ".."
    }
}

/// Writes a shard atomically: everything goes to a temporary file next to the destination, which
/// is renamed into place by `finish()`. A writer dropped without `finish()` leaves nothing.
public final class ShardWriter {
    public let path: String
    private let temporaryPath: String
    private var file: HDF5File?
    private var clipCount = 0
    private var motionDim: Int?
    private var ids = Set<String>()

    public init(path: String) throws {
        self.path = path
        temporaryPath = AtomicFile.temporaryPath(for: path)
        do {
            let f = try HDF5File.create(temporaryPath)
            try f.createGroup("/clips")
            file = f
        } catch {
            AtomicFile.discard(temporaryPath)
            throw DataError(file: path, "cannot create shard: \(error)")
        }
    }

    deinit {
        if let file {
            try? file.close()
            AtomicFile.discard(temporaryPath)
        }
    }

    /// Appends one clip; checks that its arrays agree with each other.
    public func append(_ clip: Clip) throws {
        guard let f = file else { throw DataError(file: path, "shard writer already finished") }
        let where_ = "clip '\(clip.id)'"
        guard ShardFormat.validClipID(clip.id) else {
            throw DataError(file: path, "\(where_): clip ids may use letters, digits, '-', '_' and '.' only")
        }
        guard !ids.contains(clip.id) else { throw DataError(file: path, "\(where_) appears twice in the shard") }
        guard clip.motionDim > 0, clip.motion.count % clip.motionDim == 0 else {
            throw DataError(file: path, "\(where_): motion has \(clip.motion.count) values, not a multiple of its width \(clip.motionDim)")
        }
        if let d = motionDim, d != clip.motionDim {
            throw DataError(file: path, "\(where_): motion width \(clip.motionDim) differs from the shard's \(d)")
        }
        let T = clip.frames
        guard T > 0 else { throw DataError(file: path, "\(where_) has no motion frames") }
        guard clip.fps == ShardFormat.fps, clip.sampleRate == ShardFormat.sampleRate else {
            throw DataError(file: path, "\(where_): shards hold \(ShardFormat.fps) fps motion and \(ShardFormat.sampleRate) Hz audio, got \(clip.fps) fps / \(clip.sampleRate) Hz")
        }
        for (name, track) in clip.labels where track.count != T {
            throw DataError(file: path, "\(where_): label '\(name)' has \(track.count) values for \(T) frames")
        }
        if let feats = clip.features {
            guard clip.featureDim > 0, feats.count == T * ShardFormat.featuresPerFrame * clip.featureDim else {
                throw DataError(file: path, "\(where_): features must be [\(T * ShardFormat.featuresPerFrame), featureDim] (2 per frame), got \(feats.count) values with featureDim \(clip.featureDim)")
            }
        }
        let g = ShardFormat.clipGroup(clip.id)
        do {
            try f.createGroup(g)
            try f.writeFloat32(clip.audio, shape: [clip.audio.count], at: "\(g)/audio", options: ShardFormat.compression)
            try f.writeFloat32(clip.motion, shape: [T, clip.motionDim], at: "\(g)/motion", options: ShardFormat.compression)
            if let feats = clip.features {
                try f.writeFloat32(feats, shape: [T * ShardFormat.featuresPerFrame, clip.featureDim], at: "\(g)/features",
                                   options: ShardFormat.compression)
            }
            if let v = clip.video { try writeVideo(v, frames: T, group: g, file: f, clip: where_) }
            if !clip.labels.isEmpty {
                try f.createGroup("\(g)/labels")
                for name in clip.labels.keys.sorted() {
                    switch clip.labels[name]! {
                    case .ints(let v): try f.writeInt64(v, shape: [T], at: "\(g)/labels/\(name)", options: ShardFormat.compression)
                    case .floats(let v): try f.writeFloat32(v, shape: [T], at: "\(g)/labels/\(name)", options: ShardFormat.compression)
                    }
                }
            }
            try f.setAttribute("clip_id", .string(clip.id), at: g)
            try f.setAttribute("identity", .string(clip.identity), at: g)
            try f.setAttribute("emotion", .string(clip.emotion), at: g)
            try f.setAttribute("language", .string(clip.language), at: g)
            try f.setAttribute("consent_id", .string(clip.consentId), at: g)
            try f.setAttribute("fps", .int64(Int64(clip.fps)), at: g)
            try f.setAttribute("sample_rate", .int64(Int64(clip.sampleRate)), at: g)
            try f.setAttribute("frames", .int64(Int64(T)), at: g)
            for key in clip.extra.keys.sorted() { try f.setAttribute(key, .string(clip.extra[key]!), at: g) }
        } catch let e as DataError {
            throw e
        } catch {
            throw DataError(file: path, "\(where_): \(error)")
        }
        ids.insert(clip.id)
        motionDim = clip.motionDim
        clipCount += 1
    }

    /// Frames as uint8 [T, S, S, 3] compressed with zstd (HDF5 filter 32015), one chunk per frame.
    private func writeVideo(_ v: ClipVideo, frames T: Int, group g: String, file f: HDF5File, clip where_: String) throws {
        guard v.size >= 8, v.frames.count == T * v.frameBytes else {
            throw DataError(file: path, "\(where_): video must be [\(T), size, size, 3] bytes, got \(v.frames.count) bytes at size \(v.size)")
        }
        guard v.keypoints.isEmpty || v.keypoints.count == T * 42 else {
            throw DataError(file: path, "\(where_): keypoints2d must be [\(T), 21, 2], got \(v.keypoints.count) values")
        }
        var options = ShardFormat.compression
        options.chunkShape = [1, v.size, v.size, 3]
        try f.writeUInt8(v.frames, shape: [T, v.size, v.size, 3], at: "\(g)/video", options: options)
        if !v.keypoints.isEmpty {
            try f.writeFloat32(v.keypoints, shape: [T, 21, 2], at: "\(g)/keypoints2d", options: ShardFormat.compression)
        }
        if !v.camera.isEmpty { try f.writeFloat32(v.camera, shape: [v.camera.count], at: "\(g)/camera") }
        if !v.faceUnits.isEmpty {
            guard v.faceUnits.count % T == 0 else { throw DataError(file: path, "\(where_): face units are not a whole number per frame") }
            try f.writeFloat32(v.faceUnits, shape: [T, v.faceUnits.count / T], at: "\(g)/face_units", options: ShardFormat.compression)
        }
        if let seed = v.headSeed { try f.setAttribute("head_seed", .string(String(seed)), at: g) }
    }

    /// Writes the root attributes, closes the file and renames it into place.
    public func finish() throws {
        guard let f = file else { throw DataError(file: path, "shard writer already finished") }
        file = nil
        do {
            try f.setAttribute("format", .string(ShardFormat.name))
            try f.setAttribute("fps", .int64(Int64(ShardFormat.fps)))
            try f.setAttribute("sample_rate", .int64(Int64(ShardFormat.sampleRate)))
            try f.setAttribute("motion_dim", .int64(Int64(motionDim ?? 0)))
            try f.setAttribute("clip_count", .int64(Int64(clipCount)))
            try f.close()
            try AtomicFile.commit(temporary: temporaryPath, to: path)
        } catch {
            try? f.close()
            AtomicFile.discard(temporaryPath)
            throw DataError(file: path, "cannot finish shard: \(error)")
        }
    }
}

/// Reads a shard: clip metadata up front, arrays on demand. Safe to share between threads
/// (NeoIO serialises HDF5 calls).
public final class ShardReader: @unchecked Sendable {
    public let path: String
    public let clips: [ClipInfo]
    private let file: HDF5File

    public init(path: String) throws {
        self.path = path
        let f: HDF5File
        do { f = try HDF5File.open(path) } catch { throw DataError(file: path, "cannot open shard: \(error)") }
        file = f
        clips = try ShardReader.readInfos(f, path: path)
    }

    private static func readInfos(_ file: HDF5File, path: String) throws -> [ClipInfo] {
        do {
            guard try file.attribute("format")?.stringValue == ShardFormat.name else {
                throw DataError(file: path, "not a \(ShardFormat.name) shard (root attribute 'format' missing or different)")
            }
            var infos: [ClipInfo] = []
            for id in try file.groups(in: "/clips").sorted() {
                let g = ShardFormat.clipGroup(id)
                func str(_ name: String) throws -> String {
                    guard let v = try file.attribute(name, at: g)?.stringValue else {
                        throw DataError(file: path, "clip '\(id)': attribute '\(name)' missing")
                    }
                    return v
                }
                let motion = try file.info(at: "\(g)/motion")
                let audio = try file.info(at: "\(g)/audio")
                guard motion.shape.count == 2, audio.shape.count == 1 else {
                    throw DataError(file: path, "clip '\(id)': motion must be 2-D and audio 1-D, got \(motion.shape) and \(audio.shape)")
                }
                var fFrames = 0, fDim = 0
                if try file.exists("\(g)/features") {
                    let fi = try file.info(at: "\(g)/features")
                    guard fi.shape.count == 2 else { throw DataError(file: path, "clip '\(id)': features must be 2-D, got \(fi.shape)") }
                    fFrames = fi.shape[0]; fDim = fi.shape[1]
                }
                let labels = try file.exists("\(g)/labels") ? try file.datasets(in: "\(g)/labels").sorted() : []
                var videoSize = 0
                if try file.exists("\(g)/video") {
                    let vi = try file.info(at: "\(g)/video")
                    guard vi.shape.count == 4, vi.shape[0] == motion.shape[0], vi.shape[1] == vi.shape[2], vi.shape[3] == 3 else {
                        throw DataError(file: path, "clip '\(id)': video must be [frames, size, size, 3] with one frame per motion frame, got \(vi.shape)")
                    }
                    videoSize = vi.shape[1]
                }
                infos.append(ClipInfo(shard: path, id: id, identity: try str("identity"), emotion: try str("emotion"),
                                      language: try str("language"), consentId: try str("consent_id"),
                                      frames: motion.shape[0], samples: audio.shape[0], motionDim: motion.shape[1],
                                      featureFrames: fFrames, featureDim: fDim, labelNames: labels, videoSize: videoSize))
            }
            return infos
        } catch let e as DataError {
            throw e
        } catch {
            throw DataError(file: path, "\(error)")
        }
    }

    public func info(_ id: String) -> ClipInfo? { clips.first { $0.id == id } }

    /// Reads one clip's arrays and attributes.
    public func read(_ id: String, audio wantAudio: Bool = true, labels wantLabels: Bool = true, video wantVideo: Bool = false) throws -> Clip {
        guard let info = info(id) else { throw DataError(file: path, "no clip '\(id)' in this shard") }
        let g = ShardFormat.clipGroup(id)
        do {
            let motion = try file.readFloat32(at: "\(g)/motion").values
            let audio = wantAudio ? try file.readFloat32(at: "\(g)/audio").values : []
            let features = info.featureDim > 0 ? try file.readFloat32(at: "\(g)/features").values : nil
            var labels: [String: LabelTrack] = [:]
            if wantLabels {
                for name in info.labelNames {
                    let p = "\(g)/labels/\(name)"
                    if try file.info(at: p).elementType.isInteger {
                        labels[name] = .ints(try file.readInt64(at: p).values)
                    } else {
                        labels[name] = .floats(try file.readFloat32(at: p).values)
                    }
                }
            }
            var extra: [String: String] = [:]
            let standard: Set<String> = ["clip_id", "identity", "emotion", "language", "consent_id", "fps", "sample_rate", "frames", "head_seed"]
            for name in try file.attributeNames(at: g) where !standard.contains(name) {
                if let s = try file.attribute(name, at: g)?.stringValue { extra[name] = s }
            }
            let fps = Int(try file.attribute("fps", at: g)?.int64Value ?? Int64(ShardFormat.fps))
            let rate = Int(try file.attribute("sample_rate", at: g)?.int64Value ?? Int64(ShardFormat.sampleRate))
            var clip = Clip(id: id, identity: info.identity, emotion: info.emotion, language: info.language, consentId: info.consentId,
                            fps: fps, sampleRate: rate, audio: audio, motion: motion, motionDim: info.motionDim,
                            features: features, featureDim: info.featureDim, labels: labels, extra: extra)
            if wantVideo && info.videoSize > 0 {
                let frames = try file.readUInt8(at: "\(g)/video").values
                let kp = try file.exists("\(g)/keypoints2d") ? try file.readFloat32(at: "\(g)/keypoints2d").values : []
                let cam = try file.exists("\(g)/camera") ? try file.readFloat32(at: "\(g)/camera").values : []
                let units = try file.exists("\(g)/face_units") ? try file.readFloat32(at: "\(g)/face_units").values : []
                let seed = try file.attribute("head_seed", at: g)?.stringValue.flatMap { UInt64($0) }
                clip.video = ClipVideo(size: info.videoSize, frames: frames, keypoints: kp, camera: cam, faceUnits: units, headSeed: seed)
            }
            return clip
        } catch {
            throw DataError(file: path, "clip '\(id)': \(error)")
        }
    }
}
