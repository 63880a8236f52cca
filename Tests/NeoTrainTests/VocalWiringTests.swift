import Foundation
import NeoData
import NeoTensor
import NeoTestSupport
import NeoTrain
import Vocal
import XCTest

/// The pieces between the modules and the CLI: identity splits by count, motion
/// standardisation, guidance and emotion arguments, the vocal recipe sections.
final class VocalWiringTests: XCTestCase {
    /// Exactly the requested numbers of test and validation identities, disjoint, every time.
    func testIdentitySplitHoldsOutExactCounts() throws {
        for count in [2, 3, 5, 12, 40] {
            let ids = (0..<count).map { String(format: "id%04d", $0) }
            for (validation, test) in [(1, 0), (1, 1), (2, 2), (3, 1)] where validation + test < count {
                let rule = try IdentitySplit.rule(identities: ids, validation: validation, test: test, folder: "x")
                let splits = ids.map { rule.split(of: $0) }
                XCTAssertEqual(splits.filter { $0 == .test }.count, test, "\(count) ids, \(validation)/\(test)")
                XCTAssertEqual(splits.filter { $0 == .validation }.count, validation, "\(count) ids, \(validation)/\(test)")
                XCTAssertEqual(splits.filter { $0 == .train }.count, count - validation - test)
                // Deterministic, and independent of the order the identities come in.
                let again = try IdentitySplit.rule(identities: ids.reversed() + ids, validation: validation, test: test, folder: "x")
                XCTAssertEqual(again, rule)
            }
        }
        XCTAssertThrowsError(try IdentitySplit.rule(identities: ["a", "b"], validation: 1, test: 1, folder: "d")) { e in
            XCTAssertTrue("\(e)".contains("must leave at least one for training"), "\(e)")
        }
    }

    /// Statistics per dimension, floored deviations; normalise then denormalise is the identity.
    func testMotionStandardisation() throws {
        let d = 3
        let a: [Float] = [1, 5, 0.5, 3, 5, 0.5]            // two frames
        let b: [Float] = [2, 5, 0.5]                        // one frame
        let (mean, scale) = NormalizedVocal.statistics([a, b], dim: d)
        XCTAssertEqual(mean[0], 2, accuracy: 1e-6)
        XCTAssertEqual(mean[1], 5, accuracy: 1e-6)
        XCTAssertEqual(scale[0], Float((2.0 / 3).squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(scale[1], 1e-3, "a constant dimension gets the floor")
        var config = VocalConfig()
        config.latentDim = d; config.width = 8; config.depth = 1; config.heads = 2; config.windowFrames = 4
        config.prefixFrames = 1; config.identityDim = 4; config.audioLayers = 2; config.audioWidth = 4; config.timestepDim = 4
        let model = try NormalizedVocal(config: config, generator: Generator(seed: 1), mean: mean, scale: scale)
        let x = randn([2, 5, d], seed: 3)
        XCTAssertLessThan(maxAbsoluteError(model.denormalize(model.normalize(x)), x), 1e-5)
        let n = model.normalize(Tensor(a + b, shape: [3, d])).toArray()
        XCTAssertEqual(n[0] + n[3] + n[6], 0, accuracy: 1e-5, "standardised dimension has mean 0")
        // The statistics are frozen parameters: in the state dict, out of the trainable set.
        XCTAssertNotNil(model.stateDict()["motionMean"])
        XCTAssertFalse(model.trainableParameters().contains { $0.0 == "motionMean" || $0.0 == "motionScale" })
    }

    func testGuidanceAndEmotionArguments() throws {
        let d = GuidanceWeights(audio: 2, identity: 1, reference: 1)
        XCTAssertEqual(try SampleCommand.parseGuidance("audio=3,reference=0.5", defaults: d),
                       GuidanceWeights(audio: 3, identity: 1, reference: 0.5))
        XCTAssertEqual(try SampleCommand.parseGuidance(" identity = -1 ", defaults: d), GuidanceWeights(audio: 2, identity: -1, reference: 1))
        for (bad, fragment) in [("audio", "not key=value"), ("audio=", "not key=value"), ("audio=1,audio=2", "given twice"),
                                ("volume=2", "unknown condition 'volume'"), ("", "empty value"), ("audio=nan", "is not a number")] {
            XCTAssertThrowsError(try SampleCommand.parseGuidance(bad, defaults: d), bad) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(bad): \(e)")
            }
        }
        XCTAssertEqual(try SampleCommand.emotionIndex("Happy", count: 6), Emotion.happy.index)
        XCTAssertThrowsError(try SampleCommand.emotionIndex("laughing", count: 5))  // outside the model's labels
    }

    /// The vocal recipes decode through NeoTrain's schema, every key known, and build models of
    /// their stated sizes.
    func testVocalRecipesDecode() throws {
        for name in ["vocal-tiny", "vocal-small", "vocal-base"] {
            let path = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/\(name).toml").path
            let recipe = try Recipe.load(path: path, kinds: ModelKind.builtIn.map(\.schema))
            XCTAssertEqual(recipe.modelKind, "vocal")
            let config = VocalKind.config(recipe)
            try config.validate()
            XCTAssertFalse(recipe.section(VocalDataSection.self).path.isEmpty)
            XCTAssertEqual(recipe.section(VocalSection.self).flowMatching.dropPrefix, 0.5)
            // The effective recipe decodes back to the same values.
            let back = try Recipe.parse(text: recipe.text, source: "effective", kinds: ModelKind.builtIn.map(\.schema))
            XCTAssertEqual(back.differences(from: recipe), [])
        }
        let tiny = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/vocal-tiny.toml").path
        XCTAssertThrowsError(try Recipe.load(path: tiny, overrides: ["model.heads=3"], kinds: ModelKind.builtIn.map(\.schema))) { e in
            XCTAssertTrue("\(e)".contains("model.heads: must divide width 32"), "\(e)")
        }
        XCTAssertThrowsError(try Recipe.load(path: tiny, overrides: ["vocal.sampler=rk4"], kinds: ModelKind.builtIn.map(\.schema))) { e in
            XCTAssertTrue("\(e)".contains("vocal.sampler: expected one of \"euler\", \"heun\", \"sde\""), "\(e)")
        }
        XCTAssertThrowsError(try Recipe.load(path: tiny, overrides: ["vocal.drop_audio=1.5"], kinds: ModelKind.builtIn.map(\.schema)))
    }
}
