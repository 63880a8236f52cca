import Foundation
import NeoNN
import NeoTensor
import RewardModel

/// The reward model as an ONNX graph: motion and all-layer audio features in, the four scores
/// out. Inputs and outputs: docs/export.md.
public enum RewardONNX {
    public static let inputNames = ["motion", "audio_features"]
    public static let outputName = "scores"
    /// Columns of `scores`, in order.
    public static let scoreNames = ["overall", "naturalness", "expression_range", "audio_alignment"]

    /// Builds the graph of `model` with its current parameter values (the frozen motion
    /// statistics included, as initializers).
    public static func graph(_ model: RewardTransformer, name: String = "reward_scores", float64Tables: Bool = true) -> ONNXGraph {
        let cfg = model.config
        let g = ONNXGraph(name: name, root: model, float64Tables: float64Tables)
        let motion = g.input("motion", shape: ["batch", "frames", .fixed(cfg.motionDim)],
                             doc: "motion latents at 25 fps, frames ≥ 2")
        let audio = g.input("audio_features", shape: ["batch", .fixed(cfg.audioLayers), "audio_frames", .fixed(cfg.audioWidth)],
                            doc: "all hidden states of the audio encoder at 50 fps; audio_frames = 2·frames")

        // Audio tokens: per-layer norm, softmax mix over the layers, frame pairs projected.
        var mixed = g.layerNorm(audio, dim: cfg.audioWidth, eps: 1e-5)
        if let logits = model.layerLogits {
            let weights = g.reshape(g.softmax(g.parameter(logits), axis: 0), [1, cfg.audioLayers, 1, 1])
            mixed = g.reduceSum(g.mul(mixed, weights), axes: [1], keepDims: false)
        } else {
            mixed = g.squeeze(mixed, [1])
        }
        let pairs = g.reshape(mixed, [0, -1, 2 * cfg.audioWidth])
        var a = g.scope("audioIn") { g.linear(model.audioIn, pairs) }

        // Motion tokens: standardised frames and standardised differences from the previous
        // frame (zero for the first: the frame minus itself), plus the frame's own audio pair.
        let x = g.div(g.sub(motion, g.parameter(model.motionMean)), g.parameter(model.motionStd))
        let previous = g.concat([g.slice(motion, axis: 1, start: 0, end: 1), g.slice(motion, axis: 1, start: 0, end: -1)], axis: 1)
        let delta = g.div(g.sub(motion, previous), g.parameter(model.deltaStd))
        let features = g.concat([x, delta], axis: 2)
        let motionTokens = g.scope("motionIn") { g.linear(model.motionIn, features) }
        var m = g.add(motionTokens, g.scope("frameAudioIn") { g.linear(model.frameAudioIn, pairs) })
        let lags = g.scope("lagProfile") { lagProfile(g, model, motion: motionTokens, audio: a) }

        // Window summary: ½·log(variance over time + 1e-6) of every feature.
        let mean = g.reduceMean(features, axes: [1], keepDims: true)
        let variance = g.reduceMean(g.pow(g.sub(features, mean), 2), axes: [1], keepDims: false)
        let spread = g.mul(g.op("Log", g.add(variance, 1e-6)), 0.5)
        let summary = g.scope("summaryIn") { g.linear2D(model.summaryIn, spread) }

        for (i, block) in model.blocks.enumerated() {
            (m, a) = g.scope("blocks.\(i)") {
                let att = g.scope("attention") {
                    g.jointAttention(block.attention, [g.layerNorm(block.motionNorm1, m), g.layerNorm(block.audioNorm1, a)])
                }
                let m1 = g.add(m, att[0]), a1 = g.add(a, att[1])
                let m2 = g.add(m1, g.scope("motionMLP") { g.mlp(block.motionMLP, g.layerNorm(block.motionNorm2, m1)) })
                let a2 = g.add(a1, g.scope("audioMLP") { g.mlp(block.audioMLP, g.layerNorm(block.audioNorm2, a1)) })
                return (m2, a2)
            }
        }
        m = g.layerNorm(model.motionNorm, m)
        a = g.layerNorm(model.audioNorm, a)

        func pool(_ p: AttentionPool, _ x: ONNXValue) -> ONNXValue {
            let weights = g.softmax(g.linear(p.score, x), axis: 1)
            return g.reduceSum(g.mul(x, weights), axes: [1], keepDims: false)
        }
        let pooled = g.layerNorm(model.poolNorm, g.concat([
            g.reduceMean(m, axes: [1], keepDims: false), g.scope("motionPool") { pool(model.motionPool, m) },
            g.reduceMean(a, axes: [1], keepDims: false), g.scope("audioPool") { pool(model.audioPool, a) },
            summary, g.scope("lagIn") { g.linear2D(model.lagIn, lags) },
        ], axis: 1))
        let heads = [("overallHead", model.overallHead), ("naturalnessHead", model.naturalnessHead),
                     ("expressionHead", model.expressionHead), ("alignmentHead", model.alignmentHead)]
        let scores = g.concat(heads.map { name, head in g.scope(name) { g.mlp2D(head, pooled) } }, axis: 1)
        g.output(scores, as: outputName, shape: ["batch", 4],
                 doc: "scores: overall, naturalness, expression range, audio alignment (higher is better)")
        return g
    }

    /// `RewardTransformer.lagProfile` `[B, 2L+1]`: for each offset ℓ the mean over the T − |ℓ|
    /// overlapping frames of the dot products of the normalised sync embeddings, over √syncWidth;
    /// 0 where |ℓ| ≥ T (an empty sum divided by max(T − |ℓ|, 1)).
    static func lagProfile(_ g: ONNXGraph, _ model: RewardTransformer, motion: ONNXValue, audio: ONNXValue) -> ONNXValue {
        let cfg = model.config
        let em = g.layerNorm(g.scope("syncMotion") { g.linear(model.syncMotion, motion) }, dim: cfg.syncWidth, eps: 1e-5)
        let ea = g.layerNorm(g.scope("syncAudio") { g.linear(model.syncAudio, audio) }, dim: cfg.syncWidth, eps: 1e-5)
        let scale = 1 / Float(Double(cfg.syncWidth).squareRoot())
        let frames = g.dim(motion, 1)
        let open = Int(Int64.max)
        var columns: [ONNXValue] = []
        for lag in -cfg.syncLags...cfg.syncLags {
            let mm = g.slice(em, axis: 1, start: max(0, lag), end: lag < 0 ? lag : open)
            let aa = g.slice(ea, axis: 1, start: max(0, -lag), end: lag > 0 ? -lag : open)
            let total = g.reduceSum(g.reduceSum(g.mul(mm, aa), axes: [2], keepDims: false), axes: [1], keepDims: true)
            let count = g.cast(g.op("Max", g.sub(frames, g.int64([abs(lag)])), g.int64([1])), to: .float)
            columns.append(g.mul(g.div(total, count), scale))
        }
        return g.concat(columns, axis: 1)
    }

    /// The `reward` model kind's exporter.
    public static let exporter = ONNXModelExporter(
        kind: "reward",
        summary: "reward model scores (overall, naturalness, expression range, audio alignment) of motion and all-layer audio features",
        build: { parameters, _, _, source in graph(try rebuild(parameters: parameters, source: source)) })

    /// The config of a reward model with these parameters, read from the parameter shapes alone.
    public static func config(parameters p: [String: Tensor], source: String) throws -> RewardModelConfig {
        func shape(_ name: String, _ rank: Int) throws -> [Int] { try CheckpointExport.shape(p, name, rank: rank, source: source) }
        let motionIn = try shape("motionIn.weight", 2)
        var c = RewardModelConfig()
        c.width = motionIn[0]
        c.motionDim = motionIn[1] / 2
        c.depth = p.keys.filter { $0.hasPrefix("blocks.") && $0.hasSuffix(".motionNorm1.weight") }.count
        guard c.depth > 0 else { throw ExportError("\(source): no blocks.N.motionNorm1.weight parameters: not a reward model") }
        let headDim = try shape("blocks.0.attention.streams.0.qNorm.weight", 1)[0]
        guard headDim > 0, c.width % headDim == 0 else { throw ExportError("\(source): head width \(headDim) does not divide the width \(c.width)") }
        c.heads = c.width / headDim
        c.mlpRatio = try shape("blocks.0.motionMLP.fc1.weight", 2)[0] / c.width
        c.audioLayers = p["layerLogits"] == nil ? 1 : try shape("layerLogits", 1)[0]
        c.audioWidth = try shape("audioIn.weight", 2)[1] / 2
        c.syncWidth = try shape("syncMotion.weight", 2)[0]
        c.syncLags = (try shape("lagIn.weight", 2)[1] - 1) / 2
        return c
    }

    /// A reward model holding `parameters` (strictly: every parameter present with its shape).
    public static func rebuild(parameters: [String: Tensor], source: String) throws -> RewardTransformer {
        let cfg = try config(parameters: parameters, source: source)
        let model: RewardTransformer
        do { model = try RewardTransformer(config: cfg, generator: Generator(seed: 0)) } catch {
            throw ExportError("\(source): cannot rebuild the reward model: \(error)")
        }
        try CheckpointExport.load(parameters, into: model, source: source)
        model.eval()
        return model
    }
}
