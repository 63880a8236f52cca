import NeoNN
import NeoTensor
import RewardModel
import XCTest

/// The reward Transformer: shapes, plain and layered audio, every parameter trained.
final class ModelTests: XCTestCase {
    func testScoresShapeAndBatchIndependence() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 1))
        let windows = (0..<3).map { Fixtures.window($0) }
        let together = model.score(windows)
        XCTAssertEqual(together.count, 3)
        XCTAssertEqual(together[0].count, 4)
        // A window's scores do not depend on the other windows of the batch.
        let alone = model.score([windows[1]])
        for h in 0..<4 { XCTAssertEqual(alone[0][h], together[1][h], accuracy: 1e-5) }
    }

    func testPlainAudioEqualsOneLayer() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(audioLayers: 1, audioWidth: 8), generator: Generator(seed: 2))
        XCTAssertNil(model.layerLogits, "one layer needs no mixing weights")
        let motion = Tensor.normal([2, 10, 70], generator: Generator(seed: 3))
        let audio = Tensor.normal([2, 20, 8], generator: Generator(seed: 4))
        let a = noGrad { model(motion: motion, audio: audio) }.toArray()
        let b = noGrad { model(motion: motion, audio: audio.unsqueeze(1)) }.toArray()
        XCTAssertEqual(a, b)
        XCTAssertNoThrow(try model.validate(motion: motion, audio: audio))
    }

    func testLayerWeightsStartUniform() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), generator: Generator(seed: 2))
        XCTAssertEqual(model.layerWeights.count, 3)
        for w in model.layerWeights { XCTAssertEqual(w, 1.0 / 3, accuracy: 1e-6) }
    }

    func testEveryParameterGetsANonZeroGradient() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 5))
        let sampler = try PairSampler(clips: Fixtures.clips, windowFrames: 20, statistics: Fixtures.statistics,
                                      settings: PairSettings(), seed: 11)
        let batch = PreferenceBatch(sampler.batch(0, count: 24))
        let tape = Tape()
        let loss = tape.record {
            rewardPreferenceLoss(scores: model(motion: batch.input.motion, audio: batch.input.audio), mask: batch.mask,
                                 invarianceMask: batch.invarianceMask)
        }
        tape.backward(loss)
        let trainable = model.trainableParameters()
        XCTAssertGreaterThan(trainable.count, 40)
        for (path, p) in trainable {
            let g = try XCTUnwrap(p.grad, "\(path) got no gradient").toArray()
            XCTAssertTrue(g.allSatisfy(\.isFinite), "\(path)")
            XCTAssertGreaterThan(g.map(abs).max()!, 0, "\(path) got an all-zero gradient")
        }
        // The standardisation statistics are frozen: stored, never trained.
        let frozen = Set(model.namedParameters().map(\.0)).subtracting(trainable.map(\.0))
        XCTAssertEqual(frozen, ["motionMean", "motionStd", "deltaStd"])
        XCTAssertNil(model.motionMean.grad)
    }

    func testStatisticsRoundTripThroughTheStateDict() throws {
        let a = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 5))
        let b = try RewardTransformer(config: Fixtures.tinyConfig(), generator: Generator(seed: 6))
        try b.load(stateDict: a.stateDict(copy: true))
        XCTAssertEqual(b.statistics, a.statistics)
        let w = [Fixtures.window()]
        XCTAssertEqual(a.score(w), b.score(w))
    }

    func testStatisticsEstimateMatchesDirectComputation() {
        let s = Fixtures.statistics
        let c = Fixtures.clips
        let j = 12 * 3 + 1  // lower lip y: moves with speech
        let values = c.flatMap { clip in (0..<clip.frames).map { Double(clip.motion[$0 * 70 + j]) } }
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(Double(s.mean[j]), mean, accuracy: 1e-6)
        XCTAssertEqual(Double(s.std[j]), std, accuracy: 1e-6)
        XCTAssertTrue(s.std.allSatisfy { $0 > 0 } && s.deltaStd.allSatisfy { $0 > 0 })
    }
}
