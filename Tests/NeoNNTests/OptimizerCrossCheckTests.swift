import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoIO
import NeoTestSupport

/// AdamW / SGD + warm-up-cosine schedule + global-norm clipping + two parameter groups, step for
/// step against torch (Tests/crosscheck/nn_adamw_torch.py) on the same data and initial weights;
/// each framework differentiates the loss itself.
final class OptimizerCrossCheckTests: XCTestCase {
    final class Regressor: Module {
        let fc1: Linear
        let fc2: Linear
        init(generator: Generator) {
            fc1 = Linear(8, 16, generator: generator)
            fc2 = Linear(16, 4, generator: generator)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { fc2(fc1(x).tanh()) }
    }

    struct Setup {
        var optimizer = "adamw"
        var steps = 100
        var batch = 16
        var peakLR: Float = 2e-2
        var minLR: Float = 1e-3
        var warmup = 10
        var maxNorm: Float = 1.1
        var momentum: Float = 0.9
        var nesterov = false
        var dampening: Float = 0
    }

    /// One configuration: the model and data written for torch, and the Swift run's results.
    struct Case {
        let setup: Setup
        let dir: URL
        let model: Regressor
        let x: Tensor
        let y: Tensor
        let groups: [ParameterGroup]
    }

    static let noDecayScale: Float = 0.5

    /// Writes data, initial weights and config.json for torch into a fresh folder.
    func prepare(_ s: Setup) throws -> Case {
        let dir = PythonCrossCheck.temporaryDirectory("nn-optim")
        let gen = Generator(seed: 11)
        let model = Regressor(generator: gen)
        let x = Tensor.normal([64, 8], generator: gen)
        // Targets from a fixed random nonlinear map plus noise.
        let wTrue = Tensor.normal([8, 4], std: 2, generator: gen)
        let y = noGrad { (x.matmul(wTrue)).sin() * 3 + Tensor.normal([64, 4], std: 0.1, generator: gen) }
        try NPY.write(x, to: dir.appendingPathComponent("x.npy").path)
        try NPY.write(y, to: dir.appendingPathComponent("y.npy").path)
        let named = model.namedParameters()
        for (path, p) in named { try NPY.write(p.value, to: dir.appendingPathComponent("init_\(path).npy").path) }

        var groups = ParameterGroup.decayAndNoDecay(named, weightDecay: 0.1)
        groups[1].lrScale = OptimizerCrossCheckTests.noDecayScale
        XCTAssertEqual(groups[0].parameters.map(\.0), ["fc1.weight", "fc2.weight"])
        XCTAssertEqual(groups[1].parameters.map(\.0), ["fc1.bias", "fc2.bias"])
        var config: [String: Any] = [
            "optimizer": s.optimizer, "steps": s.steps, "batch": s.batch, "peak_lr": Double(s.peakLR),
            "min_lr": Double(s.minLR), "warmup_steps": s.warmup, "total_steps": s.steps, "max_norm": Double(s.maxNorm),
            "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum": Double(s.momentum), "nesterov": s.nesterov,
            "dampening": Double(s.dampening), "parameters": named.map(\.0),
        ]
        config["groups"] = groups.map { g -> [String: Any] in
            ["parameters": g.parameters.map(\.0), "lr_scale": Double(g.lrScale), "weight_decay": Double(g.weightDecay)]
        }
        let json = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        try json.write(to: dir.appendingPathComponent("config.json"))
        return Case(setup: s, dir: dir, model: model, x: x, y: y, groups: groups)
    }

    struct Outcome {
        /// Worst over parameter tensors of ‖a − b‖/‖b‖.
        var relativeL2 = 0.0
        /// Worst over parameter tensors of max|a − b| / max|b|.
        var relativeMax = 0.0
        var clippedSteps = 0
    }

    /// Trains in Swift and compares with torch's final weights and per-step gradient norms.
    func trainAndCompare(_ c: Case) throws -> Outcome {
        let s = c.setup
        let optimizer: any Optimizer = s.optimizer == "adamw"
            ? AdamW(groups: c.groups, learningRate: s.peakLR, beta1: 0.9, beta2: 0.999, eps: 1e-8)
            : SGD(groups: c.groups, learningRate: s.peakLR, momentum: s.momentum, dampening: s.dampening, nesterov: s.nesterov)
        let schedule = WarmupCosineSchedule(peak: s.peakLR, warmupSteps: s.warmup, totalSteps: s.steps, minLR: s.minLR)
        let named = c.model.namedParameters()
        let params = named.map(\.1)
        var norms: [Float] = []
        for step in 0..<s.steps {
            let lo = (step * s.batch) % 64
            let xb = c.x.slice(dim: 0, start: lo, end: lo + s.batch), yb = c.y.slice(dim: 0, start: lo, end: lo + s.batch)
            let tape = Tape()
            let loss = tape.record { (c.model(xb) - yb).square().mean() }
            optimizer.zeroGrad()
            tape.backward(loss)
            norms.append(clipGradientNorm(params, maxNorm: s.maxNorm))
            optimizer.step(schedule: schedule)
        }
        XCTAssertEqual(optimizer.stepCount, s.steps)

        let torchNorms = try NPY.read(c.dir.appendingPathComponent("norms.npy").path).toArray()
        for i in 0..<s.steps {
            XCTAssertEqual(norms[i], torchNorms[i], accuracy: 1e-5 * torchNorms[i], "\(s.optimizer): pre-clip norm at step \(i)")
        }
        var out = Outcome()
        out.clippedSteps = norms.filter { $0 > s.maxNorm }.count
        for (path, p) in named {
            let ref = try NPY.read(c.dir.appendingPathComponent("final_\(path).npy").path)
            let a = p.value.toArray().map(Double.init), b = ref.toArray().map(Double.init)
            var diff = 0.0, norm = 0.0, maxDiff = 0.0, maxRef = 0.0
            for i in 0..<a.count {
                diff += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]
                maxDiff = max(maxDiff, abs(a[i] - b[i])); maxRef = max(maxRef, abs(b[i]))
            }
            out.relativeL2 = max(out.relativeL2, (diff / norm).squareRoot())
            out.relativeMax = max(out.relativeMax, maxDiff / maxRef)
        }
        return out
    }

    /// The three optimiser configurations share one Python start (importing torch costs seconds).
    func testAdamWAndSGDMatchTorchStepForStep() throws {
        guard PythonCrossCheck.available(["torch", "numpy"]) else { throw XCTSkip("torch or numpy not installed") }
        var sgd = Setup()
        sgd.optimizer = "sgd"
        sgd.peakLR = 5e-2
        var nesterov = sgd
        nesterov.nesterov = true
        let cases = try [Setup(), sgd, nesterov].map(prepare)
        defer { for c in cases { try? FileManager.default.removeItem(at: c.dir) } }
        let r = PythonCrossCheck.runScript("nn_adamw_torch.py", cases.map(\.dir.path))
        XCTAssertEqual(r.status, 0, r.output)
        guard r.status == 0 else { return }
        for (name, c) in zip(["AdamW", "SGD momentum", "SGD Nesterov"], cases) {
            let o = try trainAndCompare(c)
            print("\(name) vs torch after \(c.setup.steps) steps: relative L2 error \(o.relativeL2), relative max error \(o.relativeMax), clipped steps \(o.clippedSteps)")
            XCTAssertLessThanOrEqual(o.relativeL2, 1e-5, name)
            XCTAssertLessThanOrEqual(o.relativeMax, 1e-5, name)
            // Clipping must act on some steps and not on others for the check to cover it.
            XCTAssertGreaterThan(o.clippedSteps, 10, name)
            XCTAssertLessThan(o.clippedSteps, c.setup.steps - 10, name)
        }
    }
}
