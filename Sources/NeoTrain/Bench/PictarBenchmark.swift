import Foundation
import NeoIO
import NeoNN
import NeoTensor
import Pictar

/// `neo-train bench pictar`: rendering speed with the source volume cached, and one training
/// step (generator losses, backward and AdamW, then the discriminator's), ours against the same
/// architecture in PyTorch (`scripts/bench_pictar_torch.py`) with the same weights, batch and
/// threads in the same run. The script first checks that it renders the same frames and
/// computes the same loss, and compares every parameter's gradient with a float64 evaluation.
public enum PictarBenchmark {
    /// Render speed with the source volume cached: what `neo-train render` does per frame
    /// (keypoint transform, warp, decode), one frame at a time.
    public struct Render: Codable, Sendable {
        public var frames: Int
        /// Milliseconds per frame, median over the timed frames, and frames per second from it.
        public var medianMilliseconds: Double
        public var framesPerSecond: Double
        /// CPU milliseconds (all threads) per frame, median: less sensitive to other work on
        /// the machine than the wall time.
        public var cpuMilliseconds: Double
        /// Milliseconds to lift the photo (appearance and motion encoders), once per photo.
        public var prepareMilliseconds: Double
    }

    /// Times rendering `frames` frames (after `warmup` untimed ones) from one cached source photo
    /// on the current engine context, driven by random plausible motions.
    public static func measureRender(_ model: PictarGenerator, frames: Int, warmup: Int, seed: UInt64 = 1) -> Render {
        let c = model.config
        let g = Generator(seed: seed)
        let photo = Tensor.uniform([1, 3, c.imageSize, c.imageSize], generator: g)
        let motions = (0..<(frames + warmup)).map { _ in MotionLayout.plausible(count: 1, keypoints: c.keypoints, generator: g) }
        return noGrad {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let source = model.prepare(source: photo)
            let prepareMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            var wall: [Double] = [], cpu: [Double] = []
            for (i, m) in motions.enumerated() {
                let c0 = processCPUSeconds()
                let s = DispatchTime.now().uptimeNanoseconds
                _ = model.render(source, motion: m)
                if i >= warmup {
                    wall.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
                    cpu.append((processCPUSeconds() - c0) * 1000)
                }
            }
            let median = VocalBenchmark.median(wall)
            return Render(frames: wall.count, medianMilliseconds: median, framesPerSecond: 1000 / median,
                          cpuMilliseconds: VocalBenchmark.median(cpu), prepareMilliseconds: prepareMs)
        }
    }

    public struct Step: Codable, Sendable {
        /// Median seconds of one training step (generator and discriminator updates).
        public var seconds: Double
        public var allSeconds: [Double]
        /// Median CPU seconds (all threads).
        public var cpuSeconds: Double?
    }

    public struct Result: Codable, Sendable, JSONReport {
        public var size: String
        public var imageSize: Int
        public var threads: Int
        public var generatorParameters: Int
        public var discriminatorParameters: Int
        public var batch: Int
        public var render: Render
        public var ours: Step
        public var torch: Step?
        public var torchVersion: String?
        public var torchUnavailable: String?
        /// Max |torch − ours| / max |ours| of the rendered training frames, and of the loss.
        public var predictionRelativeError: Double?
        public var lossRelativeError: Double?
        /// The gradient of the generator loss for every parameter (generator and discriminator)
        /// against PyTorch's float64 evaluation of the same model: the largest over parameters of
        /// max |ours − exact| / max |exact|, where it occurs, and the same figure for PyTorch's
        /// float32 gradients (the float32 rounding one should expect).
        public var gradientRelativeError: Double?
        public var worstGradient: String?
        public var torchGradientRelativeError: Double?
        public var speedupOverTorch: Double?


        public func table() -> String {
            func s(_ v: Double) -> String { String(format: "%.3f s", v) }
            var out = "Pictar \(size) (\(imageSize) px): \(generatorParameters) + \(discriminatorParameters) parameters, \(threads) threads\n"
            out += String(format: "render          %.1f fps (%.1f ms per frame, CPU %.1f ms, median of %d; lifting the photo %.1f ms)\n",
                          render.framesPerSecond, render.medianMilliseconds, render.cpuMilliseconds, render.frames, render.prepareMilliseconds)
            out += "training step   batch \(batch)   ours \(s(ours.seconds))" + (ours.cpuSeconds.map { " (CPU \(s($0)))" } ?? "")
            if let t = torch {
                out += "   torch \(torchVersion ?? "") \(s(t.seconds))" + (t.cpuSeconds.map { " (CPU \(s($0)))" } ?? "")
                out += String(format: "   speedup %.2f×", speedupOverTorch ?? 0)
                if let e = predictionRelativeError, let l = lossRelativeError {
                    out += String(format: "   same frames within %.1e, same loss within %.1e", e, l)
                    if let g = gradientRelativeError, let tg = torchGradientRelativeError {
                        out += String(format: ", gradients within %.1e of float64 (PyTorch float32: %.1e)", g, tg)
                    }
                    out += " (relative)"
                }
            } else {
                out += "   torch: \(torchUnavailable ?? "unavailable")"
            }
            return out + "\n"
        }
    }

    /// The configuration of a size name (tiny, small, base).
    public static func config(size: String) throws -> PictarConfig {
        switch size {
        case "tiny": return .tiny
        case "small": return .small
        case "base": return .base
        default: throw TrainError("bench pictar: unknown size '\(size)' (expected tiny, small or base)")
        }
    }

    /// Runs the benchmark; `torchScript` nil skips PyTorch.
    public static func run(size: String = "small", torchScript: String?, threads: Int = 2, batch: Int = 4,
                           repeats: Int = 5, renderFrames: Int = 30, quick: Bool = false) throws -> Result {
        let config = try config(size: size)
        guard threads >= 1, batch >= 1, repeats >= 1, renderFrames >= 1 else {
            throw TrainError("bench pictar: --threads, --batch, --repeats and --render-frames must be at least 1")
        }
        let b = quick ? 1 : batch, reps = quick ? 1 : repeats
        let model = PictarGenerator(config, generator: Generator(seed: 1))
        let disc = Discriminator(config, generator: Generator(seed: 2))
        return try EngineContext(threads: threads).run {
            let render = measureRender(model, frames: quick ? 2 : renderFrames, warmup: quick ? 1 : 3)
            let g = Generator(seed: 3)
            let s = config.imageSize
            let source = Tensor.uniform([b, 3, s, s], generator: g), driving = Tensor.uniform([b, 3, s, s], generator: g)
            let motion = MotionLayout.plausible(count: 2 * b, keypoints: config.keypoints, generator: g)
            let batchData = PictarBatch(source: source, driving: driving,
                                        drivingMotion: motion.slice(dim: 0, start: 0, end: b).contiguous(),
                                        sourceMotion: motion.slice(dim: 0, start: b, end: 2 * b).contiguous())
            // The equivariance transform the loss draws from a generator with this seed (the
            // same draw, made here for the PyTorch side).
            let equivarianceSeed: UInt64 = 5
            let eq = PictarLoss.randomSimilarity(count: b, height: s, width: s, shift: config.equivarianceShift,
                                                 rotation: config.equivarianceRotation, scale: config.equivarianceScale,
                                                 generator: Generator(seed: equivarianceSeed))
            var bundle: [String: Tensor] = [:]
            for (path, p) in model.namedParameters() { bundle["g.\(path)"] = p.value.clone() }
            for (path, p) in disc.namedParameters() { bundle["d.\(path)"] = p.value.clone() }
            // Reference frames, loss and the gradient of every parameter for the PyTorch check.
            let referenceTape = Tape()
            let reference = referenceTape.record { model.generatorLoss(batchData, discriminator: disc, generator: Generator(seed: equivarianceSeed)) }
            referenceTape.backward(reference.loss)
            var gradients: [String: Tensor] = [:]
            for (path, p) in model.namedParameters() { gradients["grad.g.\(path)"] = p.grad ?? Tensor.zeros(p.shape) }
            for (path, p) in disc.namedParameters() { gradients["grad.d.\(path)"] = p.grad ?? Tensor.zeros(p.shape) }
            model.zeroGrad(); disc.zeroGrad()

            let lr: Float = 2e-4
            let optG = AdamW(model.trainableParameters(), learningRate: lr, beta1: 0.5, beta2: 0.999, weightDecay: 0)
            let optD = AdamW(disc.trainableParameters(), learningRate: lr, beta1: 0.5, beta2: 0.999, weightDecay: 0)
            func step() {
                let tape = Tape()
                let out = tape.record { model.generatorLoss(batchData, discriminator: disc, generator: Generator(seed: equivarianceSeed)) }
                tape.backward(out.loss)
                optG.step(); optG.zeroGrad(); optD.zeroGrad()
                let dTape = Tape()
                dTape.backward(dTape.record { disc.loss(real: batchData.driving, fake: out.prediction) })
                optD.step(); optD.zeroGrad()
            }
            step()
            var times: [Double] = [], cpu: [Double] = []
            for _ in 0..<reps {
                let c0 = processCPUSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                step()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                cpu.append(processCPUSeconds() - c0)
            }
            var result = Result(size: size, imageSize: s, threads: threads, generatorParameters: model.parameterCount,
                                discriminatorParameters: disc.parameterCount, batch: b, render: render,
                                ours: Step(seconds: VocalBenchmark.median(times), allSeconds: times, cpuSeconds: VocalBenchmark.median(cpu)))

            bundle["in.source"] = source; bundle["in.driving"] = driving
            bundle["in.driving_motion"] = batchData.drivingMotion!; bundle["in.source_motion"] = batchData.sourceMotion!
            bundle["in.eq_affine"] = eq.affine; bundle["in.eq_grid"] = eq.grid
            bundle["out.prediction"] = reference.prediction.detach()
            bundle["out.loss"] = reference.loss.detach().reshape([1])
            bundle.merge(gradients) { a, _ in a }
            let configText = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
            let json: [String: Any], torchStep: Double
            switch try TorchReference.run(script: torchScript, bundle: bundle, configText: configText, lr: Double(lr), repeats: reps, threads: threads) {
            case .unavailable(let reason): result.torchUnavailable = reason; return result
            case .ran(let output, let seconds): json = output; torchStep = seconds
            }
            result.torch = Step(seconds: torchStep, allSeconds: json["allStepSeconds"] as? [Double] ?? [torchStep],
                                cpuSeconds: json["stepCPUSeconds"] as? Double)
            result.torchVersion = json["torchVersion"] as? String
            result.predictionRelativeError = json["predictionRelativeError"] as? Double
            result.lossRelativeError = json["lossRelativeError"] as? Double
            result.gradientRelativeError = json["gradientRelativeError"] as? Double
            result.worstGradient = json["worstGradient"] as? String
            result.torchGradientRelativeError = json["torchGradientRelativeError"] as? Double
            result.speedupOverTorch = torchStep / result.ours.seconds
            return result
        }
    }
}
