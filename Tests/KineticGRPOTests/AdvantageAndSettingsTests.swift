import KineticGRPO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

final class AdvantageAndSettingsTests: XCTestCase {
    func testGroupAdvantages() {
        let r: [Float] = [1, 2, 3, 6]
        let a = GroupAdvantages(rewards: r)
        let mean = 3.0, std = (14.0 / 4).squareRoot()   // population std: (4 + 1 + 0 + 9)/4
        XCTAssertEqual(a.mean, mean, accuracy: 1e-12)
        XCTAssertEqual(a.std, std, accuracy: 1e-12)
        XCTAssertFalse(a.dropped)
        for (x, y) in zip(a.values, r) { XCTAssertEqual(Double(x), (Double(y) - mean) / (std + 1e-4), accuracy: 1e-6) }
        XCTAssertEqual(a.values.reduce(0, +), 0, accuracy: 1e-6)

        // One outlier in a large group exceeds 5 standard deviations: clipped to 5.
        let outlier = GroupAdvantages(rewards: Array(repeating: 0, count: 39) + [1])
        XCTAssertEqual(outlier.values.last, 5)
        let m = 1.0 / 40, sd = ((39 * m * m + (1 - m) * (1 - m)) / 40).squareRoot()
        XCTAssertEqual(Double(outlier.values[0]), -m / (sd + 1e-4), accuracy: 1e-6)
        let wide = GroupAdvantages(rewards: Array(repeating: 0, count: 39) + [-1], clip: 2)
        XCTAssertEqual(wide.values.last, -2)

        // No spread: dropped, zero advantages.
        let flat = GroupAdvantages(rewards: [0.5, 0.5, 0.5])
        XCTAssertTrue(flat.dropped)
        XCTAssertEqual(flat.values, [0, 0, 0])
        // A tiny spread is kept; the 1e-4 keeps the advantages bounded.
        let tiny = GroupAdvantages(rewards: [0, 1e-6])
        XCTAssertFalse(tiny.dropped)
        XCTAssertLessThan(Swift.abs(tiny.values[0]), 0.01)
    }

    func testDroppedGroupsAreCountedAndNotReplayed() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        let settings = tinySettings()
        let sampler = GRPOSampler(policy: policy, settings: settings)
        // A reward without spread for clip 0 and with spread for clip 1.
        final class ClipZeroFlat: MotionReward {
            let name = "flat-for-clip-0"
            let latentDim: Int? = nil
            func score(motion: Tensor, context: RewardContext) throws -> [Float] {
                let emotion = context.conditions.emotion![0]
                return noGrad { emotion == 0 ? Array(repeating: 1, count: motion.shape[0]) : motion.mean(axes: [1, 2]).toArray() }
            }
        }
        let rollout = try sampler.rollout(clips: [tinyClip(config, index: 0), tinyClip(config, index: 1)], iteration: 0, seed: 1,
                                          reward: ClipZeroFlat())
        XCTAssertEqual(rollout.droppedGroups, 1)
        XCTAssertTrue(rollout.groups[0].isDropped)
        let pass = try GRPOReplayer(policy: policy, reference: copyOf(policy), settings: settings).replay(rollout)
        XCTAssertEqual(pass.candidates, 4)
        XCTAssertEqual(pass.steps[0].ratios.count, 4)
    }

    func testBadSettingsAreRefused() {
        func message(_ change: (inout GRPOSettings) -> Void) -> String {
            var s = tinySettings()
            change(&s)
            do { try s.validate(); return "" } catch { return error.description }
        }
        XCTAssertTrue(message { $0.groupSize = 1 }.contains("[grpo] group_size: must be ≥ 2"), message { $0.groupSize = 1 })
        let last = message { $0.windowStart = 3; $0.windowSize = 3 }
        XCTAssertTrue(last.contains("contains the last step k = 5"), last)
        XCTAssertTrue(message { $0.noiseLevel = 0 }.contains("[grpo] noise_level"))
        XCTAssertTrue(message { $0.sdeKind = .cps; $0.noiseLevel = 1.5 }.contains("[0, 1]"))
        XCTAssertTrue(message { $0.replayBatch = 9 }.contains("[grpo] replay_batch"))
        XCTAssertTrue(message { $0.clipRange = 0 }.contains("[grpo] clip_range"))
        XCTAssertEqual(message { _ in }, "")
    }

    func testRewardForAnotherLatentWidthIsRefused() throws {
        let policy = tinyPolicy(tinyConfig(latentDim: 4))
        let reward = TargetReward(target: 0, latentDim: 70)
        let settings = tinySettings()
        XCTAssertThrowsError(try GRPOLearner(policy: policy, reference: copyOf(policy), reward: reward, settings: settings,
                                             optimizer: AdamW(policy.trainableParameters(), learningRate: 1e-3),
                                             schedule: ConstantSchedule(1e-3), seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("built for latents of width 70, the policy generates width 4"), "\(error)")
        }
        XCTAssertThrowsError(try GRPOSampler(policy: policy, settings: settings)
            .rollout(clips: [tinyClip(policy.config, index: 0)], iteration: 0, seed: 0, reward: reward))
        XCTAssertThrowsError(try LipOpeningReward(latentDim: 8)) { error in
            XCTAssertTrue("\(error)".contains("width ≥ 44"), "\(error)")
        }
    }
}
