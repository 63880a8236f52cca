import Foundation
import NeoIO
import NeoNN
import NeoTensor

/// An export that could not be made; `description` is one line naming the file and the problem.
public struct ExportError: Error, CustomStringConvertible, LocalizedError {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
    public var errorDescription: String? { problem }
}

/// The file formats `neo-train export` writes.
public enum ExportFormat: String, Sendable, CaseIterable {
    case onnx
    case safetensors
}

/// How one model kind becomes an ONNX graph: rebuild the model from a checkpoint's parameters
/// and recipe, then write its graph.
public struct ONNXModelExporter: Sendable {
    /// The checkpoint's `model_kind` this exporter handles.
    public let kind: String
    /// What the graph computes, for messages and the model's doc string.
    public let summary: String
    /// Builds the graph from a checkpoint's parameters (already chosen: model or EMA), recipe
    /// and metadata.
    public let build: @Sendable (_ parameters: [String: Tensor], _ recipe: String, _ metadata: [String: String],
                                 _ source: String) throws -> ONNXGraph

    public init(kind: String, summary: String,
                build: @escaping @Sendable (_ parameters: [String: Tensor], _ recipe: String, _ metadata: [String: String],
                                            _ source: String) throws -> ONNXGraph) {
        self.kind = kind
        self.summary = summary
        self.build = build
    }
}

/// What an export wrote.
public struct ExportSummary: Sendable, CustomStringConvertible {
    public var path: String
    public var format: ExportFormat
    public var modelKind: String
    public var tensors: Int
    public var bytes: Int
    public var weights: String
    public var description: String {
        "wrote \(path) (\(format.rawValue), \(modelKind) model, \(weights) weights, \(tensors) tensors, \(bytes) bytes)"
    }
}

/// Exports of checkpoints to inference formats (`neo-train export`). Files are written to a
/// temporary name beside the target and renamed, so a failed export leaves no partial file.
public enum CheckpointExport {
    /// The model kinds with an ONNX graph.
    public static let onnxExporters: [ONNXModelExporter] = [VocalONNX.exporter, VocalONNX.grpoExporter, RewardONNX.exporter]

    /// Model kinds whose checkpoints can go to safetensors: those with an ONNX exporter plus
    /// `extraKinds` (the CLI passes every kind its trainers know).
    public static func safetensorsKinds(extraKinds: [String] = []) -> [String] {
        Array(Set(onnxExporters.map(\.kind) + extraKinds)).sorted()
    }

    /// Reads `checkpoint` and writes it to `out` in `format`; with `ema` the EMA weights are
    /// used (ONNX) or added under `ema.` (safetensors). `knownKinds` are the model kinds the
    /// caller accepts for safetensors beyond those with an ONNX exporter.
    @discardableResult
    public static func run(checkpoint path: String, format: ExportFormat, out: String, ema: Bool,
                           knownKinds: [String] = []) throws -> ExportSummary {
        try checkWritable(out)
        let ckpt: Checkpoint
        do { ckpt = try Checkpoint.read(from: path) } catch let e as NeoIOError {
            throw ExportError("cannot read the checkpoint \(e.path): \(e.problem)")
        } catch {
            throw ExportError("cannot read the checkpoint \(path): \(error)")
        }
        switch format {
        case .onnx: return try writeONNX(ckpt, ema: ema, to: out)
        case .safetensors: return try writeSafeTensors(ckpt, ema: ema, to: out, knownKinds: knownKinds)
        }
    }

    /// Fails early, before any work, when `out` cannot be written: a missing folder, a path that
    /// is a folder, or a folder without write permission.
    public static func checkWritable(_ out: String) throws {
        let url = URL(fileURLWithPath: out)
        let folder = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        if out.isEmpty || out.hasSuffix("/") { throw ExportError("\(out): the output path must name a file") }
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue {
            throw ExportError("\(out): cannot write the export: the path is a folder")
        }
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) else {
            throw ExportError("\(out): cannot write the export: the folder \(folder) does not exist")
        }
        guard isDir.boolValue else { throw ExportError("\(out): cannot write the export: \(folder) is not a folder") }
        guard access(folder, W_OK) == 0 else {
            throw ExportError("\(out): cannot write the export: the folder \(folder) is not writable")
        }
    }

    // MARK: safetensors

    /// The tensors of a safetensors export: the model's parameters under their dotted paths,
    /// and with `ema` the EMA copies under `ema.` + path.
    public static func safetensorsTensors(_ c: Checkpoint, ema: Bool) throws -> [String: Tensor] {
        var out = c.model
        if ema {
            guard !c.ema.isEmpty else { throw ExportError("\(c.sourcePath ?? "checkpoint"): --ema asked for, but the checkpoint holds no EMA weights") }
            for (k, v) in c.ema { out["ema." + k] = v }
        }
        return out
    }

    /// The `__metadata__` of a safetensors export.
    public static func safetensorsMetadata(_ c: Checkpoint, ema: Bool) -> [String: String] {
        var m: [String: String] = [
            "format": "pt",
            "neo_train.model_kind": c.modelKind,
            "neo_train.recipe": c.recipe,
            "neo_train.step": String(c.step),
            "neo_train.weights": ema ? "model+ema" : "model",
        ]
        if let metric = c.metric { m["neo_train.metric"] = String(metric) }
        return m
    }

    public static func writeSafeTensors(_ c: Checkpoint, ema: Bool, to out: String, knownKinds: [String] = []) throws -> ExportSummary {
        let source = c.sourcePath ?? "checkpoint"
        let kinds = safetensorsKinds(extraKinds: knownKinds)
        guard kinds.contains(c.modelKind) else {
            throw ExportError("\(source): unknown model kind '\(c.modelKind.isEmpty ? "(none)" : c.modelKind)' (known: \(kinds.joined(separator: ", ")))")
        }
        let tensors = try safetensorsTensors(c, ema: ema)
        guard !tensors.isEmpty else { throw ExportError("\(source): the checkpoint holds no model parameters") }
        do {
            try SafeTensors.write(tensors, metadata: safetensorsMetadata(c, ema: ema), to: out)
        } catch {
            throw ExportError("\(out): cannot write the export: \(error)")
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        return ExportSummary(path: out, format: .safetensors, modelKind: c.modelKind, tensors: tensors.count,
                             bytes: bytes, weights: ema ? "model+EMA" : "model")
    }

    // MARK: ONNX

    public static func exporter(for kind: String) -> ONNXModelExporter? { onnxExporters.first { $0.kind == kind } }

    /// The graph of a checkpoint's model (EMA weights with `ema`).
    public static func onnxGraph(_ c: Checkpoint, ema: Bool) throws -> ONNXGraph {
        let source = c.sourcePath ?? "checkpoint"
        guard let exporter = exporter(for: c.modelKind) else {
            throw ExportError("\(source): no ONNX export for model kind '\(c.modelKind.isEmpty ? "(none)" : c.modelKind)' (ONNX export knows: \(onnxExporters.map(\.kind).joined(separator: ", ")))")
        }
        if ema && c.ema.isEmpty { throw ExportError("\(source): --ema asked for, but the checkpoint holds no EMA weights") }
        return try exporter.build(ema ? c.ema : c.model, c.recipe, c.metadata, source)
    }

    public static func writeONNX(_ c: Checkpoint, ema: Bool, to out: String) throws -> ExportSummary {
        let graph = try onnxGraph(c, ema: ema)
        let exporter = exporter(for: c.modelKind)!
        let data = try graph.serialized(docString: exporter.summary, metadata: [
            "neo_train.model_kind": c.modelKind,
            "neo_train.step": String(c.step),
            "neo_train.weights": ema ? "ema" : "model",
            "neo_train.recipe": c.recipe,
        ])
        do { try AtomicFile.write(data, to: out) } catch {
            throw ExportError("\(out): cannot write the export: \(error)")
        }
        return ExportSummary(path: out, format: .onnx, modelKind: c.modelKind, tensors: graph.initializerCount,
                             bytes: data.count, weights: ema ? "EMA" : "model")
    }

    // MARK: Model rebuilding

    /// Loads `parameters` into `model` (every parameter must be present with its shape).
    static func load(_ parameters: [String: Tensor], into model: Module, source: String) throws {
        do { try model.load(stateDict: parameters, strict: true) } catch let e as StateDictError {
            throw ExportError("\(source): the parameters do not match the \(type(of: model)) rebuilt from them: "
                              + e.report.problems.prefix(5).joined(separator: "; "))
        }
    }

    /// The shape of a required parameter, or an error naming it.
    static func shape(_ parameters: [String: Tensor], _ name: String, rank: Int, source: String) throws -> [Int] {
        guard let t = parameters[name] else { throw ExportError("\(source): parameter '\(name)' is missing") }
        guard t.rank == rank else { throw ExportError("\(source): parameter '\(name)' has shape \(t.shape), expected rank \(rank)") }
        return t.shape
    }
}
