import Foundation
import NeoAudio
import NeoData

/// `neo-train data preview DIR --out sheet.png [--keypoints] [--mp4 FILE --clip ID]`: a contact
/// sheet of a video dataset (identities × frames) and one clip as mp4 with its audio.
public enum FacePreview {
    /// Identities per column group of the sheet.
    static let rowsPerGroup = 8

    public static func run(folder: String, out: String?, identities: Int, frames: Int, keypoints: Bool,
                           mp4: String?, clip: String?, seconds: Double? = nil) throws -> String {
        if let s = seconds { guard s > 0 && s.isFinite else { throw TrainError("--seconds: expected a positive number, got \(s)") } }
        guard out != nil || mp4 != nil else { throw TrainError("data preview: give --out sheet.png and/or --mp4 clip.mp4") }
        guard identities >= 1 else { throw TrainError("--identities: expected an integer ≥ 1, got \(identities)") }
        guard frames >= 1 && frames <= 64 else { throw TrainError("--frames: expected an integer in 1…64, got \(frames)") }
        let manifest = try DatasetManifest.read(folder: folder)
        let readers = try manifest.shards.map { try ShardReader(path: (folder as NSString).appendingPathComponent($0)) }
        let withVideo = readers.flatMap { r in r.clips.filter { $0.videoSize > 0 }.map { (r, $0) } }
        guard !withVideo.isEmpty else {
            throw TrainError("\(folder): no clip has video; make one with `neo-train data synth … --video 128`")
        }
        var lines: [String] = []
        if let out {
            // First clip of each identity, in shard order.
            var seen = Set<String>(), picks: [(ShardReader, ClipInfo)] = []
            for (r, c) in withVideo where !seen.contains(c.identity) && picks.count < identities { seen.insert(c.identity); picks.append((r, c)) }
            let size = picks[0].1.videoSize
            guard picks.allSatisfy({ $0.1.videoSize == size }) else { throw TrainError("\(folder): clips have different frame sizes") }
            let groups = (picks.count + rowsPerGroup - 1) / rowsPerGroup
            let rows = min(picks.count, rowsPerGroup)
            let width = groups * frames * size + (groups - 1) * 8, height = rows * size
            var sheet = [UInt8](repeating: 255, count: width * height * 3)
            for (n, (reader, info)) in picks.enumerated() {
                let c = try reader.read(info.id, audio: false, labels: false, video: true)
                guard let v = c.video else { continue }
                let x0 = (n / rowsPerGroup) * (frames * size + 8), y0 = (n % rowsPerGroup) * size
                for k in 0..<frames {
                    let t = min(v.count - 1, (k * v.count) / frames + v.count / (2 * frames))
                    var cell = Array(v.frames[t * v.frameBytes ..< (t + 1) * v.frameBytes])
                    if keypoints && !v.keypoints.isEmpty { drawKeypoints(&cell, size: size, points: Array(v.keypoints[t * 42 ..< t * 42 + 42])) }
                    for y in 0..<size {
                        let dst = ((y0 + y) * width + x0 + k * size) * 3
                        sheet.replaceSubrange(dst ..< dst + size * 3, with: cell[y * size * 3 ..< (y + 1) * size * 3])
                    }
                }
            }
            try PNGImage.write(sheet, width: width, height: height, to: out)
            lines.append("wrote \(out): \(picks.count) identities × \(frames) frames at \(size) px (\(width)×\(height))")
        }
        if let mp4 {
            let pick = clip.map { id in withVideo.first { $0.1.id == id } } ?? withVideo.first
            guard let (reader, info) = pick else { throw TrainError("--clip: no clip '\(clip ?? "")' with video in \(folder)") }
            var c = try reader.read(info.id, audio: true, labels: false, video: true)
            if let s = seconds, Int(s * Double(c.fps)) < c.frames, var v = c.video {
                // The clip's first `seconds`: frames, audio and motion cut together.
                let T = Int(s * Double(c.fps))
                v.frames = Array(v.frames.prefix(T * v.frameBytes)); v.keypoints = Array(v.keypoints.prefix(T * 42))
                c.video = v
                c.audio = Array(c.audio.prefix(T * c.sampleRate / c.fps)); c.motion = Array(c.motion.prefix(T * c.motionDim))
            }
            try writeMP4(c, keypoints: keypoints, to: mp4)
            lines.append(String(format: "wrote %@: clip %@, %.1f s at %d px with its audio", mp4, c.id, c.duration, info.videoSize))
        }
        return lines.joined(separator: "\n")
    }

    /// Marks the 21 keypoints: lips red, the rest green (3×3 crosses).
    static func drawKeypoints(_ rgb: inout [UInt8], size: Int, points: [Float]) {
        for k in 0..<21 {
            let x = Int(points[2 * k]), y = Int(points[2 * k + 1])
            let colour: [UInt8] = FaceKeypoint.lips.contains(k) ? [255, 40, 40] : [40, 255, 80]
            for (dx, dy) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                let px = x + dx, py = y + dy
                guard px >= 0, px < size, py >= 0, py < size else { continue }
                for c in 0..<3 { rgb[(py * size + px) * 3 + c] = colour[c] }
            }
        }
    }

    /// Encodes the clip's frames (H.264, yuv420p) with its 16 kHz audio (AAC) through ffmpeg.
    static func writeMP4(_ c: Clip, keypoints: Bool, to path: String) throws {
        guard let v = c.video else { throw TrainError("clip \(c.id) has no video") }
        guard let ffmpeg = Subprocess.find("ffmpeg") else { throw TrainError("ffmpeg not found on PATH (scripts/setup.sh installs it)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neo-preview-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var frames = v.frames
        if keypoints && !v.keypoints.isEmpty {
            for t in 0..<v.count {
                var cell = Array(frames[t * v.frameBytes ..< (t + 1) * v.frameBytes])
                drawKeypoints(&cell, size: v.size, points: Array(v.keypoints[t * 42 ..< t * 42 + 42]))
                frames.replaceSubrange(t * v.frameBytes ..< (t + 1) * v.frameBytes, with: cell)
            }
        }
        let raw = dir.appendingPathComponent("frames.rgb").path, wav = dir.appendingPathComponent("audio.wav").path
        try Data(frames).write(to: URL(fileURLWithPath: raw))
        try AudioWriter.write(c.audio, sampleRate: c.sampleRate, to: wav)
        let tmp = dir.appendingPathComponent("out.mp4").path
        let (status, output) = Subprocess.run(ffmpeg, [
            "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(v.size)x\(v.size)",
            "-r", String(c.fps), "-i", raw, "-i", wav, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
            "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", tmp,
        ])
        guard status == 0 else { throw TrainError("\(path): ffmpeg failed: \(output.split(separator: "\n").last ?? "")") }
        let dest = URL(fileURLWithPath: path)
        try? FileManager.default.removeItem(at: dest)
        do { try FileManager.default.moveItem(atPath: tmp, toPath: path) } catch { throw TrainError("\(path): cannot write: \(error.localizedDescription)") }
    }
}
