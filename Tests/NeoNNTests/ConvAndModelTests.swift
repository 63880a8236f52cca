import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoTestSupport

final class ConvAndModelTests: XCTestCase {
    func testConvLayersShapesKnownValuesAndGradients() {
        let g = Generator(seed: 40)
        // Conv1d with an all-ones kernel of 3 sums neighbours (zero padding at the ends).
        let c1 = Conv1d(1, 1, kernelSize: 3, padding: 1, generator: g)
        c1.weight.assign(Tensor.ones([1, 1, 3]))
        c1.bias!.assign(Tensor([0.5]))
        XCTAssertEqual(c1(Tensor([1, 2, 3, 4], shape: [1, 1, 4])).toArray(), [3.5, 6.5, 9.5, 7.5])
        XCTAssertEqual(c1.weight.shape, [1, 1, 3])

        let c1s = Conv1d(4, 6, kernelSize: 3, stride: 2, padding: 1, groups: 2, generator: g)
        XCTAssertEqual(c1s.weight.shape, [6, 2, 3])
        XCTAssertEqual(c1s(randn([2, 4, 9], seed: 1)).shape, [2, 6, 5])
        let c2 = Conv2d(3, 5, kernelSize: 3, stride: 2, padding: 1, generator: g)
        XCTAssertEqual(c2.weight.shape, [5, 3, 3, 3])
        XCTAssertEqual(c2(randn([2, 3, 8, 6], seed: 2)).shape, [2, 5, 4, 3])
        let c3 = Conv3d(2, 4, kernelSize: [1, 3, 3], padding: [0, 1, 1], generator: g)
        XCTAssertEqual(c3(randn([1, 2, 3, 5, 5], seed: 3)).shape, [1, 4, 3, 5, 5])
        let ct = ConvTranspose2d(5, 3, kernelSize: 4, stride: 2, padding: 1, generator: g)
        XCTAssertEqual(ct.weight.shape, [5, 3, 4, 4])
        XCTAssertEqual(ct(randn([2, 5, 4, 3], seed: 4)).shape, [2, 3, 8, 6])
        // Default init bound 1/√fan_in (fan_in = 3·3·3 for c2).
        XCTAssertLessThanOrEqual(c2.weight.value.toArray().map(abs).max()!, 1 / Float(27).squareRoot())

        assertEveryParameterGetsGradient(c1s) { weightedSum(c1s(randn([2, 4, 9], seed: 1))) }
        assertEveryParameterGetsGradient(c2) { weightedSum(c2(randn([2, 3, 8, 6], seed: 2))) }
        assertEveryParameterGetsGradient(c3) { weightedSum(c3(randn([1, 2, 3, 5, 5], seed: 3))) }
        assertEveryParameterGetsGradient(ct) { weightedSum(ct(randn([2, 5, 4, 3], seed: 4))) }
    }

    func testConvTransposeIsTheAdjointOfConvWithTheSameWeight() {
        // <conv(x, W), y> = <x, convT(y, W)> for W [O, C, k, k] read as [in, out] by convT.
        let g = Generator(seed: 41)
        let conv = Conv2d(3, 4, kernelSize: [3, 3], stride: [2, 2], padding: [1, 1], bias: false, generator: g)
        let convT = ConvTranspose2d(4, 3, kernelSize: [3, 3], stride: [2, 2], padding: [1, 1], outputPadding: [1, 1], bias: false, generator: g)
        convT.weight.assign(conv.weight.value)
        let x = randn([1, 3, 8, 8], seed: 5), y = randn([1, 4, 4, 4], seed: 6)
        let lhs = (conv(x) * y).sum().item, rhs = (x * convT(y)).sum().item
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)))
    }

    /// A small MMDiT-style model: two streams with per-stream adaLN modulation, joint attention
    /// with QK-norm and shared rotary positions, MLPs, timestep and identity conditioning.
    final class TinyMMDiT: Module {
        let motionIn: Linear
        let audioIn: Conv1d
        let time: TimestepEmbedding
        let identity: Embedding
        let modulation: [Linear]
        let attn: JointAttention
        let mlps: [MLP]
        let norm: LayerNorm
        let out: Linear
        let dropout: Dropout
        let dim = 16

        init(generator g: Generator, dropoutGenerator: Generator) {
            let dim = 16
            motionIn = Linear(6, dim, generator: g)
            audioIn = Conv1d(5, dim, kernelSize: 3, padding: 1, generator: g)
            time = TimestepEmbedding(dim: dim, frequencyDim: 32, generator: g)
            identity = Embedding(3, dim, generator: g)
            modulation = (0..<2).map { _ in Linear(dim, 6 * dim, generator: g) }
            attn = JointAttention(dims: [dim, dim], heads: 2, qkNorm: true, rotaryDim: 8, generator: g)
            mlps = (0..<2).map { _ in MLP(dim, hidden: 2 * dim, activation: .geluTanh, gated: true, generator: g) }
            norm = LayerNorm(dim, affine: false)
            out = Linear(dim, 6, generator: g)
            dropout = Dropout(0.1, generator: dropoutGenerator)
        }

        func callAsFunction(motion: Tensor, audio: Tensor, t: [Float], ids: [Int]) -> Tensor {
            let c = (time(t) + identity(ids)).silu()                       // [B, dim]
            var streams = [motionIn(motion), audioIn(audio.transpose(1, 2)).transpose(1, 2)]
            let mods = modulation.map { $0(c).split(Array(repeating: dim, count: 6), dim: 1) }
            let h = streams.indices.map { i in adaLNModulate(norm(streams[i]), shift: mods[i][0], scale: mods[i][1]) }
            let a = attn(h)
            for i in streams.indices {
                streams[i] = gatedResidual(streams[i], gate: mods[i][2], a[i])
                let m = mlps[i](adaLNModulate(norm(streams[i]), shift: mods[i][3], scale: mods[i][4]))
                streams[i] = gatedResidual(streams[i], gate: mods[i][5], dropout(m))
            }
            // Both streams feed the output, so every parameter matters.
            return out(norm(streams[0] + streams[1]))
        }
    }

    func testEveryParameterOfACompositeModelGetsAGradient() {
        let model = TinyMMDiT(generator: Generator(seed: 50), dropoutGenerator: Generator(seed: 51))
        let motion = randn([2, 7, 6], seed: 1), audio = randn([2, 7, 5], seed: 2)
        let y = model(motion: motion, audio: audio, t: [0.3, 0.8], ids: [2, 0])
        XCTAssertEqual(y.shape, [2, 7, 6])
        XCTAssertEqual(model.namedGenerators().map(\.0), ["dropout.generator"])
        XCTAssertTrue(model.namedParameters().contains { $0.0 == "attn.streams.1.kNorm.weight" })
        XCTAssertTrue(model.namedParameters().contains { $0.0 == "mlps.1.gate.weight" })
        assertEveryParameterGetsGradient(model) {
            mseLoss(model(motion: motion, audio: audio, t: [0.3, 0.8], ids: [2, 0]), randn([2, 7, 6], seed: 3))
        }
        // Evaluation mode is deterministic (dropout off); training mode draws masks.
        model.eval()
        let a = noGrad { model(motion: motion, audio: audio, t: [0.5, 0.5], ids: [1, 1]) }
        let b = noGrad { model(motion: motion, audio: audio, t: [0.5, 0.5], ids: [1, 1]) }
        XCTAssertEqual(a.toArray(), b.toArray())
        model.train()
        let c = noGrad { model(motion: motion, audio: audio, t: [0.5, 0.5], ids: [1, 1]) }
        XCTAssertNotEqual(a.toArray(), c.toArray())
    }

    func testCompositeModelLearnsWithAdamWAndEMA() throws {
        // End to end: loss falls under AdamW + schedule + clipping + accumulation; EMA tracks.
        let model = TinyMMDiT(generator: Generator(seed: 60), dropoutGenerator: Generator(seed: 61))
        model.eval()
        let opt = AdamW(groups: ParameterGroup.decayAndNoDecay(model.trainableParameters(), weightDecay: 0.01), learningRate: 3e-3)
        let schedule = WarmupCosineSchedule(peak: 3e-3, warmupSteps: 5, totalSteps: 60, minLR: 3e-4)
        let ema = EMA(model, decay: 0.9, warmup: true)
        let motion = randn([2, 7, 6], seed: 1), audio = randn([2, 7, 5], seed: 2), target = randn([2, 7, 6], seed: 3)
        func loss() -> Tensor { mseLoss(model(motion: motion, audio: audio, t: [0.3, 0.8], ids: [2, 0]), target) }
        let first = noGrad { loss() }.item
        var acc = GradientAccumulator(microBatches: 2)
        for _ in 0..<60 {
            for _ in 0..<2 {
                let tape = Tape()
                acc.backward(tape.record { loss() }, tape: tape)
            }
            clipGradientNorm(model.parameters(), maxNorm: 1)
            opt.step(schedule: schedule)
            opt.zeroGrad()
            acc.reset()
            ema.update()
        }
        let last = noGrad { loss() }.item
        XCTAssertLessThan(last, 0.5 * first, "loss \(first) → \(last)")
        ema.swap()
        let emaLoss = noGrad { loss() }.item
        ema.swap()
        XCTAssertLessThan(emaLoss, first)
        XCTAssertEqual(noGrad { loss() }.item, last)
    }
}
