import KineticGRPO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// A tiny GRPO run on a toy reward with a known optimum raises the held-out reward.
final class ToyRunTests: XCTestCase {
    func testGRPORaisesAToyReward() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config, seed: 3)
        let reference = copyOf(policy)
        var settings = tinySettings(groupSize: 8, steps: 6, window: 0..<3)
        settings.replayBatch = 8
        settings.beta = 0.01
        settings.updatesPerRollout = 2
        // reward = −mean (x − 0.5)²: the policy must shift its samples toward 0.5.
        let reward = TargetReward(target: 0.5)
        let optimizer = AdamW(policy.trainableParameters(), learningRate: 3e-3)
        let learner = try GRPOLearner(policy: policy, reference: reference, reward: reward, settings: settings,
                                      optimizer: optimizer, schedule: ConstantSchedule(3e-3), clipNorm: 1, seed: 7)
        let train = (0..<6).map { tinyClip(config, index: $0) }
        let heldOut = (100..<104).map { tinyClip(config, index: $0) }
        let before = try GRPOLearner.evaluate(model: policy, clips: heldOut, reward: reward, settings: settings, seed: 1, candidates: 4).mean
        var rolloutMeans: [Double] = []
        for i in 0..<8 {
            let clips = [train[(2 * i) % 6], train[(2 * i + 1) % 6]]
            let result = try learner.iteration(i, clips: clips)
            rolloutMeans.append(result.rollout.allRewards.reduce(0.0) { $0 + Double($1) } / Double(result.rollout.allRewards.count))
            XCTAssertEqual(result.updates.count, 2)
            XCTAssertTrue(result.updates.allSatisfy(\.stepped))
            // The first update of every iteration replays the rollout's own policy: ρ = 1 up to the
            // batch shape (the replay batch is the group, so exactly 1).
            XCTAssertTrue(result.updates[0].pass.steps.allSatisfy { $0.ratios.allSatisfy { $0 == 1 } })
        }
        let after = try GRPOLearner.evaluate(model: policy, clips: heldOut, reward: reward, settings: settings, seed: 1, candidates: 4).mean
        print("toy GRPO: held-out reward \(before) → \(after); rollout means \(rolloutMeans)")
        XCTAssertGreaterThan(after - before, 0.3, "held-out reward \(before) → \(after)")
        XCTAssertGreaterThan(rolloutMeans.suffix(2).reduce(0, +) / 2, rolloutMeans.prefix(2).reduce(0, +) / 2)
    }
}
