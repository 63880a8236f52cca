import Foundation
import XCTest
import NeoTestSupport

/// `neo-train demo --plan quick`: every stage of the main job on the tiny recipes, through the
/// real executable. One uninterrupted run, then a second run of the same seed that is stopped
/// by SIGINT during VOCAL pretraining and started again: the second must resume (not redo the
/// finished stages, not restart the interrupted one) and write the same report.
final class DemoTests: XCTestCase {
    static let weights = PythonCrossCheck.repoRoot.appendingPathComponent("Checkpoints/pretrained/whisper-tiny-en.safetensors").path

    func requireWeights() throws {
        guard FileManager.default.fileExists(atPath: Self.weights) else {
            throw XCTSkip("\(Self.weights) missing (scripts/setup.sh converts it)")
        }
    }

    /// The report with the run-specific folder names replaced, so two runs can be compared.
    func normalisedReport(_ reportDir: URL, run: URL) throws -> String {
        let text = try String(contentsOf: reportDir.appendingPathComponent("report.md"), encoding: .utf8)
        return text.replacingOccurrences(of: run.path, with: "RUN").replacingOccurrences(of: reportDir.path, with: "REPORT")
    }

    func testQuickDemoRunsEveryStageResumesAfterAnInterruptAndIsDeterministic() throws {
        try requireWeights()
        let root = PythonCrossCheck.temporaryDirectory("demo")
        defer { try? FileManager.default.removeItem(at: root) }
        let runA = root.appendingPathComponent("a"), reportA = root.appendingPathComponent("report-a")
        let a = try CLI.run(["demo", "--plan", "quick", "--output", runA.path, "--report", reportA.path], logs: root)
        XCTAssertEqual(a.status, 0, "demo failed:\n\(a.stdout.suffix(3000))\n\(a.stderr.suffix(3000))")
        guard a.status == 0 else { return }

        // Every stage left its result, the run folders their checkpoints, the report its plots.
        for stage in ["corpus", "features", "vocal", "reward", "reward-eval", "grpo", "evaluation"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: runA.path + "/results/\(stage).json"), "result of \(stage)")
        }
        for stage in ["vocal", "reward", "grpo"] {
            let ckpts = (try? FileManager.default.contentsOfDirectory(atPath: runA.path + "/\(stage)/checkpoints")) ?? []
            XCTAssertTrue(ckpts.contains { $0.hasSuffix(".h5") }, "\(stage) checkpoints: \(ckpts)")
            let events = (try? FileManager.default.contentsOfDirectory(atPath: runA.path + "/\(stage)/tensorboard")) ?? []
            XCTAssertTrue(events.contains { $0.hasPrefix("events.out.tfevents.") }, "\(stage) TensorBoard events: \(events)")
        }
        let report = try String(contentsOf: reportA.appendingPathComponent("report.md"), encoding: .utf8)
        for heading in ["## 1. Corpus", "## 2. VOCAL pretraining", "## 3. Reward model", "## 4. Kinetic-GRPO",
                        "## 5. Base vs tuned", "## 6. Reproduce each stage"] {
            XCTAssertTrue(report.contains(heading), "report lacks \(heading)")
        }
        XCTAssertTrue(report.contains("| base (VOCAL) |") && report.contains("| tuned (GRPO) |"), report)
        let images = report.components(separatedBy: "](").dropFirst().compactMap { $0.split(separator: ")").first.map(String.init) }
        XCTAssertGreaterThanOrEqual(images.count, 4, "plots in the report: \(images)")
        for image in images {
            let data = FileManager.default.contents(atPath: reportA.appendingPathComponent(image).path) ?? Data()
            XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("<polyline") || String(decoding: data, as: UTF8.self).contains("<rect"),
                          "\(image) is not a drawn SVG")
        }

        // Same seed, interrupted during VOCAL pretraining (slowed down so the signal lands mid-run).
        let runB = root.appendingPathComponent("b"), reportB = root.appendingPathComponent("report-b")
        let args = ["demo", "--plan", "quick", "--output", runB.path, "--report", reportB.path]
        let (p, _, _) = try CLI.spawn(args, env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "100"], logs: root)
        let metrics = runB.path + "/vocal/metrics.jsonl"
        let started = CLI.wait(timeout: 120) {
            ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
        }
        XCTAssertTrue(started, "VOCAL pretraining of the second run did not start")
        p.interrupt()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130, "an interrupted demo exits with 128 + SIGINT")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runB.path + "/results/vocal.json"))
        let vocalCheckpoints = (try? FileManager.default.contentsOfDirectory(atPath: runB.path + "/vocal/checkpoints")) ?? []
        XCTAssertTrue(vocalCheckpoints.contains { $0.hasSuffix(".h5") }, "the interrupt wrote a checkpoint: \(vocalCheckpoints)")

        let b = try CLI.run(args, logs: root)
        XCTAssertEqual(b.status, 0, "resumed demo failed:\n\(b.stdout.suffix(3000))\n\(b.stderr.suffix(3000))")
        XCTAssertTrue(b.stdout.contains("synthetic corpus: done earlier"), b.stdout)
        XCTAssertTrue(b.stdout.contains("Whisper features: done earlier"), b.stdout)
        XCTAssertTrue(b.stdout.contains("resuming from"), "VOCAL resumed from its checkpoint:\n\(b.stdout)")
        XCTAssertEqual(try normalisedReport(reportB, run: runB), try normalisedReport(reportA, run: runA),
                       "same seed, interrupted or not: the same report")

        // A folder started with another seed is refused, naming both.
        let c = try CLI.run(["demo", "--plan", "quick", "--seed", "2", "--output", runB.path, "--report", reportB.path], logs: root)
        XCTAssertEqual(c.status, 1)
        XCTAssertTrue(c.stderr.contains("seed 1") && c.stderr.contains("seed 2"), c.stderr)
    }

    func testBadDemoArgumentsAreRefused() throws {
        let root = PythonCrossCheck.temporaryDirectory("demo-args")
        defer { try? FileManager.default.removeItem(at: root) }
        for (args, expect) in [(["--plan", "huge"], "--plan"), (["--seed", "-3"], "--seed"), (["--threads", "0"], "--threads")] {
            let r = try CLI.run(["demo", "--output", root.appendingPathComponent("x").path] + args, logs: root)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(expect), "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("x").path), "\(args) made the run folder")
        }
    }
}
