import Foundation
import NeoAudio
import NeoData
import NeoIO
import NeoTensor
import NeoTestSupport
import NeoTrain
import XCTest

/// The VOCAL pipeline through the real `neo-train` binary on a tiny corpus (2 identities ×
/// 0.2 min): `data synth` → `data stats` → `data features` → `pretrain Recipes/vocal-tiny.toml`
/// → `sample` → `eval motion`, and the one-line errors of each command's bad inputs.
final class VocalPipelineTests: XCTestCase {
    static let root = PythonCrossCheck.repoRoot
    static var weights: String { root.appendingPathComponent("Checkpoints/pretrained/whisper-tiny-en.safetensors").path }
    static var tinyRecipe: String { root.appendingPathComponent("Recipes/vocal-tiny.toml").path }

    var dir: URL!

    override func setUpWithError() throws {
        dir = PythonCrossCheck.temporaryDirectory("vocal-pipeline")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func neo(_ args: [String]) throws -> CLI.Result { try CLI.run(args, logs: dir) }

    /// Exactly one line on stderr, `neo-train: error: …` containing `fragment`, and a non-zero exit.
    func assertOneLineError(_ r: CLI.Result, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, "expected a failure; stdout: \(r.stdout)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "stderr should be one line, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: "), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(fragment), "stderr should mention '\(fragment)': \(r.stderr)", file: file, line: line)
    }

    func requireWeights() throws {
        guard FileManager.default.fileExists(atPath: Self.weights) else {
            throw XCTSkip("Whisper tiny.en weights not converted (\(Self.weights) missing; run scripts/setup.sh)")
        }
    }

    /// A tiny corpus (2 identities × 0.2 min), synthesised through the CLI.
    func synth(_ name: String = "corpus") throws -> String {
        let out = path(name)
        let r = try neo(["data", "synth", "--identities", "2", "--minutes", "0.2", "--seed", "5", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 identities"), r.stdout)
        return out
    }

    func testPipelineEndToEnd() throws {
        try requireWeights()
        let corpus = try synth()

        // Stats, as JSON.
        let stats = try neo(["data", "stats", corpus, "--json"])
        XCTAssertEqual(stats.status, 0, stats.stderr)
        let statsJSON = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(statsJSON?["identities"] as? Int, 2)

        // Pretraining refuses a corpus without cached features and names the command to run.
        let early = try neo(["pretrain", Self.tinyRecipe, "--set", "data.path=\(corpus)", "--run-dir", path("run-early")])
        assertOneLineError(early, "neo-train data features --dataset \(corpus)")

        // Features, cached into the shards: every clip gets [2T, 5·384].
        let feats = try neo(["data", "features", "--dataset", corpus, "--weights", Self.weights])
        XCTAssertEqual(feats.status, 0, feats.stderr)
        let ds = try DatasetFolder(corpus)
        XCTAssertFalse(ds.clips.isEmpty)
        for c in ds.clips {
            XCTAssertEqual(c.featureDim, 5 * 384, c.id)
            XCTAssertEqual(c.featureFrames, 2 * c.frames, c.id)
        }
        // A second run finds them and skips.
        let again = try neo(["data", "features", "--dataset", corpus, "--weights", Self.weights])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("already holds features"), again.stdout)
        // The cached rows of a clip equal the features of its audio computed afresh.
        let clip = try ds.shards[0].read(ds.shards[0].clips[0].id)
        let extractor = try FeatureExtractor(weights: Self.weights)
        let fresh = try extractor.features(samples: clip.audio).hiddenStates  // [5, 2T, 384]
        let cached = clip.features!
        var worst: Float = 0
        for f in stride(from: 0, to: 2 * clip.frames, by: 7) {
            for l in 0..<5 {
                for w in stride(from: 0, to: 384, by: 17) {
                    worst = max(worst, abs(cached[(f * 5 + l) * 384 + w] - fresh[l, f, w]))
                }
            }
        }
        XCTAssertLessThan(worst, 1e-4, "cached features differ from a fresh computation by \(worst)")

        // Pretraining: 9 steps, validation loss on the held-out identity, EMA.
        func pretrain(_ run: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> CLI.Result {
            try CLI.run(["pretrain", Self.tinyRecipe, "--set", "data.path=\(corpus)", "--set", "train.steps=9", "--set", "train.eval_every=3",
                         "--set", "train.checkpoint_every=3", "--set", "train.keep_last=3", "--run-dir", path(run)] + extra,
                        env: env, logs: dir)
        }
        let train = try pretrain("run")
        XCTAssertEqual(train.status, 0, train.stderr + train.stdout)
        let lines = MetricsLog.deterministicLines(path: path("run") + "/metrics.jsonl")
        XCTAssertEqual(lines.count, 9)
        XCTAssertTrue(lines.last?.contains("\"eval_loss\"") == true, lines.last ?? "")
        XCTAssertTrue(lines.last?.contains("\"eval_loss_ema\"") == true, lines.last ?? "")
        let checkpoint = path("run") + "/checkpoints/" + CheckpointManager.fileName(step: 9)
        let saved = try Checkpoint.read(from: checkpoint)
        XCTAssertEqual(saved.modelKind, "vocal")
        XCTAssertFalse(saved.ema.isEmpty, "the checkpoint holds EMA weights")
        XCTAssertEqual(Set(saved.loader.keys), ["epoch", "batch"])
        XCTAssertNotNil(saved.model["motionScale"], "the motion statistics travel with the weights")

        // A run killed while writing its step-6 checkpoint resumes from step 3 and ends bit for
        // bit where the uninterrupted run did: loader position, generators, EMA all restored.
        let killed = try pretrain("crashed", env: ["NEO_TRAIN_DEBUG_DIE_WRITING_CHECKPOINT": "6"])
        XCTAssertEqual(killed.reason, .uncaughtSignal)
        let resumed = try pretrain("crashed", ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from"), resumed.stdout)
        try CheckpointComparison.assertIdentical(checkpoint, path("crashed") + "/checkpoints/" + CheckpointManager.fileName(step: 9))
        XCTAssertEqual(MetricsLog.deterministicLines(path: path("crashed") + "/metrics.jsonl"), lines)

        // Sample: an audio file and an identity reference taken from the corpus.
        let audioPath = path("speech.wav")
        try AudioWriter.write(clip.audio, sampleRate: 16_000, to: audioPath)
        let reference = path("ref.npy")
        let refFrames = min(40, clip.frames)
        try NPY.write(Tensor(Array(clip.motion.prefix(refFrames * 70)), shape: [refFrames, 70]), to: reference)
        let motionOut = path("out/motion.npy")
        let sample = try neo(["sample", "--checkpoint", checkpoint, "--audio", audioPath, "--identity", reference,
                              "--emotion", "happy", "--cfg", "audio=2,identity=1.5,reference=1", "--steps", "3",
                              "--sampler", "sde", "--seed", "4", "--out", motionOut, "--weights", Self.weights])
        XCTAssertEqual(sample.status, 0, sample.stderr)
        let motion = try NPY.read(motionOut)
        XCTAssertEqual(motion.shape, [clip.frames, 70], "one 70-number latent per 25 fps frame of the audio")
        XCTAssertTrue(motion.toArray().allSatisfy(\.isFinite))
        // The same seed gives the same motion; the ODE sampler gives another.
        let repeatOut = path("out/motion2.npy")
        let same = try neo(["sample", "--checkpoint", checkpoint, "--audio", audioPath, "--identity", reference,
                            "--emotion", "happy", "--cfg", "audio=2,identity=1.5,reference=1", "--steps", "3",
                            "--sampler", "sde", "--seed", "4", "--out", repeatOut, "--weights", Self.weights])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertEqual(try NPY.read(repeatOut).toArray(), motion.toArray())

        // Eval on the held-out identity (the tiny recipe holds out no test identities).
        let report = path("report.json")
        let eval = try neo(["eval", "motion", "--checkpoint", checkpoint, "--data", corpus, "--split", "validation",
                            "--steps", "2", "--out", report, "--audio-sweep", "0"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        for name in ["ground truth", "model", "mean motion", "audio from other clips", "model cfg_audio=0"] {
            XCTAssertTrue(eval.stdout.contains(name), "table row '\(name)': \(eval.stdout)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        let rows = json["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 5)
        let truth = rows[0]["metrics"] as! [String: Any]
        XCTAssertEqual(truth["lipSyncCorrelation"] as! Double, 1, accuracy: 1e-9, "ground truth against itself")
        XCTAssertEqual(truth["frechetDistance"] as! Double, 0, accuracy: 1e-6)
        let mean = rows[2]["metrics"] as! [String: Any]
        XCTAssertEqual(mean["jitter"] as! Double, 0, accuracy: 1e-9, "the mean-motion baseline does not move")
        XCTAssertGreaterThan(mean["frechetDistance"] as! Double, 0)
        for row in rows { XCTAssertNotNil((row["metrics"] as? [String: Any])?["frechetDistance"] as? Double) }

        // Bad inputs to sample and eval: one line each, non-zero exit.
        func sampleArgs(_ changes: [String: String]) -> [String] {
            var a = ["--checkpoint": checkpoint, "--audio": audioPath, "--identity": reference, "--emotion": "happy",
                     "--out": path("bad.npy"), "--weights": Self.weights]
            for (k, v) in changes { a[k] = v }
            return ["sample"] + a.keys.sorted().flatMap { [$0, a[$0]!] }
        }
        assertOneLineError(try neo(sampleArgs(["--checkpoint": path("nope.h5")])), "checkpoint file not found")
        assertOneLineError(try neo(sampleArgs([:]) + ["--cfg", "audio=loud"]), "--cfg: audio = 'loud' is not a number")
        assertOneLineError(try neo(sampleArgs([:]) + ["--cfg", "lips=2"]), "unknown condition 'lips'")
        assertOneLineError(try neo(sampleArgs(["--emotion": "grumpy"])), "unknown emotion 'grumpy'")
        let wide = path("wide.npy")
        try NPY.write(Tensor.zeros([10, 69]), to: wide)
        assertOneLineError(try neo(sampleArgs(["--identity": wide])), "identity reference must be motion [frames ≥ 1, 70]")
        assertOneLineError(try neo(sampleArgs(["--audio": path("missing.wav")])), "audio file not found")
        assertOneLineError(try neo(sampleArgs([:]) + ["--sampler", "rk4"]), "--sampler: expected ode, sde")
        assertOneLineError(try neo(sampleArgs(["--checkpoint": path("run") + "/recipe.toml"])), "cannot read checkpoint")
        assertOneLineError(try neo(["eval", "motion", "--checkpoint", checkpoint, "--data", corpus]),
                           "holds out no test identities")
        assertOneLineError(try neo(["eval", "motion", "--checkpoint", checkpoint, "--data", corpus, "--split", "dev"]),
                           "--split: expected train, validation or test")
        assertOneLineError(try neo(["eval", "motion", "--checkpoint", path("nope.h5")]), "checkpoint file not found")
    }

    /// Bad inputs of the data commands and of pretrain's data, without the Whisper weights.
    func testDataCommandErrors() throws {
        assertOneLineError(try neo(["data", "synth", "--identities", "0", "--minutes", "1", "--out", path("x")]),
                           "--identities: expected an integer in 1…10000, got 0")
        assertOneLineError(try neo(["data", "synth", "--identities", "2", "--minutes", "0", "--out", path("x")]),
                           "--minutes: expected a number in (0, 6000] (at most 100 hours of speech), got 0.0")
        assertOneLineError(try neo(["data", "stats", path("nowhere")]), "dataset manifest missing")
        assertOneLineError(try neo(["data", "import", "--audio", path("a"), "--motion", path("m"), "--manifest", path("m.csv"),
                                    "--out", path("imported")]), "no consent file beside the manifest")
        assertOneLineError(try neo(["data", "features", "--dataset", path("nowhere"), "--weights", path("w.safetensors")]),
                           "dataset manifest missing")
        assertOneLineError(try neo(["data", "features", "--audio", path("a.wav")]), "--audio needs --out")
        let corpus = try synth()
        assertOneLineError(try neo(["data", "features", "--dataset", corpus, "--weights", path("w.safetensors")]),
                           "Whisper encoder weights not found")
        // Pretraining: missing folder, missing features, too few identities for the split.
        assertOneLineError(try neo(["pretrain", Self.tinyRecipe, "--set", "data.path=\(path("nowhere"))", "--run-dir", path("r1")]),
                           "dataset folder not found")
        assertOneLineError(try neo(["pretrain", Self.tinyRecipe, "--set", "data.path=\(corpus)", "--run-dir", path("r2")]),
                           "no cached audio features; run `neo-train data features --dataset \(corpus)` first")
        assertOneLineError(try neo(["pretrain", Self.tinyRecipe, "--set", "data.path=\(corpus)", "--set", "data.test_identities=1",
                                    "--run-dir", path("r3")]), "must leave at least one for training")
    }
}
