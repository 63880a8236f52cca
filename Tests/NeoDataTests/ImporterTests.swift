import XCTest
import Crypto
import NeoAudio
import NeoIO
import NeoTensor
import NeoTestSupport
import NeoData

final class ImporterTests: XCTestCase {
    var root: URL!
    override func setUp() { root = PythonCrossCheck.temporaryDirectory("import") }
    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    let key = Curve25519.Signing.PrivateKey()

    /// Source folders: three clips (audio at 22.05 kHz, motion [T, 70] at 25 fps), a CSV
    /// manifest and a signed consent file for identities ann and bob.
    func makeSource(frames: [Int] = [60, 75, 50]) throws -> (audio: String, motion: String, manifest: String, consent: String) {
        let audio = root.appendingPathComponent("audio").path, motion = root.appendingPathComponent("motion").path
        try FileManager.default.createDirectory(atPath: audio, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: motion, withIntermediateDirectories: true)
        var csv = "clip,identity,emotion,language,consent\n"
        let who = ["ann", "bob", "ann"], emo = ["happy", "serious", "neutral"]
        for (i, T) in frames.enumerated() {
            let n = T * 22050 / 25
            let w = 0.05 * Float(i + 1)
            var samples = [Float](repeating: 0, count: n)
            for k in 0..<n {
                let x = Float(k)
                samples[k] = 0.3 * sin(x * w) * (0.5 + 0.5 * sin(x * 0.0007))
            }
            try AudioWriter.write(samples, sampleRate: 22050, to: "\(audio)/clip\(i).wav")
            let m = Tensor((0..<(T * 70)).map { Float($0 % 97) * 0.001 + Float(i) }, shape: [T, 70])
            try NPY.write(m, to: "\(motion)/clip\(i).npy")
            csv += "clip\(i),\(who[i]),\(emo[i]),en,consent-\(who[i])\n"
        }
        let manifest = root.appendingPathComponent("manifest.csv").path
        try csv.write(toFile: manifest, atomically: true, encoding: .utf8)
        let consent = root.appendingPathComponent("consent.json").path
        try signedBook(["ann", "bob"]).write(to: consent)
        return (audio, motion, manifest, consent)
    }

    func signedBook(_ identities: [String]) throws -> ConsentBook {
        var records: [ConsentRecord] = []
        for id in identities {
            var r = ConsentRecord(id: "consent-\(id)", identity: id, scopes: ["train", "evaluate"], date: "2026-03-01", key: "")
            try r.sign(with: key)
            records.append(r)
        }
        return ConsentBook(keys: [ConsentKey(publicKey: key.publicKey, note: "test key")], records: records)
    }

    func out() -> String { root.appendingPathComponent("out").path }

    /// Nothing at `out` and no staging folder beside it.
    func assertNothingWritten(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: out()), "output folder exists", file: file, line: line)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.filter { $0.contains("partial") || $0.contains(".tmp") } ?? []
        XCTAssertEqual(leftovers, [], file: file, line: line)
    }

    func assertImportFails(_ src: (audio: String, motion: String, manifest: String, consent: String), mentions: [String],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try DataImporter.importClips(audioDir: src.audio, motionDir: src.motion, manifest: src.manifest,
                                                          consent: src.consent, out: out()), file: file, line: line) { error in
            let text = "\(error)"
            for m in mentions { XCTAssertTrue(text.contains(m), "error does not mention '\(m)': \(text)", file: file, line: line) }
        }
        assertNothingWritten(file: file, line: line)
    }

    func testImportHappyPathRoundTripsAndLoads() throws {
        let src = try makeSource()
        let report = try DataImporter.importClips(audioDir: src.audio, motionDir: src.motion, manifest: src.manifest,
                                                  consent: src.consent, out: out())
        XCTAssertEqual(report.clips, 3)
        XCTAssertEqual(report.seconds, Double(60 + 75 + 50) / 25, accuracy: 1e-9)
        let ds = try DatasetFolder(out())
        XCTAssertEqual(ds.clips.map(\.id), ["clip0", "clip1", "clip2"])
        let c1 = try ds.reader(for: ds.clips[1])!.read("clip1")
        XCTAssertEqual(c1.frames, 75)
        XCTAssertEqual(c1.audio.count, 75 * 640)
        XCTAssertEqual(c1.motion, try NPY.read("\(src.motion)/clip1.npy").toArray())
        XCTAssertEqual(c1.identity, "bob"); XCTAssertEqual(c1.emotion, "serious"); XCTAssertEqual(c1.consentId, "consent-bob")
        // The resampled audio keeps the sine's frequency: 0.05·2 rad per sample at 22.05 kHz.
        let loader = try DatasetLoader(folder: out(), options: LoaderOptions(windowFrames: 25, contextFrames: 4, batchSize: 2,
                                                                                 splitRule: SplitRule(validationPercent: 0, testPercent: 0), prefetch: 0))
        XCTAssertEqual(try loader.next().motion.shape, [2, 25, 70])
        XCTAssertEqual(loader.identities, ["ann", "bob"])
        try verifyWithH5py(out())
    }

    func testJSONManifestWorksToo() throws {
        let src = try makeSource()
        let json = root.appendingPathComponent("manifest.json").path
        try #"{"clips": [{"clip": "clip0", "identity": "ann", "emotion": "laughing", "language": "de", "consent": "consent-ann", "audio": "clip0.wav"}]}"#
            .write(toFile: json, atomically: true, encoding: .utf8)
        let r = try DataImporter.importClips(audioDir: src.audio, motionDir: src.motion, manifest: json, consent: src.consent, out: out())
        XCTAssertEqual(r.clips, 1)
        XCTAssertEqual(try DatasetFolder(out()).clips.first?.emotion, "laughing")
    }

    func testWrongMotionShapeIsRefused() throws {
        let src = try makeSource()
        try NPY.write(Tensor.zeros([75, 69]), to: "\(src.motion)/clip1.npy")
        assertImportFails(src, mentions: ["clip1.npy", "69 numbers per frame, expected 70"])
        try NPY.write(Tensor.zeros([75, 7, 10]), to: "\(src.motion)/clip1.npy")
        assertImportFails(src, mentions: ["clip1.npy", "2-D", "[75, 7, 10]"])
    }

    func testMissingFileIsRefused() throws {
        let src = try makeSource()
        try FileManager.default.removeItem(atPath: "\(src.audio)/clip2.wav")
        assertImportFails(src, mentions: ["missing files", "clip2", "audio file"])
        let src2 = try makeSource()
        try FileManager.default.removeItem(atPath: "\(src2.motion)/clip0.npy")
        assertImportFails(src2, mentions: ["clip0.npy not found"])
    }

    func testFrameRateMismatchIsRefused() throws {
        let src = try makeSource()
        // 75 frames of audio (3 s) but motion sampled at 30 fps: 90 frames.
        try NPY.write(Tensor.zeros([90, 70]), to: "\(src.motion)/clip1.npy")
        assertImportFails(src, mentions: ["clip1.npy", "90 motion frames", "30.0 fps", "must be 25 fps"])
        // Within tolerance (one frame short) is accepted.
        try NPY.write(Tensor.zeros([74, 70]), to: "\(src.motion)/clip1.npy")
        XCTAssertNoThrow(try DataImporter.importClips(audioDir: src.audio, motionDir: src.motion, manifest: src.manifest, consent: src.consent, out: out()))
    }

    func testUnknownIdentityIsRefused() throws {
        let src = try makeSource()
        try signedBook(["ann"]).write(to: src.consent)  // no record for bob
        assertImportFails(src, mentions: ["consent.json", "identity 'bob'", "no consent record", "clip1"])
    }

    func testClipWithoutConsentIsRefused() throws {
        let src = try makeSource()
        let csv = try String(contentsOfFile: src.manifest, encoding: .utf8).replacingOccurrences(of: "clip2,ann,neutral,en,consent-ann", with: "clip2,ann,neutral,en,")
        try csv.write(toFile: src.manifest, atomically: true, encoding: .utf8)
        assertImportFails(src, mentions: ["identity 'ann'", "no consent record id", "clip2"])
    }

    func testTamperedConsentIsDetectedByImporterAndLoader() throws {
        let src = try makeSource()
        _ = try DataImporter.importClips(audioDir: src.audio, motionDir: src.motion, manifest: src.manifest, consent: src.consent, out: out())
        let path = out() + "/consent.json"
        let original = try ConsentBook.read(path)
        XCTAssertNoThrow(try DatasetLoader(folder: out(), options: LoaderOptions(windowFrames: 25, splitRule: SplitRule(validationPercent: 0, testPercent: 0))))
        // Widen bob's scopes after signing: the signature no longer verifies.
        var tampered = original
        let i = tampered.records.firstIndex { $0.identity == "bob" }!
        tampered.records[i].scopes.append("publish-samples")
        try tampered.write(to: path)
        XCTAssertThrowsError(try DatasetLoader(folder: out(), options: LoaderOptions(windowFrames: 25, splitRule: SplitRule(validationPercent: 0, testPercent: 0)))) {
            let t = "\($0)"
            XCTAssertTrue(t.contains("identity 'bob'") && t.contains("signature does not verify") && t.contains("clip1") && !t.contains("identity 'ann'"), t)
        }
        // A record moved to another identity, with its signature, fails too.
        tampered = original
        tampered.records[i].identity = "carol"
        try tampered.write(to: path)
        XCTAssertThrowsError(try DatasetLoader(folder: out(), options: LoaderOptions(windowFrames: 25))) { XCTAssertTrue("\($0)".contains("identity 'bob'"), "\($0)") }
        // Records signed by a key the dataset does not name are refused.
        let other = Curve25519.Signing.PrivateKey()
        var forged = original
        for k in forged.records.indices { try forged.records[k].sign(with: other) }
        forged.keys.append(ConsentKey(publicKey: other.publicKey, note: "not the dataset's"))
        try forged.write(to: path)
        XCTAssertThrowsError(try DatasetLoader(folder: out(), options: LoaderOptions(windowFrames: 25))) { XCTAssertTrue("\($0)".contains("not trusted"), "\($0)") }
        // The importer refuses a tampered consent file as well.
        try tampered.write(to: src.consent)
        try FileManager.default.removeItem(atPath: out())
        assertImportFails(src, mentions: ["identity 'bob'"])
    }

    func verifyWithH5py(_ folder: String) throws {
        guard PythonCrossCheck.available(["h5py", "hdf5plugin", "numpy"]) else {
            throw XCTSkip("h5py, hdf5plugin or numpy missing (scripts/setup.sh installs them): the h5py read-back of the imported shard did not run")
        }
        let r = PythonCrossCheck.runScript("data_read_shard.py", [folder + "/shard-00000.h5", "clip1"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("motion (75, 70) float32") && r.output.contains("identity bob"), r.output)
    }
}
