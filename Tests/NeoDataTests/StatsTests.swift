import XCTest
import NeoTestSupport
import NeoData

final class StatsTests: XCTestCase {
    func testStatsReportSpeechDependenceForEveryGroup() throws {
        let folder = try TestCorpus.shared.folder(identities: 4, minutes: 1.0, seed: 21)
        let stats = try DatasetStats.compute(folder: folder)
        XCTAssertEqual(stats.identities, 4)
        XCTAssertEqual(stats.byIdentity.map(\.clips).reduce(0, +), stats.clips)
        XCTAssertEqual(stats.byEmotion.map(\.clips).reduce(0, +), stats.clips)
        XCTAssertGreaterThanOrEqual(stats.minutes, 1.0)
        // Lip opening follows the speech energy: measured 0.45–0.6 on espeak-ng corpora; the
        // performer's lip shapes are driven by phonemes, not by the energy itself.
        XCTAssertGreaterThan(stats.overall.lipEnergyCorrelation, 0.35)
        for g in stats.byIdentity {
            XCTAssertGreaterThan(g.lipEnergyCorrelation, 0.25, g.group)
            XCTAssertNotNil(g.blinksPerMinute); XCTAssertNotNil(g.accentsPerMinute)
        }
        let table = stats.table()
        XCTAssertTrue(table.contains("r(lip,energy)") && table.contains("identity=id0003") && table.contains("emotion="), table)
        let decoded = try JSONDecoder().decode(DatasetStats.self, from: Data(try stats.json().utf8))
        XCTAssertEqual(decoded.overall, stats.overall)
        print(table)
    }

    /// 10 minutes of corpus, timed, with its statistics (run with NEO_DATA_BENCH=1, release build).
    func testSynthesisBenchmark10Minutes() throws {
        guard ProcessInfo.processInfo.environment["NEO_DATA_BENCH"] != nil else { throw XCTSkip("set NEO_DATA_BENCH=1 to run") }
        let dir = PythonCrossCheck.temporaryDirectory("bench10")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("ds").path
        let t0 = Date()
        let r = try SyntheticPerformer.synthesize(identities: 6, minutes: 10, seed: 2026, out: out, threads: 2)
        let seconds = Date().timeIntervalSince(t0)
        print(String(format: "synthesis: %.1f min of corpus (%d clips, %d shards) in %.1f s on 2 threads", r.seconds / 60, r.clips, r.shards.count, seconds))
        let t1 = Date()
        let stats = try DatasetStats.compute(folder: out)
        print(String(format: "stats: %.1f s", Date().timeIntervalSince(t1)))
        print(stats.table())
        let loader = try DatasetLoader(folder: out, options: LoaderOptions(windowFrames: 50, contextFrames: 8, batchSize: 16, seed: 1, prefetch: 4))
        _ = try loader.next()
        let t2 = Date()
        var windows = 0
        while Date().timeIntervalSince(t2) < 2 { windows += try loader.next().clipIDs.count }
        print(String(format: "loader: %.0f windows/s (N=50, K=8, B=16, audio, prefetch 4)", Double(windows) / Date().timeIntervalSince(t2)))
        loader.stop()
        if let path = ProcessInfo.processInfo.environment["NEO_DATA_BENCH_JSON"] { try stats.json().write(toFile: path, atomically: true, encoding: .utf8) }
    }
}
