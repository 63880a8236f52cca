import Foundation
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

final class VocalModelTests: XCTestCase {
    // MARK: Joint attention

    /// Explicit rotary rotation from the formula (half-split pairs, angle p·base^(−2i/Dh)).
    private func rotate(_ x: Tensor, positions: [Float], base: Double) -> Tensor {
        let dh = x.shape[x.rank - 1], half = dh / 2
        var c: [Float] = [], s: [Float] = []
        for p in positions {
            for i in 0..<half {
                let a = Double(p) * pow(base, -2 * Double(i) / Double(dh))
                c.append(Float(cos(a))); s.append(Float(sin(a)))
            }
        }
        let ct = Tensor(c, shape: [positions.count, half]), st = Tensor(s, shape: [positions.count, half])
        let x1 = x.slice(dim: -1, start: 0, end: half), x2 = x.slice(dim: -1, start: half, end: dh)
        return Tensor.concat([x1 * ct - x2 * st, x2 * ct + x1 * st], dim: -1)
    }

    /// q, k, v `[T, H, Dh]` of one sample of one stream, from the composite ops.
    private func explicitQKV(_ stream: VocalStream, _ h: Tensor) -> (q: Tensor?, k: Tensor, v: Tensor) {
        let t = h.shape[0], heads = stream.heads, dh = stream.headDim
        let all = Composite.linear(h, weight: stream.qkv.weight.value, bias: stream.qkv.bias!.value)
        let parts = stream.keysOnly ? 2 : 3
        let split = all.reshape([t, parts, heads, dh])
        func part(_ i: Int) -> Tensor { split.slice(dim: 1, start: i, end: i + 1).squeeze(1).permute([1, 0, 2]) } // [H, T, Dh]
        let k = Composite.rmsNorm(stream.keysOnly ? part(0) : part(1), weight: stream.kNorm.weight!.value, eps: stream.kNorm.eps)
        let v = stream.keysOnly ? part(1) : part(2)
        let q = stream.keysOnly ? nil : Composite.rmsNorm(part(0), weight: stream.qNorm!.weight!.value, eps: stream.qNorm!.eps)
        return (q, k, v)
    }

    /// Joint attention of one sample computed over the explicitly concatenated sequence, with
    /// the removed tokens physically deleted (not masked).
    private func explicitJoint(_ block: VocalBlock, hm: Tensor, ha: Tensor, positionsM: [Float], positionsA: [Float],
                               removed: Set<Int>, base: Double) -> (Tensor, Tensor?) {
        let tm = hm.shape[0], ta = ha.shape[0], c = block.width, dh = block.headDim
        let (qm, km, vm) = explicitQKV(block.motion, hm)
        let (qa, ka, va) = explicitQKV(block.audio, ha)
        let keep = (0..<(tm + ta)).filter { !removed.contains($0) }
        let positions = positionsM + positionsA
        let kAll = rotate(Tensor.concat([km, ka], dim: 1), positions: positions, base: base).indexSelect(dim: 1, indices: keep)
        let vAll = Tensor.concat([vm, va], dim: 1).indexSelect(dim: 1, indices: keep)
        let q = qa == nil ? rotate(qm!, positions: positionsM, base: base)
            : rotate(Tensor.concat([qm!, qa!], dim: 1), positions: positions, base: base)
        let scores = q.matmul(kAll.mT) * (1 / Float(Double(dh).squareRoot()))
        let o = scores.softmax(dim: -1).matmul(vAll)  // [H, Tq, Dh]
        let merged = o.permute([1, 0, 2]).reshape([o.shape[1], c])
        if qa == nil { return (merged, nil) }
        let parts = merged.split([tm, ta], dim: 0)
        return (parts[0], parts[1])
    }

    func testJointAttentionEqualsAttentionOverTheConcatenatedSequence() throws {
        let config = testConfig()
        let model = makeModel(config)
        let conditions = makeConditions(config, batch: 3, frames: 5)
        // Row 0 keeps everything, row 1 drops the reference, row 2 drops the prefix: the key mask
        // must act like deleting those tokens.
        let keep = [ConditionKeep.all, ConditionKeep(reference: false), ConditionKeep(prefix: false)]
        let enc = model.encode(conditions, keep: keep)
        let e = enc.extraCount, n = 5
        XCTAssertEqual(e, 1 + config.prefixFrames)
        XCTAssertEqual(enc.extraPositions, [-4, -3, -2, -1])
        let hm = randn([3, e + n, config.width], seed: 5), ha = randn([3, n, config.width], seed: 6)
        let frames = (0..<n).map(Float.init)
        let positionsM = enc.extraPositions + frames
        let (cosT, sinT) = RotaryEmbedding(rotaryDim: config.headDim, base: config.rotaryBase).tables(positionsM + frames)
        let tables = RotaryTables(cos: cosT, sin: sinT)
        let removedPerRow: [Set<Int>] = [[], [0], Set(1...config.prefixFrames)]
        for (bi, block) in model.blocks.enumerated() {
            let (om, oa) = block.jointAttention(motion: hm, audio: ha, rotary: tables, mask: enc.keyMask)
            XCTAssertEqual(oa == nil, bi == model.blocks.count - 1, "only the last block's audio stream is keys-only")
            for row in 0..<3 {
                let (em, ea) = explicitJoint(block, hm: hm.slice(dim: 0, start: row, end: row + 1).squeeze(0),
                                             ha: ha.slice(dim: 0, start: row, end: row + 1).squeeze(0),
                                             positionsM: positionsM, positionsA: frames, removed: removedPerRow[row], base: config.rotaryBase)
                let gotM = om.slice(dim: 0, start: row, end: row + 1).squeeze(0)
                XCTAssertLessThan(maxAbsoluteError(gotM, em), 2e-5, "block \(bi) row \(row) motion")
                if let oa, let ea {
                    XCTAssertLessThan(maxAbsoluteError(oa.slice(dim: 0, start: row, end: row + 1).squeeze(0), ea), 2e-5, "block \(bi) row \(row) audio")
                }
            }
        }
    }

    // MARK: Initialisation

    func testEveryBlockIsTheIdentityAtInitialisation() {
        let config = testConfig(depth: 3)
        let model = makeModel(config)
        let conditions = makeConditions(config, batch: 2, frames: 6)
        let enc = model.encode(conditions, keep: [.all, ConditionKeep(reference: false, prefix: false)])
        let e = enc.extraCount
        let x = randn([2, e + 6, config.width], seed: 11), a = randn([2, 6, config.width], seed: 12)
        let cond = randn([2, config.width], seed: 13).silu()
        let frames = (0..<6).map(Float.init)
        let (cosT, sinT) = RotaryEmbedding(rotaryDim: config.headDim, base: config.rotaryBase).tables(enc.extraPositions + frames + frames)
        for (i, block) in model.blocks.enumerated() {
            let (m2, a2) = noGrad { block(motion: x, audio: a, conditioning: cond, rotary: RotaryTables(cos: cosT, sin: sinT), mask: enc.keyMask) }
            XCTAssertEqual(bits(m2), bits(x), "block \(i) changes the motion stream at initialisation")
            if let a2 { XCTAssertEqual(bits(a2), bits(a), "block \(i) changes the audio stream at initialisation") }
        }
        // The zero output layer predicts v = 0 for any input.
        let v = noGrad { model(randn([2, 6, config.latentDim], seed: 14), t: [0.3, 0.9], conditions: conditions) }
        XCTAssertEqual(v.shape, [2, 6, config.latentDim])
        XCTAssertTrue(v.toArray().allSatisfy { $0 == 0 })
        // The fusion starts as the plain mean of the layers.
        XCTAssertEqual(model.audioFusion.layerWeights, Array(repeating: 1 / Float(config.audioLayers), count: config.audioLayers))
    }

    // MARK: Gradients

    /// Rows dropping different conditions, so the null token / null embeddings / null emotion
    /// row receive gradients too, and rows keeping them, so the encoders do.
    private func mixedDraw(_ config: VocalConfig, frames n: Int) -> FlowMatchingDraw {
        FlowMatchingDraw(t: [0.2, 0.5, 0.8, 0.95],
                         keep: [.all, ConditionKeep(audio: false, identity: false, emotion: false, reference: false, prefix: false),
                                ConditionKeep(prefix: false), ConditionKeep(reference: false)],
                         noise: randn([4, n, config.latentDim], seed: 21))
    }

    func testEveryParameterReceivesANonZeroGradient() {
        let config = testConfig()
        let model = makeModel(config)
        // The zero-initialised gates and output layer pass no gradient to the weights behind them
        // (∂loss/∂W = gate·… = 0), so they are nudged first; this is the state after the first
        // optimiser steps. Before nudging, only they (and nothing behind them) get gradients.
        let batch = VocalBatch(motion: randn([4, 6, config.latentDim], seed: 20), conditions: makeConditions(config, batch: 4))
        let draw = mixedDraw(config, frames: 6)
        do {
            model.zeroGrad()
            let tape = Tape()
            tape.backward(tape.record { flowMatchingLoss(model: model, batch: batch, draw: draw) })
            XCTAssertTrue(model.final.out.weight.grad!.toArray().contains { $0 != 0 }, "the zero output layer gets a gradient at init")
            XCTAssertTrue((model.blocks[0].motion.qkv.weight.grad?.toArray() ?? [0]).allSatisfy { $0 == 0 },
                          "weights behind zero gates get no gradient at init")
        }
        nudgeZeroInitialised(model)
        model.zeroGrad()
        let tape = Tape()
        let loss = tape.record { flowMatchingLoss(model: model, batch: batch, draw: draw) }
        tape.backward(loss)
        var checked = 0
        for (path, p) in model.namedParameters() {
            guard let g = p.grad else { XCTFail("\(path) received no gradient"); continue }
            let v = g.toArray()
            XCTAssertTrue(v.contains { $0 != 0 }, "\(path) has an all-zero gradient")
            XCTAssertFalse(v.contains { !$0.isFinite }, "\(path) has a non-finite gradient")
            checked += 1
        }
        XCTAssertEqual(checked, model.namedParameters().count)
        XCTAssertGreaterThan(checked, 40)
        // Paths follow the module tree.
        let paths = Set(model.namedParameters().map(\.0))
        for p in ["blocks.0.motion.qkv.weight", "blocks.1.audio.qkv.weight", "blocks.0.audio.mlp.fc1.weight",
                  "audioFusion.layerLogits", "nullAudio", "nullIdentity", "emotion.weight", "final.out.weight", "time.mlp.fc1.weight"] {
            XCTAssertTrue(paths.contains(p), "missing parameter path \(p)")
        }
        XCTAssertFalse(paths.contains("blocks.1.audio.mlp.fc1.weight"), "the last audio stream is keys-only")
    }

    func testGradientCheckpointingGivesTheSameLossAndGradients() {
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        let batch = VocalBatch(motion: randn([4, 6, config.latentDim], seed: 20), conditions: makeConditions(config, batch: 4))
        let draw = mixedDraw(config, frames: 6)
        func run(_ checkpointing: Bool) -> (Float, [String: [Float]]) {
            model.gradientCheckpointing = checkpointing
            model.zeroGrad()
            let tape = Tape()
            let loss = tape.record { flowMatchingLoss(model: model, batch: batch, draw: draw) }
            let value = loss.item
            tape.backward(loss)
            var grads: [String: [Float]] = [:]
            for (path, p) in model.namedParameters() { grads[path] = p.grad?.toArray() }
            return (value, grads)
        }
        let (l0, g0) = run(false)
        let (l1, g1) = run(true)
        XCTAssertEqual(l0, l1, "checkpointing changes the forward")
        XCTAssertEqual(Set(g0.keys), Set(g1.keys))
        for (path, a) in g0 {
            let b = g1[path]!
            let scale = max(1e-6, a.map { abs($0) }.max()!)
            let diff = zip(a, b).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff / scale, 1e-5, "\(path) gradient differs with checkpointing")
        }
    }

    // MARK: Condition dropout

    func testADroppedConditionRemovesItsInformation() {
        let config = testConfig()
        let model = makeModel(config)
        nudgeZeroInitialised(model)
        let base = makeConditions(config, batch: 2, frames: 6, seed: 300)
        let xt = randn([2, 6, config.latentDim], seed: 301)
        let t: [Float] = [0.4, 0.7]
        // For each condition: another value of that input only.
        var changed: [(String, VocalConditions, (inout ConditionKeep) -> Void)] = []
        var c = base; c.audio = randn(base.audio.shape, seed: 310); changed.append(("audio", c, { $0.audio = false }))
        c = base; c.identity = randn(base.identity!.shape, seed: 311); changed.append(("identity", c, { $0.identity = false }))
        c = base; c.emotion = [3, 5]; changed.append(("emotion", c, { $0.emotion = false }))
        c = base; c.reference = randn(base.reference!.shape, seed: 312); changed.append(("reference", c, { $0.reference = false }))
        c = base; c.prefix = randn(base.prefix!.shape, seed: 313); changed.append(("prefix", c, { $0.prefix = false }))
        for (name, other, drop) in changed {
            // Dropped for every row: the output does not move at all.
            var dropped = ConditionKeep.all
            drop(&dropped)
            let a = noGrad { model(xt, t: t, conditions: base, keep: dropped) }
            let b = noGrad { model(xt, t: t, conditions: other, keep: dropped) }
            XCTAssertEqual(bits(a), bits(b), "\(name): output depends on a dropped condition")
            // Kept: the same change moves the output (so the comparison above means something).
            let ka = noGrad { model(xt, t: t, conditions: base) }
            let kb = noGrad { model(xt, t: t, conditions: other) }
            XCTAssertGreaterThan(maxAbsoluteError(ka, kb), 1e-4, "\(name): a kept condition has no effect")
            // Dropped for row 0 only (training's per-sample dropout): row 0 is unchanged, row 1 moves.
            let rows = [dropped, ConditionKeep.all]
            let ra = noGrad { model.velocity(xt, t: t, conditions: model.encode(base, keep: rows)) }
            let rb = noGrad { model.velocity(xt, t: t, conditions: model.encode(other, keep: rows)) }
            XCTAssertEqual(bits(ra.slice(dim: 0, start: 0, end: 1)), bits(rb.slice(dim: 0, start: 0, end: 1)), "\(name): row 0 depends on its dropped condition")
            XCTAssertGreaterThan(maxAbsoluteError(ra.slice(dim: 0, start: 1, end: 2), rb.slice(dim: 0, start: 1, end: 2)), 1e-4, "\(name): row 1 ignores its kept condition")
        }
        // Missing prefix frames (mask 0) carry no information either.
        var masked = base
        masked.prefixMask = Tensor([0, 1, 1, 1, 0, 1], shape: [2, 3])
        var maskedOther = masked
        let p = base.prefix!.contiguous().toArray()
        var q = p
        for j in 0..<config.latentDim { q[j] += 1; q[(3 + 2) * config.latentDim + j] -= 2 }  // row 0 frame 0, row 1 frame 2
        maskedOther.prefix = Tensor(q, shape: base.prefix!.shape)
        let ma = noGrad { model(xt, t: t, conditions: masked) }
        let mb = noGrad { model(xt, t: t, conditions: maskedOther) }
        XCTAssertEqual(bits(ma.slice(dim: 0, start: 0, end: 1)), bits(mb.slice(dim: 0, start: 0, end: 1)))
        XCTAssertGreaterThan(maxAbsoluteError(ma.slice(dim: 0, start: 1, end: 2), mb.slice(dim: 0, start: 1, end: 2)), 1e-4)
    }

    func testBadInputsAreReportedByName() throws {
        let config = testConfig()
        XCTAssertThrowsError(try VocalModel(config: { var c = config; c.heads = 5; return c }(), generator: Generator(seed: 1))) {
            XCTAssertTrue("\($0)".contains("heads"), "\($0)")
        }
        var c = makeConditions(config, batch: 2, frames: 6)
        XCTAssertNoThrow(try c.validate(config))
        c.emotion = [0, 6]
        XCTAssertThrowsError(try c.validate(config)) { XCTAssertTrue("\($0)".contains("emotion"), "\($0)") }
        c = makeConditions(config, batch: 2, frames: 6)
        c.audio = randn([2, config.audioLayers, 7, config.audioWidth], seed: 1)
        XCTAssertThrowsError(try c.validate(config)) { XCTAssertTrue("\($0)".contains("audio"), "\($0)") }
        c = makeConditions(config, batch: 2, frames: 6)
        c.prefix = randn([2, config.prefixFrames + 1, config.latentDim], seed: 1)
        XCTAssertThrowsError(try c.validate(config)) { XCTAssertTrue("\($0)".contains("prefix"), "\($0)") }
        let batch = VocalBatch(motion: randn([2, 5, config.latentDim], seed: 2), conditions: makeConditions(config, batch: 2, frames: 6))
        XCTAssertThrowsError(try batch.validate(config)) { XCTAssertTrue("\($0)".contains("motion"), "\($0)") }
        var settings = SamplingSettings()
        settings.sampler = .sde
        let sampler = VocalSampler(model: makeModel(config), settings: settings)
        XCTAssertThrowsError(try sampler.sampleWindow(conditions: makeConditions(config), noise: randn([2, 6, config.latentDim], seed: 3))) {
            XCTAssertTrue("\($0)".contains("generator"), "\($0)")
        }
        settings.sampler = .euler
        settings.steps = 0
        XCTAssertThrowsError(try VocalSampler(model: makeModel(config), settings: settings)
            .sampleWindow(conditions: makeConditions(config), noise: randn([2, 6, config.latentDim], seed: 3))) {
            XCTAssertTrue("\($0)".contains("sample_steps"), "\($0)")
        }
    }

    func testStateDictRoundTripReproducesTheVelocity() throws {
        let config = testConfig()
        let a = makeModel(config, seed: 1), b = makeModel(config, seed: 2)
        nudgeZeroInitialised(a)
        let conditions = makeConditions(config)
        let xt = randn([2, 6, config.latentDim], seed: 3)
        let va = noGrad { a(xt, t: [0.5, 0.5], conditions: conditions) }
        XCTAssertNotEqual(bits(va), bits(noGrad { b(xt, t: [0.5, 0.5], conditions: conditions) }))
        try b.load(stateDict: a.stateDict(copy: true))
        XCTAssertEqual(bits(va), bits(noGrad { b(xt, t: [0.5, 0.5], conditions: conditions) }))
    }
}
