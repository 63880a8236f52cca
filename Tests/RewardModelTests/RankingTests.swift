import RewardModel
import XCTest

/// Rank statistics against values worked out by hand.
final class RankingTests: XCTestCase {
    func testSpearmanWithTiesMatchesHandComputation() throws {
        // y's ranks are [1, 2, 3.5, 5, 3.5]; Pearson with [1…5]: 8/√(10·9.5).
        let rho = try XCTUnwrap(Ranking.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]))
        XCTAssertEqual(rho, 8 / (10 * 9.5).squareRoot(), accuracy: 1e-12)
        // Ties on both sides: x ranks [4, 1, 2.5, 2.5, 5], y ranks [1, 4, 2, 3, 5]; Σdxdy = 0.5, Σdx² = 9.5, Σdy² = 10.
        let rho2 = try XCTUnwrap(Ranking.spearman([3, 1, 2, 2, 5], [0.1, 0.5, 0.2, 0.3, 0.9]))
        XCTAssertEqual(rho2, 0.5 / (9.5 * 10).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Ranking.spearman([1, 2, 3], [3, 2, 1]), -1)
        XCTAssertNil(Ranking.spearman([1, 2, 3], [4, 4, 4]), "a constant side has no correlation")
    }

    func testAverageRanks() {
        XCTAssertEqual(Ranking.averageRanks([10, 30, 20, 20]), [1, 4, 2.5, 2.5])
    }

    func testAUROCMatchesPairCounting() {
        // 0.9 and 0.8 beat all three negatives (6), 0.4 loses to 0.5, ties 0.4 (½), beats 0.1 (1): 7.5 of 9.
        XCTAssertEqual(Ranking.auroc(positives: [0.9, 0.8, 0.4], negatives: [0.5, 0.4, 0.1]), 7.5 / 9, accuracy: 1e-12)
        XCTAssertEqual(Ranking.auroc(positives: [2, 3], negatives: [0, 1]), 1)
        XCTAssertEqual(Ranking.auroc(positives: [0, 1], negatives: [2, 3]), 0)
        XCTAssertEqual(Ranking.auroc(positives: [1, 1], negatives: [1]), 0.5)
    }

    func testPairwiseAccuracyCountsTiesAsHalf() {
        XCTAssertEqual(Ranking.pairwiseAccuracy(preferred: [1, 2, 3, 4], rejected: [0, 2, 5, 1]), 2.5 / 4)
    }
}
