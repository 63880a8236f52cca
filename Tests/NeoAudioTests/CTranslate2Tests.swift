import XCTest
import Foundation
import NeoTensor
import NeoNN
import NeoIO
import NeoAudio
import NeoTestSupport

/// CTranslate2 model.bin reading without the downloaded weights: a small Whisper encoder is
/// written in CTranslate2's layout (fused q/k/v, gamma/beta, float16 and float32 variables,
/// integer scalars, an alias) and read back into an identical encoder.
final class CTranslate2Tests: XCTestCase {
    private let config = WhisperEncoderConfig(melBins: 80, width: 32, layers: 2, heads: 2, maxPositions: 1500)

    /// Bytes of a CTranslate2 model.bin (version 6) holding `variables` in order.
    private func modelBin(_ variables: [(String, [Int], UInt8, Data)], aliases: [(String, String)] = []) -> Data {
        var d = Data()
        func u8(_ v: UInt8) { d.append(v) }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func string(_ s: String) { let b = Array(s.utf8) + [0]; u16(UInt16(b.count)); d.append(contentsOf: b) }
        u32(6); string("WhisperSpec"); u32(3); u32(UInt32(variables.count))
        for (name, shape, dtype, bytes) in variables {
            string(name); u8(UInt8(shape.count)); shape.forEach { u32(UInt32($0)) }; u8(dtype); u32(UInt32(bytes.count)); d.append(bytes)
        }
        u32(UInt32(aliases.count))
        for (a, b) in aliases { string(a); string(b) }
        return d
    }

    private func float32Bytes(_ t: Tensor) -> Data {
        var d = Data()
        for v in t.contiguous().toArray() { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    /// Round-to-nearest-even float → half (values in half's range, as the test's are).
    private func float16Bytes(_ t: Tensor) -> Data {
        var d = Data()
        for v in t.contiguous().toArray() {
            let bits = v.bitPattern
            let sign = UInt16((bits >> 16) & 0x8000)
            var exponent = Int((bits >> 23) & 0xFF) - 127 + 15
            var mantissa = bits & 0x7F_FFFF
            var h: UInt16
            if exponent <= 0 {
                // Subnormal half: a multiple of 2^-24.
                h = sign | UInt16((abs(v) * 16_777_216).rounded(.toNearestOrEven))
            } else {
                let round = mantissa & 0x1FFF
                mantissa >>= 13
                if round > 0x1000 || (round == 0x1000 && mantissa & 1 == 1) { mantissa += 1 }
                if mantissa == 0x400 { mantissa = 0; exponent += 1 }
                h = sign | UInt16(exponent) << 10 | UInt16(mantissa)
            }
            withUnsafeBytes(of: h.littleEndian) { d.append(contentsOf: $0) }
        }
        return d
    }

    private func ctranslate2Variables(of model: WhisperEncoder) -> [(String, [Int], UInt8, Data)] {
        var vars: [(String, [Int], UInt8, Data)] = []
        func add(_ name: String, _ t: Tensor, half: Bool = false) { vars.append((name, t.shape, half ? 4 : 0, half ? float16Bytes(t) : float32Bytes(t))) }
        vars.append(("decoder/ignored", [3], 0, float32Bytes(Tensor([1, 2, 3]))))
        add("encoder/conv1/weight", model.conv1.weight.value, half: true)
        add("encoder/conv1/bias", model.conv1.bias!.value)
        add("encoder/conv2/weight", model.conv2.weight.value)
        add("encoder/conv2/bias", model.conv2.bias!.value)
        for (i, l) in model.layers.enumerated() {
            let p = "encoder/layer_\(i)/"
            add(p + "self_attention/layer_norm/gamma", l.selfAttnLayerNorm.weight!.value)
            add(p + "self_attention/layer_norm/beta", l.selfAttnLayerNorm.bias!.value)
            add(p + "self_attention/linear_0/weight", Tensor.concat([l.qProj.weight.value, l.kProj.weight.value, l.vProj.weight.value], dim: 0))
            add(p + "self_attention/linear_0/bias", Tensor.concat([l.qProj.bias!.value, Tensor.zeros([32]), l.vProj.bias!.value], dim: 0))
            add(p + "self_attention/linear_1/weight", l.outProj.weight.value)
            add(p + "self_attention/linear_1/bias", l.outProj.bias!.value)
            add(p + "ffn/layer_norm/gamma", l.finalLayerNorm.weight!.value)
            add(p + "ffn/layer_norm/beta", l.finalLayerNorm.bias!.value)
            add(p + "ffn/linear_0/weight", l.fc1.weight.value)
            add(p + "ffn/linear_0/bias", l.fc1.bias!.value)
            add(p + "ffn/linear_1/weight", l.fc2.weight.value)
            add(p + "ffn/linear_1/bias", l.fc2.bias!.value)
        }
        add("encoder/layer_norm/gamma", model.layerNorm.weight!.value)
        add("encoder/layer_norm/beta", model.layerNorm.bias!.value)
        vars.append(("encoder/num_heads", [], 2, Data([2, 0])))
        add("encoder/position_encodings/encodings", model.positions, half: true)
        return vars
    }

    func testReadsSyntheticWhisperModel() throws {
        let model = WhisperEncoder(config: config, generator: Generator(seed: 21))
        let dir = PythonCrossCheck.temporaryDirectory("ct2")
        let path = dir.appendingPathComponent("model.bin").path
        let bytes = modelBin(ctranslate2Variables(of: model), aliases: [("decoder/projection/weight", "decoder/ignored")])
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: bytes))

        let raw = try CTranslate2Model.read(path)
        XCTAssertEqual(raw.specName, "WhisperSpec")
        XCTAssertEqual(raw.integers["encoder/num_heads"], [2])
        XCTAssertEqual(raw.aliases["decoder/projection/weight"], "decoder/ignored")

        let back = try WhisperWeights.load(dir.path)          // a folder holding model.bin
        XCTAssertEqual(back.config, config)
        for ((name, a), (_, b)) in zip(model.namedParameters(), back.namedParameters()) {
            // conv1.weight went through float16: within half a unit in the last place (2^-11
            // relative, 2^-25 absolute among subnormals); everything else is exact.
            let tolerance: Float = name == "conv1.weight" ? 1.0 / 2048 : 0
            for (x, y) in zip(a.value.toArray(), b.value.toArray()) {
                XCTAssertLessThanOrEqual(abs(x - y), tolerance * abs(x) + (tolerance > 0 ? 0x1p-25 : 0), name)
            }
        }
        // The float16 positions table replaced the formula's (within half precision).
        XCTAssertLessThanOrEqual(maxAbsoluteError(back.positions, model.positions), 4.9e-4)
        XCTAssertGreaterThan(maxAbsoluteError(back.positions, model.positions), 0)

        // A file cut short, a non-zero key bias, and a non-Whisper spec are refused by name.
        let cut = dir.appendingPathComponent("cut.bin").path
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: bytes.prefix(bytes.count / 2)))
        XCTAssertThrowsError(try WhisperWeights.load(cut)) { XCTAssertTrue("\($0)".hasPrefix(cut + ": is truncated"), "\($0)") }

        var vars = ctranslate2Variables(of: model)
        let i = vars.firstIndex { $0.0 == "encoder/layer_1/self_attention/linear_0/bias" }!
        vars[i].3 = float32Bytes(Tensor.ones([96]))
        let keyBias = dir.appendingPathComponent("kbias.bin").path
        XCTAssertTrue(FileManager.default.createFile(atPath: keyBias, contents: modelBin(vars)))
        XCTAssertThrowsError(try WhisperWeights.load(keyBias)) { XCTAssertTrue("\($0)".contains("non-zero key bias"), "\($0)") }
    }

    /// Hugging Face checkpoints carry the decoder and the output projection too; only the
    /// encoder is taken, and a config.json beside the file supplies the head count.
    func testHuggingFaceCheckpointWithDecoder() throws {
        let model = WhisperEncoder(config: WhisperEncoderConfig(melBins: 80, width: 32, layers: 1, heads: 4), generator: Generator(seed: 8))
        let dir = PythonCrossCheck.temporaryDirectory("hf")
        var dict = WhisperWeights.huggingFaceStateDict(of: model)
        dict["model.decoder.layers.0.fc1.weight"] = Tensor.zeros([4, 2])
        dict["proj_out.weight"] = Tensor.zeros([3, 2])
        try SafeTensors.write(dict, to: dir.appendingPathComponent("model.safetensors").path)
        try Data(#"{"encoder_attention_heads": 4, "d_model": 32}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        let back = try WhisperWeights.load(dir.path)
        XCTAssertEqual(back.config.heads, 4)
        let mel = randn([80, 20], seed: 3)
        XCTAssertEqual(back(mel).toArray(), model(mel).toArray())
    }
}
