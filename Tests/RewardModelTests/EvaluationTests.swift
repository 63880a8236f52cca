import Foundation
import NeoTensor
import RewardModel
import XCTest

/// The offline evaluation report: determinism, layout, and the numbers it is made of.
final class EvaluationTests: XCTestCase {
    func subsets() -> [EvaluationSubset] {
        let ids = Fixtures.clips.filter { $0.identity == "id05" }
        let langs = Fixtures.clips.filter { $0.language == "lang1" }.prefix(2)
        return [EvaluationSubset(name: "held_out_identities", windows: PairSampler.evaluationWindows(ids, frames: 24, margin: 12)),
                EvaluationSubset(name: "held_out_languages", windows: PairSampler.evaluationWindows(Array(langs), frames: 24, margin: 12))]
    }

    func testEvaluatingTwiceGivesIdenticalReports() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 3))
        let a = try RewardEvaluation.evaluate(model: model, subsets: subsets(), settings: EvaluationSettings(),
                                              checkpoint: "ckpt.h5", step: 7, data: "synthetic")
        let b = try RewardEvaluation.evaluate(model: model, subsets: subsets(), settings: EvaluationSettings(),
                                              checkpoint: "ckpt.h5", step: 7, data: "synthetic")
        XCTAssertEqual(try a.json(), try b.json())
        XCTAssertEqual(a.table(), b.table())
        // The JSON reads back to the same report.
        XCTAssertEqual(try RewardReport.decode(a.json()), a)
        // Another seed draws other damage.
        var other = EvaluationSettings()
        other.seed = 1
        let c = try RewardEvaluation.evaluate(model: model, subsets: subsets(), settings: other, checkpoint: "ckpt.h5", step: 7, data: "synthetic")
        XCTAssertNotEqual(try a.json(), try c.json())
    }

    func testReportLayout() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 3))
        let report = try RewardEvaluation.evaluate(model: model, subsets: subsets(), settings: EvaluationSettings(),
                                                   checkpoint: "ckpt.h5", step: 7, data: "synthetic")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["format", "version", "checkpoint", "step", "data", "model", "settings", "subsets"])
        XCTAssertEqual(json["format"] as? String, "neo-train/reward-report")
        let subsets = try XCTUnwrap(json["subsets"] as? [[String: Any]])
        XCTAssertEqual(subsets.map { $0["name"] as? String }, ["held_out_identities", "held_out_languages"])
        let first = subsets[0]
        XCTAssertEqual(Set(first.keys), ["name", "clips", "windows", "identities", "languages", "auroc", "minimum_medium_accuracy",
                                         "minimum_spearman", "degradations", "aspects"])
        let degradations = try XCTUnwrap(first["degradations"] as? [[String: Any]])
        XCTAssertEqual(degradations.map { $0["name"] as? String }, Degradation.allCases.map(\.rawValue))
        XCTAssertEqual(Set(degradations[0].keys), ["name", "aspect", "accuracy", "auroc", "spearman", "spearman_pooled",
                                                   "head_accuracy", "head_effect", "most_sensitive_aspect"])
        XCTAssertEqual(Set((degradations[0]["accuracy"] as? [String: Any])?.keys ?? [:].keys), ["low", "medium", "high"])
        XCTAssertEqual(Set((degradations[0]["head_accuracy"] as? [String: Any])?.keys ?? [:].keys),
                       ["overall", "naturalness", "expression_range", "audio_alignment"])
        let aspects = try XCTUnwrap(first["aspects"] as? [[String: Any]])
        XCTAssertEqual(aspects.map { $0["aspect"] as? String }, ["naturalness", "expression_range", "audio_alignment"])
        XCTAssertEqual(report.subsets[0].identities, ["id05"])
        XCTAssertTrue(report.table().contains("time_offset"))
    }

    /// The report's accuracy and AUROC equal the rank statistics of the model's own scores.
    func testReportNumbersComeFromTheScores() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), statistics: Fixtures.statistics, generator: Generator(seed: 4))
        let windows = subsets()[0].windows
        var settings = EvaluationSettings()
        settings.degradations = [.jitter]
        let report = try RewardEvaluation.evaluate(model: model, subsets: [EvaluationSubset(name: "x", windows: windows)],
                                                   settings: settings, checkpoint: "", step: 0, data: "")
        let real = model.score(windows).map { Double($0[0]) }
        let degraded = windows.indices.map { i -> Double in
            let g = Generator(seed: 0).derived(UInt64(i), 0)
            let w = Degradation.jitter.apply(to: windows[i], strength: 0.5, generator: g, statistics: model.statistics)
            return Double(model.score([w])[0][0])
        }
        let d = report.subsets[0].degradations[0]
        XCTAssertEqual(d.accuracy.medium, Ranking.pairwiseAccuracy(preferred: real, rejected: degraded), accuracy: 1e-6)
    }

    func testEmptySubsetsAreAnError() throws {
        let model = try RewardTransformer(config: Fixtures.tinyConfig(), generator: Generator(seed: 3))
        XCTAssertThrowsError(try RewardEvaluation.evaluate(model: model, subsets: [EvaluationSubset(name: "held_out_identities", windows: [])],
                                                           settings: EvaluationSettings(), checkpoint: "", step: 0, data: "")) { e in
            XCTAssertTrue("\(e)".contains("no windows"), "\(e)")
        }
    }
}
