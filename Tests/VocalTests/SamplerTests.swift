import Foundation
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

final class SamplerTests: XCTestCase {
    func testShiftedGridEndsAtOneAndZeroAndFollowsTheFormula() {
        XCTAssertEqual(shiftedTimeGrid(steps: 4, shift: 1), [1, 0.75, 0.5, 0.25, 0])
        let g = shiftedTimeGrid(steps: 10, shift: 3)
        XCTAssertEqual(g.count, 11)
        XCTAssertEqual(g.first, 1); XCTAssertEqual(g.last, 0)
        for k in 1..<10 {
            let u = 1 - Double(k) / 10
            XCTAssertEqual(Double(g[k]), 3 * u / (1 + 2 * u), accuracy: 1e-7)
            XCTAssertLessThan(g[k + 1], g[k])
            XCTAssertGreaterThan(Double(g[k]), u, "S > 1 keeps t above the uniform grid")
        }
    }

    func testSDEStepFollowsTheFormula() {
        let x = randn([3, 5], seed: 1), v = randn([3, 5], seed: 2), xi = randn([3, 5], seed: 3)
        for (t, tNext, a) in [(Float(1), Float(0.9), Float(0.7)), (0.6, 0.45, 0.3), (0.2, 0, 1.0)] {
            let (mu, s, xNext) = sdeStep(x: x, v: v, t: t, tNext: tNext, noiseLevel: a, xi: xi)
            let tt = Double(t), dt = Double(tNext) - tt
            let sigma = Double(a) * (tt / (1 - (t == 1 ? Double(tNext) : tt))).squareRoot()
            XCTAssertEqual(Double(s), sigma * abs(dt).squareRoot(), accuracy: 1e-6 * max(1, sigma))
            let xs = x.toArray(), vs = v.toArray(), xis = xi.toArray(), ms = mu.toArray(), ns = xNext.toArray()
            for i in 0..<xs.count {
                let xv = Double(xs[i]), vv = Double(vs[i])
                let m = xv + (vv + sigma * sigma / (2 * tt) * (xv + (1 - tt) * vv)) * dt
                XCTAssertEqual(Double(ms[i]), m, accuracy: 1e-5 * max(1, abs(m)))
                XCTAssertEqual(Double(ns[i]), m + Double(s) * Double(xis[i]), accuracy: 1e-5 * max(1, abs(m)))
            }
        }
    }

    func testSDEWithNoiseLevelZeroEqualsTheEulerODEBitForBit() throws {
        // A nonlinear field on its own …
        let field: VelocityField = { x, t in (x * x).sin() * (1 - t) + x * t }
        let noise = randn([4, 7, 3], seed: 5)
        let grid = shiftedTimeGrid(steps: 12, shift: 2.5)
        let ode = sampleODE(from: noise, grid: grid, solver: .euler, velocity: field)
        let (sde, trajectory) = sampleSDE(from: noise, grid: grid, noiseLevel: 0, generator: Generator(seed: 9), record: true, velocity: field)
        XCTAssertEqual(bits(ode), bits(sde))
        XCTAssertEqual(trajectory!.stds, Array(repeating: 0, count: 12))
        // … and the VOCAL model with three-way guidance.
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        var settings = SamplingSettings()
        settings.steps = 6
        settings.shift = 2
        settings.guidance = GuidanceWeights(audio: 2.5, identity: 1.5, reference: 0.5)
        settings.sampler = .euler
        let conditions = makeConditions(config)
        let start = randn([2, 6, config.latentDim], seed: 6)
        let euler = try VocalSampler(model: model, settings: settings).sampleWindow(conditions: conditions, noise: start).motion
        settings.sampler = .sde
        settings.noiseLevel = 0
        let zero = try VocalSampler(model: model, settings: settings).sampleWindow(conditions: conditions, noise: start, generator: Generator(seed: 3)).motion
        XCTAssertEqual(bits(euler), bits(zero))
        settings.noiseLevel = 0.5
        let noisy = try VocalSampler(model: model, settings: settings).sampleWindow(conditions: conditions, noise: start, generator: Generator(seed: 3)).motion
        XCTAssertGreaterThan(maxAbsoluteError(euler, noisy), 1e-3, "a > 0 adds noise")
    }

    func testSDETrajectoryRecordsEveryStepAndReplaysExactly() {
        let field: VelocityField = { x, t in x.tanh() * (2 - t) }
        let noise = randn([3, 4], seed: 8)
        let grid = shiftedTimeGrid(steps: 5, shift: 1.5)
        let (final, traj) = sampleSDE(from: noise, grid: grid, noiseLevel: 0.7, generator: Generator(seed: 4), record: true, velocity: field)
        let tr = traj!
        XCTAssertEqual(tr.steps, 5)
        XCTAssertEqual(tr.times, Array(grid.dropLast()))
        XCTAssertEqual(tr.nextTimes, Array(grid.dropFirst()))
        XCTAssertEqual(bits(tr.states[0]), bits(noise))
        for k in 0..<5 {
            // Replay: the same step from the stored state gives the stored mean bit for bit
            // (GRPO's ratio is exactly 1 for an unchanged model).
            let (mu, s, next) = sdeStep(x: tr.states[k], v: field(tr.states[k], tr.times[k]), t: tr.times[k], tNext: tr.nextTimes[k],
                                        noiseLevel: 0.7, xi: tr.noises[k])
            XCTAssertEqual(bits(mu), bits(tr.means[k]))
            XCTAssertEqual(s, tr.stds[k])
            XCTAssertGreaterThan(s, 0)
            XCTAssertEqual(bits(next), bits(k + 1 < 5 ? tr.states[k + 1] : final))
        }
    }

    /// The SDE's marginals equal the ODE's: with the exact velocity of Gaussian data
    /// x₀ ~ N(m, s²), sampling with a = 0.7 ends at N(m, s²). 4000 samples, 60 steps; the mean
    /// must be within 0.05 and the std within 0.05 (standard errors 0.008 and 0.006).
    func testSDEWithTheExactVelocityOfGaussianDataEndsAtThatGaussian() {
        let m: Float = 1.5, s: Float = 0.5
        // E[ε − x₀ | x_t] for x_t = (1 − t)x₀ + tε.
        let field: VelocityField = { x, t in
            let varT = (1 - t) * (1 - t) * s * s + t * t
            let centred = x - (1 - t) * m
            let eps = centred * (t / varT)
            let x0 = centred * ((1 - t) * s * s / varT) + m
            return eps - x0
        }
        let noise = randn([4000, 1], seed: 12)
        for a in [Float(0), 0.7] {
            let (x, _) = sampleSDE(from: noise, grid: shiftedTimeGrid(steps: 60, shift: 1), noiseLevel: a, generator: Generator(seed: 13), velocity: field)
            let v = x.toArray().map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
            XCTAssertEqual(mean, Double(m), accuracy: 0.05, "a = \(a)")
            XCTAssertEqual(std, Double(s), accuracy: 0.05, "a = \(a)")
        }
    }

    // MARK: Guidance

    func testGuidanceWithAllWeightsOneEqualsTheConditionalVelocity() {
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        let conditions = makeConditions(config)
        let x = randn([2, 6, config.latentDim], seed: 30)
        let plan = GuidancePlan(model: model, conditions: conditions, weights: GuidanceWeights(audio: 1, identity: 1, reference: 1))
        XCTAssertEqual(plan.sets.count, 1)
        let guided = noGrad { model.guidedVelocity(x, t: 0.6, plan: plan) }
        let conditional = noGrad { model(x, t: [0.6, 0.6], conditions: conditions) }
        XCTAssertEqual(bits(guided), bits(conditional))
    }

    func testGuidanceCombinesTheConditionSetsInOneBatchedForward() {
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        let conditions = makeConditions(config)
        let x = randn([2, 6, config.latentDim], seed: 31)
        let w = GuidanceWeights(audio: 2.5, identity: 1.5, reference: 0.5)
        let plan = GuidancePlan(model: model, conditions: conditions, weights: w)
        XCTAssertEqual(plan.sets.count, 4)
        XCTAssertEqual(plan.encoded.rows, 8, "four sets of two samples in one forward")
        let guided = noGrad { model.guidedVelocity(x, t: 0.35, plan: plan) }
        // The nested formula from separate forwards.
        func v(_ keep: ConditionKeep) -> Tensor { noGrad { model(x, t: [0.35, 0.35], conditions: conditions, keep: keep) } }
        let none = v(.unconditional)
        let a = v(ConditionKeep(audio: true, identity: false, emotion: false, reference: false))
        let ai = v(ConditionKeep(reference: false))
        let air = v(.all)
        let expected = noGrad { none + (a - none) * 2.5 + (ai - a) * 1.5 + (air - ai) * 0.5 }
        let scale = Double(expected.abs().max().item)
        XCTAssertLessThan(maxAbsoluteError(guided, expected), 1e-5 * max(1, scale))
        // The sets differ, so the weights matter.
        XCTAssertGreaterThan(maxAbsoluteError(none, air), 1e-3)
        // Without a reference frame, (a,i) and (a,i,r) coincide and are merged.
        var noReference = conditions
        noReference.reference = nil
        XCTAssertEqual(GuidancePlan(model: model, conditions: noReference, weights: w).sets.count, 3)
        // w_a = 0 with the other weights 0 is unconditional sampling: one set.
        let off = GuidancePlan(model: model, conditions: conditions, weights: GuidanceWeights(audio: 0, identity: 0, reference: 0))
        XCTAssertEqual(off.sets.count, 1)
        XCTAssertEqual(off.sets[0].keep, .unconditional)
    }

    // MARK: Long audio

    func testSlidingWindowsCarryThePreviousWindowsTailAsPrefix() throws {
        let config = testConfig()  // windows of 6 frames, prefix 3
        let model = makeModel(config)
        nudgeZeroInitialised(model, std: 0.3)
        var settings = SamplingSettings()
        settings.steps = 4
        settings.guidance = GuidanceWeights(audio: 2, identity: 1, reference: 1)
        let sampler = VocalSampler(model: model, settings: settings)
        let total = 15
        let audio = randn([2, config.audioLayers, 2 * total, config.audioWidth], seed: 40)
        let identity = randn([2, 5, config.latentDim], seed: 41)
        let reference = randn([2, config.latentDim], seed: 42)
        let emotion = [1, 4]
        let g = Generator(seed: 43)
        XCTAssertEqual(sampler.windows(frames: total), [0..<6, 6..<12, 12..<15])
        let out = try sampler.sampleLong(audio: audio, identity: identity, emotion: emotion, reference: reference, generator: g)
        XCTAssertEqual(out.shape, [2, total, config.latentDim])
        // Rebuild each window by hand: window w starts from noise of generator.derived(w) and, after
        // the first, has the 3 frames before it as prefix.
        var previousTail: Tensor? = nil
        for (w, r) in sampler.windows(frames: total).enumerated() {
            let windowAudio = audio.slice(dim: 2, start: 2 * r.lowerBound, end: 2 * r.upperBound).contiguous()
            let noise = Tensor.normal([2, r.count, config.latentDim], generator: g.derived(UInt64(w)))
            let conditions = VocalConditions(audio: windowAudio, identity: identity, emotion: emotion, reference: reference, prefix: previousTail)
            let expected = try sampler.sampleWindow(conditions: conditions, noise: noise).motion
            let got = out.slice(dim: 1, start: r.lowerBound, end: r.upperBound)
            XCTAssertEqual(bits(got), bits(expected), "window \(w)")
            if previousTail != nil {
                var alone = conditions
                alone.prefix = nil
                let withoutPrefix = try sampler.sampleWindow(conditions: alone, noise: noise).motion
                XCTAssertGreaterThan(maxAbsoluteError(withoutPrefix, expected), 1e-3, "window \(w) ignores its prefix")
            }
            previousTail = out.slice(dim: 1, start: r.upperBound - 3, end: r.upperBound).contiguous()
        }
    }
}
