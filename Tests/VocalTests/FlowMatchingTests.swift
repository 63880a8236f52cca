import Foundation
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// A small velocity field for 2-D points: MLP([x, y, t]) with SiLU.
final class ToyVelocity: Module {
    let l1: Linear, l2: Linear, l3: Linear
    init(hidden: Int, generator g: Generator) {
        l1 = Linear(3, hidden, generator: g)
        l2 = Linear(hidden, hidden, generator: g)
        l3 = Linear(hidden, 2, generator: g)
    }
    func callAsFunction(_ x: Tensor, t: [Float]) -> Tensor {
        let input = Tensor.concat([x, Tensor(t, shape: [t.count, 1])], dim: 1)
        return l3(l2(l1(input).silu()).silu())
    }
}

/// The 2-D toy distribution: three Gaussian modes of unequal mass.
enum ToyMixture {
    static let centres: [(Float, Float)] = [(-2, 0), (2, 1), (0.5, -2.5)]
    static let weights: [Double] = [0.5, 0.3, 0.2]
    static let std: Float = 0.35

    static func sample(_ n: Int, generator g: Generator) -> Tensor {
        var v: [Float] = []
        for _ in 0..<n {
            let u = g.nextUniform()
            let k = u < weights[0] ? 0 : (u < weights[0] + weights[1] ? 1 : 2)
            v.append(centres[k].0 + std * Float(g.nextNormal()))
            v.append(centres[k].1 + std * Float(g.nextNormal()))
        }
        return Tensor(v, shape: [n, 2])
    }

    /// Fraction of points nearest to each centre.
    static func modeMass(_ x: Tensor) -> [Double] {
        let v = x.toArray(), n = x.shape[0]
        var counts = [0, 0, 0]
        for i in 0..<n {
            let d = centres.map { pow(v[2 * i] - $0.0, 2) + pow(v[2 * i + 1] - $0.1, 2) }
            counts[d.firstIndex(of: d.min()!)!] += 1
        }
        return counts.map { Double($0) / Double(n) }
    }

    /// Energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| (V-statistics over all pairs).
    static func energyDistance(_ a: Tensor, _ b: Tensor) -> Double {
        let x = a.toArray(), y = b.toArray(), n = a.shape[0], m = b.shape[0]
        func meanDistance(_ p: [Float], _ np: Int, _ q: [Float], _ nq: Int) -> Double {
            var s = 0.0
            p.withUnsafeBufferPointer { pp in
                q.withUnsafeBufferPointer { qq in
                    for i in 0..<np {
                        let px = Double(pp[2 &* i]), py = Double(pp[2 &* i &+ 1])
                        var row = 0.0
                        for j in 0..<nq {
                            let dx = px - Double(qq[2 &* j]), dy = py - Double(qq[2 &* j &+ 1])
                            row += (dx * dx + dy * dy).squareRoot()
                        }
                        s += row
                    }
                }
            }
            return s / Double(np * nq)
        }
        return 2 * meanDistance(x, n, y, m) - meanDistance(x, n, x, n) - meanDistance(y, m, y, m)
    }
}

final class FlowMatchingTests: XCTestCase {
    func testRectifiedFlowPairAndLossFollowTheFormulas() {
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        let batch = VocalBatch(motion: randn([2, 6, config.latentDim], seed: 1), conditions: makeConditions(config, batch: 2))
        let settings = FlowMatchingSettings()
        let g1 = Generator(seed: 42), g2 = Generator(seed: 42)
        let loss = noGrad { flowMatchingLoss(model: model, batch: batch, settings: settings, generator: g1) }.item
        // The same draws by hand: x_t = (1 − t)x₀ + tε, v = ε − x₀, mean squared error.
        let draw = FlowMatchingDraw.draw(shape: [2, 6, config.latentDim], settings: settings, generator: g2)
        XCTAssertEqual(g1.state, g2.state, "the loss consumes exactly the documented draws")
        let x0 = batch.motion.toArray(), eps = draw.noise.toArray()
        var xt = [Float](repeating: 0, count: x0.count), target = xt
        let per = 6 * config.latentDim
        for i in 0..<x0.count {
            let t = draw.t[i / per]
            xt[i] = (1 - t) * x0[i] + t * eps[i]
            target[i] = eps[i] - x0[i]
        }
        let v = noGrad { model.velocity(Tensor(xt, shape: [2, 6, config.latentDim]), t: draw.t,
                                        conditions: model.encode(batch.conditions, keep: draw.keep)) }.toArray()
        var mse = 0.0
        for i in 0..<v.count { mse += Double((v[i] - target[i]) * (v[i] - target[i])) }
        mse /= Double(v.count)
        XCTAssertEqual(Double(loss), mse, accuracy: 1e-5 * max(1, mse))
        // Validation loss is reproducible.
        let a = flowMatchingValidationLoss(model: model, batches: [batch, batch], seed: 3)
        let b = flowMatchingValidationLoss(model: model, batches: [batch, batch], seed: 3)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(a, 0)
    }

    func testTimesAreLogitNormalAndConditionsDropAtTheirRates() {
        var settings = FlowMatchingSettings()
        settings.logitNormalMean = 0.5
        settings.logitNormalStd = 0.8
        settings.dropAudio = 0.1; settings.dropIdentity = 0.2; settings.dropEmotion = 0.3
        settings.dropReference = 0.05; settings.dropPrefix = 0.5
        let n = 4000
        let draw = FlowMatchingDraw.draw(shape: [n, 1, 1], settings: settings, generator: Generator(seed: 7))
        // logit(t) must be N(0.5, 0.8²): check mean and std of logit(t) within 4 standard errors.
        let z = draw.t.map { Double(log($0 / (1 - $0))) }
        let mean = z.reduce(0, +) / Double(n)
        let std = (z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)).squareRoot()
        XCTAssertEqual(mean, 0.5, accuracy: 4 * 0.8 / Double(n).squareRoot())
        XCTAssertEqual(std, 0.8, accuracy: 4 * 0.8 / (2 * Double(n)).squareRoot())
        // Drop rates within 4 binomial standard errors; the five decisions are independent.
        func rate(_ f: (ConditionKeep) -> Bool) -> Double { Double(draw.keep.filter { !f($0) }.count) / Double(n) }
        for (name, p, r) in [("audio", 0.1, rate(\.audio)), ("identity", 0.2, rate(\.identity)), ("emotion", 0.3, rate(\.emotion)),
                             ("reference", 0.05, rate(\.reference)), ("prefix", 0.5, rate(\.prefix))] {
            XCTAssertEqual(r, p, accuracy: 4 * (p * (1 - p) / Double(n)).squareRoot(), name)
        }
        let both = Double(draw.keep.filter { !$0.audio && !$0.prefix }.count) / Double(n)
        XCTAssertEqual(both, 0.05, accuracy: 4 * (0.05 * 0.95 / Double(n)).squareRoot(), "audio and prefix drops are independent")
    }

    /// Done-when 2: flow matching then the ODE sampler reproduces a 2-D mixture of Gaussians.
    ///
    /// Statistical test on 2000 samples: (1) the mass of each mode (nearest centre) is within
    /// ±0.05 of its weight (binomial standard error ≤ 0.011, so ±0.05 is > 4 s.e.); (2) the
    /// energy distance to 2000 fresh samples of the true distribution is below 0.01. For scale:
    /// two samples of the true distribution give about 0.001; widening the modes from 0.35 to
    /// 0.45 gives 0.015; moving 0.05 of mass between modes 0.02; the untrained model (v = 0,
    /// samples = the Gaussian noise) gives about 0.5, which this test also checks fails.
    func testFlowMatchingAndODESamplerReproduceA2DMixture() {
        let g = Generator(seed: 2024)
        let model = ToyVelocity(hidden: 128, generator: g.derived(1))
        let opt = AdamW(model.trainableParameters(), learningRate: 3e-3, weightDecay: 0)
        let steps = 2500, batch = 256
        let schedule = WarmupCosineSchedule(peak: 3e-3, warmupSteps: 50, totalSteps: steps, minLR: 1e-4)
        let data = g.derived(2), noiseGen = g.derived(3), timeGen = g.derived(4)
        let reference = ToyMixture.sample(2000, generator: g.derived(5))
        let noise = Tensor.normal([2000, 2], generator: g.derived(6))
        func sample(_ solver: ODESolver, steps: Int) -> Tensor {
            sampleODE(from: noise, grid: shiftedTimeGrid(steps: steps, shift: 1), solver: solver) { x, t in
                model(x, t: Array(repeating: t, count: x.shape[0]))
            }
        }
        // Untrained control: the last layer is not zero here, so use the noise itself (v = 0).
        XCTAssertGreaterThan(ToyMixture.energyDistance(noise, reference), 0.3)
        for _ in 0..<steps {
            let x0 = ToyMixture.sample(batch, generator: data)
            let eps = Tensor.normal([batch, 2], generator: noiseGen)
            let t = logitNormalTimes(count: batch, mean: 0, std: 1, generator: timeGen)
            let (xt, target) = rectifiedFlowPair(x0: x0, noise: eps, t: t)
            let tape = Tape()
            let loss = tape.record { mseLoss(model(xt, t: t), target) }
            tape.backward(loss)
            opt.step(schedule: schedule)
            opt.zeroGrad()
        }
        for (solver, n) in [(ODESolver.heun, 16), (.euler, 40)] {
            let x = sample(solver, steps: n)
            let mass = ToyMixture.modeMass(x)
            let energy = ToyMixture.energyDistance(x, reference)
            for k in 0..<3 {
                XCTAssertEqual(mass[k], ToyMixture.weights[k], accuracy: 0.05, "\(solver) mode \(k) mass \(mass)")
            }
            XCTAssertLessThan(energy, 0.01, "\(solver) \(n) steps: energy distance \(energy), masses \(mass)")
            print("toy 2-D mixture, \(solver) \(n) steps: energy distance \(energy), mode masses \(mass)")
        }
    }
}
