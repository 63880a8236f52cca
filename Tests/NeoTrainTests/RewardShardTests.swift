import Foundation
import NeoData
import NeoTensor
import NeoTestSupport
import NeoTrain
import RewardModel
import XCTest

/// The reward model on a NeoData dataset folder: espeak-ng speech and performer motion from
/// `SyntheticPerformer`, cached audio features made from the speech, consent checked.
final class RewardShardTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("reward-shards") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Features of a clip's speech, `[2T, layers·width]`: per 20 ms frame the log energy in
    /// `width` equal slices of the frame, scaled differently per layer (a stand-in for Whisper
    /// hidden states that still follows the speech).
    static func features(_ clip: Clip, layers: Int, width: Int) -> [Float] {
        let rows = 2 * clip.frames, hop = 320
        var out = [Float](repeating: 0, count: rows * layers * width)
        for r in 0..<rows {
            for k in 0..<width {
                var e: Float = 1e-6
                let lo = r * hop + k * hop / width, hi = min(clip.audio.count, r * hop + (k + 1) * hop / width)
                if lo < hi { for i in lo..<hi { e += clip.audio[i] * clip.audio[i] } }
                for l in 0..<layers { out[(r * layers + l) * width + k] = Float(l + 1) * 0.5 * log(e) }
            }
        }
        return out
    }

    /// A tiny reward recipe on the dataset folder `data` (features of 2 layers × 4), holding
    /// out identity id0002, evaluating every step.
    static func recipe(data: String, steps: Int) -> String {
        """
        [model]
        kind = "reward"
        audio_layers = 2
        audio_width = 4
        width = 16
        depth = 1
        heads = 2
        sync_lags = 4
        sync_width = 4

        [data]
        source = "shards"
        path = "\(data)"
        window_frames = 16
        held_out_identities = ["id0002"]
        held_out_languages = []
        eval_windows = 4

        [reward]
        max_offset_frames = 6

        [train]
        steps = \(steps)
        batch = 4
        eval_every = \(steps)
        """
    }

    func testTrainAndEvaluateOnADatasetFolder() throws {
        let data = dir.appendingPathComponent("ds").path
        _ = try SyntheticPerformer.synthesize(identities: 3, minutes: 0.3, seed: 4, out: data)
        let recipe = Self.recipe(data: data, steps: 2)
        let recipePath = dir.appendingPathComponent("r.toml").path
        try recipe.write(toFile: recipePath, atomically: true, encoding: .utf8)

        // Without cached features the error says what to do.
        XCTAssertThrowsError(try RewardCommands.train(recipePath: recipePath, overrides: [], runDirectory: dir.appendingPathComponent("run0").path,
                                                      resume: false, debug: DebugHooks())) { e in
            XCTAssertTrue("\(e)".contains("has no cached audio features"), "\(e)")
        }
        try DatasetFolder.cacheFeatures(folder: data, featureDim: 8) { Self.features($0, layers: 2, width: 4) }

        let outcome = try RewardCommands.train(recipePath: recipePath, overrides: [], runDirectory: dir.appendingPathComponent("run").path,
                                               resume: false, debug: DebugHooks())
        let checkpoint = try XCTUnwrap(outcome.checkpointPath)
        let report = try RewardCommands.evaluate(checkpoint: checkpoint, data: nil, out: nil)
        XCTAssertEqual(report.subsets.map(\.name), ["held_out_identities"])
        XCTAssertEqual(report.subsets[0].identities, ["id0002"])
        // The clips' features are the layers of the cache, in order.
        let loaded = try RewardShards.load(data, model: {
            var m = RewardModelSection(); m.config.audioLayers = 2; m.config.audioWidth = 4; return m
        }())
        let c = loaded.clips[0]
        let raw = try XCTUnwrap(loaded.dataset.shards[0].read(c.id, audio: false, labels: false).features)
        XCTAssertEqual(c.audio[0..<4], raw[0..<4], "layer 0, frame 0")
        XCTAssertEqual(c.audio[(2 * c.frames * 4)..<(2 * c.frames * 4 + 4)], raw[4..<8], "layer 1, frame 0")

        // Consent: a record without the `evaluate` scope stops the evaluation.
        let consentPath = data + "/consent.json"
        var book = try ConsentBook.read(consentPath)
        book.records = book.records.map { r in
            var r = r
            if r.identity == "id0002" { r.scopes = ["train"] }
            return r
        }
        try book.write(to: consentPath)
        XCTAssertThrowsError(try RewardCommands.evaluate(checkpoint: checkpoint, data: nil, out: nil)) { e in
            XCTAssertTrue("\(e)".contains("identity 'id0002'"), "\(e)")
        }
    }
}
