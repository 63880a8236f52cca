import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoTestSupport

final class OptimizerTests: XCTestCase {
    func testSchedulesGiveKnownValues() {
        let c = WarmupCosineSchedule(peak: 1, warmupSteps: 4, totalSteps: 14, minLR: 0.1)
        XCTAssertEqual(c.lr(at: 0), 0.25, accuracy: 1e-7)
        XCTAssertEqual(c.lr(at: 3), 1, accuracy: 1e-7)
        XCTAssertEqual(c.lr(at: 4), 1, accuracy: 1e-7)
        XCTAssertEqual(c.lr(at: 9), 0.55, accuracy: 1e-6)  // halfway: 0.1 + 0.9·0.5
        XCTAssertEqual(c.lr(at: 14), 0.1, accuracy: 1e-7)
        XCTAssertEqual(c.lr(at: 1000), 0.1, accuracy: 1e-7)
        let l = WarmupLinearSchedule(peak: 2, warmupSteps: 2, totalSteps: 12, endLR: 0)
        XCTAssertEqual(l.lr(at: 0), 1, accuracy: 1e-7)
        XCTAssertEqual(l.lr(at: 1), 2, accuracy: 1e-7)
        XCTAssertEqual(l.lr(at: 7), 1, accuracy: 1e-6)
        XCTAssertEqual(l.lr(at: 12), 0, accuracy: 1e-7)
        XCTAssertEqual(ConstantSchedule(3e-4).lr(at: 123), 3e-4)
        let noWarmup = WarmupCosineSchedule(peak: 1, warmupSteps: 0, totalSteps: 10)
        XCTAssertEqual(noWarmup.lr(at: 0), 1, accuracy: 1e-7)
        // Monotone non-increasing after warm-up.
        for s in 4..<20 { XCTAssertLessThanOrEqual(c.lr(at: s + 1), c.lr(at: s)) }
    }

    func testClippingReturnsPreClipNormAndScalesToMaxNorm() {
        let a = Parameter(Tensor.zeros([2])), b = Parameter(Tensor.zeros([2, 1])), c = Parameter(Tensor.zeros([3]))
        a.grad = Tensor([3, 0])
        b.grad = Tensor([0, 4], shape: [2, 1])
        // c has no gradient: counts as zero.
        XCTAssertEqual(gradientNorm([a, b, c]), 5, accuracy: 1e-6)
        let norm = clipGradientNorm([a, b, c], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(gradientNorm([a, b, c]), 1, accuracy: 1e-5)
        XCTAssertEqual(a.grad!.toArray()[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(b.grad!.toArray()[1], 0.8, accuracy: 1e-6)
        // Below the limit nothing changes.
        let again = clipGradientNorm([a, b], maxNorm: 10)
        XCTAssertEqual(again, 1, accuracy: 1e-5)
        XCTAssertEqual(a.grad!.toArray()[0], 0.6, accuracy: 1e-6)
        // A non-finite norm is reported and the gradients are left for the caller to skip.
        a.grad = Tensor([.nan, 1])
        XCTAssertTrue(clipGradientNorm([a, b], maxNorm: 1).isNaN)
        XCTAssertEqual(a.grad!.toArray()[1], 1)
    }

    func testAccumulatedMicroBatchesEqualFullBatchMeanGradient() {
        let g = Generator(seed: 4)
        let model = MLP(6, hidden: 12, out: 2, activation: .silu, generator: g)
        let x = randn([8, 6], seed: 1), y = randn([8, 2], seed: 2)
        func loss(_ xb: Tensor, _ yb: Tensor) -> Tensor { (model(xb) - yb).square().mean() }
        let full = Tape()
        full.backward(full.record { loss(x, y) })
        let reference = model.namedParameters().map { $0.1.grad!.toArray() }
        model.zeroGrad()
        var acc = GradientAccumulator(microBatches: 4)
        for i in 0..<4 {
            let t = Tape()
            let l = t.record { loss(x.slice(dim: 0, start: 2 * i, end: 2 * i + 2), y.slice(dim: 0, start: 2 * i, end: 2 * i + 2)) }
            XCTAssertFalse(acc.isReady)
            acc.backward(l, tape: t)
        }
        XCTAssertTrue(acc.isReady)
        for ((path, p), ref) in zip(model.namedParameters(), reference) {
            let got = p.grad!.toArray()
            for i in 0..<ref.count { XCTAssertEqual(got[i], ref[i], accuracy: 1e-5 + 1e-4 * abs(ref[i]), path) }
        }
        acc.reset()
        XCTAssertEqual(acc.accumulated, 0)
        scaleGradients(model.parameters(), by: 2)
        XCTAssertEqual(model.fc1.weight.grad!.toArray()[0], 2 * reference[0][0], accuracy: 1e-5 + 2e-4 * abs(reference[0][0]))
        zeroGrad(model.parameters())
        XCTAssertTrue(model.parameters().allSatisfy { $0.grad == nil })
    }

    func testEMAFollowsTheFormulaOnAKnownSequence() throws {
        final class Holder: Module {
            let w = Parameter(Tensor([0, 10]))
        }
        let m = Holder()
        let ema = EMA(m, decay: 0.9)
        // Parameter values 1, 2, 3 (second element 10 + value); shadow starts at the initial value.
        var expected: [Double] = [0, 10]
        for v in 1...3 {
            m.w.value.copy(from: Tensor([Float(v), Float(10 + v)]))
            ema.update()
            expected = [0.9 * expected[0] + 0.1 * Double(v), 0.9 * expected[1] + 0.1 * Double(10 + v)]
        }
        let shadow = ema.shadowDict()["w"]!.toArray()
        XCTAssertEqual(Double(shadow[0]), expected[0], accuracy: 1e-6)  // 0.561
        XCTAssertEqual(Double(shadow[1]), expected[1], accuracy: 1e-5)  // 10.561
        XCTAssertEqual(Double(shadow[0]), 0.561, accuracy: 1e-6)

        // Warm-up: decays (1+n)/(10+n) = 0.1, 2/11, 0.25 while below 0.999.
        let m2 = Holder()
        let warm = EMA(m2, decay: 0.999, warmup: true)
        var e = 0.0
        for (n, v) in [4.0, 8.0, 2.0].enumerated() {
            XCTAssertEqual(Double(warm.currentDecay), (1 + Double(n)) / (10 + Double(n)), accuracy: 1e-7)
            m2.w.value.copy(from: Tensor([Float(v), 0]))
            warm.update()
            let d = (1 + Double(n)) / (10 + Double(n))
            e = d * e + (1 - d) * v
        }
        XCTAssertEqual(Double(warm.shadowDict()["w"]!.toArray()[0]), e, accuracy: 1e-5)

        // Swap twice restores; copy(into:) writes the shadow.
        let live = m.w.value.toArray()
        ema.swap()
        XCTAssertEqual(m.w.value.toArray(), shadow)
        ema.swap()
        XCTAssertEqual(m.w.value.toArray(), live)
        let other = Holder()
        try ema.copy(into: other)
        XCTAssertEqual(other.w.value.toArray(), shadow)

        // Export/import round trip; bad states are rejected with every problem named.
        let (tensors, updates) = ema.exportState()
        let restored = EMA(Holder(), decay: 0.9)
        try restored.importState(tensors: tensors, updates: updates)
        XCTAssertEqual(restored.updates, 3)
        XCTAssertEqual(restored.shadowDict()["w"]!.toArray(), shadow)
        XCTAssertThrowsError(try restored.importState(tensors: ["v": Tensor([1])], updates: 1)) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("missing: w") && text.contains("unexpected: v"), text)
        }
    }

    /// A tiny model with two groups for the state tests.
    func makeModel(seed: UInt64) -> MLP { MLP(4, hidden: 8, out: 3, generator: Generator(seed: seed)) }

    func trainSteps(_ model: MLP, _ opt: any Optimizer, steps: Int, from start: Int) {
        for s in start..<(start + steps) {
            let x = randn([5, 4], seed: UInt64(100 + s)), y = randn([5, 3], seed: UInt64(200 + s))
            let t = Tape()
            let l = t.record { (model(x) - y).square().mean() }
            opt.zeroGrad()
            t.backward(l)
            opt.step(schedule: WarmupCosineSchedule(peak: 1e-2, warmupSteps: 2, totalSteps: 10))
        }
    }

    func testOptimizerStateRoundTripResumesBitIdentically() throws {
        for kind in ["adamw", "sgd"] {
            func make(_ m: MLP) -> any Optimizer {
                let groups = ParameterGroup.decayAndNoDecay(m.namedParameters(), weightDecay: 0.05)
                return kind == "adamw" ? AdamW(groups: groups, learningRate: 1e-2) as any Optimizer
                    : SGD(groups: groups, learningRate: 1e-2, momentum: 0.9, nesterov: true)
            }
            let straight = makeModel(seed: 1)
            let o1 = make(straight)
            trainSteps(straight, o1, steps: 6, from: 0)

            let first = makeModel(seed: 1)
            let o2 = make(first)
            trainSteps(first, o2, steps: 3, from: 0)
            let state = o2.exportState()
            XCTAssertEqual(state.step, 3)
            let slots = kind == "adamw" ? ["exp_avg", "exp_avg_sq"] : ["momentum_buffer"]
            XCTAssertEqual(Set(state.tensors.keys), Set(slots.flatMap { s in first.namedParameters().map { "\(s).\($0.0)" } }))

            let resumed = makeModel(seed: 99)
            try resumed.load(stateDict: first.stateDict(copy: true))
            let o3 = make(resumed)
            try o3.importState(state)
            XCTAssertEqual(o3.stepCount, 3)
            trainSteps(resumed, o3, steps: 3, from: 3)
            for ((p, a), (_, b)) in zip(straight.namedParameters(), resumed.namedParameters()) {
                XCTAssertEqual(a.value.toArray(), b.value.toArray(), "\(kind) \(p) differs after resume")
            }
        }
    }

    func testOptimizerStateImportNamesEveryProblem() throws {
        let m = makeModel(seed: 1)
        let opt = AdamW(m.namedParameters(), learningRate: 1e-3)
        trainSteps(m, opt, steps: 1, from: 0)
        var st = opt.exportState()
        st.tensors["exp_avg.fc1.weight"] = nil
        st.tensors["exp_avg.nowhere.weight"] = Tensor.zeros([1])
        st.tensors["velocity.fc1.bias"] = Tensor.zeros([8])
        st.tensors["exp_avg_sq.fc2.bias"] = Tensor.zeros([4])
        let fresh = AdamW(m.namedParameters(), learningRate: 1e-3)
        XCTAssertThrowsError(try fresh.importState(st)) { error in
            let text = "\(error)"
            for needle in ["missing: exp_avg.fc1.weight", "unexpected: exp_avg.nowhere.weight", "unexpected: velocity.fc1.bias",
                           "mis-shaped: exp_avg_sq.fc2.bias"] {
                XCTAssertTrue(text.contains(needle), "\(needle) not in: \(text)")
            }
        }
        XCTAssertEqual(fresh.stepCount, 0, "a failed import must change nothing")
        XCTAssertThrowsError(try SGD(m.namedParameters(), learningRate: 1).importState(opt.exportState())) {
            XCTAssertTrue("\($0)".contains("'adamw'"), "\($0)")
        }
    }

    func testAdamWSingleStepKnownValuesAndParametersWithoutGradientsAreSkipped() {
        // First AdamW step moves each weight by lr·sign(g) (m̂/√v̂ = g/|g|) after decay.
        let p = Parameter(Tensor([1, -2, 3])), idle = Parameter(Tensor([5]))
        p.grad = Tensor([0.5, -0.1, 0])
        let opt = AdamW([("p", p), ("idle", idle)], learningRate: 0.1, weightDecay: 0.5)
        opt.step()
        let v = p.value.toArray()
        XCTAssertEqual(v[0], 1 * 0.95 - 0.1, accuracy: 1e-6)
        XCTAssertEqual(v[1], -2 * 0.95 + 0.1, accuracy: 1e-6)
        XCTAssertEqual(v[2], 3 * 0.95, accuracy: 1e-6)
        XCTAssertEqual(idle.value.toArray(), [5], "a parameter without gradient is neither decayed nor moved")
        XCTAssertNil(opt.exportState().tensors["exp_avg.idle"])
        XCTAssertEqual(opt.exportState().scalars["step.idle"], 0)
    }

    func testOptimizerStepMakesNoAllocationOnceWarm() {
        let ctx = EngineContext(threads: 2)
        ctx.run {
            let model = MLP(64, hidden: 256, generator: Generator(seed: 2))
            let params = model.parameters()
            for p in params { p.grad = Tensor.full(p.shape, 0.01) }
            let adam = AdamW(model.namedParameters(), learningRate: 1e-3)
            let sgd = SGD(model.namedParameters(), learningRate: 1e-3, momentum: 0.9)
            adam.step(); sgd.step()
            let before = ctx.pool.systemAllocations
            let inUse = ctx.pool.bytesInUse
            ctx.pool.resetPeak()
            for _ in 0..<5 {
                adam.step(); sgd.step()
                _ = clipGradientNorm(params, maxNorm: 0.1)
            }
            XCTAssertEqual(ctx.pool.systemAllocations, before)
            XCTAssertEqual(ctx.pool.bytesInUse, inUse)
            // Not even a transient buffer: the peak never rose above what was live before.
            XCTAssertEqual(ctx.pool.peakBytesInUse, inUse)
        }
    }
}
