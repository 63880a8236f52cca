import KineticGRPO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// The replay's log-ratio (docs/architecture.md §6, issue 8 Done-when 1): exactly 0 with unchanged weights and
/// the rollout's batch shape, tiny with another batch shape, and the formulas behind it.
final class ReplayTests: XCTestCase {
    /// A rollout of two clips and a replay pass with the given replay batch.
    func rolloutAndReplay(kind: SDEKind, replayBatch: Int, guidance: GuidanceWeights = .none,
                          shared: Bool = false) throws -> (GRPORollout, ReplayPass) {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        var settings = tinySettings(kind: kind, noise: kind == .cps ? 0.6 : 0.8)
        settings.replayBatch = replayBatch
        settings.guidance = guidance
        settings.sharedInitialNoise = shared
        let clips = [tinyClip(config, index: 3), tinyClip(config, index: 8)]
        let rollout = try GRPOSampler(policy: policy, settings: settings)
            .rollout(clips: clips, iteration: 5, seed: 11, reward: TargetReward(target: 0.3))
        XCTAssertEqual(rollout.droppedGroups, 0)
        let pass = try GRPOReplayer(policy: policy, reference: copyOf(policy), settings: settings).replay(rollout)
        return (rollout, pass)
    }

    func testUnchangedWeightsAndRolloutBatchShapeGiveLogRatioZeroBitForBit() throws {
        for (kind, guidance) in [(SDEKind.flow, GuidanceWeights.none), (.cps, .none),
                                 (.flow, GuidanceWeights(audio: 2.5, identity: 1.5, reference: 1))] {
            let (rollout, pass) = try rolloutAndReplay(kind: kind, replayBatch: 4, guidance: guidance)
            XCTAssertEqual(pass.steps.map(\.k), [1, 2, 3])
            XCTAssertEqual(pass.candidates, 8)
            for step in pass.steps {
                XCTAssertEqual(step.logRatios.count, 8)
                // Every log ρ is +0.0 or −0.0: d = μ_θ − μ_old is exactly zero in every number.
                XCTAssertTrue(step.logRatios.allSatisfy { $0 == 0 }, "\(kind) step \(step.k): log ρ = \(step.logRatios)")
                XCTAssertTrue(step.ratios.allSatisfy { $0 == 1 }, "\(kind) step \(step.k): ρ = \(step.ratios)")
                XCTAssertTrue(step.klPerDimension.allSatisfy { $0 == 0 }, "\(kind) step \(step.k): KL = \(step.klPerDimension)")
                XCTAssertEqual(step.clipped, 0)
            }
            // With ρ = 1 the loss is −mean(A), and the advantages of each group sum to ~0.
            let meanAdvantage = rollout.groups.flatMap(\.advantages.values).reduce(0.0) { $0 + Double($1) } / 8
            XCTAssertEqual(pass.loss, -meanAdvantage, accuracy: 1e-6)
        }
    }

    func testAnotherReplayBatchShapeKeepsLogRatioTiny() throws {
        var largest: Float = 0
        defer { print("largest |log ρ| with another replay batch shape: \(largest)") }
        for kind in SDEKind.allCases {
            for batch in [1, 3] {
                let (_, pass) = try rolloutAndReplay(kind: kind, replayBatch: batch)
                for step in pass.steps {
                    let worst = step.logRatios.map { Swift.abs($0) }.max() ?? .infinity
                    // |log ρ| is already summed over the candidate's D numbers.
                    XCTAssertLessThanOrEqual(worst, 1e-3, "\(kind), replay batch \(batch), step \(step.k)")
                    largest = Swift.max(largest, worst)
                    XCTAssertEqual(step.logRatios.count, 8)
                }
            }
        }
    }

    /// log ρ from the stable formula equals the difference of the two Gaussian log-densities of
    /// x_{k+1} = μ_old + s·ξ, computed directly in Double.
    func testLogRatioIsTheGaussianLogDensityDifference() {
        let muOld = randn([3, 5, 4], seed: 1), xi = randn([3, 5, 4], seed: 2)
        let muTheta = muOld + randn([3, 5, 4], seed: 3) * 0.01
        let s: Float = 0.07
        let got = PolicyStep.logRatio(muTheta: muTheta, muOld: muOld, xi: xi, s: s).toArray()
        let a = muOld.toArray(), b = muTheta.toArray(), z = xi.toArray()
        for row in 0..<3 {
            var lpNew = 0.0, lpOld = 0.0
            for i in (row * 20)..<((row + 1) * 20) {
                let x = Double(a[i]) + Double(s) * Double(z[i])
                lpNew += -(x - Double(b[i])) * (x - Double(b[i])) / (2 * Double(s) * Double(s))
                lpOld += -(x - Double(a[i])) * (x - Double(a[i])) / (2 * Double(s) * Double(s))
            }
            XCTAssertEqual(Double(got[row]), lpNew - lpOld, accuracy: 1e-3 * Swift.max(1, Swift.abs(lpNew - lpOld)))
        }
        let kl = PolicyStep.meanKL(muTheta: muTheta, muRef: muOld, s: s).toArray()
        for row in 0..<3 {
            var sq = 0.0
            for i in (row * 20)..<((row + 1) * 20) { sq += Double(b[i] - a[i]) * Double(b[i] - a[i]) }
            XCTAssertEqual(Double(kl[row]), sq / (2 * Double(s) * Double(s)), accuracy: 1e-4 * sq / Double(s * s))
        }
    }

    /// The clipped objective's gradient with respect to μ_θ against central differences, with
    /// μ_θ far enough from μ_old that some ratios are clipped.
    func testObjectiveGradientMatchesFiniteDifferences() {
        let muOld = randn([4, 2, 3], seed: 4), xi = randn([4, 2, 3], seed: 5)
        let muTheta = muOld + randn([4, 2, 3], seed: 6) * 0.05
        let muRef = muOld + randn([4, 2, 3], seed: 7) * 0.05
        let adv = Tensor([1.2, -0.7, 0.4, -1.5], shape: [4])
        let s: Float = 0.1, eps: Float = 0.2, beta: Float = 0.5, dim: Float = 6
        let report = gradCheck([muTheta], eps: 1e-3, atol: 2e-3, rtol: 2e-2) { xs in
            let ratio = (PolicyStep.logRatio(muTheta: xs[0], muOld: muOld, xi: xi, s: s) * (1 / dim)).exp()
            let policy = (-(adv * ratio)).maximum(-(adv * ratio.clamp(min: 1 - eps, max: 1 + eps)))
            return (policy + PolicyStep.meanKL(muTheta: xs[0], muRef: muRef, s: s) * (beta / dim)).sum()
        }
        XCTAssertTrue(report.passed, "\(report)")
    }

    /// Gradients accumulated one candidate at a time equal those of whole-group replays
    /// (the per-(candidate, step) weights make both the gradient of the same mean loss).
    func testGradientDoesNotDependOnReplayBatch() throws {
        let config = tinyConfig()
        let policy = tinyPolicy(config)
        let settings = tinySettings()
        let rollout = try GRPOSampler(policy: policy, settings: settings)
            .rollout(clips: [tinyClip(config, index: 1)], iteration: 0, seed: 3, reward: TargetReward(target: 0.3))
        // Move the policy so that ratios differ from 1 and the KL is not zero.
        noGrad { for (_, p) in policy.namedParameters() { p.assign(p.value + Tensor.normal(p.shape, std: 0.01, generator: Generator(seed: 5))) } }
        let reference = copyOf(tinyPolicy(config))
        var grads: [[String: [Float]]] = []
        for batch in [4, 1] {
            var s = settings
            s.replayBatch = batch
            policy.zeroGrad()
            _ = try GRPOReplayer(policy: policy, reference: reference, settings: s).replay(rollout)
            var g: [String: [Float]] = [:]
            for (name, p) in policy.namedParameters() { g[name] = p.grad?.toArray() ?? [] }
            grads.append(g)
        }
        var worst: Float = 0, scale: Float = 0
        for (name, a) in grads[0] {
            let b = grads[1][name]!
            XCTAssertEqual(a.count, b.count, name)
            for (x, y) in zip(a, b) { worst = Swift.max(worst, Swift.abs(x - y)); scale = Swift.max(scale, Swift.abs(x)) }
        }
        XCTAssertGreaterThan(scale, 0)
        XCTAssertLessThanOrEqual(worst, 1e-3 * scale, "largest gradient difference \(worst) (largest gradient \(scale))")
    }
}
