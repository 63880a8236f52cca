import Foundation
import NeoExport
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import RewardModel
import XCTest

/// The reward model's graph against `RewardTransformer` at two frame counts, with several audio
/// layers (softmax mix) and with one (no mix).
final class RewardONNXTests: XCTestCase {
    static func model(audioLayers: Int, seed: UInt64) throws -> RewardTransformer {
        let cfg = RewardModelConfig(motionDim: 6, audioLayers: audioLayers, audioWidth: 8, width: 16, depth: 2, heads: 2, mlpRatio: 2,
                                    syncLags: 8, syncWidth: 6)
        let m = try RewardTransformer(config: cfg, generator: Generator(seed: seed))
        randomizeParameters(m, seed: seed + 1)
        // Standardisation statistics: positive spreads, not the unit ones.
        let g = Generator(seed: seed + 2)
        m.setStatistics(MotionStatistics(mean: (0..<6).map { _ in Float(g.nextNormal()) * 0.5 },
                                         std: (0..<6).map { _ in 0.5 + Float(g.nextUniform()) },
                                         deltaStd: (0..<6).map { _ in 0.2 + Float(g.nextUniform()) }))
        m.eval()
        return m
    }

    static func inputs(_ m: RewardTransformer, frames: Int, seed: UInt64) -> [String: Tensor] {
        let c = m.config
        return ["motion": randn([3, frames, c.motionDim], seed: seed),
                "audio_features": randn([3, c.audioLayers, 2 * frames, c.audioWidth], seed: seed + 1) * 2]
    }

    override func setUpWithError() throws {
        guard ORT.available else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
    }

    func testScoresMatchOursAtTwoFrameCounts() throws {
        for layers in [3, 1] {
            let model = try Self.model(audioLayers: layers, seed: UInt64(100 + layers))
            let graph = RewardONNX.graph(model)
            XCTAssertEqual(graph.inputs.map(\.name), RewardONNX.inputNames)
            let runs = [Self.inputs(model, frames: 6, seed: 110), Self.inputs(model, frames: 13, seed: 120)]
            let results = try ORT.run(try graph.serialized(), runs, outputs: [RewardONNX.outputName])
            for (run, result) in zip(runs, results) {
                let ours = noGrad { model(motion: run["motion"]!, audio: run["audio_features"]!) }
                Compare.assertClose(result[RewardONNX.outputName]!, ours, "reward scores, \(layers) audio layer(s), \(run["motion"]!.shape[1]) frames")
            }
        }
    }

    /// A checkpoint of kind "reward" through `CheckpointExport` (config from the shapes alone).
    func testCheckpointExportRebuildsTheModel() throws {
        let model = try Self.model(audioLayers: 3, seed: 130), ema = try Self.model(audioLayers: 3, seed: 140)
        let dir = PythonCrossCheck.temporaryDirectory("reward-export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ckpt = dir.appendingPathComponent("reward.h5").path
        try Checkpoint(step: 5, modelKind: "reward", recipe: "[model]\nkind = \"reward\"\n", model: model.stateDict(), ema: ema.stateDict()).write(to: ckpt)
        XCTAssertEqual(try RewardONNX.config(parameters: model.stateDict(), source: ckpt), model.config)
        let run = Self.inputs(model, frames: 9, seed: 150)
        for (useEMA, reference) in [(false, model), (true, ema)] {
            let out = dir.appendingPathComponent(useEMA ? "ema.onnx" : "model.onnx").path
            try CheckpointExport.run(checkpoint: ckpt, format: .onnx, out: out, ema: useEMA)
            let result = try ORT.run(try Data(contentsOf: URL(fileURLWithPath: out)), [run], outputs: [RewardONNX.outputName])[0]
            let ours = noGrad { reference(motion: run["motion"]!, audio: run["audio_features"]!) }
            Compare.assertClose(result[RewardONNX.outputName]!, ours, "reward checkpoint export (\(useEMA ? "EMA" : "model") weights)")
        }
    }
}
