import Foundation
import XCTest
import NeoIO
import NeoTestSupport
import NeoTrain

/// End-to-end runs of `neo-train pretrain` on the toy-regression task: kill and resume, crashes
/// during checkpoint writes, Ctrl-C, recipe errors, inspect. Each run is a child process.
final class TrainingRunTests: XCTestCase {
    static let recipe = """
        [run]
        seed = 3
        [model]
        kind = "toy-regression"
        input_dim = 4
        hidden = [16]
        output_dim = 2
        [data]
        eval_examples = 64
        [optim]
        lr = 0.01
        warmup = 5
        weight_decay = 0.01
        clip = 0.5
        [train]
        steps = 40
        batch = 8
        accumulation = 2
        eval_every = 10
        checkpoint_every = 10
        keep_last = 5
        ema = 0.9
        log_every = 10
        """

    var dir: URL!
    var recipePath: String { dir.appendingPathComponent("toy.toml").path }

    override func setUpWithError() throws {
        dir = PythonCrossCheck.temporaryDirectory("train-runs")
        try Self.recipe.write(toFile: recipePath, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func runDir(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func checkpoint(_ run: String, _ step: Int) -> String { runDir(run) + "/checkpoints/" + CheckpointManager.fileName(step: step) }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
    func metricsLines(_ run: String) -> [String] { MetricsLog.deterministicLines(path: runDir(run) + "/metrics.jsonl") }

    func pretrain(_ run: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(["pretrain", recipePath, "--run-dir", runDir(run)] + extra, env: env, logs: dir)
    }

    /// The uninterrupted 40-step run everything is compared with.
    func referenceRun() throws {
        let r = try pretrain("straight")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("finished at step 40"), r.stdout)
        XCTAssertEqual(metricsLines("straight").count, 40)
    }

    func assertSameAsReference(_ run: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try CheckpointComparison.assertIdentical(checkpoint("straight", 40), checkpoint(run, 40), file: file, line: line)
        XCTAssertEqual(metricsLines(run), metricsLines("straight"), "metrics lines differ", file: file, line: line)
    }

    /// Done-when 1: 40 steps straight == 20 steps, SIGKILL, resume to 40 — bit for bit.
    func testKilledAtStep20ThenResumedMatchesStraightRunBitForBit() throws {
        try referenceRun()

        let (p, _, _) = try CLI.spawn(["pretrain", recipePath, "--run-dir", runDir("killed")],
                                      env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "100"], logs: dir)
        // Wait for the step-20 checkpoint and two more metrics lines, so the kill lands mid-run
        // with metrics written past the checkpoint (which resume must drop).
        let reached = CLI.wait(timeout: 30) { exists(checkpoint("killed", 20)) && metricsLines("killed").count >= 22 }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(reached, "the run never reached step 22")
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(p.terminationStatus, SIGKILL)
        XCTAssertFalse(exists(checkpoint("killed", 30)), "killed too late: step 30 was written")
        XCTAssertGreaterThan(metricsLines("killed").count, 20)

        let r = try pretrain("killed", ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("resuming from") && r.stdout.contains("at step 20"), r.stdout)
        try assertSameAsReference("killed")
    }

    /// Done-when 2: a crash in the middle of writing the step-30 checkpoint leaves the step-20
    /// one intact and readable, and resume continues from it.
    /// Simulated with NEO_TRAIN_DEBUG_DIE_WRITING_CHECKPOINT=30: the process writes half of the
    /// step-30 checkpoint's bytes into the temporary file the real write uses, then SIGKILLs
    /// itself.
    func testCrashWhileWritingCheckpointKeepsLastGoodOneAndResumeUsesIt() throws {
        try referenceRun()

        let crashed = try pretrain("crashed", env: ["NEO_TRAIN_DEBUG_DIE_WRITING_CHECKPOINT": "30"])
        XCTAssertEqual(crashed.reason, .uncaughtSignal, crashed.stdout + crashed.stderr)
        XCTAssertEqual(crashed.status, SIGKILL)
        let files = try FileManager.default.contentsOfDirectory(atPath: runDir("crashed") + "/checkpoints")
        XCTAssertFalse(files.contains(CheckpointManager.fileName(step: 30)), "\(files)")
        XCTAssertTrue(files.contains { $0.hasPrefix(".step-00000030.h5.tmp-") }, "no half-written temporary: \(files)")
        // The last good checkpoint is untouched: it reads with valid checksums and equals the
        // straight run's step-20 state.
        try CheckpointComparison.assertIdentical(checkpoint("straight", 20), checkpoint("crashed", 20))

        let r = try pretrain("crashed", ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("at step 20"), r.stdout)
        let after = try FileManager.default.contentsOfDirectory(atPath: runDir("crashed") + "/checkpoints")
        XCTAssertFalse(after.contains { $0.contains(".tmp-") }, "leftover temporary not removed: \(after)")
        try assertSameAsReference("crashed")
    }

    /// A damaged newest checkpoint (a torn file under its final name) is skipped with a warning
    /// and resume takes the newest good one.
    func testDamagedNewestCheckpointIsSkippedOnResume() throws {
        try referenceRun()
        try FileManager.default.copyItem(atPath: runDir("straight"), toPath: runDir("damaged"))
        let newest = checkpoint("damaged", 40)
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: newest))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: newest))

        let r = try pretrain("damaged", ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("skipping checkpoint") && r.stderr.contains("step-00000040.h5"), r.stderr)
        XCTAssertTrue(r.stdout.contains("at step 30"), r.stdout)
        try assertSameAsReference("damaged")
    }

    /// SIGINT: the step in progress finishes, a checkpoint is written, the exit is clean
    /// (status 130, a message, no trace), and resuming reproduces the straight run.
    func testInterruptWritesCheckpointAndExitsCleanly() throws {
        try referenceRun()
        let (p, out, err) = try CLI.spawn(["pretrain", recipePath, "--run-dir", runDir("interrupted")],
                                          env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "40"], logs: dir)
        let reached = CLI.wait(timeout: 30) { metricsLines("interrupted").count >= 13 }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertTrue(reached)
        let stdout = try String(contentsOf: out, encoding: .utf8), stderr = try String(contentsOf: err, encoding: .utf8)
        XCTAssertEqual(p.terminationReason, .exit, stderr)
        XCTAssertEqual(p.terminationStatus, 128 + SIGINT, stdout + stderr)
        let step = metricsLines("interrupted").count
        XCTAssertTrue((13..<40).contains(step))
        XCTAssertTrue(stdout.contains("interrupted at step \(step)"), stdout)
        XCTAssertTrue(exists(checkpoint("interrupted", step)), "no checkpoint at step \(step)")
        XCTAssertTrue(stderr.contains("interrupt: finishing the current step"), stderr)
        XCTAssertFalse(stderr.contains("Fatal") || stderr.contains("Stack"), stderr)

        let r = try pretrain("interrupted", ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("at step \(step)"), r.stdout)
        try assertSameAsReference("interrupted")
    }

    func testFreshStartRefusesRunFolderWithCheckpoints() throws {
        try referenceRun()
        let recipeBefore = try String(contentsOfFile: runDir("straight") + "/recipe.toml", encoding: .utf8)
        let r = try pretrain("straight", ["--set", "optim.lr=0.5"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "neo-train: error: \(runDir("straight")) already holds checkpoints; pass --resume to continue that run, or choose another --run-dir\n")
        XCTAssertEqual(try String(contentsOfFile: runDir("straight") + "/recipe.toml", encoding: .utf8), recipeBefore)
    }

    func testInspectListsGroupsShapesStepKindAndRecipe() throws {
        try referenceRun()
        let r = try CLI.run(["inspect", checkpoint("straight", 40), "--verify"], logs: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = r.stdout
        for expected in ["step        40", "model kind  toy-regression", "checksums   all",
                         "/model/layers.0/weight", "[16, 4]  float32", "/model/layers.1/weight", "[2, 16]  float32",
                         "/optimizer/moments/exp_avg_sq/layers.1", "/ema/layers.0", "/loader/batches",
                         "recipe:", "  kind = \"toy-regression\"", "  steps = 40", "  accumulation = 2"] {
            XCTAssertTrue(text.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
        // The stored recipe is the effective one and decodes back to the run's recipe.
        let stored = try Checkpoint.info(of: checkpoint("straight", 40)).recipe
        let onDisk = try String(contentsOfFile: runDir("straight") + "/recipe.toml", encoding: .utf8)
        XCTAssertEqual(stored, onDisk)
        let decoded = try Recipe.parse(text: stored, source: "stored", kinds: ModelKind.builtIn.map(\.schema))
        let original = try Recipe.load(path: recipePath, kinds: ModelKind.builtIn.map(\.schema))
        XCTAssertEqual(decoded.differences(from: original), [])

        let missing = try CLI.run(["inspect", runDir("straight") + "/nope.h5"], logs: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "neo-train: error: \(runDir("straight"))/nope.h5: checkpoint file not found\n")
    }

    /// Done-when 6: bad recipes, through the real command line, each give one documented line
    /// on stderr and exit status 1, with nothing else printed.
    func testBadRecipesGiveOneLineErrorsAndNonZeroExit() throws {
        func write(_ name: String, _ text: String) throws -> String {
            let p = dir.appendingPathComponent(name).path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        let kind = "[model]\nkind = \"toy-regression\"\n"
        let unknownKey = try write("unknown-key.toml", kind + "[optim]\nlr = 0.1\nlearning_rate = 0.1\n")
        let wrongType = try write("wrong-type.toml", kind + "[train]\nsteps = \"forty\"\n")
        let outOfRange = try write("out-of-range.toml", kind + "[optim]\nlr = -1\n")
        let malformed = try write("malformed.toml", kind + "[train]\nsteps = 40\nbatch = = 3\n")
        let missingKind = try write("missing-kind.toml", "[train]\nsteps = 4\n")
        let unknownSection = try write("unknown-section.toml", kind + "[optimiser]\nlr = 0.1\n")
        let missingFile = dir.appendingPathComponent("absent.toml").path

        let cases: [(args: [String], line: String)] = [
            ([unknownKey], "\(unknownKey): optim.learning_rate: unknown key (known keys in [optim]: optimizer, lr, betas, eps, momentum, weight_decay, warmup, schedule, min_lr_ratio, clip)"),
            ([wrongType], "\(wrongType): train.steps: expected an integer ≥ 1, got the string \"forty\""),
            ([outOfRange], "\(outOfRange): optim.lr: expected a positive number, got -1"),
            ([missingFile], "\(missingFile): recipe file not found"),
            ([malformed], "\(malformed): line 5, column 9: malformed TOML: "),
            ([missingKind], "\(missingKind): model.kind: missing required key (expected one of \"toy-regression\", \"reward\", \"vocal\")"),
            ([unknownSection], "\(unknownSection): [optimiser]: unknown section (known sections: run, model, data, optim, train)"),
            ([recipePath, "--set", "optim.lr=fast"], "--set optim.lr=fast: optim.lr: expected a positive number, got the string \"fast\""),
            ([recipePath, "--set", "optim.lrate=0.1"], "--set optim.lrate=0.1: optim.lrate: unknown key (known keys in [optim]: optimizer, lr, betas, eps, momentum, weight_decay, warmup, schedule, min_lr_ratio, clip)"),
            ([recipePath, "--set", "train.steps"], "--set train.steps: expected section.key=value"),
            ([recipePath, "--set", "steps=3"], "--set steps=3: steps: expected a key path of the form section.key (e.g. optim.lr)"),
        ]
        for (args, line) in cases {
            let r = try CLI.run(["pretrain"] + args + ["--run-dir", runDir("never")], logs: dir)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertEqual(r.reason, .exit)
            let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.count, 2, "\(args): expected one line, got:\n\(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: " + line), "\(args):\n got \(r.stderr)want \(line)")
            XCTAssertEqual(r.stdout, "", "\(args)")
        }
        XCTAssertFalse(exists(runDir("never")), "a failed recipe created the run folder")
    }
}
