import Foundation
import NeoAudio
import NeoIO
import NeoTensor
import NeoTestSupport
import NeoTrain
import RewardModel
import XCTest

/// `neo-train reward train|eval|score|synth` on a very small synthetic setup, and the errors
/// users meet: mismatched lengths, missing audio, a motion file of the wrong width, an
/// incompatible checkpoint.
final class RewardCommandTests: XCTestCase {
    static let recipe = """
        [run]
        seed = 3

        [model]
        kind = "reward"
        audio_layers = 2
        audio_width = 8
        width = 16
        depth = 1
        heads = 2
        mlp_ratio = 2
        sync_lags = 4
        sync_width = 4

        [data]
        window_frames = 16
        held_out_identities = ["id03"]
        held_out_languages = ["lang1"]
        eval_windows = 6
        synthetic_identities = 4
        synthetic_languages = 2
        synthetic_clips = 1
        synthetic_clip_frames = 60

        [reward]
        max_offset_frames = 6

        [optim]
        lr = 2e-3

        [train]
        steps = 6
        batch = 4
        eval_every = 3
        checkpoint_every = 3
        ema = 0.9
        """

    var dir: URL!
    var recipePath: String { dir.appendingPathComponent("reward.toml").path }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    override func setUpWithError() throws {
        dir = PythonCrossCheck.temporaryDirectory("reward-commands")
        try Self.recipe.write(toFile: recipePath, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// The recipe trained once for the whole class (in its own folder).
    nonisolated(unsafe) static var shared: (dir: URL, checkpoint: String)?

    override class func tearDown() {
        if let s = shared { try? FileManager.default.removeItem(at: s.dir) }
        shared = nil
    }

    /// The final checkpoint of the recipe, trained on first use.
    func trained() throws -> String {
        if let s = Self.shared { return s.checkpoint }
        let runDir = PythonCrossCheck.temporaryDirectory("reward-commands-run")
        let outcome = try RewardCommands.train(recipePath: recipePath, overrides: [], runDirectory: runDir.path, resume: false,
                                               debug: DebugHooks())
        XCTAssertEqual(outcome.ending, .finished)
        let checkpoint = try XCTUnwrap(outcome.checkpointPath)
        Self.shared = (runDir, checkpoint)
        return checkpoint
    }

    func writeClip(_ name: String, motion: [Int], audio: [Int], fill: Float = 0.1) throws -> (String, String) {
        let m = path(name + ".motion.npy"), a = path(name + ".audio.npy")
        try NPY.write(Tensor.full(motion, fill), to: m)
        try NPY.write(Tensor.full(audio, fill), to: a)
        return (m, a)
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "(no error)" } catch { return CommandLineError.message(for: error) ?? "\(error)" }
    }

    func testTrainEvaluateTwiceScoreAndSynth() throws {
        let checkpoint = try trained()
        let loaded = try LoadedRewardModel.load(checkpoint)
        XCTAssertEqual(loaded.weights, "ema")
        XCTAssertEqual(loaded.step, 6)

        // Evaluating twice gives byte-identical reports.
        let a = try RewardCommands.evaluate(checkpoint: checkpoint, data: nil, out: path("a.json"))
        _ = try RewardCommands.evaluate(checkpoint: checkpoint, data: nil, out: path("b.json"))
        let bytesA = try Data(contentsOf: dir.appendingPathComponent("a.json"))
        XCTAssertEqual(bytesA, try Data(contentsOf: dir.appendingPathComponent("b.json")))
        XCTAssertEqual(try RewardReport.decode(bytesA), a)
        XCTAssertEqual(a.subsets.map(\.name), ["held_out_identities", "held_out_languages"])
        XCTAssertEqual(a.subsets[0].identities, ["id03"])
        XCTAssertEqual(a.subsets[1].languages, ["lang1"])
        XCTAssertEqual(a.subsets[0].degradations.count, 9)

        // The same corpus written as a clip folder evaluates to the same numbers.
        XCTAssertEqual(try RewardCommands.writeSynthetic(recipePath: recipePath, overrides: [], out: path("clips")), 8)
        let fromFolder = try RewardCommands.evaluate(checkpoint: checkpoint, data: path("clips"), out: nil)
        XCTAssertEqual(fromFolder.subsets, a.subsets)
        let everything = try RewardCommands.evaluate(checkpoint: checkpoint, data: path("clips"), out: nil, allHeldOut: true)
        XCTAssertEqual(everything.subsets.map(\.name), ["all_clips"])

        // Scoring one clip: the mean over windows of the training length.
        let clipMotion = path("clips") + "/id00-lang0-0.motion.npy", clipAudio = path("clips") + "/id00-lang0-0.audio.npy"
        let s = try RewardCommands.score(checkpoint: checkpoint, audio: clipAudio, motion: clipMotion)
        XCTAssertEqual(s.frames, 60)
        XCTAssertEqual(s.windows, 7, "starts 0, 8, …, 40 and one flush with the end at 44")
        XCTAssertTrue([s.overall, s.naturalness, s.expressionRange, s.audioAlignment].allSatisfy(\.isFinite))
        // A damaged copy of the same clip is written and scored the same way.
        let clip = try RewardClipFiles.load(motion: clipMotion, audio: clipAudio)
        let frozen = Degradation.frozenFace.apply(to: PerformanceWindow(clip: clip), strength: 1, generator: Generator(seed: 1),
                                                  statistics: loaded.model.statistics)
        try NPY.write(Tensor(frozen.motion, shape: [60, 70]), to: path("frozen.motion.npy"))
        XCTAssertNoThrow(try RewardCommands.score(checkpoint: checkpoint, audio: clipAudio, motion: path("frozen.motion.npy")))
    }

    func testMismatchedLengths() throws {
        let checkpoint = try trained()
        let (m, a) = try writeClip("short", motion: [30, 70], audio: [2, 50, 8])
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: a, motion: m) },
                       "\(m) with \(a): clip short.motion.npy: audio and motion lengths do not match: 50 audio feature frames (50 fps) for 30 motion frames (25 fps); expected 60 (two per motion frame)")
    }

    func testMissingAudio() throws {
        let checkpoint = try trained()
        let (m, a) = try writeClip("clip", motion: [30, 70], audio: [2, 60, 8])
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: nil, motion: m) },
                       "\(m): no audio for this motion; pass its audio (a sound file, or its features as .npy [layers, frames, width] at 50 fps or .h5)")
        try FileManager.default.removeItem(atPath: a)
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: a, motion: m) },
                       "\(a): audio not found (the audio for \(m))")
        // A clip folder with a motion file and no audio.
        try FileManager.default.createDirectory(atPath: path("folder"), withIntermediateDirectories: true)
        try NPY.write(Tensor.zeros([30, 70]), to: path("folder") + "/x.motion.npy")
        XCTAssertEqual(message { try RewardCommands.evaluate(checkpoint: checkpoint, data: self.path("folder"), out: nil) },
                       "\(path("folder"))/x.motion.npy: missing audio (expected \(path("folder"))/x.audio.npy)")
    }

    /// Audio given as a .h5 features file or as a sound file.
    func testFeatureFilesAndSoundFiles() throws {
        let checkpoint = try trained()
        let (m, a) = try writeClip("clip", motion: [30, 70], audio: [2, 60, 8], fill: 0.3)
        let h5 = path("clip.features.h5")
        let f = try HDF5File.create(h5)
        try f.write(NPY.read(a), at: "/hidden_states")
        try f.close()
        XCTAssertEqual(try RewardCommands.score(checkpoint: checkpoint, audio: h5, motion: m),
                       try RewardCommands.score(checkpoint: checkpoint, audio: a, motion: m))
        // A sound file of the wrong length, then one of the right length without encoder weights.
        let wav = path("speech.wav"), wav2 = path("speech2.wav")
        try AudioWriter.write([Float](repeating: 0.01, count: 640 * 40), sampleRate: 16_000, to: wav)
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: wav, motion: m) },
                       "\(wav): audio and motion lengths do not match: 1.60 s of audio (40 frames at 25 fps) for 30 motion frames")
        try AudioWriter.write([Float](repeating: 0.01, count: 640 * 30), sampleRate: 16_000, to: wav2)
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: wav2, motion: m, weights: self.path("nope.safetensors")) },
                       "\(path("nope.safetensors")): Whisper encoder weights not found (--weights)")
    }

    /// A sound file through the Whisper encoder (skipped without the converted weights of
    /// `scripts/setup.sh`): a model reading Whisper tiny.en's 5 × 384 states scores a clip from
    /// its .wav the same as from the features `neo-train data features` computes for it.
    func testScoreFromASoundFile() throws {
        let weights = PythonCrossCheck.repoRoot.appendingPathComponent(AudioFeatureCache.defaultWeights).path
        guard FileManager.default.fileExists(atPath: weights) else { throw XCTSkip("no Whisper weights at \(weights) (run scripts/setup.sh)") }
        let outcome = try RewardCommands.train(recipePath: recipePath, overrides: ["model.audio_layers=5", "model.audio_width=384", "train.steps=1",
                                                                                    "train.eval_every=0", "train.ema=0.0"],
                                               runDirectory: path("whisper-run"), resume: false, debug: DebugHooks())
        let checkpoint = try XCTUnwrap(outcome.checkpointPath)
        // 1.2 s of a vowel-like tone with a syllable rhythm, and 30 frames of motion.
        let samples = (0..<(640 * 30)).map { i -> Float in
            let t = Float(i) / 16_000
            return 0.3 * sin(2 * .pi * 180 * t) * (0.5 + 0.5 * sin(2 * .pi * 4 * t))
        }
        let wav = path("tone.wav")
        try AudioWriter.write(samples, sampleRate: 16_000, to: wav, format: .wavFloat)
        let m = path("tone.motion.npy")
        try NPY.write(Tensor.normal([30, 70], std: 0.01, generator: Generator(seed: 2)), to: m)
        let fromSound = try RewardCommands.score(checkpoint: checkpoint, audio: wav, motion: m, weights: weights)
        let extractor = try AudioFeatureCache.extractor(weights: weights)
        let (values, layers, width) = try AudioFeatureCache.clipFeatures(extractor, samples: samples, frames: 30, source: wav)
        XCTAssertEqual([layers, width], [5, 384])
        try NPY.write(Tensor(values, shape: [60, 5, 384]).permute([1, 0, 2]).contiguous(), to: path("tone.audio.npy"))
        let fromFeatures = try RewardCommands.score(checkpoint: checkpoint, audio: path("tone.audio.npy"), motion: m)
        XCTAssertEqual(fromSound, fromFeatures)
        XCTAssertTrue(fromSound.overall.isFinite)
    }

    func testMotionOfTheWrongWidth() throws {
        let checkpoint = try trained()
        let (m, a) = try writeClip("wide", motion: [30, 63], audio: [2, 60, 8])
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: a, motion: m) },
                       "\(m): motion has 63 numbers per frame; the reward model expects 70")
        // Through the executable: one line on stderr, exit status 1.
        let r = try CLI.run(["reward", "score", "--checkpoint", checkpoint, "--audio", a, "--motion", m], logs: dir)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "neo-train: error: \(m): motion has 63 numbers per frame; the reward model expects 70\n")
        // Audio of the wrong shape for the model.
        let (m2, a2) = try writeClip("wrongaudio", motion: [30, 70], audio: [5, 60, 8])
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: checkpoint, audio: a2, motion: m2) },
                       "\(a2): audio features have 5 layers of width 8; the reward model expects 2 of width 8")
    }

    func testIncompatibleCheckpoints() throws {
        let checkpoint = try trained()
        let (m, a) = try writeClip("clip", motion: [30, 70], audio: [2, 60, 8])
        // Another model kind.
        let toy = Checkpoint(step: 1, modelKind: "toy-regression", recipe: "[model]\nkind = \"toy-regression\"\n",
                             model: ["layers.0.weight": Tensor.zeros([2, 2])])
        try toy.write(to: path("toy.h5"))
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: self.path("toy.h5"), audio: a, motion: m) },
                       "\(path("toy.h5")): incompatible checkpoint: it holds a 'toy-regression' model, not a reward model")
        // A reward checkpoint whose tensors do not fit the model its recipe describes.
        var c = try Checkpoint.read(from: checkpoint)
        c.recipe = c.recipe.replacingOccurrences(of: "width = 16", with: "width = 24")
        c.ema = [:]
        try c.write(to: path("reshaped.h5"))
        let text = message { try RewardCommands.evaluate(checkpoint: self.path("reshaped.h5"), data: nil, out: nil) }
        XCTAssertTrue(text.hasPrefix("\(path("reshaped.h5")): incompatible checkpoint: its tensors do not fit the reward model of its recipe: mis-shaped: "), text)
        // A missing file.
        XCTAssertEqual(message { try RewardCommands.score(checkpoint: self.path("nope.h5"), audio: a, motion: m) },
                       "\(path("nope.h5")): checkpoint file not found")
    }

    func testRecipeErrors() throws {
        let bad = path("bad.toml")
        try Self.recipe.replacingOccurrences(of: "[reward]\n", with: "[reward]\ndegradations = [\"jitter\", \"wobble\"]\n")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertEqual(message { try RewardCommands.train(recipePath: bad, overrides: [], runDirectory: self.path("r"), resume: false) },
                       "\(bad): reward.degradations: unknown degradation \"wobble\" (known: time_offset, jitter, frozen_face, damped_expression, exaggerated_expression, twitches, over_smoothing, swapped_audio, head_motion_removal)")
        XCTAssertEqual(message { try RewardCommands.train(recipePath: self.recipePath, overrides: ["model.heads=3"], runDirectory: self.path("r"), resume: false) },
                       "--set model.heads=3: model.heads: width 16 must split into 3 heads of an even size, got head size 5.333333333333333")
    }
}
