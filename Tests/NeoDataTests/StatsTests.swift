import XCTest
import NeoTestSupport
@testable import NeoData

final class StatsTests: XCTestCase {
    func testStatsProbe() throws {
        let dir = PythonCrossCheck.temporaryDirectory("stats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("ds").path
        let t0 = Date()
        _ = try SyntheticPerformer.synthesize(identities: 3, minutes: 3, seed: 11, out: out)
        print("synth", Date().timeIntervalSince(t0))
        let t1 = Date()
        let stats = try DatasetStats.compute(folder: out)
        print("stats", Date().timeIntervalSince(t1))
        print(stats.table())
    }
}
