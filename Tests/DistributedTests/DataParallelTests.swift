import Foundation
import NeoIO
import NeoTestSupport
import XCTest

/// `mpirun -np 2 neo-train pretrain …` against the single-process run with the same global
/// batch: parameters and losses agree within stated tolerances (only the order of the gradient
/// sums differs), a run moves between process counts at a checkpoint, and a killed rank ends
/// the job with the last checkpoint intact.
final class DataParallelTests: XCTestCase {
    static let root = PythonCrossCheck.repoRoot
    var dir: URL!
    var neoTrain: String { MPILaunch.product("neo-train").path }
    let toy = root.appendingPathComponent("Recipes/toy-regression.toml").path

    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("data-parallel") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// The toy recipe at 30 steps (checkpoints every 10, all kept), 1 thread per process.
    let toySettings = ["--set", "train.steps=30", "--set", "train.checkpoint_every=10", "--set", "train.keep_last=5",
                       "--set", "train.eval_every=10", "--set", "train.log_every=10"]

    func pretrain(_ processes: Int, _ recipe: String, _ args: [String], environment: [String: String] = ["NEO_THREADS": "1"])
        throws -> MPILaunch.Result {
        let all = ["pretrain", recipe] + args
        return processes == 1 ? try MPILaunch.runSingle(neoTrain, all, environment: environment)
            : try MPILaunch.run(processes: processes, neoTrain, all, environment: environment)
    }

    func checkpoint(_ run: String, step: Int) -> String { run + "/checkpoints/" + CheckpointManager.fileName(step: step) }

    /// The largest absolute difference between two checkpoints' parameters (same names required).
    func parameterDifference(_ a: String, _ b: String) throws -> Float {
        let ca = try Checkpoint.read(from: a), cb = try Checkpoint.read(from: b)
        XCTAssertEqual(Set(ca.model.keys), Set(cb.model.keys))
        XCTAssertFalse(ca.model.isEmpty)
        var worst: Float = 0
        for (k, t) in ca.model {
            guard let u = cb.model[k] else { continue }
            XCTAssertEqual(t.shape, u.shape, k)
            for (x, y) in zip(t.toArray(), u.toArray()) { worst = max(worst, abs(x - y)) }
        }
        return worst
    }

    /// `loss` of each step from a run's metrics.jsonl.
    func losses(_ run: String) throws -> [Int: Double] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        var out: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let s = o["step"] as? Int, let l = o["loss"] as? Double { out[s] = l }
        }
        return out
    }

    func assertLossesOverlay(_ a: String, _ b: String, steps: Int, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let la = try losses(a), lb = try losses(b)
        XCTAssertEqual(la.count, steps, file: file, line: line)
        XCTAssertEqual(Set(la.keys), Set(lb.keys), file: file, line: line)
        for (s, x) in la {
            let y = try XCTUnwrap(lb[s])
            XCTAssertEqual(x, y, accuracy: tolerance * max(1, abs(x)), "loss of step \(s)", file: file, line: line)
        }
    }

    /// Toy regression, global batch 64: 2 processes × 32 rows against 1 × 64.
    /// Tolerance 1e-4 on parameters of size ~0.1–1 after 30 AdamW steps; 1e-5 relative on losses.
    func testTwoProcessesReproduceOneProcessRun() throws {
        _ = try MPILaunch.requireMPIRun()
        let one = path("one"), two = path("two")
        let r1 = try pretrain(1, toy, toySettings + ["--run-dir", one])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r2 = try pretrain(2, toy, toySettings + ["--run-dir", two])
        XCTAssertEqual(r2.status, 0, r2.output)
        XCTAssertTrue(r2.output.contains("finished at step 30"), r2.output)
        // Only rank 0 writes: one summary line, one log record per step.
        XCTAssertEqual(r2.output.components(separatedBy: "finished at step 30").count - 1, 1, r2.output)
        let diff = try parameterDifference(checkpoint(one, step: 30), checkpoint(two, step: 30))
        XCTAssertLessThan(diff, 1e-4, "parameters after 30 steps")
        XCTAssertGreaterThan(try parameterDifference(checkpoint(one, step: 10), checkpoint(one, step: 30)), 1e-2,
                             "the run must actually train for the comparison to mean anything")
        try assertLossesOverlay(one, two, steps: 30, tolerance: 1e-5)
    }

    /// Done-when 1: `mpirun -np 2 neo-train pretrain Recipes/vocal-tiny.toml` against one process,
    /// global batch 4 (2 windows per rank), 50 steps on a tiny synthetic corpus with cached
    /// Whisper features. Condition drops, timesteps and noise are drawn for the whole batch on
    /// every rank, so only the order of the gradient sums differs: parameters within 1e-5
    /// (measured 1.2e-7), losses within 1e-5 relative.
    func testVocalTinyTwoProcessesReproduceOneProcessRun() throws {
        _ = try MPILaunch.requireMPIRun()
        let weights = Self.root.appendingPathComponent("Checkpoints/pretrained/whisper-tiny-en.safetensors").path
        guard FileManager.default.fileExists(atPath: weights) else {
            throw XCTSkip("Whisper tiny.en weights not converted (\(weights) missing; run scripts/setup.sh)")
        }
        let corpus = path("corpus")
        let synth = try MPILaunch.runSingle(neoTrain, ["data", "synth", "--identities", "2", "--minutes", "0.2", "--seed", "5", "--out", corpus])
        XCTAssertEqual(synth.status, 0, synth.output)
        let features = try MPILaunch.runSingle(neoTrain, ["data", "features", "--dataset", corpus, "--weights", weights])
        XCTAssertEqual(features.status, 0, features.output)
        let recipe = Self.root.appendingPathComponent("Recipes/vocal-tiny.toml").path
        let settings = ["--set", "data.path=\(corpus)", "--set", "train.steps=50", "--set", "train.eval_every=25"]
        let one = path("vocal-one"), two = path("vocal-two")
        let r1 = try pretrain(1, recipe, settings + ["--run-dir", one])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r2 = try pretrain(2, recipe, settings + ["--run-dir", two])
        XCTAssertEqual(r2.status, 0, r2.output)
        XCTAssertLessThan(try parameterDifference(checkpoint(one, step: 50), checkpoint(two, step: 50)), 1e-5, "parameters after 50 steps")
        try assertLossesOverlay(one, two, steps: 50, tolerance: 1e-5)
    }

    /// A run stopped at step 10 continues at the other process count to the same result as an
    /// uninterrupted run (same global batch): 2 → 1 and 1 → 2.
    func testResumeWithAnotherProcessCount() throws {
        _ = try MPILaunch.requireMPIRun()
        let reference = path("reference")
        XCTAssertEqual(try pretrain(1, toy, toySettings + ["--run-dir", reference]).status, 0)
        for (first, second) in [(2, 1), (1, 2)] {
            let run = path("run-\(first)-\(second)")
            let a = try pretrain(first, toy, toySettings + ["--run-dir", run])
            XCTAssertEqual(a.status, 0, a.output)
            // Back to the checkpoint of step 10, as if the job had been stopped there.
            for step in [20, 30] { try FileManager.default.removeItem(atPath: checkpoint(run, step: step)) }
            try? FileManager.default.removeItem(atPath: run + "/checkpoints/best.h5")
            let b = try pretrain(second, toy, toySettings + ["--run-dir", run, "--resume"])
            XCTAssertEqual(b.status, 0, b.output)
            XCTAssertTrue(b.output.contains("resuming from") && b.output.contains("at step 10"), b.output)
            XCTAssertLessThan(try parameterDifference(checkpoint(reference, step: 30), checkpoint(run, step: 30)), 1e-4,
                              "\(first) → \(second) processes")
            try assertLossesOverlay(reference, run, steps: 30, tolerance: 1e-5)
        }
    }

    /// A batch that does not split over the processes is refused with one clear line.
    func testUnevenBatchIsRefused() throws {
        _ = try MPILaunch.requireMPIRun()
        let r = try pretrain(2, toy, toySettings + ["--set", "train.batch=5", "--run-dir", path("uneven")])
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("train.batch = 5 does not split evenly over 2 processes"), r.output)
    }

    /// SIGKILL of rank 1 mid-run: the job ends within 30 s with a non-zero status and a message
    /// naming the killed rank; the last checkpoint verifies and a new run resumes from it.
    func testKilledRankEndsJobAndCheckpointSurvives() throws {
        _ = try MPILaunch.requireMPIRun()
        let run = path("killed")
        var killedAt: Date? = nil
        let settings = ["--set", "train.steps=100000", "--set", "train.checkpoint_every=3", "--set", "train.keep_last=2",
                        "--set", "train.eval_every=0", "--run-dir", run]
        let r = try MPILaunch.run(processes: 2, neoTrain, ["pretrain", toy] + settings,
                                  environment: ["NEO_THREADS": "1", "NEO_TRAIN_DEBUG_STEP_DELAY_MS": "50"]) { mpirun in
            // Wait for the first checkpoint, then kill rank 1.
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && !FileManager.default.fileExists(atPath: self.checkpoint(run, step: 3)) {
                Thread.sleep(forTimeInterval: 0.1)
            }
            Thread.sleep(forTimeInterval: 0.5)
            if let pid = Self.rank(1, of: mpirun.processIdentifier) {
                kill(pid, SIGKILL)
                killedAt = Date()
            }
        }
        let killed = try XCTUnwrap(killedAt, "rank 1 was never found to kill: \(r.output)")
        let seconds = Date().timeIntervalSince(killed)
        print("data parallel: the job ended \(String(format: "%.2f", seconds)) s after SIGKILL of rank 1")
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertLessThan(seconds, 30, "the job took \(seconds) s to end after the kill")
        XCTAssertTrue(r.output.contains("rank 1") && r.output.contains("signal 9"), r.output)
        let files = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.hasPrefix("step-") && $0.hasSuffix(".h5") }.sorted()
        let last = try XCTUnwrap(files.last, "no checkpoint left")
        let inspect = try MPILaunch.runSingle(neoTrain, ["inspect", "--verify", "--no-recipe", run + "/checkpoints/" + last])
        XCTAssertEqual(inspect.status, 0, inspect.output)
        let lastStep = try XCTUnwrap(CheckpointManager.step(ofFileName: last))
        let resumed = try pretrain(1, toy, ["--set", "train.steps=\(lastStep + 2)", "--set", "train.checkpoint_every=3",
                                            "--set", "train.keep_last=2", "--set", "train.eval_every=0", "--run-dir", run, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("at step \(lastStep)"), resumed.output)
        XCTAssertTrue(resumed.output.contains("finished at step \(lastStep + 2)"), resumed.output)
    }

    /// Ctrl-C on `mpirun`: every rank stops after the same step, rank 0 writes one checkpoint,
    /// the job ends, and the checkpoint verifies.
    func testInterruptSavesOnce() throws {
        _ = try MPILaunch.requireMPIRun()
        let run = path("interrupted")
        let settings = ["--set", "train.steps=100000", "--set", "train.checkpoint_every=0", "--set", "train.eval_every=0", "--run-dir", run]
        var sentAt: Date? = nil
        let r = try MPILaunch.run(processes: 2, neoTrain, ["pretrain", toy] + settings,
                                  environment: ["NEO_THREADS": "1", "NEO_TRAIN_DEBUG_STEP_DELAY_MS": "100"]) { mpirun in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                let log = (try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? ""
                if log.split(separator: "\n").count >= 3 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            kill(mpirun.processIdentifier, SIGINT)
            sentAt = Date()
        }
        let sent = try XCTUnwrap(sentAt)
        XCTAssertLessThan(Date().timeIntervalSince(sent), 30, r.output)
        XCTAssertEqual(r.output.components(separatedBy: "continue with --resume").count - 1, 1, r.output)
        let files = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.hasSuffix(".h5") }
        XCTAssertEqual(files.count, 1, "one checkpoint: \(files)")
        let inspect = try MPILaunch.runSingle(neoTrain, ["inspect", "--verify", "--no-recipe", run + "/checkpoints/" + files[0]])
        XCTAssertEqual(inspect.status, 0, inspect.output)
    }

    /// The child of `mpirun` whose environment says it is rank `rank`.
    static func rank(_ rank: Int, of parent: Int32) -> Int32? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry),
                      let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                guard fields.count > 2, Int32(fields[1]) == parent,
                      let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
                let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return nil
    }
}
