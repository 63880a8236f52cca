import KineticGRPO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// Rollouts: recorded transitions, the schedule of s_k, a = 0 against the ODE, seeds.
final class RolloutTests: XCTestCase {
    func testRecordedStepsAreTheGaussianTransitionsOfTheSchedule() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        for kind in SDEKind.allCases {
            let settings = tinySettings(kind: kind, noise: 0.6)
            let rollout = try GRPOSampler(policy: policy, settings: settings)
                .rollout(clips: [tinyClip(config, index: 2)], iteration: 1, seed: 4, reward: TargetReward(target: 0), recordAll: true)
            let group = rollout.groups[0]
            XCTAssertEqual(group.steps.map(\.k), Array(0..<6))
            XCTAssertEqual(rollout.grid, shiftedTimeGrid(steps: 6, shift: 2))
            for (k, step) in group.steps.enumerated() {
                let t = rollout.grid[k], tNext = rollout.grid[k + 1]
                XCTAssertEqual(step.t, t); XCTAssertEqual(step.tNext, tNext)
                let next = k + 1 < group.steps.count ? group.steps[k + 1].x : group.final
                // x_{k+1} = μ_k + s_k·ξ_k in every number.
                let err = maxAbsoluteError(next, step.mu + step.xi * step.s)
                XCTAssertEqual(err, 0, "\(kind) step \(k)")
                if settings.isSDEStep(k) {
                    let expected: Double
                    switch kind {
                    case .flow:
                        let denominator = 1 - Double(t == 1 ? tNext : t)
                        expected = 0.6 * (Double(t) / denominator).squareRoot() * (Double(t) - Double(tNext)).squareRoot()
                    case .cps:
                        expected = Double(tNext) * Foundation.sin(0.6 * Double.pi / 2)
                    }
                    XCTAssertEqual(Double(step.s), expected, accuracy: 1e-6 * expected, "\(kind) step \(k)")
                    XCTAssertTrue(step.isSDE)
                    // ξ is a fresh standard normal draw.
                    let xi = step.xi.toArray()
                    XCTAssertTrue(xi.contains { $0 != 0 })
                } else {
                    XCTAssertEqual(step.s, 0)
                    XCTAssertFalse(step.isSDE)
                }
            }
        }
    }

    /// Noise level 0: every step is the Euler step, and the rollout equals `sampleODE` bit for bit.
    func testZeroNoiseEqualsTheODE() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        for kind in SDEKind.allCases {
            var settings = tinySettings(kind: kind, noise: 0)
            settings.guidance = GuidanceWeights(audio: 2, identity: 1, reference: 1)
            let clip = tinyClip(config, index: 4)
            let sampler = GRPOSampler(policy: policy, settings: settings)
            let rollout = try sampler.rollout(clips: [clip], iteration: 0, seed: 9, reward: TargetReward(target: 0), recordAll: true)
            let conditions = clip.conditions.repeated(settings.groupSize)
            let noise = sampler.initialNoise(seed: 9, iteration: 0, clip: clip.index, frames: 6)
            let ode = noGrad { () -> Tensor in
                let plan = GuidancePlan(model: policy, conditions: conditions, weights: settings.guidance)
                return sampleODE(from: noise, grid: sampler.grid, solver: .euler) { x, t in policy.guidedVelocity(x, t: t, plan: plan) }
            }
            XCTAssertEqual(bitPatterns(rollout.groups[0].final), bitPatterns(ode), "\(kind)")
            XCTAssertTrue(rollout.groups[0].steps.allSatisfy { $0.s == 0 })
        }
    }

    /// The flow step is Vocal's `sdeStep` (same μ and s bit for bit); the coefficients-preserving
    /// step keeps the schedule's coefficients for a perfect velocity.
    func testStepFormulas() {
        let x = randn([2, 3, 4], seed: 1), v = randn([2, 3, 4], seed: 2), xi = randn([2, 3, 4], seed: 3)
        for (t, tNext) in [(Float(1), Float(0.8)), (0.6, 0.45), (0.2, 0.05)] {
            let vocal = sdeStep(x: x, v: v, t: t, tNext: tNext, noiseLevel: 0.7, xi: xi)
            let mu = PolicyStep.mean(kind: .flow, x: x, v: v, t: t, tNext: tNext, noiseLevel: 0.7)
            XCTAssertEqual(bitPatterns(mu), bitPatterns(vocal.mu))
            XCTAssertEqual(PolicyStep.std(kind: .flow, t: t, tNext: tNext, noiseLevel: 0.7), vocal.s, accuracy: 1e-7)
            // a = 0 is the Euler step for both kinds.
            for kind in SDEKind.allCases {
                XCTAssertEqual(bitPatterns(PolicyStep.mean(kind: kind, x: x, v: v, t: t, tNext: tNext, noiseLevel: 0)),
                               bitPatterns(eulerStep(x: x, v: v, t: t, tNext: tNext)))
                XCTAssertEqual(PolicyStep.std(kind: kind, t: t, tNext: tNext, noiseLevel: 0), 0)
            }
            // CPS with the exact velocity v = ε − x₀ at x = (1 − t)x₀ + tε: μ = (1 − t')x₀ + t'cos(aπ/2)ε
            // and s = t'sin(aπ/2), so the noise keeps the magnitude t' of the schedule.
            let x0 = randn([2, 3, 4], seed: 7), eps = randn([2, 3, 4], seed: 8)
            let xt = x0 * (1 - t) + eps * t
            let a = 0.6
            let cpsMu = PolicyStep.mean(kind: .cps, x: xt, v: eps - x0, t: t, tNext: tNext, noiseLevel: Float(a))
            let c = Float(Double(tNext) * Foundation.cos(a * Double.pi / 2))
            XCTAssertLessThanOrEqual(maxAbsoluteError(cpsMu, x0 * (1 - tNext) + eps * c), 2e-6)
            let s = PolicyStep.std(kind: .cps, t: t, tNext: tNext, noiseLevel: Float(a))
            XCTAssertEqual(Double(c * c + s * s), Double(tNext * tNext), accuracy: 1e-6)
        }
    }

    /// A candidate's noises depend only on (seed, iteration, clip, candidate): not on the group
    /// size nor on the other clips; `shared_noise` gives every candidate candidate 0's start.
    func testSeedsDependOnClipCandidateAndIterationOnly() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        let small = GRPOSampler(policy: policy, settings: tinySettings(groupSize: 2))
        let large = GRPOSampler(policy: policy, settings: tinySettings(groupSize: 4))
        let a = small.initialNoise(seed: 1, iteration: 3, clip: 7, frames: 6)
        let b = large.initialNoise(seed: 1, iteration: 3, clip: 7, frames: 6)
        XCTAssertEqual(bitPatterns(a), bitPatterns(b.slice(dim: 0, start: 0, end: 2)))
        XCTAssertNotEqual(bitPatterns(a.slice(dim: 0, start: 0, end: 1)), bitPatterns(a.slice(dim: 0, start: 1, end: 2)))
        XCTAssertNotEqual(bitPatterns(a), bitPatterns(small.initialNoise(seed: 1, iteration: 4, clip: 7, frames: 6)))
        XCTAssertNotEqual(bitPatterns(a), bitPatterns(small.initialNoise(seed: 1, iteration: 3, clip: 8, frames: 6)))
        // The final motions of clip 7 are the same whether or not another clip is rolled out first.
        let alone = try small.rollout(clips: [tinyClip(config, index: 7)], iteration: 3, seed: 1, reward: TargetReward(target: 0))
        let both = try small.rollout(clips: [tinyClip(config, index: 2), tinyClip(config, index: 7)], iteration: 3, seed: 1,
                                     reward: TargetReward(target: 0))
        XCTAssertEqual(bitPatterns(alone.groups[0].final), bitPatterns(both.groups[1].final))

        var shared = tinySettings(groupSize: 3)
        shared.sharedInitialNoise = true
        let s = GRPOSampler(policy: policy, settings: shared)
        let x0 = s.initialNoise(seed: 1, iteration: 0, clip: 0, frames: 6)
        XCTAssertEqual(bitPatterns(x0.slice(dim: 0, start: 0, end: 1)), bitPatterns(x0.slice(dim: 0, start: 2, end: 3)))
        let r = try s.rollout(clips: [tinyClip(config, index: 0)], iteration: 0, seed: 1, reward: TargetReward(target: 0))
        let finals = r.groups[0].final
        XCTAssertNotEqual(bitPatterns(finals.slice(dim: 0, start: 0, end: 1)), bitPatterns(finals.slice(dim: 0, start: 2, end: 3)),
                          "the SDE noises of the candidates must differ")
    }
}
