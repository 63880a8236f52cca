import Foundation
import NeoAudio
import NeoIO
import NeoNN
import NeoTensor
import Vocal

/// `neo-train bench vocal`: one training step of a VOCAL recipe's model (vocal-small by
/// default), ours against the same architecture in PyTorch (`scripts/bench_vocal_torch.py`)
/// with the same weights, batch and threads in the same run — the script first checks that it
/// computes the same velocity — and the time to sample 10 s of audio with 10 steps and
/// three-way guidance (four condition sets per step).
public enum VocalBenchmark {
    public struct Timing: Codable, Sendable {
        /// Median seconds of one training step (forward, backward, AdamW).
        public var stepSeconds: Double
        public var allStepSeconds: [Double]
        /// Median CPU seconds (all threads) of a step: less sensitive to other work on the machine.
        public var stepCPUSeconds: Double?
        public var threads: Int
    }

    public struct Sampling: Codable, Sendable {
        public var audioSeconds: Double
        public var steps: Int
        public var sampler: String
        public var conditionSets: Int
        public var windows: Int
        public var cfgAudio: Double
        public var cfgIdentity: Double
        public var cfgReference: Double
        /// Median seconds to sample the motion from cached features.
        public var seconds: Double
        public var allSeconds: [Double]
        /// Median CPU seconds (all threads).
        public var cpuSeconds: Double?
        /// Seconds of Whisper features for the same audio (when the weights are present).
        public var featureSeconds: Double?
    }

    public struct Result: Codable, Sendable, JSONReport {
        public var recipe: String
        public var parameters: Int
        public var batch: Int
        public var windowFrames: Int
        public var prefixFrames: Int
        public var referenceFrames: Int
        public var ours: Timing
        public var torch: Timing?
        public var torchVersion: String?
        public var torchUnavailable: String?
        public var torchParameters: Int?
        /// Max |v_torch − v_ours| / max |v_ours| for the same weights and batch.
        public var velocityRelativeError: Double?
        public var speedupOverTorch: Double?
        /// nil when the run skipped sampling.
        public var sampling: Sampling?


        public func table() -> String {
            func s(_ v: Double) -> String { String(format: "%.3f s", v) }
            var out = "VOCAL \(recipe): \(parameters) parameters, batch \(batch) windows of \(windowFrames) frames (+\(prefixFrames) prefix, 1 reference), identity clips of \(referenceFrames) frames, \(ours.threads) threads\n"
            out += "training step   ours \(s(ours.stepSeconds))" + (ours.stepCPUSeconds.map { " (CPU \(s($0)))" } ?? "")
            if let t = torch {
                out += "   torch \(torchVersion ?? "") \(s(t.stepSeconds))" + (t.stepCPUSeconds.map { " (CPU \(s($0)))" } ?? "") + "   speedup \(String(format: "%.2f×", speedupOverTorch ?? 0))"
                if let e = velocityRelativeError { out += "   same velocity within \(String(format: "%.1e", e)) (relative)" }
            } else {
                out += "   torch: \(torchUnavailable ?? "unavailable")"
            }
            out += "\n"
            guard let sm = sampling else { return out }
            out += "sampling        \(String(format: "%.0f", sm.audioSeconds)) s of audio, \(sm.steps) \(sm.sampler) steps, \(sm.conditionSets) condition sets (cfg \(sm.cfgAudio)/\(sm.cfgIdentity)/\(sm.cfgReference)), \(sm.windows) windows: \(s(sm.seconds))" + (sm.cpuSeconds.map { " (CPU \(s($0)))" } ?? "")
            if let f = sm.featureSeconds { out += " (+ Whisper features \(s(f)))" }
            return out + "\n"
        }
    }

    /// Gives the zero-initialised parameters (gates, output layer) small random values, so
    /// that every part of the model contributes to the velocity the cross-check compares.
    static func nudge(_ model: Module, generator: Generator) {
        noGrad {
            for (_, p) in model.namedParameters() where p.value.toArray().allSatisfy({ $0 == 0 }) {
                p.assign(Tensor.normal(p.shape, std: 0.05, generator: generator))
            }
        }
    }

    /// Runs the benchmark. `torchScript` nil skips PyTorch; `weights` (Whisper) adds the feature
    /// time to the sampling figure when the file exists.
    public static func run(recipePath: String = "Recipes/vocal-small.toml", torchScript: String?, weights: String?,
                           threads: Int = 2, repeats: Int = 5, quick: Bool = false, sampling: Bool = true) throws -> Result {
        let recipe = try Recipe.load(path: recipePath, kinds: ModelKind.builtIn.map(\.schema))
        guard recipe.modelKind == "vocal" else { throw TrainError("\(recipePath): model.kind is not \"vocal\"") }
        let context = EngineContext(threads: threads)
        return try context.run { try measure(recipe: recipe, recipePath: recipePath, torchScript: torchScript, weights: weights,
                                             threads: threads, repeats: quick ? 1 : repeats, quick: quick, sampling: sampling) }
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    static func measure(recipe: Recipe, recipePath: String, torchScript: String?, weights: String?, threads: Int,
                        repeats: Int, quick: Bool, sampling withSampling: Bool) throws -> Result {
        var config = VocalKind.config(recipe)
        config.gradientCheckpointing = false
        let data = recipe.section(VocalDataSection.self)
        let g = Generator(seed: 7)
        let model = try VocalModel(config: config, generator: g)
        nudge(model, generator: g)
        let b = quick ? 2 : recipe.train.batch, n = config.windowFrames, d = config.latentDim, k = config.prefixFrames
        let r = data.referenceFrames
        let motion = Tensor.normal([b, n, d], generator: g)
        let audio = Tensor.normal([b, config.audioLayers, 2 * n, config.audioWidth], generator: g)
        let identity = Tensor.normal([b, r, d], generator: g)
        let reference = identity.slice(dim: 1, start: 0, end: 1).squeeze(1).contiguous()
        let prefix = Tensor.normal([b, Swift.max(k, 1), d], generator: g).slice(dim: 1, start: 0, end: k).contiguous()
        let emotion = (0..<b).map { $0 % config.emotionCount }
        let batch = VocalBatch(motion: motion, audio: audio, identity: identity, emotion: emotion, reference: reference,
                               prefix: k > 0 ? prefix : nil)
        try batch.validate(config)
        let t = (0..<b).map { i in Float(i + 1) / Float(b + 1) }
        let draw = FlowMatchingDraw(t: t, keep: Array(repeating: .all, count: b), noise: Tensor.normal([b, n, d], generator: g))
        let (velocity, loss) = noGrad { () -> (Tensor, Float) in
            let (xt, target) = rectifiedFlowPair(x0: motion, noise: draw.noise, t: t)
            let v = model.velocity(xt, t: t, conditions: model.encode(batch.conditions, keep: draw.keep))
            return (v, mseLoss(v, target).item)
        }

        // Our training step.
        let lr = recipe.optim.lr
        let optimizer = AdamW(model.trainableParameters(), learningRate: Float(lr), beta1: 0.9, beta2: 0.99, weightDecay: 0.01)
        func step() {
            let tape = Tape()
            tape.backward(tape.record { flowMatchingLoss(model: model, batch: batch, draw: draw) })
            optimizer.step()
            optimizer.zeroGrad()
        }
        // The torch bundle holds the weights before any step.
        var bundle: [String: Tensor] = [:]
        for (path, p) in model.namedParameters() { bundle[path] = p.value.clone() }
        step()
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<repeats {
            let c0 = processCPUSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            cpu.append(processCPUSeconds() - c0)
        }
        let ours = Timing(stepSeconds: median(times), allStepSeconds: times, stepCPUSeconds: median(cpu), threads: threads)

        let sampling = withSampling ? try measureSampling(model: model, config: config, identity: identity, reference: reference,
                                                          weights: weights, quick: quick, repeats: repeats, generator: g) : nil

        var result = Result(recipe: recipePath, parameters: model.parameterCount, batch: b, windowFrames: n, prefixFrames: k,
                            referenceFrames: r, ours: ours, sampling: sampling)

        // PyTorch, same weights and batch.
        bundle["in.motion"] = motion; bundle["in.audio"] = audio; bundle["in.identity"] = identity
        bundle["in.reference"] = reference; bundle["in.prefix"] = prefix; bundle["in.noise"] = draw.noise
        bundle["in.t"] = Tensor(t, shape: [b]); bundle["in.emotion"] = Tensor(emotion.map(Float.init), shape: [b])
        bundle["out.velocity"] = velocity; bundle["out.loss"] = Tensor([loss], shape: [1])
        try compareWithTorch(&result, script: torchScript, bundle: bundle, config: config, lr: lr, repeats: repeats, threads: threads)
        return result
    }

    /// Sampling 10 s of audio (2 s with `quick`) in sliding windows, and the Whisper features of
    /// as much audio when the weights are at hand.
    static func measureSampling(model: VocalModel, config: VocalConfig, identity: Tensor, reference: Tensor, weights: String?,
                                quick: Bool, repeats: Int, generator g: Generator) throws -> Sampling {
        let n = config.windowFrames
        // Features from the same fake encoder shapes, 10 Euler steps, weights that need all four
        // condition sets.
        let seconds = quick ? 2.0 : 10.0, steps = quick ? 2 : 10
        let frames = Int(seconds * 25)
        var settings = SamplingSettings()
        settings.sampler = .euler
        settings.steps = steps
        settings.guidance = GuidanceWeights(audio: 2, identity: 1.5, reference: 1.25)
        let sampler = VocalSampler(model: model, settings: settings)
        let longAudio = Tensor.normal([1, config.audioLayers, 2 * frames, config.audioWidth], generator: g)
        let clip = identity.slice(dim: 0, start: 0, end: 1).contiguous()
        let ref = reference.slice(dim: 0, start: 0, end: 1).contiguous()
        var sampleTimes: [Double] = [], sampleCPU: [Double] = []
        for i in 0..<(repeats >= 3 ? 4 : 1) {  // the first one warms up
            let c0 = processCPUSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try sampler.sampleLong(audio: longAudio, identity: clip, emotion: [1], reference: ref, generator: Generator(seed: 3))
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if i > 0 || repeats < 3 { sampleTimes.append(dt); sampleCPU.append(processCPUSeconds() - c0) }
        }
        var featureSeconds: Double? = nil
        let weightsPath = weights ?? AudioFeatureCache.defaultWeights
        if FileManager.default.fileExists(atPath: weightsPath), let extractor = try? AudioFeatureCache.extractor(weights: weightsPath),
           extractor.encoder.config.layers + 1 == config.audioLayers, extractor.encoder.config.width == config.audioWidth {
            // A voiced test signal: the encoder's cost does not depend on what is said.
            let samples = (0..<(frames * 640)).map { i -> Float in
                let x = Double(i) / 16_000
                return Float(0.3 * sin(2 * .pi * 140 * x) * (0.6 + 0.4 * sin(2 * .pi * 3 * x)))
            }
            _ = try AudioFeatureCache.clipFeatures(extractor, samples: samples, frames: frames, source: "bench")
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try AudioFeatureCache.clipFeatures(extractor, samples: samples, frames: frames, source: "bench")
            featureSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        let plan = GuidancePlan(model: model, conditions: VocalConditions(audio: longAudio.slice(dim: 2, start: 0, end: 2 * n).contiguous(),
                                                                          identity: clip, emotion: [1], reference: ref, prefix: nil),
                                weights: settings.guidance)
        return Sampling(audioSeconds: seconds, steps: steps, sampler: "euler", conditionSets: plan.sets.count,
                        windows: sampler.windows(frames: frames).count, cfgAudio: 2, cfgIdentity: 1.5, cfgReference: 1.25,
                        seconds: median(sampleTimes), allSeconds: sampleTimes, cpuSeconds: median(sampleCPU),
                        featureSeconds: featureSeconds)
    }

    /// The same step in PyTorch (`torchScript`, a `scripts/bench_vocal_torch.py`) on `bundle`
    /// (the weights before any step, the inputs, our velocity and loss): its timing and the
    /// velocity's agreement, or why it could not run.
    static func compareWithTorch(_ result: inout Result, script torchScript: String?, bundle: [String: Tensor], config: VocalConfig,
                                 lr: Double, repeats: Int, threads: Int) throws {
    let configJSON: [String: Any] = [
        "latent_dim": config.latentDim, "width": config.width, "depth": config.depth, "heads": config.heads, "mlp_hidden": config.mlpHidden,
        "prefix_frames": config.prefixFrames, "emotion_count": config.emotionCount, "identity_dim": config.identityDim,
        "audio_layers": config.audioLayers, "audio_width": config.audioWidth, "timestep_dim": config.timestepDim,
        "rotary_base": config.rotaryBase,
    ]
    let configText = String(decoding: try JSONSerialization.data(withJSONObject: configJSON, options: [.sortedKeys]), as: UTF8.self)
    let json: [String: Any], torchStep: Double
    switch try TorchReference.run(script: torchScript, bundle: bundle, configText: configText, lr: lr, repeats: repeats, threads: threads) {
    case .unavailable(let reason): result.torchUnavailable = reason; return
    case .ran(let output, let seconds): json = output; torchStep = seconds
    }
    result.torch = Timing(stepSeconds: torchStep, allStepSeconds: json["allStepSeconds"] as? [Double] ?? [torchStep],
                          stepCPUSeconds: json["stepCPUSeconds"] as? Double, threads: json["threads"] as? Int ?? threads)
    result.torchVersion = json["torchVersion"] as? String
    result.torchParameters = json["parameters"] as? Int
    result.velocityRelativeError = json["velocityRelativeError"] as? Double
    result.speedupOverTorch = torchStep / result.ours.stepSeconds
    }
}

/// CPU seconds used by this process so far (user + system, all threads).
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}
