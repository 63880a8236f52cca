import Foundation
import NeoAudio
import NeoData

/// `neo-train data import-video --videos DIR --manifest FILE --out DIR`: face-aligned talking-head
/// clips (one speaker per clip, face centred, square) decoded by ffmpeg to 25 fps frames of
/// `size` px and 16 kHz mono audio. Motion is left empty (zeros, marked `motion = missing`) until
/// a motion extractor fills it. Every file is probed before anything is written; an error names
/// the file and leaves nothing at `out`.
public enum VideoImport {
    public static let videoExtensions = ["mp4", "mov", "mkv", "webm", "avi", "m4v"]
    /// Smallest accepted side of the source frames.
    public static let minimumSide = 64

    struct Probe { var width: Int; var height: Int; var hasAudio: Bool }

    public static func run(videos: String, manifest: String, consent: String?, out: String, size: Int) throws -> String {
        guard FaceVideo.sizes.contains(size) else {
            throw TrainError("--size: expected one of \(FaceVideo.sizes.map(String.init).joined(separator: ", ")), got \(size)")
        }
        guard let ffmpeg = Subprocess.find("ffmpeg"), let ffprobe = Subprocess.find("ffprobe") else {
            throw TrainError("ffmpeg/ffprobe not found on PATH (scripts/setup.sh installs them)")
        }
        let entries = try DataImporter.readManifest(manifest)
        if let e = entries.first(where: { $0.consent.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw TrainError("\(manifest): clip '\(e.clip)' has no consent id")
        }
        let consentPath = consent ?? ((manifest as NSString).deletingLastPathComponent as NSString).appendingPathComponent(ConsentBook.fileName)
        guard FileManager.default.fileExists(atPath: consentPath) else {
            throw TrainError("\(consentPath): no consent file beside the manifest; pass --consent FILE (signed records, docs/dataset-format.md)")
        }
        let (book, keyID) = try DataImporter.checkConsent(entries, consent: consentPath, consentKey: nil)
        // Find and probe every file first.
        var files: [String] = []
        for e in entries {
            guard let path = findVideo(e.audio ?? e.clip, in: videos) else {
                throw TrainError("\(videos)/\(e.clip).<\(videoExtensions.joined(separator: "|"))>: no video for clip '\(e.clip)'")
            }
            let p = try probe(path, ffprobe: ffprobe)
            guard p.width == p.height else { throw TrainError("\(path): frames are \(p.width)×\(p.height); face crops must be square") }
            guard p.width >= minimumSide else { throw TrainError("\(path): frames are \(p.width)×\(p.height), smaller than the \(minimumSide) px minimum") }
            guard p.hasAudio else { throw TrainError("\(path): has no audio stream") }
            files.append(path)
        }
        let staging = try StagedFolder.begin(out)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-import-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let writer = try ShardWriter(path: (staging as NSString).appendingPathComponent("shard-00000.h5"))
            var seconds = 0.0
            for (e, path) in zip(entries, files) {
                let clip = try decode(e, path: path, size: size, ffmpeg: ffmpeg, scratch: scratch.path)
                try writer.append(clip)
                seconds += clip.duration
            }
            try writer.finish()
            let used = Set(entries.map(\.identity))
            let kept = ConsentBook(keys: book.keys.filter { $0.id == keyID }, records: book.records.filter { used.contains($0.identity) })
            try kept.write(to: (staging as NSString).appendingPathComponent(ConsentBook.fileName))
            let ds = DatasetManifest(motionDim: FaceKeypoint.dimension, shards: ["shard-00000.h5"], consentKey: keyID, source: [
                "kind": "imported-video", "manifest": (manifest as NSString).lastPathComponent, "video": String(size),
                "motion": "missing (zeros until a motion extractor fills it)",
            ])
            try ds.encoded().write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent(DatasetManifest.fileName)))
            try StagedFolder.commit(staging, to: out)
            return String(format: "imported %d clips (%.1f min) of %d px video into %@", entries.count, seconds / 60, size, out)
        } catch {
            StagedFolder.abandon(staging)
            throw error
        }
    }

    static func findVideo(_ name: String, in dir: String) -> String? {
        let direct = (dir as NSString).appendingPathComponent(name)
        if (name as NSString).pathExtension != "" { return FileManager.default.fileExists(atPath: direct) ? direct : nil }
        for ext in videoExtensions {
            let p = direct + "." + ext
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    /// Streams, size and frame-rate regularity from ffprobe.
    static func probe(_ path: String, ffprobe: String) throws -> Probe {
        let (status, output) = Subprocess.run(ffprobe, ["-v", "error", "-show_entries",
                                                        "stream=codec_type,width,height,r_frame_rate,avg_frame_rate", "-of", "json", path])
        let json = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any]
        guard status == 0, let streams = json?["streams"] as? [[String: Any]] else {
            throw TrainError("\(path): not a video (ffprobe: \(output.split(separator: "\n").first ?? "no output"))")
        }
        guard let video = streams.first(where: { $0["codec_type"] as? String == "video" }),
              let w = video["width"] as? Int, let h = video["height"] as? Int else {
            throw TrainError("\(path): not a video (no video stream)")
        }
        // A constant-rate stream has its nominal rate equal to its average rate.
        func rate(_ key: String) -> Double? {
            guard let s = video[key] as? String else { return nil }
            let p = s.split(separator: "/").compactMap { Double($0) }
            return p.count == 2 && p[1] > 0 ? p[0] / p[1] : nil
        }
        if let r = rate("r_frame_rate"), let a = rate("avg_frame_rate"), r > 0, a > 0, abs(r - a) / r > 0.01 {
            throw TrainError(String(format: "%@: variable frame rate (nominal %.3f fps, average %.3f fps); re-encode at a constant rate", path, r, a))
        }
        return Probe(width: w, height: h, hasAudio: streams.contains { $0["codec_type"] as? String == "audio" })
    }

    /// Frames at 25 fps scaled to `size`, and 16 kHz mono audio cut or padded to 640 samples a frame.
    static func decode(_ e: ManifestEntry, path: String, size: Int, ffmpeg: String, scratch: String) throws -> Clip {
        let raw = (scratch as NSString).appendingPathComponent("\(e.clip).rgb"), pcm = (scratch as NSString).appendingPathComponent("\(e.clip).f32")
        let (s1, o1) = Subprocess.run(ffmpeg, ["-nostdin", "-v", "error", "-y", "-i", path, "-an", "-vf",
                                               "fps=\(ShardFormat.fps),scale=\(size):\(size):flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", raw])
        guard s1 == 0 else { throw TrainError("\(path): ffmpeg could not decode the frames: \(o1.split(separator: "\n").last ?? "")") }
        let (s2, o2) = Subprocess.run(ffmpeg, ["-nostdin", "-v", "error", "-y", "-i", path, "-vn", "-ac", "1", "-ar", String(ShardFormat.sampleRate),
                                               "-f", "f32le", pcm])
        guard s2 == 0 else { throw TrainError("\(path): ffmpeg could not decode the audio: \(o2.split(separator: "\n").last ?? "")") }
        let frames = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        let T = frames.count / (size * size * 3)
        guard T > 0 else { throw TrainError("\(path): no frames decoded") }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: pcm))
        var audio = [Float](repeating: 0, count: bytes.count / 4)
        _ = audio.withUnsafeMutableBytes { bytes.copyBytes(to: $0) }
        let n = T * ShardFormat.samplesPerFrame
        audio = audio.count >= n ? Array(audio.prefix(n)) : audio + [Float](repeating: 0, count: n - audio.count)
        var clip = Clip(id: e.clip, identity: e.identity, emotion: e.emotion, language: e.language, consentId: e.consent,
                        audio: audio, motion: [Float](repeating: 0, count: T * FaceKeypoint.dimension), motionDim: FaceKeypoint.dimension,
                        extra: ["source": "imported-video", "file": (path as NSString).lastPathComponent, "motion": "missing"])
        clip.video = ClipVideo(size: size, frames: Array(frames.prefix(T * size * size * 3)))
        return clip
    }
}
