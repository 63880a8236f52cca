import Foundation
import NeoTensor
import NeoTestSupport
import RewardModel
import XCTest

/// The Bradley–Terry loss and the reward model's combined loss: values against the formula,
/// gradients against central differences.
final class LossTests: XCTestCase {
    func testBradleyTerryValue() {
        // −(log σ(2 − 0) + log σ(0 − 1))/2
        let loss = bradleyTerryLoss(preferred: Tensor([2, 0], shape: [2]), rejected: Tensor([0, 1], shape: [2])).item
        let want = -(log(1 / (1 + exp(-2.0))) + log(1 / (1 + exp(1.0)))) / 2
        XCTAssertEqual(Double(loss), want, accuracy: 1e-6)
    }

    func testBradleyTerryGradient() {
        let a = randn([6], seed: 1), b = randn([6], seed: 2)
        assertGradCheck([a, b]) { xs in bradleyTerryLoss(preferred: xs[0], rejected: xs[1]) }
        // Analytic form: d/da = −σ(b − a)/n.
        let tape = Tape()
        a.grad = nil
        let l = tape.record { bradleyTerryLoss(preferred: a, rejected: b) }
        tape.backward(l)
        let g = a.grad!.toArray(), av = a.toArray(), bv = b.toArray()
        for i in 0..<6 {
            XCTAssertEqual(Double(g[i]), -1 / (1 + exp(Double(av[i] - bv[i]))) / 6, accuracy: 1e-6)
        }
    }

    /// The combined loss equals its definition computed by hand in Double.
    func testRewardPreferenceLossMatchesDefinition() {
        let p = 5
        let scores = randn([2 * p, 4], seed: 3)
        let mask = Tensor([1, 1, 0, 0,  1, 0, 1, 0,  1, 1, 0, 0,  1, 0, 0, 0,  1, 0, 0, 1], shape: [p, 4])
        let inv = Tensor([0, 0, 1, 1,  0, 1, 0, 1,  0, 0, 1, 1,  0, 0, 0, 0,  0, 1, 1, 0], shape: [p, 4])
        let w = RewardLossWeights(aspect: 0.7, invariance: 0.3, scoreL2: 0.01)
        let got = Double(rewardPreferenceLoss(scores: scores, mask: mask, invarianceMask: inv, weights: w).item)
        let s = scores.toArray().map(Double.init), m = mask.toArray(), v = inv.toArray()
        var want = 0.0
        for c in 0..<4 {
            var sum = 0.0, n = 0.0, isum = 0.0, inN = 0.0
            for i in 0..<p {
                let margin = s[i * 4 + c] - s[(p + i) * 4 + c]
                if m[i * 4 + c] > 0 { sum += log(1 + exp(-margin)); n += 1 }
                if v[i * 4 + c] > 0 { isum += margin * margin; inN += 1 }
            }
            if n > 0 { want += (c == 0 ? 1 : 0.7) * sum / n }
            if inN > 0 { want += 0.3 * isum / inN }
        }
        want += 0.01 * s.map { $0 * $0 }.reduce(0, +) / Double(s.count)
        XCTAssertEqual(got, want, accuracy: 1e-5)
    }

    func testRewardPreferenceLossGradient() {
        let mask = Tensor([1, 1, 0, 0,  1, 0, 1, 0,  1, 0, 0, 1], shape: [3, 4])
        let inv = Tensor([0, 0, 1, 1,  0, 1, 0, 1,  0, 1, 1, 0], shape: [3, 4])
        let scores = randn([6, 4], seed: 4)
        let report = gradCheck([scores]) { xs in
            rewardPreferenceLoss(scores: xs[0], mask: mask, invarianceMask: inv, weights: RewardLossWeights(aspect: 1, invariance: 0.5, scoreL2: 0.1))
        }
        XCTAssertTrue(report.passed, report.description)
    }

    func testPreferenceBatchMasks() {
        let w = Fixtures.window()
        let pairs = [Degradation.jitter, .timeOffset, .dampedExpression].map { d in
            PreferencePair(preferred: w, rejected: w, kind: .realOverDegraded, degradation: d, strengths: (0, 0.5), aspects: [d.aspect])
        } + PreferencePairs.ranked(candidates: [w, w], metric: [0.9, 0.1], minimumGap: 0.5)
        let batch = PreferenceBatch(pairs)
        XCTAssertEqual(batch.mask.toArray(), [1, 1, 0, 0,  1, 0, 0, 1,  1, 0, 1, 0,  1, 0, 0, 0])
        XCTAssertEqual(batch.invarianceMask.toArray(), [0, 0, 1, 1,  0, 1, 1, 0,  0, 1, 0, 1,  0, 0, 0, 0])
        XCTAssertEqual(batch.input.motion.shape, [8, 40, 70])
        XCTAssertEqual(batch.input.audio.shape, [8, 3, 80, 8])
    }

    func testRankedSamplePairsPreferTheHigherMetric() {
        let ws = (0..<3).map { Fixtures.window($0) }
        let pairs = PreferencePairs.ranked(candidates: ws, metric: [0.2, 0.9, 0.5], minimumGap: 0.25, aspects: [.audioAlignment])
        // |0.2−0.9| and |0.9−0.5| reach the gap; |0.2−0.5| = 0.3 too.
        XCTAssertEqual(pairs.count, 3)
        for p in pairs {
            let pi = ws.firstIndex { $0.clipID == p.preferred.clipID }!, ri = ws.firstIndex { $0.clipID == p.rejected.clipID }!
            XCTAssertGreaterThan([0.2, 0.9, 0.5][pi], [0.2, 0.9, 0.5][ri])
            XCTAssertEqual(p.aspects, [.audioAlignment])
        }
        XCTAssertEqual(PreferencePairs.ranked(candidates: ws, metric: [0.5, 0.6, 0.55], minimumGap: 0.2).count, 0)
    }

    func testSampledPairsOrderStrengths() throws {
        let sampler = try PairSampler(clips: Fixtures.clips, windowFrames: 30, statistics: Fixtures.statistics,
                                      settings: PairSettings(), seed: 7)
        var kinds = Set<String>()
        for j in 0..<60 {
            let p = sampler.pair(batch: 0, index: j)
            kinds.insert(p.kind.rawValue)
            XCTAssertLessThan(p.strengths.preferred, p.strengths.rejected)
            if p.kind == .weakerOverStronger { XCTAssertGreaterThanOrEqual(p.strengths.rejected - p.strengths.preferred, 0.25 - 1e-6) }
            XCTAssertEqual(p.aspects, [p.degradation!.aspect])
        }
        XCTAssertEqual(kinds, ["real_over_degraded", "weaker_over_stronger"])
        // Batches are reproducible from their index alone.
        XCTAssertEqual(sampler.pair(batch: 3, index: 2).rejected.motion, sampler.pair(batch: 3, index: 2).rejected.motion)
    }
}
