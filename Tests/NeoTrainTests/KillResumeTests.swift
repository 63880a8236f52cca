import Foundation
import XCTest
import NeoIO
import NeoTestSupport
import NeoTrain

/// Issue 19 Done-when 1: every trainer runs through the one driver, so each survives SIGKILL
/// mid-run and resumes to the uninterrupted run bit for bit — reward training and GRPO here
/// (pretraining: `TrainingRunTests`).
final class KillResumeTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("kill-resume") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func checkpoint(_ run: String, _ step: Int) -> String { path(run) + "/checkpoints/" + CheckpointManager.fileName(step: step) }
    func metricsLines(_ run: String) -> [String] { MetricsLog.deterministicLines(path: path(run) + "/metrics.jsonl") }

    /// Runs `command` straight, then again killed with SIGKILL once the checkpoint of
    /// `killAfter` exists and `lines` metrics lines are written, then resumed; the last
    /// checkpoints and the metrics must be identical.
    func assertKillAndResumeRepeats(_ command: [String], last: Int, killAfter: Int, lines: Int,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let straight = try CLI.run(command + ["--run-dir", path("straight")], logs: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr, file: file, line: line)

        let (p, _, _) = try CLI.spawn(command + ["--run-dir", path("killed")], env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "300"], logs: dir)
        let reached = CLI.wait(timeout: 120) { FileManager.default.fileExists(atPath: checkpoint("killed", killAfter)) && metricsLines("killed").count >= lines }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(reached, "the run never reached its kill point", file: file, line: line)
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoint("killed", last)), "killed too late", file: file, line: line)

        let resumed = try CLI.run(command + ["--run-dir", path("killed"), "--resume"], logs: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr, file: file, line: line)
        XCTAssertTrue(resumed.stdout.contains("resuming from"), resumed.stdout, file: file, line: line)
        try CheckpointComparison.assertIdentical(checkpoint("straight", last), checkpoint("killed", last), file: file, line: line)
        XCTAssertEqual(metricsLines("killed"), metricsLines("straight"), "metrics differ", file: file, line: line)
    }

    func testRewardTrainingKilledAndResumedMatchesTheStraightRun() throws {
        let recipe = path("reward.toml")
        try (RewardCommandTests.recipe.replacingOccurrences(of: "steps = 6", with: "steps = 9")).write(toFile: recipe, atomically: true, encoding: .utf8)
        try assertKillAndResumeRepeats(["reward", "train", recipe], last: 9, killAfter: 3, lines: 4)
    }

    func testGRPOKilledAndResumedMatchesTheStraightRun() throws {
        let policy = path("policy.h5")
        try VocalCheckpoint.writeRandom(to: policy, latentDim: 4, width: 16, depth: 1, heads: 2, windowFrames: 6,
                                        prefixFrames: 2, audioLayers: 2, audioWidth: 6, seed: 3, perturb: 0.2)
        let recipe = path("grpo.toml")
        try GRPOCommandTests.recipe(policy: policy, iterations: 6).write(toFile: recipe, atomically: true, encoding: .utf8)
        // Lines: the step-0 evaluation, then one per iteration.
        try assertKillAndResumeRepeats(["grpo", recipe], last: 6, killAfter: 2, lines: 4)
    }
}
