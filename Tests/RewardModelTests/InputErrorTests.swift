import NeoTensor
import RewardModel
import XCTest

/// Bad inputs give errors that say what is wrong (the file-level ones are in NeoTrainTests).
final class InputErrorTests: XCTestCase {
    func testMismatchedAudioAndMotionLengths() {
        let motion = [Float](repeating: 0, count: 10 * 70)
        XCTAssertThrowsError(try PerformanceClip(id: "c", motion: motion, motionDim: 70,
                                                 audio: [Float](repeating: 0, count: 2 * 15 * 8), audioLayers: 2, audioWidth: 8)) { e in
            XCTAssertEqual("\(e)", "clip c: audio and motion lengths do not match: 15 audio feature frames (50 fps) for 10 motion frames (25 fps); expected 20 (two per motion frame)")
        }
        // One extra feature frame (an odd sample count) is trimmed, per layer.
        let audio = (0..<(2 * 21 * 8)).map(Float.init)
        let clip = try! PerformanceClip(id: "c", motion: motion, motionDim: 70, audio: audio, audioLayers: 2, audioWidth: 8)
        XCTAssertEqual(clip.audio.count, 2 * 20 * 8)
        XCTAssertEqual(clip.audio[20 * 8], Float(21 * 8), "layer 1 starts after layer 0's 21 frames")
    }

    func testMissingAudio() {
        XCTAssertThrowsError(try PerformanceClip(id: "c", motion: [Float](repeating: 0, count: 700), motionDim: 70,
                                                 audio: [], audioLayers: 1, audioWidth: 8)) { e in
            XCTAssertEqual("\(e)", "clip c: no audio features (an empty audio array)")
        }
    }

    func testModelInputValidation() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), generator: Generator(seed: 1))
        let motion = Tensor.zeros([1, 10, 70])
        func message(_ m: Tensor, _ a: Tensor) -> String {
            do { try model.validate(motion: m, audio: a); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(motion, Tensor.zeros([1, 3, 20, 8])), "")
        XCTAssertEqual(message(Tensor.zeros([1, 10, 60]), Tensor.zeros([1, 3, 20, 8])),
                       "motion has 60 numbers per frame; this reward model expects 70")
        XCTAssertEqual(message(motion, Tensor.zeros([1, 3, 24, 8])),
                       "audio and motion lengths do not match: 24 audio feature frames (50 fps) for 10 motion frames (25 fps); expected 20")
        XCTAssertEqual(message(motion, Tensor.zeros([1, 5, 20, 8])),
                       "audio features have 5 layers of width 8; this reward model expects 3 of width 8")
        XCTAssertEqual(message(motion, Tensor.full([1, 3, 20, 8], .nan)), "audio holds NaN or infinite values")
    }

    func testBadConfigurations() {
        XCTAssertThrowsError(try RewardModelConfig(width: 30, heads: 4).validate())
        XCTAssertThrowsError(try RewardTransformer(config: Fixtures.tinyConfig(), statistics: .unit(dim: 12), generator: Generator(seed: 1))) { e in
            XCTAssertEqual("\(e)", "reward model: motion statistics have width 12, the model expects 70")
        }
        XCTAssertThrowsError(try PairSampler(clips: [Fixtures.clips[0]], windowFrames: 10, statistics: Fixtures.statistics, settings: PairSettings(), seed: 0))
        XCTAssertThrowsError(try PairSampler(clips: Fixtures.clips, windowFrames: 500, statistics: Fixtures.statistics, settings: PairSettings(), seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("shorter than a 500-frame window"), "\(e)")
        }
    }
}
