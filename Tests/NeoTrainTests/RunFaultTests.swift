import Foundation
import XCTest
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import NeoTrain

/// Faults a user meets by accident around a training run (issue 21): two runs into one folder,
/// a recipe asking for more memory than the machine has, non-finite losses and evaluations, a
/// warm-up longer than the run, a refused resume.
final class RunFaultTests: XCTestCase {
    var dir: URL!
    var recipePath: String { dir.appendingPathComponent("toy.toml").path }

    override func setUpWithError() throws {
        dir = PythonCrossCheck.temporaryDirectory("run-faults")
        try TrainingRunTests.recipe.write(toFile: recipePath, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func runDir(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func metricsLines(_ run: String) -> [String] { MetricsLog.deterministicLines(path: runDir(run) + "/metrics.jsonl") }
    func pretrain(_ run: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(["pretrain", recipePath, "--run-dir", runDir(run)] + extra, env: env, logs: dir)
    }

    /// A process id that no longer runs: a child that has exited and been reaped.
    func deadProcessID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    // MARK: Run-folder lock

    /// A second run into a folder in use is refused naming the holder; the first run finishes
    /// untouched; the lock is gone afterwards.
    func testSecondRunIntoTheSameFolderIsRefused() throws {
        let (p, _, _) = try CLI.spawn(["pretrain", recipePath, "--run-dir", runDir("shared")],
                                      env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "50"], logs: dir)
        XCTAssertTrue(CLI.wait(timeout: 30) { metricsLines("shared").count >= 2 }, "the first run never started")
        let second = try pretrain("shared", ["--resume"])
        XCTAssertEqual(second.status, 1, second.stdout + second.stderr)
        XCTAssertEqual(second.stderr, "neo-train: error: \(runDir("shared")): another run is using this run folder (process \(p.processIdentifier)); wait for it to finish or choose another --run-dir\n")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(metricsLines("shared").count, 40, "the refused run wrote into the first one's log")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDir("shared") + "/run.lock"), "lock not released")
    }

    /// In one process: the lock refuses a second holder, is released by `close`, and a lock
    /// file left by a dead process is taken over with a note.
    func testLockIsReleasedAndAStaleOneIsTakenOver() throws {
        let folder = try RunFolder(path: runDir("locks"))
        let first = try TrainingRun(folder: folder, recipeText: "", modelKind: "t", options: RunOptions(steps: 1), resume: false)
        XCTAssertThrowsError(try RunLock(folder: folder.path)) { e in
            XCTAssertEqual("\(e)", "\(folder.path): another run is using this run folder (process \(getpid())); wait for it to finish or choose another --run-dir")
        }
        first.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.path + "/run.lock"))

        let dead = try deadProcessID()
        try "\(dead)\n".write(toFile: folder.path + "/run.lock", atomically: true, encoding: .utf8)
        var notes: [String] = []
        let lock = try RunLock(folder: folder.path) { notes.append($0) }
        XCTAssertEqual(notes, ["taking over the stale lock of process \(dead) (no longer running) in \(folder.path)"])
        XCTAssertEqual(try String(contentsOfFile: lock.path, encoding: .utf8), "\(getpid())\n")
        lock.release()
    }

    /// SIGKILL leaves the lock file behind; the resumed run takes it over and finishes.
    func testKilledRunLeavesAStaleLockThatResumeTakesOver() throws {
        let (p, _, _) = try CLI.spawn(["pretrain", recipePath, "--run-dir", runDir("killed")],
                                      env: ["NEO_TRAIN_DEBUG_STEP_DELAY_MS": "50"], logs: dir)
        XCTAssertTrue(CLI.wait(timeout: 30) { FileManager.default.fileExists(atPath: runDir("killed") + "/checkpoints/" + CheckpointManager.fileName(step: 10)) })
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDir("killed") + "/run.lock"))
        let r = try pretrain("killed", ["--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("taking over the stale lock of process \(p.processIdentifier)"), r.stdout)
        XCTAssertEqual(metricsLines("killed").count, 40)
    }

    // MARK: Memory

    /// Requests beyond the machine are refused before anything is allocated, naming the key
    /// and the estimate; no run folder is made.
    func testMemoryRequestsBeyondTheMachineAreRefusedNamingTheKey() throws {
        let cases: [(String, String)] = [("train.batch=100000000", "train.batch"), ("model.hidden=[65536,65536]", "model.hidden")]
        for (set, key) in cases {
            let r = try pretrain("huge", ["--set", set])
            XCTAssertEqual(r.status, 1, "\(set): \(r.stderr)")
            XCTAssertEqual(r.reason, .exit, "\(set): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: --set \(set): \(key): the run needs about ")
                          || r.stderr.hasPrefix("neo-train: error: \(recipePath): \(key): the run needs about "), r.stderr)
            XCTAssertTrue(r.stderr.contains("GiB") && r.stderr.contains("available; lower \(key)"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDir("huge")), "\(set): a run folder was made")
        }
    }

    /// The estimate itself: parameters of a toy MLP with AdamW and EMA (value, gradient, two
    /// moments, shadow: 5 floats each).
    func testToyMemoryEstimateCountsParametersAndBatch() throws {
        let recipe = try Recipe.load(path: recipePath, kinds: ModelKind.builtIn.map(\.schema))
        let requests = ToyRegression.memory(recipe)
        let parameters = Double(4 * 16 + 16 + 16 * 2 + 2)
        XCTAssertEqual(requests.first { $0.key == "model.hidden" }?.bytes, 4 * 5 * parameters)
        XCTAssertEqual(requests.first { $0.key == "train.batch" }?.bytes, 4 * 8 * Double(4 + 4 * 16 + 3 * 2 + 16))
        // The held-out set (64 examples) is the largest request here, so its key is named.
        XCTAssertThrowsError(try MemoryBudget.check(requests, available: 1000, source: "r")) { e in
            XCTAssertEqual("\(e)", "r: data.eval_examples: the run needs about 19.5 KiB of memory (14.5 KiB for 64 held-out examples), more than the 1.0 KiB this machine has available; lower data.eval_examples")
        }
        XCTAssertNoThrow(try MemoryBudget.check(requests, available: Double(1 << 30), source: "r"))
    }

    // MARK: Non-finite values

    /// A diverging run stops naming the batch the non-finite loss came from.
    func testNonFiniteTrainingLossNamesTheBatch() throws {
        let r = try pretrain("diverge", ["--set", "optim.lr=1e30", "--set", "optim.clip=0", "--set", "optim.warmup=0"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: step "), r.stderr)
        XCTAssertTrue(r.stderr.contains("on the batch at loader position batches "), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    /// Diverging reward training stops naming the batch and the clip windows of its pairs.
    /// (Non-finite clip files are refused when read, naming the file.)
    func testNonFiniteRewardLossNamesTheClips() throws {
        let recipe = dir.appendingPathComponent("reward.toml").path
        try RewardCommandTests.recipe.write(toFile: recipe, atomically: true, encoding: .utf8)
        let r = try CLI.run(["reward", "train", recipe, "--set", "optim.lr=1e30", "--set", "optim.clip=0",
                             "--run-dir", runDir("nan-reward")], logs: dir)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: step "), r.stderr)
        XCTAssertTrue(r.stderr.contains(" (pairs of clips 'id0") && r.stderr.contains(" frames "), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("; stopping (last checkpoint: none)\n"), r.stderr)
    }

    /// NaN in the held-out data: the run goes on, says so on stderr, records null, and the
    /// step never becomes best.h5.
    func testNonFiniteEvaluationWarnsAndNeverRanks() throws {
        let g = Generator(seed: 4)
        let batch = (Tensor.normal([4, 3], generator: g), Tensor.normal([4, 2], generator: g))
        let evalSet = (Tensor([Float.nan, 0, 0], shape: [1, 3]), Tensor.zeros([1, 2]))
        let task = TrainerTests.LinearTask(seed: 1, batches: [batch], evalSet: evalSet)
        var o = TrainerOptions(steps: 4)
        o.evalEvery = 2
        o.checkpointEvery = 2
        o.logEvery = 1000
        let folder = try RunFolder(path: runDir("nan-eval"))
        let trainer = Trainer(task: task, optimizer: SGD(task.linear.namedParameters(), learningRate: 0.1),
                              schedule: ConstantSchedule(0.1), options: o, runFolder: folder, recipeText: "# test", modelKind: "t")
        var outcome: TrainingOutcome?
        let stderr = try captureStandardError { outcome = try trainer.run(resume: false) }
        XCTAssertEqual(outcome?.ending, .finished)
        XCTAssertEqual(stderr, """
            warning: step 2: evaluation gave eval_loss = nan (non-finite values in the held-out data or a diverged model?); this checkpoint cannot become best.h5
            warning: step 4: evaluation gave eval_loss = nan (non-finite values in the held-out data or a diverged model?); this checkpoint cannot become best.h5

            """)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.checkpointsPath + "/best.h5"))
        XCTAssertTrue(MetricsLog.deterministicLines(path: folder.metricsPath)[1].contains("\"eval_loss\":null"))
    }

    /// Runs `body` with stderr going to a file and returns what it wrote.
    func captureStandardError(_ body: () throws -> Void) throws -> String {
        let path = dir.appendingPathComponent("stderr-\(UUID().uuidString.prefix(8)).txt").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let saved = dup(STDERR_FILENO)
        dup2(fd, STDERR_FILENO)
        defer { dup2(saved, STDERR_FILENO); close(saved); close(fd) }
        try body()
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    // MARK: Silent quirks

    /// A warm-up longer than the run is reported (the run still goes, with the warm-up cut).
    func testWarmupLongerThanTheRunIsReported() throws {
        let r = try pretrain("warm", ["--set", "optim.warmup=100", "--set", "train.steps=10"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "warning: optim.warmup = 100 is longer than the run (10 optimiser steps from train.steps); the warm-up is cut to 10 steps, so the learning rate reaches optim.lr only at the last step\n")
    }

    /// A resume refused because the checkpoint is past the (new) end leaves recipe.toml as the
    /// run wrote it.
    func testRefusedResumeKeepsTheRecipeSnapshot() throws {
        XCTAssertEqual(try pretrain("done").status, 0)
        let before = try String(contentsOfFile: runDir("done") + "/recipe.toml", encoding: .utf8)
        let r = try pretrain("done", ["--resume", "--set", "train.steps=20"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: \(runDir("done"))/checkpoints/step-00000040.h5 is at step 40, past train.steps = 20"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: runDir("done") + "/recipe.toml", encoding: .utf8), before)
    }
}
