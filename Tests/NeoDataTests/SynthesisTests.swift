import XCTest
import NeoTestSupport
import NeoData

final class SynthesisTests: XCTestCase {
    func testSameSeedGivesIdenticalShardsOtherSeedDiffers() throws {
        let dir = PythonCrossCheck.temporaryDirectory("synth")
        defer { if ProcessInfo.processInfo.environment["KEEP"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("kept", dir.path) } }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path, c = dir.appendingPathComponent("c").path
        let t0 = Date()
        let ra = try SyntheticPerformer.synthesize(identities: 2, minutes: 0.3, seed: 7, out: a)
        print("synth 0.3 min:", Date().timeIntervalSince(t0), "s", ra.clips, "clips", ra.seconds, "s audio")
        Thread.sleep(forTimeInterval: 1.1)  // a timestamp in the files would now differ
        _ = try SyntheticPerformer.synthesize(identities: 2, minutes: 0.3, seed: 7, out: b)
        _ = try SyntheticPerformer.synthesize(identities: 2, minutes: 0.3, seed: 8, out: c)
        let files = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: b).sorted())
        XCTAssertTrue(files.contains("dataset.json") && files.contains("consent.json"))
        XCTAssertGreaterThanOrEqual(files.filter { $0.hasSuffix(".h5") }.count, 2)
        for f in files {
            let da = FileManager.default.contents(atPath: a + "/" + f), db = FileManager.default.contents(atPath: b + "/" + f)
            XCTAssertNotNil(da)
            XCTAssertEqual(da, db, "\(f) differs between two runs with the same seed")
        }
        for f in files where f.hasSuffix(".h5") {
            let dc = FileManager.default.contents(atPath: c + "/" + f)
            XCTAssertNotEqual(FileManager.default.contents(atPath: a + "/" + f), dc, "\(f) is the same for seeds 7 and 8")
        }
    }
}
