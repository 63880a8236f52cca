import Foundation
import NeoNN
import NeoTensor
import Vocal

/// The VOCAL velocity network v(x_t, t, conditions) as one ONNX graph, the all-layer audio
/// fusion and the identity encoder inside it. Inputs and outputs: docs/export.md.
///
/// Every condition of `VocalModel.encode` is an input, and each guided condition can be dropped
/// per batch row, so a runtime can evaluate the condition sets of multi-condition guidance in
/// one batch: `keep_audio`, `keep_identity`, `keep_reference` (1 keep, 0 drop), the null emotion
/// label `emotion_count`, and `prefix_mask` zeros for missing prefix frames. Dropped tokens are
/// removed from attention by a key mask of −1e9 (exactly zero weight, as ours with −∞).
public enum VocalONNX {
    /// Input names, in graph order.
    public static let inputNames = ["x_t", "t", "audio_features", "identity_clip", "emotion", "reference",
                                    "prefix", "prefix_mask", "keep_audio", "keep_identity", "keep_reference"]
    public static let outputName = "velocity"
    /// Added to the scores of removed keys.
    public static let maskValue: Float = -1e9

    /// Builds the graph of `model` with its current parameter values.
    public static func graph(_ model: VocalModel, name: String = "vocal_velocity", float64Tables: Bool = true) -> ONNXGraph {
        let g = ONNXGraph(name: name, root: model, float64Tables: float64Tables)
        let i = Inputs(g, model.config, normalized: false)
        let v = velocity(g, model, i, clip: i.clip, reference: i.reference)
        g.output(v, as: outputName, shape: ["batch", "frames", .fixed(model.config.latentDim)], doc: "predicted flow-matching velocity v = ε − x0")
        return g
    }

    /// The graph of a trained model as `neo-train pretrain` and GRPO write it: the velocity
    /// network with the standardisation of `NormalizedVocal` inside. `identity_clip` and
    /// `reference` are motion as the user has it (absolute latents); the graph standardises
    /// them, takes the identity clip relative to the reference frame (or, for rows with
    /// `has_reference` 0, to the training mean frame) when the model is relative, and besides
    /// the network-space `velocity` returns `motion`, the clean-motion estimate x_t − t·v
    /// mapped back to motion units (at t = 0 exactly the latents x_t in motion units).
    public static func graph(_ model: NormalizedVocal, name: String = "vocal_velocity", float64Tables: Bool = true) -> ONNXGraph {
        let cfg = model.config, d = cfg.latentDim
        let g = ONNXGraph(name: name, root: model, float64Tables: float64Tables)
        let i = Inputs(g, cfg, normalized: true)
        let hasReference = g.input("has_reference", shape: ["batch"],
                                   doc: "1 when `reference` holds the speaker's reference frame; 0 uses the training mean frame as the anchor of relative motion")
        // The anchor r of relative motion, [B, D] (nil for absolute models).
        let anchor: ONNXValue? = model.relative
            ? g.where(keep(g, hasReference, rank: 2), i.reference, g.parameter(model.referenceMean)) : nil
        func standardised(_ x: ONNXValue) -> ONNXValue {
            let y = anchor.map { g.sub(x, g.unsqueeze($0, [1])) } ?? x
            return g.div(g.sub(y, g.parameter(model.motionMean)), g.parameter(model.motionScale))
        }
        let clip = g.scope("standardise.identity") { standardised(i.clip) }
        let reference = g.scope("standardise.reference") {
            g.div(g.sub(i.reference, g.parameter(model.referenceMean)), g.parameter(model.referenceScale))
        }
        let v = g.scope("vocal") { velocity(g, model.vocal, i, clip: clip, reference: reference) }
        let motion = g.scope("motion") {
            let x0 = g.sub(i.xt, g.mul(g.reshape(i.t, [-1, 1, 1]), v))
            let m = g.add(g.mul(x0, g.parameter(model.motionScale)), g.parameter(model.motionMean))
            return anchor.map { g.add(m, g.unsqueeze($0, [1])) } ?? m
        }
        g.output(v, as: outputName, shape: ["batch", "frames", .fixed(d)], doc: "predicted velocity in the network's standardised space, v = ε − x0")
        g.output(motion, as: motionOutputName, shape: ["batch", "frames", .fixed(d)],
                 doc: "clean-motion estimate x_t − t·velocity in motion units (the sample itself when run at t = 0 on the final latents)")
        return g
    }

    public static let motionOutputName = "motion"

    /// The graph inputs shared by both layouts.
    struct Inputs {
        let xt, t, audio, clip, emotion, reference, prefix, prefixMask, keepAudio, keepIdentity, keepReference: ONNXValue

        init(_ g: ONNXGraph, _ cfg: VocalConfig, normalized: Bool) {
            let d = cfg.latentDim
            let units = normalized ? "motion latents as the user has them (absolute)" : "motion latents as the network sees them"
            xt = g.input("x_t", shape: ["batch", "frames", .fixed(d)],
                         doc: normalized ? "noisy latents in the network's standardised space, x_t = (1−t)·x0 + t·ε" : "noisy motion latents x_t = (1−t)·x0 + t·ε")
            t = g.input("t", shape: ["batch"], doc: "flow time in [0, 1] per row (1 = pure noise)")
            audio = g.input("audio_features", shape: ["batch", .fixed(cfg.audioLayers), "audio_frames", .fixed(cfg.audioWidth)],
                            doc: "all hidden states of the audio encoder at 50 fps; audio_frames = 2·frames")
            clip = g.input("identity_clip", shape: ["batch", "identity_frames", .fixed(d)],
                           doc: "reference motion clip of the speaker for the identity features (\(units))")
            emotion = g.input("emotion", .int64, shape: ["batch"],
                              doc: "emotion label in 0..<\(cfg.emotionCount); \(cfg.emotionCount) = no emotion")
            reference = g.input("reference", shape: ["batch", .fixed(d)], doc: "reference frame latent (one motion-stream token; \(units))")
            prefix = g.input("prefix", shape: ["batch", "prefix_frames", .fixed(d)],
                             doc: "previous window's last K clean frames (K ≤ \(cfg.prefixFrames))\(normalized ? " as the sampler produced them, in the network's space" : "")")
            prefixMask = g.input("prefix_mask", shape: ["batch", "prefix_frames"], doc: "1 where the prefix frame exists, 0 where it is missing")
            keepAudio = g.input("keep_audio", shape: ["batch"], doc: "1 keeps the audio, 0 replaces it by the null audio token")
            keepIdentity = g.input("keep_identity", shape: ["batch"], doc: "1 keeps the identity features, 0 uses the null identity")
            keepReference = g.input("keep_reference", shape: ["batch"], doc: "1 keeps the reference token, 0 removes it")
        }
    }

    /// A per-row flag `[B]` as a boolean broadcastable against rank `rank`.
    static func keep(_ g: ONNXGraph, _ flag: ONNXValue, rank: Int) -> ONNXValue {
        g.greater(g.reshape(flag, [-1] + Array(repeating: 1, count: rank - 1)), g.scalar(0.5))
    }

    /// The velocity network on the inputs, the identity clip and reference token as given.
    static func velocity(_ g: ONNXGraph, _ model: VocalModel, _ i: Inputs, clip: ONNXValue, reference: ONNXValue) -> ONNXValue {
        let cfg = model.config
        let c = cfg.width
        let xt = i.xt, prefix = i.prefix
        func keep(_ flag: ONNXValue, rank: Int) -> ONNXValue { VocalONNX.keep(g, flag, rank: rank) }

        // Audio stream tokens, or the null token where dropped.
        let fused = g.scope("audioFusion") { audioFusion(g, model.audioFusion, i.audio) }
        let audioTokens = g.where(keep(i.keepAudio, rank: 3), fused, g.parameter(model.nullAudio))

        // Conditioning vector: timestep embedding + identity (or null) + emotion embedding.
        let identityFeatures = g.scope("identity") { identityEncoder(g, model.identity, clip) }
        let identityVector = g.where(keep(i.keepIdentity, rank: 2), identityFeatures, g.parameter(model.nullIdentity))
        let emotionVector = g.scope("emotion") { g.gather(g.parameter(model.emotion.weight), i.emotion, axis: 0) }
        let time = g.scope("time") { g.timestepEmbedding(model.time, i.t) }
        let cond = g.silu(g.add(time, g.add(identityVector, emotionVector)))

        // Motion stream: [reference, prefix…, noisy motion…].
        let refToken = g.unsqueeze(g.scope("referenceIn") { g.linear2D(model.referenceIn, reference) }, [1])
        let prefixTokens = g.scope("prefixIn") { g.linear(model.prefixIn, prefix) }
        let motionTokens = g.scope("motionIn") { g.linear(model.motionIn, xt) }
        var x = g.concat([refToken, prefixTokens, motionTokens], axis: 1)
        var a = audioTokens

        // Rotary positions: reference at −(K_max+1), prefix at −K…−1, frames at 0…N−1 in both streams.
        let k = g.dim(prefix, 1)
        let framePositions = g.positions(alongAxis: 1, of: xt)
        let prefixPositions = g.range(start: g.scalarOf(g.op("Neg", k)), limit: g.int64([0], scalar: true))
        let motionPositions = g.concat([g.constant([model.referencePosition], shape: [1]), prefixPositions, framePositions], axis: 0)
        let rotaryDim = cfg.headDim
        let tablesMotion = g.rotaryTables(positions: motionPositions, rotaryDim: rotaryDim, base: cfg.rotaryBase)
        let tablesAudio = g.rotaryTables(positions: framePositions, rotaryDim: rotaryDim, base: cfg.rotaryBase)

        // Key mask [B, 1, 1, 1 + K + 2N]: removed reference and missing prefix frames.
        let zero = g.scalar(0), blocked = g.scalar(maskValue)
        let refMask = g.where(keep(i.keepReference, rank: 2), zero, blocked)
        let prefixKeyMask = g.where(g.greater(i.prefixMask, g.scalar(0.5)), zero, blocked)
        let streamShape = g.concat([g.dim(xt, 0), g.mul(g.dim(xt, 1), g.int64([2]))], axis: 0)
        let open = g.filled(shape: streamShape, 0)
        let mask = g.reshape(g.concat([refMask, prefixKeyMask, open], axis: 1), [0, 1, 1, -1])

        for (n, block) in model.blocks.enumerated() {
            (x, a) = g.scope("blocks.\(n)") {
                vocalBlock(g, block, motion: x, audio: a, cond: cond, tablesMotion: tablesMotion, tablesAudio: tablesAudio, mask: mask)
            }
        }

        // Output layer on the noisy-motion tokens (after the 1 + K extra tokens).
        let start = g.add(k, g.int64([1]))
        let motionOut = g.slice(x, axis: 1, start: start, end: g.int64([Int(Int64.max)]))
        return g.scope("final") {
            let m = g.split(g.linear2D(model.final.modulation, cond), [c, c], axis: 1)
            let h = g.adaLNModulate(g.layerNorm(motionOut, dim: c, eps: 1e-6), shift: m[0], scale: m[1])
            return g.scope("out") { g.linear(model.final.out, h) }
        }
    }

    /// `AudioFusion`: per-layer norm, softmax-weighted sum over layers, frame pairs, projection.
    static func audioFusion(_ g: ONNXGraph, _ f: AudioFusion, _ hidden: ONNXValue) -> ONNXValue {
        let normed = g.layerNorm(hidden, dim: f.audioWidth, eps: 1e-5)
        let weights = g.reshape(g.softmax(g.parameter(f.layerLogits), axis: 0), [1, f.layers, 1, 1])
        let mixed = g.reduceSum(g.mul(normed, weights), axes: [1], keepDims: false)
        let paired = g.reshape(mixed, [0, -1, 2 * f.audioWidth])
        let h = g.scope("proj1") { g.gelu(g.linear(f.proj1, paired), approximate: true) }
        return g.scope("proj2") { g.linear(f.proj2, h) }
    }

    /// `IdentityEncoder`: per-frame Linear + SiLU, mean and standard deviation over frames, Linear.
    static func identityEncoder(_ g: ONNXGraph, _ e: IdentityEncoder, _ clip: ONNXValue) -> ONNXValue {
        let f = g.scope("frame") { g.silu(g.linear(e.frame, clip)) }
        let mean = g.reduceMean(f, axes: [1], keepDims: true)
        let variance = g.reduceMean(g.pow(g.sub(f, mean), 2), axes: [1], keepDims: false)
        let std = g.sqrt(g.add(variance, 1e-5))
        return g.scope("out") { g.linear2D(e.out, g.concat([g.squeeze(mean, [1]), std], axis: 1)) }
    }

    /// One stream's q (nil when keys-only), k, v `[B, H, T, Dh]`, normed and rotated.
    static func streamQKV(_ g: ONNXGraph, _ s: VocalStream, _ h: ONNXValue, _ tables: ONNXRotaryTables) -> (ONNXValue?, ONNXValue, ONNXValue) {
        let fused = g.scope("qkv") { g.linear(s.qkv, h) }
        let parts = g.splitHeads(fused, parts: s.keysOnly ? 2 : 3, heads: s.heads, headDim: s.headDim)
        let kIndex = s.keysOnly ? 0 : 1
        let k = g.applyRotary(g.scope("kNorm") { g.rmsNorm(s.kNorm, parts[kIndex]) }, tables, headDim: s.headDim)
        let q = s.qNorm.map { n in g.applyRotary(g.scope("qNorm") { g.rmsNorm(n, parts[0]) }, tables, headDim: s.headDim) }
        return (q, k, parts[kIndex + 1])
    }

    /// `VocalBlock`: adaLN-Zero modulated joint attention and MLP of both streams.
    static func vocalBlock(_ g: ONNXGraph, _ b: VocalBlock, motion x: ONNXValue, audio a: ONNXValue, cond: ONNXValue,
                           tablesMotion: ONNXRotaryTables, tablesAudio: ONNXRotaryTables, mask: ONNXValue) -> (ONNXValue, ONNXValue) {
        let c = b.width
        let keysOnly = b.audio.keysOnly
        let mm = g.scope("motion.modulation") { g.split(g.linear2D(b.motion.modulation, cond), Array(repeating: c, count: 6), axis: 1) }
        let ma = g.scope("audio.modulation") { g.split(g.linear2D(b.audio.modulation, cond), Array(repeating: c, count: keysOnly ? 2 : 6), axis: 1) }
        let hm = g.adaLNModulate(g.layerNorm(x, dim: c, eps: 1e-6), shift: mm[0], scale: mm[1])
        let ha = g.adaLNModulate(g.layerNorm(a, dim: c, eps: 1e-6), shift: ma[0], scale: ma[1])
        let (qm, km, vm) = g.scope("motion") { streamQKV(g, b.motion, hm, tablesMotion) }
        let (qa, ka, va) = g.scope("audio") { streamQKV(g, b.audio, ha, tablesAudio) }
        let q = qa.map { g.concat([qm!, $0], axis: 2) } ?? qm!
        let o = g.attention(q, g.concat([km, ka], axis: 2), g.concat([vm, va], axis: 2), mask: mask,
                            scale: 1 / Float(Double(b.headDim).squareRoot()))
        let om: ONNXValue, oa: ONNXValue?
        if keysOnly {
            (om, oa) = (o, nil)
        } else {
            let parts = g.split(o, sizes: g.concat([g.dim(x, 1), g.dim(a, 1)], axis: 0), count: 2, axis: 2)
            (om, oa) = (parts[0], parts[1])
        }
        var x = g.gatedResidual(x, gate: mm[2], g.scope("motion.proj") { g.linear(b.motion.proj!, g.mergeHeads(om, width: c)) })
        let hx = g.adaLNModulate(g.layerNorm(x, dim: c, eps: 1e-6), shift: mm[3], scale: mm[4])
        x = g.gatedResidual(x, gate: mm[5], g.scope("motion.mlp") { g.mlp(b.motion.mlp!, hx) })
        guard let oa else { return (x, a) }
        var y = g.gatedResidual(a, gate: ma[2], g.scope("audio.proj") { g.linear(b.audio.proj!, g.mergeHeads(oa, width: c)) })
        let hy = g.adaLNModulate(g.layerNorm(y, dim: c, eps: 1e-6), shift: ma[3], scale: ma[4])
        y = g.gatedResidual(y, gate: ma[5], g.scope("audio.mlp") { g.mlp(b.audio.mlp!, hy) })
        return (x, y)
    }
}

extension VocalONNX {
    /// The `vocal` model kind's exporter: a plain VOCAL model (its parameters at the top level),
    /// or the standardised model `neo-train pretrain` trains (its network under `vocal.`).
    public static let exporter = ONNXModelExporter(
        kind: "vocal",
        summary: "VOCAL flow-matching velocity v(x_t, t, audio features, identity, emotion, reference, prefix) with the all-layer audio fusion",
        build: { parameters, recipe, metadata, source in try build(parameters, recipe: recipe, metadata: metadata, source: source) })

    /// GRPO checkpoints (`vocal-grpo`): the policy, a standardised model when the run started
    /// from a pretraining checkpoint (whose recipe is under the metadata key `vocal.recipe`).
    public static let grpoExporter = ONNXModelExporter(
        kind: "vocal-grpo",
        summary: "VOCAL flow-matching velocity after GRPO fine-tuning, with the all-layer audio fusion",
        build: { parameters, recipe, metadata, source in
            try build(parameters, recipe: metadata[pretrainingRecipeKey] ?? recipe, metadata: metadata, source: source)
        })

    /// Metadata of GRPO checkpoints: the pretraining recipe, and for a run started from a plain
    /// model whether its wrapper takes motion relative to the reference.
    static let pretrainingRecipeKey = "vocal.recipe"
    static let relativeKey = "vocal.relative"

    static func build(_ parameters: [String: Tensor], recipe: String, metadata: [String: String], source: String) throws -> ONNXGraph {
        guard parameters["vocal.motionIn.weight"] != nil else {
            return graph(try rebuild(parameters: parameters, recipe: recipe, metadata: metadata, source: source))
        }
        return graph(try rebuildNormalized(parameters: parameters, recipe: recipe, metadata: metadata, source: source))
    }

    /// A standardised VOCAL (`NormalizedVocal`) holding `parameters`: the network's sizes from
    /// the shapes under `vocal.`, relative motion from the recipe's `[vocal] relative_motion`
    /// (default true), or from the metadata when the recipe has no `[vocal]` table.
    public static func rebuildNormalized(parameters: [String: Tensor], recipe: String, metadata: [String: String] = [:],
                                         source: String) throws -> NormalizedVocal {
        var inner: [String: Tensor] = [:]
        for (k, v) in parameters where k.hasPrefix("vocal.") { inner[String(k.dropFirst("vocal.".count))] = v }
        let cfg = try config(parameters: inner, recipe: recipe, metadata: metadata, source: source)
        let table = try RecipeTable(text: recipe, source: source)
        let relative = try table.bool("vocal", "relative_motion") ?? metadata[relativeKey].map { $0 == "true" } ?? true
        let model: NormalizedVocal
        do { model = try NormalizedVocal(config: cfg, relative: relative, generator: Generator(seed: 0)) } catch {
            throw ExportError("\(source): cannot rebuild the VOCAL model: \(error)")
        }
        try CheckpointExport.load(parameters, into: model, source: source)
        model.eval()
        return model
    }

    /// The config of a VOCAL model with these parameters: every size is read from the parameter
    /// shapes; what no shape holds (`prefix_frames`, `window_frames`, `rotary_base`) from the
    /// recipe's `[model]` table, defaulting as `VocalConfig` does.
    /// Metadata key of plain VOCAL checkpoints holding the model's `VocalConfig` as JSON.
    static let configKey = "vocal.config"

    public static func config(parameters p: [String: Tensor], recipe: String, metadata: [String: String] = [:],
                              source: String) throws -> VocalConfig {
        func shape(_ name: String, _ rank: Int) throws -> [Int] { try CheckpointExport.shape(p, name, rank: rank, source: source) }
        var c = VocalConfig()
        let motionIn = try shape("motionIn.weight", 2)
        c.width = motionIn[0]
        c.latentDim = motionIn[1]
        c.depth = p.keys.filter { $0.hasPrefix("blocks.") && $0.hasSuffix(".motion.qkv.weight") }.count
        guard c.depth > 0 else { throw ExportError("\(source): no blocks.N.motion.qkv.weight parameters: not a VOCAL model") }
        let headDim = try shape("blocks.0.motion.qNorm.weight", 1)[0]
        guard headDim > 0, c.width % headDim == 0 else { throw ExportError("\(source): head width \(headDim) does not divide the width \(c.width)") }
        c.heads = c.width / headDim
        c.mlpRatio = Double(try shape("blocks.0.motion.mlp.fc1.weight", 2)[0]) / Double(c.width)
        c.emotionCount = try shape("emotion.weight", 2)[0] - 1
        c.identityDim = try shape("identity.frame.weight", 2)[0]
        c.audioLayers = try shape("audioFusion.layerLogits", 1)[0]
        c.audioWidth = try shape("audioFusion.proj1.weight", 2)[1] / 2
        c.timestepDim = try shape("time.mlp.fc1.weight", 2)[1]
        if let json = metadata[configKey] {
            // A plain model's own shape record holds what the shapes do not.
            guard let stored = try? JSONDecoder().decode(VocalConfig.self, from: Data(json.utf8)) else {
                throw ExportError("\(source): metadata \(configKey) does not describe a VOCAL model")
            }
            c.prefixFrames = stored.prefixFrames; c.windowFrames = stored.windowFrames; c.rotaryBase = stored.rotaryBase
            return c
        }
        let table = try RecipeTable(text: recipe, source: source)
        if let v = try table.int("model", "prefix_frames") { c.prefixFrames = v }
        if let v = try table.int("model", "window_frames") { c.windowFrames = v }
        if let v = try table.double("model", "rotary_base") { c.rotaryBase = v }
        return c
    }

    /// A VOCAL model holding `parameters` (strictly: every parameter present with its shape).
    public static func rebuild(parameters: [String: Tensor], recipe: String, metadata: [String: String] = [:],
                               source: String) throws -> VocalModel {
        let cfg = try config(parameters: parameters, recipe: recipe, metadata: metadata, source: source)
        let model: VocalModel
        do { model = try VocalModel(config: cfg, generator: Generator(seed: 0)) } catch {
            throw ExportError("\(source): cannot rebuild the VOCAL model: \(error)")
        }
        try CheckpointExport.load(parameters, into: model, source: source)
        model.eval()
        return model
    }
}
