import Foundation
import KineticGRPO
import NeoData
import NeoIO
import NeoTensor
import NeoTestSupport
import NeoTrain
import Vocal
import XCTest

/// GRPO from a real (tiny) pretraining checkpoint on a real (tiny) corpus: the dataset clip
/// source, the network-space ↔ motion conversion, an iteration whose checkpoint `sample` /
/// `eval motion` load like a pretraining one, and the refusals of bad `[data]` settings.
///
/// The fixture: a synthetic corpus of 4 identities × 0.4 min (NeoData's performer), cached
/// "features" of 2 layers × 8 made from the audio (no Whisper weights needed), and vocal-tiny
/// shrunk further and pretrained 2 steps on it with 1 validation and 1 test identity.
final class GRPODatasetTests: XCTestCase {
    struct Fixture {
        let root: URL
        let corpus: String
        let checkpoint: String
    }

    nonisolated(unsafe) static var cached: Fixture?
    static let lock = NSLock()

    static let modelOverrides = [
        "model.width=16", "model.depth=1", "model.heads=2", "model.window_frames=8", "model.prefix_frames=2",
        "model.audio_layers=2", "model.audio_width=8", "model.identity_dim=16", "model.timestep_dim=16",
        "data.reference_frames=8", "data.validation_identities=1", "data.test_identities=1", "data.validation_batches=1",
        "train.steps=2", "train.batch=2", "train.eval_every=0", "train.ema=0.5", "train.log_every=1",
    ]

    static func fixture() throws -> Fixture {
        lock.lock(); defer { lock.unlock() }
        if let cached { return cached }
        let root = PythonCrossCheck.temporaryDirectory("grpo-dataset")
        let corpus = root.appendingPathComponent("corpus").path
        _ = try SyntheticPerformer.synthesize(identities: 4, minutes: 0.4, seed: 3, out: corpus)
        // Features [2T, 16] that follow the audio: per feature frame, the energies of 16 slices.
        try DatasetFolder.cacheFeatures(folder: corpus, featureDim: 16) { clip in
            let perFrame = clip.audio.count / Swift.max(1, 2 * clip.frames)
            return (0..<(2 * clip.frames)).flatMap { f -> [Float] in
                (0..<16).map { j in
                    let lo = f * perFrame + j * perFrame / 16, hi = Swift.min(clip.audio.count, lo + Swift.max(1, perFrame / 16))
                    guard lo < hi else { return 0 }
                    return (lo..<hi).reduce(Float(0)) { $0 + clip.audio[$1] * clip.audio[$1] } * 100 / Float(hi - lo)
                }
            }
        }
        let recipe = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/vocal-tiny.toml").path
        let outcome = try PretrainCommand.run(recipePath: recipe, overrides: modelOverrides + ["data.path=\"\(corpus)\""],
                                              runDirectory: root.appendingPathComponent("pretrain").path, resume: false)
        let f = Fixture(root: root, corpus: corpus, checkpoint: try XCTUnwrap(outcome.checkpointPath))
        cached = f
        return f
    }

    /// A GRPO recipe on the fixture: the lip-opening reward of real motion (no reward model needed).
    func grpoRecipe(_ f: Fixture, name: String = "grpo.toml", extra: String = "") throws -> String {
        let text = """
        [run]
        seed = 2
        [policy]
        checkpoint = "\(f.checkpoint)"
        weights = "ema"
        [reward]
        kind = "lip-opening"
        latent_dim = 70
        geometry = "synthetic"
        [data]
        source = "dataset"
        path = "\(f.corpus)"
        eval_split = "test"
        train_clips = 0
        eval_clips = 3
        [grpo]
        group_size = 3
        clips_per_iteration = 2
        steps = 3
        window_start = 0
        window_size = 2
        beta = 0.1
        replay_batch = 3
        cfg_audio = 1.0
        eval_candidates = 2
        [optim]
        optimizer = "adamw"
        lr = 1e-3
        [train]
        iterations = 1
        eval_every = 1
        checkpoint_every = 1
        \(extra)
        """
        let path = f.root.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Training windows from training identities only, held-out windows from exactly VOCAL's
    /// test identities; the shapes of what the policy is conditioned on; the ground truth and
    /// the network-space conversion agree (normalise the truth, convert back: the truth).
    func testDatasetClipSource() throws {
        let f = try Self.fixture()
        let setup = try GRPOCommand.prepare(recipePath: try grpoRecipe(f), overrides: [])
        let source = try XCTUnwrap(setup.clips as? GRPODatasetClips)
        let vocal = try LoadedVocal.load(f.checkpoint)
        let data = try VocalDataset(folder: f.corpus, config: vocal.model.config, data: vocal.dataSection)
        let train = Set(data.identities(.train)), test = Set(data.identities(.test)), validation = Set(data.identities(.validation))
        XCTAssertEqual(test.count, 1); XCTAssertEqual(validation.count, 1); XCTAssertEqual(train.count, 2)
        XCTAssertEqual(Set(source.trainWindows.map(\.clip.identity)), train)
        let held = try source.evaluationClips()
        XCTAssertEqual(held.count, 3)
        XCTAssertEqual(Set(held.compactMap(\.identity)), test)
        XCTAssertTrue(Set(held.compactMap(\.identity)).isDisjoint(with: train))

        let n = 8, d = 70
        let clip = try source.clip(0)
        XCTAssertEqual(clip.conditions.audio.shape, [1, 2, 2 * n, 8])
        XCTAssertEqual(clip.conditions.identity?.shape, [1, 8, d])
        XCTAssertEqual(clip.conditions.reference?.shape, [1, d])
        XCTAssertEqual(clip.conditions.emotion?.count, 1)
        XCTAssertNil(clip.conditions.prefix)
        XCTAssertEqual(try source.clip(0).conditions.audio.toArray(), clip.conditions.audio.toArray(), "a clip is the same every time")
        XCTAssertThrowsError(try source.clip(source.trainCount))

        // Audio of the window = the cached features of those frames, [2N, L, W] → [L, 2N, W].
        let w = source.trainWindows[0]
        let stored = try XCTUnwrap(data.dataset.reader(for: w.clip)?.read(w.clip.id, audio: false, labels: false).features)
        let a = clip.conditions.audio
        for (frame, layer, j) in [(0, 0, 0), (5, 1, 7), (2 * n - 1, 1, 3)] {
            XCTAssertEqual(a[0, layer, frame, j], stored[((2 * w.start + frame) * 2 + layer) * 8 + j])
        }

        // Network space round trip on a held-out window: the truth, normalised as in training,
        // converted back through the conditions' reference token.
        let policy = setup.policy
        XCTAssertTrue(policy.relative)
        for e in held {
            let truth = try XCTUnwrap(e.truth)
            XCTAssertEqual(truth.frames, n)
            let ref = try data.reference(forClip: source.evalWindows[e.clip.index - GRPODatasetClips.evaluationIndexBase].clip.id)
            let r = Tensor(Array(ref.prefix(d)), shape: [1, d])
            let x = Tensor(truth.values, shape: [1, n, d])
            let network = policy.normalize(x, reference: r)
            let back = policy.motion(fromNetwork: network, conditions: e.clip.conditions)
            let scale = Double(truth.values.map { Swift.abs($0) }.max() ?? 0)
            XCTAssertLessThan(maxAbsoluteError(back, x), 1e-4 * Swift.max(1, scale))
            // The reward of the network latents is the inner reward of the real motion.
            let lips = try LipOpeningReward(geometry: .synthetic, latentDim: d)
            let context = RewardContext(conditions: e.clip.conditions)
            let direct = try lips.score(motion: x, context: context)[0]
            let wrapped = try NetworkSpaceReward(lips, space: policy).score(motion: network, context: context)[0]
            XCTAssertEqual(wrapped, direct, accuracy: 1e-4 * Swift.max(1, Swift.abs(direct)))
        }
    }

    /// One iteration from the pretraining checkpoint: metrics of held-out clips logged (KL 0 for
    /// the starting policy), and the GRPO checkpoint loads in `sample`/`eval motion`
    /// (`LoadedVocal`, `EvalMotionCommand`) with the pretraining statistics carried along, and
    /// as a GRPO policy again.
    func testIterationAndCheckpointsLoadLikePretraining() throws {
        let f = try Self.fixture()
        let run = f.root.appendingPathComponent("grpo-run").path
        try? FileManager.default.removeItem(atPath: run)
        let outcome = try GRPOCommand.run(recipePath: try grpoRecipe(f), overrides: [], runDirectory: run, resume: false)
        XCTAssertEqual(outcome.step, 1)
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        let last = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        for key in ["eval_reward", "eval_lipsync_r", "eval_jitter", "eval_lip_opening", "eval_kl"] {
            XCTAssertNotNil(first[key], "\(key) missing at step 0")
            XCTAssertNotNil(last[key], "\(key) missing at step 1")
        }
        XCTAssertEqual(first["eval_kl"] as? Double, 0, "the starting policy is the reference")
        XCTAssertGreaterThan(last["eval_kl"] as? Double ?? 0, 0, "one update moves the policy")
        XCTAssertNotNil(last["iteration_s"])

        let path = try XCTUnwrap(outcome.checkpointPath)
        let pretrained = try LoadedVocal.load(f.checkpoint)
        let tuned = try LoadedVocal.load(path)
        XCTAssertEqual(tuned.model.config, pretrained.model.config)
        XCTAssertEqual(tuned.model.relative, pretrained.model.relative)
        XCTAssertEqual(tuned.dataSection.path, pretrained.dataSection.path)
        for p in [\NormalizedVocal.motionMean, \NormalizedVocal.motionScale, \NormalizedVocal.referenceMean, \NormalizedVocal.referenceScale] {
            XCTAssertEqual(tuned.model[keyPath: p].value.toArray(), pretrained.model[keyPath: p].value.toArray())
        }
        // The weights moved (one AdamW step at lr 1e-3).
        let moved = zip(tuned.model.vocal.stateDict(copy: false).sorted { $0.key < $1.key },
                        pretrained.model.vocal.stateDict(copy: false).sorted { $0.key < $1.key })
            .map { maxAbsoluteError($0.1, $1.1) }.max() ?? 0
        XCTAssertGreaterThan(moved, 1e-5)

        var options = EvalMotionCommand.Options(checkpoint: path)
        options.maxClips = 1
        options.steps = 2
        let report = try EvalMotionCommand.run(options)
        XCTAssertEqual(report.step, 1)
        XCTAssertEqual(report.rows.first?.name, "ground truth")
        XCTAssertNotNil(report.rows.first { $0.name == "model" }?.metrics.lipSyncCorrelation)

        // And as the starting point of another GRPO run (policy.checkpoint), statistics kept.
        let again = try GRPOPolicyCheckpoint.load(path: path)
        XCTAssertEqual(again.model.motionScale.value.toArray(), pretrained.model.motionScale.value.toArray())
        XCTAssertNotNil(again.pretrainingRecipeText)
        XCTAssertEqual(try VocalCheckpoint.load(path: path).model.config, pretrained.model.config)
    }

    /// Bad `[data]` settings of a dataset source are refused naming the key.
    func testDatasetRecipeRefusals() throws {
        let f = try Self.fixture()
        let recipe = try grpoRecipe(f, name: "refuse.toml")
        func refusal(_ overrides: [String]) -> String {
            do {
                _ = try GRPOCommand.prepare(recipePath: recipe, overrides: overrides)
                return "(accepted)"
            } catch { return "\(error)" }
        }
        let noPath = refusal(["data.path=\"\""])
        XCTAssertTrue(noPath.contains("data.path") && noPath.contains("required when source = \"dataset\""), noPath)
        let missing = refusal(["data.path=\"\(f.root.path)/nowhere\""])
        XCTAssertTrue(missing.contains("nowhere: dataset folder not found"), missing)
        let tooMany = refusal(["grpo.clips_per_iteration=1000"])
        XCTAssertTrue(tooMany.contains("grpo.clips_per_iteration: 1000 clips per iteration from a pool of"), tooMany)
        let long = refusal(["data.frames=9"])
        XCTAssertTrue(long.contains("data.frames: 9 frames per clip") && long.contains("window_frames = 8"), long)
        let split = refusal(["data.eval_split=\"train\""])
        XCTAssertTrue(split.contains("eval_split"), split)
    }
}
