import Foundation
import NeoExport
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// Checkpoints of trained VOCAL models as `neo-train pretrain` (kind `vocal`, a standardised
/// `NormalizedVocal` with its network under `vocal.`) and GRPO (kind `vocal-grpo`, the
/// pretraining recipe under metadata `vocal.recipe`) write them: both export to safetensors and
/// ONNX, the graph's `velocity` and `motion` equal ours, and an Euler loop around the graph, as
/// docs/export.md describes it, reproduces `neo-train sample`'s motion within 1e-4.
final class TrainedVocalExportTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = PythonCrossCheck.temporaryDirectory("trained-vocal")
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }
    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    static var recipePath: String { PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/vocal-tiny.toml").path }
    static var whisper: String { PythonCrossCheck.repoRoot.appendingPathComponent("Checkpoints/pretrained/whisper-tiny-en.safetensors").path }

    /// vocal-tiny's model (Whisper tiny's 5 × 384 audio), random weights and statistics.
    static func model(seed: UInt64) throws -> NormalizedVocal {
        var c = VocalConfig()
        c.latentDim = 70; c.width = 32; c.depth = 2; c.heads = 2; c.mlpRatio = 2; c.windowFrames = 10; c.prefixFrames = 2
        c.emotionCount = 6; c.identityDim = 32; c.audioLayers = 5; c.audioWidth = 384; c.timestepDim = 64; c.rotaryBase = 10000
        let g = Generator(seed: seed)
        func uniform(_ lo: Float, _ hi: Float) -> [Float] { Tensor.uniform([70], low: lo, high: hi, generator: g).toArray() }
        let stats = NormalizedVocal.Statistics(motionMean: uniform(-0.2, 0.2), motionScale: uniform(0.05, 0.5),
                                               referenceMean: uniform(-0.3, 0.3), referenceScale: uniform(0.1, 0.6))
        let m = try NormalizedVocal(config: c, relative: true, generator: g, statistics: stats)
        randomizeParameters(m.vocal, seed: seed + 1)
        m.eval()
        return m
    }

    /// The two checkpoint layouts; the pretraining one holds different EMA weights.
    func writeCheckpoints() throws -> [(kind: String, path: String, model: NormalizedVocal)] {
        let recipe = try String(contentsOfFile: Self.recipePath, encoding: .utf8)
        let raw = try Self.model(seed: 5), ema = try Self.model(seed: 6), policy = try Self.model(seed: 7)
        let pretrain = path("pretrain.h5"), grpo = path("grpo.h5")
        try Checkpoint(step: 20, modelKind: "vocal", recipe: recipe, model: raw.stateDict(), ema: ema.stateDict()).write(to: pretrain)
        try Checkpoint(step: 3, modelKind: "vocal-grpo", recipe: "[grpo]\niterations = 3\n", metadata: ["vocal.recipe": recipe],
                       model: policy.stateDict()).write(to: grpo)
        return [("vocal", pretrain, ema), ("vocal-grpo", grpo, policy)]
    }

    /// Both layouts go to safetensors (every tensor, names as in the checkpoint) and ONNX
    /// (both outputs, on inputs in motion units, equal to ours).
    func testPretrainingAndGRPOCheckpointsExportAndMatchOurs() throws {
        guard ORT.available else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
        for c in try writeCheckpoints() {
            let st = try NeoTrainCLI.run(["export", "--checkpoint", c.path, "--format", "safetensors", "--out", path("\(c.kind).safetensors")])
            XCTAssertEqual(st.status, 0, st.stderr)
            let tensors = try SafeTensors.read(path("\(c.kind).safetensors")).tensors
            XCTAssertEqual(Set(tensors.keys), Set(try Checkpoint.read(from: c.path).model.keys), c.kind)

            let ema = c.kind == "vocal" ? ["--ema"] : []
            let r = try NeoTrainCLI.run(["export", "--checkpoint", c.path, "--format", "onnx", "--out", path("\(c.kind).onnx")] + ema)
            XCTAssertEqual(r.status, 0, r.stderr)
            let onnx = try Data(contentsOf: URL(fileURLWithPath: path("\(c.kind).onnx")))
            let inputs = Self.inputs(c.model, seed: 11)
            let out = try ORT.run(onnx, [inputs], outputs: [VocalONNX.outputName, VocalONNX.motionOutputName])[0]
            // Tolerance 3e-4 relative (floor 1e-3·max): float32 sums over Whisper's 384-wide
            // states and 70-wide motion round differently in onnxruntime; the end-to-end sample
            // comparison below holds 1e-4 absolute.
            let (velocity, motion) = Self.ours(c.model, inputs)
            for (name, ours) in [(VocalONNX.outputName, velocity), (VocalONNX.motionOutputName, motion)] {
                let got = try XCTUnwrap(out[name])
                XCTAssertEqual(got.shape, ours.shape)
                let e = Compare.relativeError(got, ours)
                XCTAssertLessThanOrEqual(e, 3e-4, "\(c.kind): \(name)")
                XCTAssertGreaterThan(ours.toArray().reduce(0) { max($0, abs($1)) }, 0, "\(c.kind): \(name) all zeros")
                print("[export] \(c.kind): \(name): max relative error \(String(format: "%.2e", e)), max abs \(String(format: "%.2e", maxAbsoluteError(got, ours)))")
            }
        }
    }

    /// Rows: all conditions with a reference; audio only; identity without the reference token
    /// and no reference frame (the anchor is the training mean frame).
    static func inputs(_ m: NormalizedVocal, seed: UInt64) -> [String: Tensor] {
        let n = 6, r = 4, k = 2, b = 3, d = 70
        let x = randn([b, n, d], seed: seed)
        return [
            "x_t": x, "t": Tensor([0.9, 0.4, 0.15], shape: [b]),
            "audio_features": randn([b, 5, 2 * n, 384], seed: seed + 1),
            "identity_clip": randn([b, r, d], seed: seed + 2) * 0.3, "emotion": Tensor([1, 6, 3], shape: [b]),
            "reference": randn([b, d], seed: seed + 3) * 0.3, "has_reference": Tensor([1, 1, 0], shape: [b]),
            "prefix": randn([b, k, d], seed: seed + 4), "prefix_mask": Tensor([1, 1, 0, 1, 1, 1], shape: [b, k]),
            "keep_audio": Tensor([1, 1, 0], shape: [b]), "keep_identity": Tensor([1, 0, 1], shape: [b]),
            "keep_reference": Tensor([1, 0, 0], shape: [b]),
        ]
    }

    /// Ours: the conditions standardised row by row as `NormalizedVocal` does it (the anchor the
    /// given reference, or the training mean frame), then the network, then x_t − t·v mapped back.
    static func ours(_ m: NormalizedVocal, _ g: [String: Tensor]) -> (Tensor, Tensor) {
        let b = g["x_t"]!.shape[0], d = 70
        let has = g["has_reference"]!.toArray()
        let given = g["reference"]!
        let anchors = Tensor.concat((0..<b).map { i -> Tensor in
            has[i] > 0.5 ? given.slice(dim: 0, start: i, end: i + 1) : m.referenceMean.value.reshape([1, d])
        }, dim: 0).contiguous()
        let keeps = (0..<b).map { i in
            ConditionKeep(audio: g["keep_audio"]!.toArray()[i] > 0.5, identity: g["keep_identity"]!.toArray()[i] > 0.5,
                          emotion: g["emotion"]!.toArray()[i] < 6, reference: g["keep_reference"]!.toArray()[i] > 0.5, prefix: true)
        }
        let labels = g["emotion"]!.toArray().map { min(Int($0), 5) }
        let conditions = VocalConditions(audio: g["audio_features"]!, identity: m.normalize(g["identity_clip"]!, reference: anchors),
                                         emotion: labels, reference: m.normalizeReference(given), prefix: g["prefix"]!,
                                         prefixMask: g["prefix_mask"]!)
        return noGrad {
            let v = m.vocal.velocity(g["x_t"]!, t: g["t"]!.toArray(), conditions: m.vocal.encode(conditions, keep: keeps))
            let x0 = g["x_t"]! - g["t"]!.reshape([b, 1, 1]) * v
            return (v, m.denormalize(x0, reference: anchors))
        }
    }

    /// `neo-train sample` (Whisper features, Euler, three-way guidance, identity and emotion)
    /// against the loop of docs/export.md run on the exported graph with the same noise: the
    /// guidance sets as batch rows, x ← x + (t_{k+1} − t_k)·v, and the motion read from a last
    /// run at t = 0. One window (10 frames), so no prefix.
    func testExportedGraphReproducesSampleMotion() throws {
        guard ORT.available else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
        guard FileManager.default.fileExists(atPath: Self.whisper) else { throw XCTSkip("\(Self.whisper) missing (scripts/setup.sh converts it)") }
        let frames = 10, d = 70, seed = 3, steps = 4
        let (wa, wi, wr): (Float, Float, Float) = (2, 1.5, 1.2)
        // 0.4 s of a gliding tone with a little noise, exactly 10 motion frames at 16 kHz.
        let audio = path("speech.wav")
        let samples = (0..<(frames * 640)).map { i -> Float in
            let t = Float(i) / 16000
            return 0.3 * sin(2 * .pi * (180 + 400 * t) * t) + 0.02 * sin(Float(i) * 12.9898).truncatingRemainder(dividingBy: 1)
        }
        try Self.writeWAV(samples, to: audio)
        let identity = path("identity.npy")
        try NPY.write(randn([25, d], seed: 77) * 0.2, to: identity)
        let features = path("features.h5")
        let f = try NeoTrainCLI.run(["data", "features", "--audio", audio, "--out", features, "--weights", Self.whisper])
        XCTAssertEqual(f.status, 0, f.stderr)
        let hidden = try HDF5File.open(features).readTensor(at: "/hidden_states")   // [5, 20, 384]
        XCTAssertEqual(hidden.shape, [5, 2 * frames, 384])

        for c in try writeCheckpoints() {
            let sampled = path("\(c.kind).npy")
            let s = try NeoTrainCLI.run(["sample", "--checkpoint", c.path, "--audio", audio, "--identity", identity, "--emotion", "happy",
                                         "--steps", "\(steps)", "--sampler", "euler", "--cfg", "audio=\(wa),identity=\(wi),reference=\(wr)",
                                         "--seed", "\(seed)", "--weights", Self.whisper, "--out", sampled])
            XCTAssertEqual(s.status, 0, s.stderr)
            let expected = try NPY.read(sampled)
            let onnxPath = path("\(c.kind).onnx")
            let e = try NeoTrainCLI.run(["export", "--checkpoint", c.path, "--format", "onnx", "--out", onnxPath]
                                        + (c.kind == "vocal" ? ["--ema"] : []))
            XCTAssertEqual(e.status, 0, e.stderr)
            let onnx = try Data(contentsOf: URL(fileURLWithPath: onnxPath))

            // The four guidance sets ∅, a, (a,i), (a,i,r) as rows, and their coefficients.
            let coefficients: [Float] = [1 - wa, wa - wi, wi - wr, wr]
            let clip = try NPY.read(identity).reshape([1, 25, d])
            let reference = clip.slice(dim: 1, start: 0, end: 1).reshape([1, d])
            func rows(_ x: Tensor, _ t: Float) -> [String: Tensor] {
                [
                    "x_t": Tensor.concat(Array(repeating: x, count: 4), dim: 0), "t": Tensor.full([4], t),
                    "audio_features": Tensor.concat(Array(repeating: hidden.reshape([1, 5, 2 * frames, 384]), count: 4), dim: 0),
                    "identity_clip": Tensor.concat(Array(repeating: clip, count: 4), dim: 0),
                    "emotion": Tensor([6, 6, 1, 1], shape: [4]),
                    "reference": Tensor.concat(Array(repeating: reference, count: 4), dim: 0), "has_reference": Tensor.full([4], 1),
                    "prefix": Tensor.zeros([4, 0, d]), "prefix_mask": Tensor.zeros([4, 0]),
                    "keep_audio": Tensor([0, 1, 1, 1], shape: [4]), "keep_identity": Tensor([0, 0, 1, 1], shape: [4]),
                    "keep_reference": Tensor([0, 0, 0, 1], shape: [4]),
                ]
            }
            let grid = shiftedTimeGrid(steps: steps, shift: 1.0)
            var x = Tensor.normal([1, frames, d], generator: Generator(seed: UInt64(seed)).derived(0))
            for k in 0..<steps {
                let v = try ORT.run(onnx, [rows(x, grid[k])], outputs: [VocalONNX.outputName])[0][VocalONNX.outputName]!
                var guided = Tensor.zeros([1, frames, d])
                for (i, w) in coefficients.enumerated() { guided = guided + v.slice(dim: 0, start: i, end: i + 1) * w }
                x = (x + guided * (grid[k + 1] - grid[k])).contiguous()
            }
            let motion = try ORT.run(onnx, [rows(x, 0)], outputs: [VocalONNX.motionOutputName])[0][VocalONNX.motionOutputName]!
            let got = motion.slice(dim: 0, start: 3, end: 4).reshape([frames, d]).contiguous()
            XCTAssertEqual(expected.shape, [frames, d])
            XCTAssertLessThanOrEqual(maxAbsoluteError(got, expected), 1e-4, "\(c.kind): ONNX loop vs neo-train sample")
            print("[export] \(c.kind): ONNX Euler loop vs sample: max abs difference \(String(format: "%.2e", maxAbsoluteError(got, expected)))")
        }
    }

    /// Mono 16-bit PCM WAV at 16 kHz.
    static func writeWAV(_ samples: [Float], to path: String) throws {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: Array("RIFF".utf8)); u32(UInt32(36 + 2 * samples.count)); d.append(contentsOf: Array("WAVE".utf8))
        d.append(contentsOf: Array("fmt ".utf8)); u32(16); u16(1); u16(1); u32(16000); u32(32000); u16(2); u16(16)
        d.append(contentsOf: Array("data".utf8)); u32(UInt32(2 * samples.count))
        for s in samples { u16(UInt16(bitPattern: Int16(max(-1, min(1, s)) * 32767))) }
        try d.write(to: URL(fileURLWithPath: path))
    }
}
