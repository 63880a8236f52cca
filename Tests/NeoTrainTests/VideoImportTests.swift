import XCTest
import Foundation
import NeoData

/// `data import-video`: a rendered clip exported as mp4 comes back with its frames and audio;
/// each bad input is a one-line error naming the file, with nothing written.
final class VideoImportTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        let asset = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(HeadAsset.defaultPath).path
        guard FileManager.default.fileExists(atPath: asset) else { throw XCTSkip("head model missing at \(asset): \(HeadAsset.setupHint)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg") else { throw XCTSkip("ffmpeg missing: run scripts/setup.sh") }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("neo-import-video-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let root { try? FileManager.default.removeItem(at: root) } }

    func ffmpeg(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-nostdin", "-v", "error", "-y"] + args
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "ffmpeg \(args)")
    }

    func testRoundTripOfARenderedClipAndOneLineErrors() throws {
        let model = try HeadAsset.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(HeadAsset.defaultPath).path)
        let synth = root.appendingPathComponent("synth").path
        _ = try SyntheticPerformer.synthesize(identities: 1, minutes: 0.08, seed: 5, out: synth, threads: 1, rig: MeshRig(model: model), videoSize: 64)
        let ds = try DatasetFolder(synth)
        let info = ds.clips[0]
        let original = try ds.shards[0].read(info.id, video: true)
        let videos = root.appendingPathComponent("videos")
        try FileManager.default.createDirectory(at: videos, withIntermediateDirectories: true)
        let logs: URL = root!
        let export = try CLI.run(["data", "preview", synth, "--mp4", videos.appendingPathComponent("\(info.id).mp4").path, "--clip", info.id], logs: logs)
        XCTAssertEqual(export.status, 0, export.stderr)
        let manifest = root.appendingPathComponent("manifest.csv").path
        try "clip,identity,emotion,language,consent\n\(info.id),\(info.identity),\(info.emotion),en,\(info.consentId)\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let consent = ds.consentPath
        let out = root.appendingPathComponent("imported").path
        let ok = try CLI.run(["data", "import-video", "--videos", videos.path, "--manifest", manifest, "--consent", consent, "--out", out, "--size", "64"], logs: logs)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let imported = try DatasetFolder(out)
        try imported.verifyConsent()
        let back = try imported.shards[0].read(info.id, video: true)
        let v0 = try XCTUnwrap(original.video), v1 = try XCTUnwrap(back.video)
        XCTAssertEqual(v1.size, 64)
        XCTAssertEqual(back.frames, original.frames, "frames after the mp4 round trip")
        XCTAssertEqual(back.extra["motion"], "missing")
        // H.264 at crf 18 on 64 px frames: small differences only.
        var diff = 0.0
        for i in 0..<min(v0.frames.count, v1.frames.count) { diff += Double(abs(Int(v0.frames[i]) - Int(v1.frames[i]))) }
        diff /= Double(min(v0.frames.count, v1.frames.count))
        XCTAssertLessThan(diff, 6, "mean absolute difference \(diff) grey levels")
        let n = min(original.audio.count, back.audio.count)
        let r = ClipMeasures.pearson(original.audio.prefix(n).map(Double.init), back.audio.prefix(n).map(Double.init), lag: 0)
        XCTAssertGreaterThan(r, 0.9, "audio after AAC")

        // Bad inputs: one line naming the file, nothing written.
        func fails(_ file: String, manifestText: String? = nil, mentions: String) throws {
            let dir = root.appendingPathComponent("bad-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: file, toPath: dir.appendingPathComponent("\(info.id).mp4").path)
            let m = dir.appendingPathComponent("manifest.csv").path
            try (manifestText ?? "clip,identity,emotion,language,consent\n\(info.id),\(info.identity),\(info.emotion),en,\(info.consentId)\n")
                .write(toFile: m, atomically: true, encoding: .utf8)
            let target = dir.appendingPathComponent("out").path
            let res = try CLI.run(["data", "import-video", "--videos", dir.path, "--manifest", m, "--consent", consent, "--out", target], logs: logs)
            XCTAssertNotEqual(res.status, 0)
            let lines = res.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, res.stderr)
            XCTAssertTrue(res.stderr.contains(mentions), "\(res.stderr) should mention \(mentions)")
            XCTAssertFalse(res.stderr.contains("Fatal error"), res.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: target))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }, [])
        }
        let text = root.appendingPathComponent("text.mp4").path
        try "not a video".write(toFile: text, atomically: true, encoding: .utf8)
        try fails(text, mentions: "not a video")
        let silent = root.appendingPathComponent("silent.mp4").path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x64:r=25:d=1", "-c:v", "libx264", silent])
        try fails(silent, mentions: "no audio")
        let wide = root.appendingPathComponent("wide.mp4").path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc=s=96x64:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1", "-c:v", "libx264", "-c:a", "aac", "-shortest", wide])
        try fails(wide, mentions: "must be square")
        let tiny = root.appendingPathComponent("tiny.mp4").path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc=s=32x32:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1", "-c:v", "libx264", "-c:a", "aac", "-shortest", tiny])
        try fails(tiny, mentions: "smaller than")
        let vfr = root.appendingPathComponent("vfr.mp4").path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x64:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2",
                    "-vf", "setpts='if(lt(N,25),N/25/TB,(25+(N-25)*2)/25/TB)'", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac", "-shortest", vfr])
        try fails(vfr, mentions: "variable frame rate")
        let exported = videos.appendingPathComponent("\(info.id).mp4").path
        try fails(exported, manifestText: "clip,identity,emotion,language,consent\n\(info.id),\(info.identity),\(info.emotion),en,\n", mentions: "no consent id")
    }
}
