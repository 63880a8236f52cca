import Foundation
import NeoExport
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import ONNXProto
import Vocal
import XCTest

/// The VOCAL velocity graph against `VocalModel.velocity` at two frame counts (and two prefix
/// lengths), with a different set of dropped conditions in each batch row.
final class VocalONNXTests: XCTestCase {
    static func tinyConfig() -> VocalConfig {
        var c = VocalConfig()
        c.latentDim = 6
        c.width = 32
        c.depth = 2
        c.heads = 4
        c.mlpRatio = 2
        c.windowFrames = 16
        c.prefixFrames = 4
        c.emotionCount = 3
        c.identityDim = 8
        c.audioLayers = 3
        c.audioWidth = 10
        c.timestepDim = 16
        c.rotaryBase = 500
        return c
    }

    /// The recipe text a checkpoint of `tinyConfig` would carry (only `[model]` is read).
    static let recipe = """
    [model]
    kind = "vocal"
    latent_dim = 6
    width = 32
    depth = 2
    heads = 4
    mlp_ratio = 2.0
    window_frames = 16
    prefix_frames = 4
    emotion_count = 3
    identity_dim = 8
    audio_layers = 3
    audio_width = 10
    timestep_dim = 16
    rotary_base = 500.0
    """

    static func model(seed: UInt64) throws -> VocalModel {
        let m = try VocalModel(config: tinyConfig(), generator: Generator(seed: seed))
        randomizeParameters(m, seed: seed + 1)
        m.eval()
        return m
    }

    /// Rows: 0 keeps everything; 1 drops audio and the reference and misses its first prefix
    /// frame; 2 drops identity, emotion and the whole prefix.
    static let keeps = [
        ConditionKeep.all,
        ConditionKeep(audio: false, identity: true, emotion: true, reference: false, prefix: true),
        ConditionKeep(audio: true, identity: false, emotion: false, reference: true, prefix: false),
    ]

    /// The graph's inputs for `frames` frames and a prefix of `k` frames.
    static func inputs(frames n: Int, prefix k: Int, identityFrames r: Int, seed: UInt64) -> [String: Tensor] {
        let cfg = tinyConfig(), b = keeps.count, d = cfg.latentDim
        let xt = randn([b, n, d], seed: seed)
        let t: [Float] = [0.12, 0.55, 0.97]
        let audio = randn([b, cfg.audioLayers, 2 * n, cfg.audioWidth], seed: seed + 1) * 2
        let clip = randn([b, r, d], seed: seed + 2)
        let reference = randn([b, d], seed: seed + 3)
        let prefix = randn([b, k, d], seed: seed + 4)
        var validity = [Float](repeating: 1, count: b * k)
        if k > 0 { validity[1 * k + 0] = 0 }
        let labels = [2, 0, 1]
        var graphMask = validity
        for i in 0..<b where !keeps[i].prefix { for j in 0..<k { graphMask[i * k + j] = 0 } }
        let flag = { (f: (ConditionKeep) -> Bool) in Tensor(keeps.map { f($0) ? 1 : 0 }, shape: [b]) }
        return [
            "x_t": xt, "t": Tensor(t, shape: [b]), "audio_features": audio, "identity_clip": clip,
            "emotion": Tensor((0..<b).map { Float(keeps[$0].emotion ? labels[$0] : cfg.emotionCount) }, shape: [b]),
            "reference": reference, "prefix": prefix, "prefix_mask": Tensor(graphMask, shape: [b, k]),
            "keep_audio": flag(\.audio), "keep_identity": flag(\.identity), "keep_reference": flag(\.reference),
        ]
    }

    static func ours(_ m: VocalModel, _ g: [String: Tensor]) -> Tensor {
        let cfg = m.config
        let labels = g["emotion"]!.toArray().map { min(Int($0), cfg.emotionCount - 1) }
        // Ours takes the labels as given and the drops from `keeps`; where the graph's label is
        // the null label the row's keep.emotion is false, so the clamped label is never read.
        let conditions = VocalConditions(audio: g["audio_features"]!, identity: g["identity_clip"]!, emotion: labels,
                                         reference: g["reference"]!, prefix: g["prefix"]!,
                                         prefixMask: oursPrefixMask(g))
        return noGrad { m.velocity(g["x_t"]!, t: g["t"]!.toArray(), conditions: m.encode(conditions, keep: keeps)) }
    }

    /// Ours reads missing prefix frames from the mask and dropped prefixes from `keeps`; the
    /// graph's mask has both, so rebuild ours' (row 2's zeros come from keep.prefix = false).
    static func oursPrefixMask(_ g: [String: Tensor]) -> Tensor {
        let m = g["prefix_mask"]!
        let b = m.shape[0], k = m.shape[1]
        var v = m.toArray()
        for i in 0..<b where !keeps[i].prefix { for j in 0..<k { v[i * k + j] = 1 } }
        return Tensor(v, shape: [b, k])
    }

    override func setUpWithError() throws {
        guard ORT.available else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
    }

    func testVelocityGraphMatchesOursAtTwoFrameCounts() throws {
        let model = try Self.model(seed: 30)
        let graph = VocalONNX.graph(model)
        XCTAssertEqual(graph.inputs.map(\.name), VocalONNX.inputNames)
        let runs = [Self.inputs(frames: 5, prefix: 2, identityFrames: 3, seed: 40),
                    Self.inputs(frames: 9, prefix: 4, identityFrames: 6, seed: 50),
                    Self.inputs(frames: 4, prefix: 0, identityFrames: 1, seed: 55)]
        let results = try ORT.run(try graph.serialized(), runs, outputs: [VocalONNX.outputName])
        for (run, result) in zip(runs, results) {
            let expected = Self.ours(model, run)
            Compare.assertClose(result[VocalONNX.outputName]!, expected, "VOCAL velocity at \(run["x_t"]!.shape[1]) frames, prefix \(run["prefix"]!.shape[1])")
        }
    }

    /// Tables in float32 (for runtimes without float64 trigonometry): no float64 anywhere in the
    /// graph, and the outputs still close to ours.
    func testFloat32TablesStayClose() throws {
        let model = try Self.model(seed: 31)
        let graph = VocalONNX.graph(model, float64Tables: false)
        let proto = try Onnx_ModelProto(serializedBytes: try graph.serialized())
        XCTAssertFalse(proto.graph.initializer.contains { $0.dataType == 11 }, "a float64 initializer")
        XCTAssertFalse(proto.graph.node.contains { $0.opType == "Cast" && $0.attribute.contains { $0.name == "to" && $0.i == 11 } }, "a cast to float64")
        let run = Self.inputs(frames: 9, prefix: 4, identityFrames: 6, seed: 50)
        let result = try ORT.run(try graph.serialized(), [run], outputs: [VocalONNX.outputName])[0]
        let e = Compare.relativeError(result[VocalONNX.outputName]!, Self.ours(model, run))
        print("[export] VOCAL velocity with float32 tables: max relative error \(String(format: "%.2e", e))")
        XCTAssertLessThanOrEqual(e, 1e-3)
    }

    /// A checkpoint of kind "vocal" through `CheckpointExport` (config read back from the
    /// parameter shapes and the recipe), model and EMA weights.
    func testCheckpointExportRebuildsTheModel() throws {
        let model = try Self.model(seed: 60), emaModel = try Self.model(seed: 70)
        let dir = PythonCrossCheck.temporaryDirectory("vocal-export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckptPath = dir.appendingPathComponent("vocal.h5").path
        try Checkpoint(step: 12, modelKind: "vocal", recipe: Self.recipe, model: model.stateDict(),
                       ema: emaModel.stateDict()).write(to: ckptPath)
        let rebuilt = try VocalONNX.config(parameters: model.stateDict(), recipe: Self.recipe, source: ckptPath)
        XCTAssertEqual(rebuilt, Self.tinyConfig())

        let run = Self.inputs(frames: 7, prefix: 3, identityFrames: 4, seed: 80)
        for (ema, reference) in [(false, model), (true, emaModel)] {
            let out = dir.appendingPathComponent(ema ? "ema.onnx" : "model.onnx").path
            let summary = try CheckpointExport.run(checkpoint: ckptPath, format: .onnx, out: out, ema: ema)
            XCTAssertEqual(summary.modelKind, "vocal")
            let result = try ORT.run(try Data(contentsOf: URL(fileURLWithPath: out)), [run], outputs: [VocalONNX.outputName])[0]
            Compare.assertClose(result[VocalONNX.outputName]!, Self.ours(reference, run), "VOCAL checkpoint export (\(ema ? "EMA" : "model") weights)")
        }
    }
}
