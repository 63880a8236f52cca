import Foundation
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import XCTest
import NeoTrain

/// Faults a user hits by accident (issue 21), through the real `neo-train` executable: full
/// disks, outputs over inputs, damaged checkpoints, interrupted data commands, unbounded
/// requests and unclear messages. Each failure must be one line, a non-zero exit, and no lost
/// or half-written output.
final class FaultTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("faults") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    static var toyRecipe: String { PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/toy-regression.toml").path }

    /// Exit status 1 and one line on stderr that starts like every error and contains `needle`.
    func assertOneLineError(_ r: CLI.Result, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "exit status; stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.reason, .exit, "terminated by a signal: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(needle), "'\(needle)' in: \(r.stderr)", file: file, line: line)
    }

    // MARK: Full disk

    /// A run folder on a 1 MiB disk: the toy run's checkpoints (about 290 KB each, plus the
    /// copy best.h5) fill it mid-run. The run stops with one line naming the full disk, exit 1
    /// (it used to crash inside libhdf5 with exit 139), and its newest checkpoint reads back.
    func testFullDiskDuringPretrainIsOneLineAndKeepsTheLastCheckpoint() throws {
        let (disk, reason) = SmallDisk.mount(bytes: 1 << 20, tag: "pretrain")
        guard let disk else { throw XCTSkip(reason) }
        let run = disk.path + "/run"
        let r = try CLI.run(["pretrain", Self.toyRecipe, "--run-dir", run, "--set", "model.hidden=[128, 128]",
                             "--set", "train.steps=200", "--set", "train.checkpoint_every=20", "--set", "train.eval_every=20",
                             "--set", "train.keep_last=10", "--set", "train.log_every=100"], logs: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.reason, .exit, r.stderr)
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("neo-train: error: ") }
        XCTAssertEqual(errors.count, 1, r.stderr)
        XCTAssertTrue(errors.first?.contains("No space left on device") == true, r.stderr)
        XCTAssertFalse(r.stderr.contains("crashed") || r.stderr.contains("Fatal error"), r.stderr)
        let manager = try CheckpointManager(directory: run + "/checkpoints", keepLast: 10)
        let files = manager.stepFiles()
        XCTAssertFalse(files.isEmpty, "the first checkpoints fit on the disk")
        XCTAssertEqual(try Checkpoint.read(from: files.last!.path).step, files.last!.step)
        let names = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
    }

    /// `data synth` into a disk too small for the corpus: one line, exit 1, nothing left
    /// behind (no dataset, no staging folder).
    func testFullDiskDuringDataSynthIsOneLine() throws {
        let (disk, reason) = SmallDisk.mount(bytes: 1 << 20, tag: "synth")
        guard let disk else { throw XCTSkip(reason) }
        let r = try CLI.run(["data", "synth", "--identities", "1", "--minutes", "0.4", "--out", disk.path + "/ds"], logs: dir)
        assertOneLineError(r, "No space left on device")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), [])
        // A request that cannot fit at all is refused before any work, with the sizes.
        let big = try CLI.run(["data", "synth", "--identities", "1", "--minutes", "30", "--out", disk.path + "/ds"], logs: dir)
        assertOneLineError(big, "has 1.0 MB free")
    }

    // MARK: Outputs over inputs

    /// Every command's output that is one of its inputs is refused before anything is read,
    /// and the input is untouched.
    func testOutputsThatAreInputsAreRefused() throws {
        let wav = path("x.wav"), ckpt = path("c.h5")
        try Data("RIFF-not-really-a-wav".utf8).write(to: URL(fileURLWithPath: wav))
        try Checkpoint(step: 1, modelKind: "toy-regression", recipe: "", model: ["w": Tensor.ones([2])]).write(to: ckpt)
        let ckptBytes = try Data(contentsOf: URL(fileURLWithPath: ckpt))
        try FileManager.default.createSymbolicLink(atPath: path("link.h5"), withDestinationPath: ckpt)
        let cases: [([String], String)] = [
            (["sample", "--checkpoint", ckpt, "--audio", wav, "--out", wav], "--out is the input given as --audio"),
            (["sample", "--checkpoint", ckpt, "--audio", wav, "--out", ckpt], "--out is the input given as --checkpoint"),
            (["export", "--checkpoint", ckpt, "--format", "safetensors", "--out", ckpt], "--out is the input given as --checkpoint"),
            (["export", "--checkpoint", ckpt, "--format", "onnx", "--out", path("link.h5")], "--out is the input given as --checkpoint"),
            (["data", "features", "--audio", wav, "--out", wav], "--out is the input given as --audio"),
            (["grpo", "random-policy", "--like", wav, wav], "the output is the input given as --like"),
        ]
        for (args, needle) in cases {
            assertOneLineError(try CLI.run(args, logs: dir), needle)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ckpt)), ckptBytes)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: wav)), Data("RIFF-not-really-a-wav".utf8))
    }

    // MARK: inspect --verify

    /// `inspect --verify` compares the parameter set with the model the recipe describes, and
    /// the recipe text with its checksum; a checkpoint missing a layer, or with one byte of the
    /// recipe changed, fails with one line, and a whole one passes.
    func testInspectVerifyChecksTheParameterSetAndTheRecipe() throws {
        let recipe = try String(contentsOfFile: Self.toyRecipe, encoding: .utf8)
        let mlp = ToyRegression.MLP([8, 64, 64, 2], activation: .tanh, generator: Generator(seed: 1))
        let good = path("good.h5"), partial = path("partial.h5")
        try Checkpoint(step: 5, modelKind: "toy-regression", recipe: recipe, model: mlp.stateDict()).write(to: good)
        var params = mlp.stateDict()
        params["layers.1.weight"] = nil; params["layers.1.bias"] = nil
        try Checkpoint(step: 5, modelKind: "toy-regression", recipe: recipe, model: params).write(to: partial)

        let ok = try CLI.run(["inspect", good, "--verify", "--no-recipe"], logs: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("model       all 6 parameters match the MLP its recipe describes"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("recipe      text matches its crc32"), ok.stdout)

        assertOneLineError(try CLI.run(["inspect", partial, "--verify"], logs: dir),
                           "/model does not match the MLP its recipe describes: 2 missing (layers.1.bias, layers.1.weight)")
        // One changed byte of the stored recipe is caught by every reader (inspect, export).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let needle = Data("hidden = [64, 64]".utf8)
        let range = try XCTUnwrap(bytes.range(of: needle))
        bytes[range.lowerBound + 10] = UInt8(ascii: "9")
        let flipped = path("flipped.h5")
        try bytes.write(to: URL(fileURLWithPath: flipped))
        assertOneLineError(try CLI.run(["inspect", flipped, "--verify"], logs: dir), "checksum mismatch in the stored recipe text")
        assertOneLineError(try CLI.run(["export", "--checkpoint", flipped, "--format", "safetensors", "--out", path("x.safetensors")], logs: dir),
                           "checksum mismatch in the stored recipe text")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.safetensors")))
    }

    // MARK: Interrupted data commands and request bounds

    /// Ctrl-C during `data synth` removes its staging folder and exits 130; a staging folder
    /// left by a process that died without cleaning up is removed by the next run.
    func testInterruptedDataSynthCleansUpAndLaterRunsRemoveStaleTemporaries() throws {
        let out = path("ds")
        // 100 minutes take tens of seconds; the interrupt comes half a second in.
        let (p, _, errURL) = try CLI.spawn(["data", "synth", "--identities", "4", "--minutes", "100", "--out", out], logs: dir)
        let appeared = CLI.wait(timeout: 60) {
            ((try? FileManager.default.contentsOfDirectory(atPath: self.dir.path)) ?? []).contains { $0.hasPrefix(".ds.partial-") }
        }
        XCTAssertTrue(appeared, "the staging folder never appeared")
        usleep(500_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("interrupted; removed"), stderr)
        var names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertFalse(names.contains { $0.contains(".partial-") || $0.contains(".tmp-") }, "\(names)")
        XCTAssertFalse(names.contains("ds"))

        // A dead process's leftovers (as after SIGKILL) go at the next run.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run(); child.waitUntilExit()
        let stale = path(".ds.partial-\(child.processIdentifier)")
        try FileManager.default.createDirectory(atPath: stale + "/x", withIntermediateDirectories: true)
        let r = try CLI.run(["data", "synth", "--identities", "1", "--minutes", "0.05", "--out", out], logs: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertFalse(names.contains { $0.contains(".partial-") }, "\(names)")
    }

    /// Ctrl-C during `data features --dataset` removes the shard being rewritten; the
    /// dataset's shards stay readable.
    func testInterruptedFeatureCachingLeavesNoTemporaries() throws {
        let weights = PythonCrossCheck.repoRoot.appendingPathComponent("Checkpoints/pretrained/whisper-tiny-en.safetensors").path
        guard FileManager.default.fileExists(atPath: weights) else { throw XCTSkip("\(weights) missing (scripts/setup.sh converts it)") }
        let ds = path("ds")
        let made = try CLI.run(["data", "synth", "--identities", "2", "--minutes", "2", "--out", ds], logs: dir)
        XCTAssertEqual(made.status, 0, made.stderr)
        let (p, _, errURL) = try CLI.spawn(["data", "features", "--dataset", ds, "--weights", weights], logs: dir)
        let appeared = CLI.wait(timeout: 120) {
            ((try? FileManager.default.contentsOfDirectory(atPath: ds)) ?? []).contains { $0.contains(".tmp-") }
        }
        XCTAssertTrue(appeared, "no shard temporary appeared")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 130, stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: ds)
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
        let stats = try CLI.run(["data", "stats", ds], logs: dir)
        XCTAssertEqual(stats.status, 0, stats.stderr)
    }

    /// Requests beyond the bounds are refused with the bound; negative numbers get a message
    /// about the value, not "Missing value"; a file where a folder goes is named as such.
    func testRequestBoundsAndMessages() throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("file")))
        let cases: [([String], String)] = [
            (["data", "synth", "--identities", "2", "--minutes", "1e9", "--out", path("a")], "--minutes: expected a number in (0, 6000] (at most 100 hours of speech), got 1000000000.0"),
            (["data", "synth", "--identities", "2", "--minutes", "-1", "--out", path("a")], "--minutes: expected a number in (0, 6000]"),
            (["data", "synth", "--identities", "2", "--minutes", "1", "--seed", "-1", "--out", path("a")], "--seed: expected an integer ≥ 0, got -1"),
            (["data", "synth", "--identities", "1", "--minutes", "0.1", "--out", path("file")], "--out names an existing file"),
            (["sample", "--checkpoint", path("c.h5"), "--audio", path("a.wav"), "--out", path("m.npy"), "--steps", "-1"], "--steps: expected an integer in 1…1000, got -1"),
            (["sample", "--checkpoint", path("c.h5"), "--audio", path("a.wav"), "--out", path("m.npy"), "--steps", "1000000000"], "--steps: expected an integer in 1…1000, got 1000000000"),
            (["sample", "--checkpoint", path("c.h5"), "--audio", path("a.wav"), "--out", path("m.npy"), "--seed", "-1"], "--seed: expected an integer ≥ 0, got -1"),
            (["sample", "--checkpoint", path("c.h5"), "--audio", path("a.wav"), "--out", path("m.npy"), "--noise-level", "-1"], "--noise-level: expected a number ≥ 0, got -1.0"),
        ]
        for (args, needle) in cases {
            assertOneLineError(try CLI.run(args, logs: dir), needle)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("a")))
    }

    /// A plain VOCAL file from `grpo random-policy` given to `sample` says what it is.
    func testRandomPolicyGivenToSampleSaysWhatItIs() throws {
        let policy = path("random.h5")
        try VocalCheckpoint.writeRandom(to: policy, latentDim: 6, width: 16, depth: 1, heads: 2, windowFrames: 8, prefixFrames: 2,
                                        audioLayers: 2, audioWidth: 4, seed: 1, perturb: 0)
        assertOneLineError(try CLI.run(["sample", "--checkpoint", policy, "--audio", path("a.wav"), "--out", path("m.npy")], logs: dir),
                           "a plain VOCAL model without a pretraining recipe (as `grpo random-policy` writes)")
    }

    /// Multi-line errors become one line; a line introducing a list is followed by a space.
    func testOneLineJoinsListsReadably() {
        XCTAssertEqual(CommandLineError.oneLine("consent.json: clips refused for lack of valid consent:\n  identity 'a': x [clips: c1]\n  identity 'b': y [clips: c2]"),
                       "consent.json: clips refused for lack of valid consent: identity 'a': x [clips: c1]; identity 'b': y [clips: c2]")
    }
}
