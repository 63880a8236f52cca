import Foundation
import NeoTensor

/// Everything needed to resume training, as stored in one HDF5 file. Layout and rules:
/// docs/checkpoint-format.md. Tensors are float32; the dictionaries are keyed by dotted
/// parameter paths such as `blocks.3.attn.qkv.weight`.
public struct Checkpoint: Sendable {
    public static let formatName = "neo-train-checkpoint"
    public static let formatVersion: Int64 = 1
    /// Attribute on every dataset holding the CRC-32 of its little-endian element bytes.
    public static let checksumAttribute = "crc32"
    /// Root attributes guarding what per-dataset checksums cannot: the CRC-32 of the recipe
    /// text, and the number and CRC-32 of the list of datasets with their shapes (a damaged
    /// link or group name can make a dataset vanish from the file's listing without touching
    /// any data). Files written before these existed lack them and are read as before.
    public static let recipeChecksumAttribute = "recipe_crc32"
    public static let indexChecksumAttribute = "index_crc32"
    public static let datasetCountAttribute = "dataset_count"

    /// Optimiser state: per-parameter tensors by slot (e.g. "exp_avg", "exp_avg_sq",
    /// "momentum_buffer") and named scalars (e.g. "step", "group0.lr").
    public struct OptimizerState: Sendable {
        public var moments: [String: [String: Tensor]]
        public var scalars: [String: Double]
        public init(moments: [String: [String: Tensor]] = [:], scalars: [String: Double] = [:]) {
            self.moments = moments
            self.scalars = scalars
        }
    }

    /// Which parameter dictionary a load draws from.
    public enum Section: String, Sendable { case model, ema }

    public var step: Int
    public var modelKind: String
    /// The full recipe text (TOML) the run was started with.
    public var recipe: String
    public var createdAt: Date
    /// The evaluation metric at this step (lower is better), when one was recorded.
    public var metric: Double?
    public var metadata: [String: String]
    public var model: [String: Tensor]
    public var optimizer: OptimizerState
    public var ema: [String: Tensor]
    public var rng: [String: RNGState]
    /// Data-loader position (epoch, index in epoch, shuffle seed, …).
    public var loader: [String: Int64]
    /// The file this checkpoint was read from, if any (used in error messages).
    public var sourcePath: String?
    /// Whether the file read had (and passed) the recipe and dataset-list checksums.
    public internal(set) var hasRecipeChecksum = false
    public internal(set) var hasIndexChecksum = false

    public init(step: Int = 0, modelKind: String = "", recipe: String = "", createdAt: Date = Date(),
                metric: Double? = nil, metadata: [String: String] = [:], model: [String: Tensor] = [:],
                optimizer: OptimizerState = OptimizerState(), ema: [String: Tensor] = [:],
                rng: [String: RNGState] = [:], loader: [String: Int64] = [:]) {
        self.step = step
        self.modelKind = modelKind
        self.recipe = recipe
        self.createdAt = createdAt
        self.metric = metric
        self.metadata = metadata
        self.model = model
        self.optimizer = optimizer
        self.ema = ema
        self.rng = rng
        self.loader = loader
    }
}

// MARK: - Parameter paths

/// The reversible rule between dotted parameter paths and HDF5 paths: the dotted path is split at
/// its dots, and a component made only of digits (a list index) stays joined to the component
/// before it. `blocks.3.attn.qkv.weight` ↔ `blocks.3/attn/qkv/weight`. The way back replaces
/// every "/" with ".".
public enum ParameterPath {
    /// HDF5 path (relative to its section group) of a dotted parameter path.
    public static func hdf5(_ dotted: String) throws -> String {
        guard !dotted.isEmpty else { throw NeoIOError("<parameter>", "empty parameter name") }
        guard !dotted.contains("/") else { throw NeoIOError(dotted, "a parameter name may not contain '/'") }
        let parts = dotted.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty }) else { throw NeoIOError(dotted, "a parameter name may not have empty components (leading, trailing or doubled '.')") }
        var components: [String] = []
        for part in parts {
            if !components.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }) {
                components[components.count - 1] += "." + part
            } else {
                components.append(String(part))
            }
        }
        return components.joined(separator: "/")
    }

    /// Dotted parameter path of an HDF5 path relative to its section group.
    public static func dotted(_ hdf5: String) -> String {
        var s = hdf5
        while s.hasPrefix("/") { s.removeFirst() }
        return s.replacingOccurrences(of: "/", with: ".")
    }

    /// HDF5 paths for a set of names, refusing sets where one name's path is a group on the way
    /// to another's (e.g. `a.b` and `a.b.c`).
    static func layout(_ names: some Collection<String>, in section: String, file: String) throws -> [(name: String, path: String)] {
        var out: [(String, String)] = []
        var datasets: [String: String] = [:]
        for name in names.sorted() {
            let p: String
            do { p = try hdf5(name) } catch let e as NeoIOError { throw NeoIOError(file, "\(section): parameter '\(e.path)': \(e.problem)") }
            datasets[p] = name
            out.append((name, p))
        }
        for (_, p) in out {
            var prefix = ""
            for comp in p.split(separator: "/").dropLast() {
                prefix += prefix.isEmpty ? String(comp) : "/" + comp
                if let other = datasets[prefix] {
                    throw NeoIOError(file, "\(section): parameters '\(other)' and '\(datasets[p]!)' cannot both be stored ('\(prefix)' would be a dataset and a group)")
                }
            }
        }
        return out
    }
}

// MARK: - Writing

extension Checkpoint {
    /// Writes the checkpoint so that a crash never leaves a half-written file at `path`: into a
    /// temporary file in the same folder, flushed, closed, fsynced, then renamed over `path`.
    public func write(to path: String, compression: HDF5Compression = .none) throws {
        let tmp = AtomicFile.temporaryPath(for: path)
        do {
            let file = try HDF5File.create(tmp)
            do {
                try writeContents(file, compression: compression, reportAs: path)
                try file.flush()
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
            try AtomicFile.commit(temporary: tmp, to: path)
        } catch let e as NeoIOError {
            AtomicFile.discard(tmp)
            throw e.path == tmp ? NeoIOError(path, e.problem) : e
        } catch {
            AtomicFile.discard(tmp)
            throw error
        }
    }

    static func checkName(_ name: String, _ what: String, _ file: String) throws {
        if name.isEmpty || name.contains("/") || name == "." || name == ".." {
            throw NeoIOError(file, "\(what) name '\(name)' is not usable (it must be non-empty, without '/')")
        }
    }

    private func writeContents(_ f: HDF5File, compression: HDF5Compression, reportAs path: String) throws {
        let options = HDF5DatasetOptions(compression: compression)
        try f.setAttribute("format", .string(Checkpoint.formatName))
        try f.setAttribute("format_version", .int64(Checkpoint.formatVersion))
        try f.setAttribute("step", .int64(Int64(step)))
        try f.setAttribute("model_kind", .string(modelKind))
        try f.setAttribute("recipe", .string(recipe))
        try f.setAttribute("created_at", .string(Checkpoint.formatDate(createdAt)))
        if let metric { try f.setAttribute("metric", .double(metric)) }
        for g in ["/model", "/optimizer/moments", "/optimizer/scalars", "/ema", "/rng", "/loader", "/metadata"] {
            try f.createGroup(g)
        }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            try Checkpoint.checkName(k, "metadata", path)
            try f.setAttribute(k, .string(v), at: "/metadata")
        }
        func writeTensors(_ dict: [String: Tensor], under group: String) throws {
            for (name, hpath) in try ParameterPath.layout(dict.keys, in: group, file: path) {
                try Checkpoint.writeChecked(dict[name]!, f, "\(group)/\(hpath)", options)
            }
        }
        try writeTensors(model, under: "/model")
        try writeTensors(ema, under: "/ema")
        for (slot, dict) in optimizer.moments.sorted(by: { $0.key < $1.key }) {
            try Checkpoint.checkName(slot, "optimizer slot", path)
            try writeTensors(dict, under: "/optimizer/moments/\(slot)")
        }
        for (name, v) in optimizer.scalars.sorted(by: { $0.key < $1.key }) {
            try Checkpoint.checkName(name, "optimizer scalar", path)
            let p = "/optimizer/scalars/\(name)"
            try f.writeFloat64([v], shape: [], at: p)
            try f.setAttribute(Checkpoint.checksumAttribute, .int64(Int64(Checkpoint.crc(of: [v]))), at: p)
        }
        for (name, s) in rng.sorted(by: { $0.key < $1.key }) {
            try Checkpoint.checkName(name, "RNG", path)
            let p = "/rng/\(name)"
            let values = [s.seed, s.counter]
            try f.writeUInt64(values, at: p)
            try f.setAttribute(Checkpoint.checksumAttribute, .int64(Int64(Checkpoint.crc(of: values))), at: p)
        }
        for (name, v) in loader.sorted(by: { $0.key < $1.key }) {
            try Checkpoint.checkName(name, "loader", path)
            let p = "/loader/\(name)"
            try f.writeInt64([v], shape: [], at: p)
            try f.setAttribute(Checkpoint.checksumAttribute, .int64(Int64(Checkpoint.crc(of: [v]))), at: p)
        }
        try f.setAttribute(Checkpoint.recipeChecksumAttribute, .int64(Int64(Checkpoint.crc(of: Array(recipe.utf8)))))
        let index = try Checkpoint.index(of: f)
        try f.setAttribute(Checkpoint.datasetCountAttribute, .int64(Int64(index.count)))
        try f.setAttribute(Checkpoint.indexChecksumAttribute, .int64(Int64(index.crc)))
    }

    /// The file's datasets as "path [shape]" lines in path order: their count and CRC-32.
    static func index(of f: HDF5File) throws -> (count: Int, crc: UInt32) {
        let lines = try f.allDatasets().sorted().map { p in "\(p) \(try f.info(at: p).shape)" }
        return (lines.count, crc(of: Array(lines.joined(separator: "\n").utf8)))
    }

    private static func writeChecked(_ t: Tensor, _ f: HDF5File, _ p: String, _ options: HDF5DatasetOptions) throws {
        let c = t.isContiguous ? t : t.clone()
        try f.write(c, at: p, options: options)
        let crc = CRC32.checksum(UnsafeRawPointer(c.data), count: c.count * 4)
        try f.setAttribute(checksumAttribute, .int64(Int64(crc)), at: p)
    }

    static func crc<T>(of values: [T]) -> UInt32 {
        values.withUnsafeBytes { $0.isEmpty ? 0 : CRC32.checksum($0.baseAddress!, count: $0.count) }
    }

    static func formatDate(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }
    static func parseDate(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }
}

// MARK: - Reading

/// What a checkpoint holds, read from its attributes and dataset list without loading data.
public struct CheckpointInfo: Sendable {
    public var path: String
    public var formatVersion: Int64
    public var step: Int
    public var modelKind: String
    public var recipe: String
    public var createdAt: Date?
    public var metric: Double?
    public var metadata: [String: String]
    /// Every dataset in the file (absolute path, shape, type, chunking and filters).
    public var datasets: [HDF5DatasetInfo]
    /// Number of float32 elements under /model.
    public var parameterCount: Int {
        datasets.filter { $0.path.hasPrefix("/model/") }.reduce(0) { $0 + $1.count }
    }
    /// Group paths that hold datasets, in order.
    public var groups: [String] {
        var seen: [String] = []
        for d in datasets {
            let g = String(d.path[..<(d.path.lastIndex(of: "/") ?? d.path.startIndex)])
            if seen.last != g && !seen.contains(g) { seen.append(g) }
        }
        return seen
    }
}

extension Checkpoint {
    /// Reads the header attributes and the dataset list (no tensor data, no checksums).
    public static func info(of path: String) throws -> CheckpointInfo {
        let f = try HDF5File.open(path)
        defer { try? f.close() }
        let header = try readHeader(f, path)
        return CheckpointInfo(path: path, formatVersion: header.version, step: header.step, modelKind: header.kind,
                              recipe: header.recipe, createdAt: header.created, metric: header.metric,
                              metadata: header.metadata, datasets: try f.allDatasets().map { try f.info(at: $0) })
    }

    /// The `metric` attribute of a checkpoint file, or nil when it has none or cannot be read.
    static func storedMetric(of path: String) -> Double? {
        guard let f = try? HDF5File.open(path) else { return nil }
        defer { try? f.close() }
        return (try? f.attribute("metric"))??.doubleValue
    }

    private struct Header {
        var version: Int64, step: Int, kind: String, recipe: String, created: Date?, metric: Double?, metadata: [String: String]
    }

    private static func readHeader(_ f: HDF5File, _ path: String) throws -> Header {
        guard try f.attribute("format")?.stringValue == formatName else {
            throw NeoIOError(path, "not a NEO-train checkpoint (the root attribute 'format' is not '\(formatName)')")
        }
        guard let version = try f.attribute("format_version")?.int64Value else {
            throw NeoIOError(path, "checkpoint has no integer attribute 'format_version'")
        }
        guard version >= 1, version <= formatVersion else {
            throw NeoIOError(path, "checkpoint format version \(version) is not readable by this build (it reads versions 1…\(formatVersion))")
        }
        func required(_ name: String) throws -> HDF5Attribute {
            guard let a = try f.attribute(name) else { throw NeoIOError(path, "checkpoint has no attribute '\(name)'") }
            return a
        }
        guard let step = try required("step").int64Value else { throw NeoIOError(path, "attribute 'step' is not an integer") }
        guard let kind = try required("model_kind").stringValue else { throw NeoIOError(path, "attribute 'model_kind' is not a string") }
        guard let recipe = try required("recipe").stringValue else { throw NeoIOError(path, "attribute 'recipe' is not a string") }
        guard let created = try required("created_at").stringValue else { throw NeoIOError(path, "attribute 'created_at' is not a string") }
        var metadata: [String: String] = [:]
        if try f.kind(at: "/metadata") == .group {
            for name in try f.attributeNames(at: "/metadata") {
                guard let v = try f.attribute(name, at: "/metadata")?.stringValue else {
                    throw NeoIOError(path, "metadata attribute '\(name)' is not a string")
                }
                metadata[name] = v
            }
        }
        return Header(version: version, step: Int(step), kind: kind, recipe: recipe, created: parseDate(created),
                      metric: try f.attribute("metric")?.doubleValue, metadata: metadata)
    }

    /// Reads a whole checkpoint, verifying every dataset's checksum; a mismatch is an error that
    /// names the dataset.
    public static func read(from path: String) throws -> Checkpoint {
        let f = try HDF5File.open(path)
        defer { try? f.close() }
        let h = try readHeader(f, path)
        var c = Checkpoint(step: h.step, modelKind: h.kind, recipe: h.recipe, createdAt: h.created ?? Date(timeIntervalSince1970: 0),
                           metric: h.metric, metadata: h.metadata)
        c.sourcePath = path
        func group(_ g: String) throws -> Bool {
            switch try f.kind(at: g) {
            case .group: return true
            case nil: return false
            default: throw NeoIOError(path, "'\(g)' is not a group")
            }
        }
        func tensors(under g: String) throws -> [String: Tensor] {
            guard try group(g) else { return [:] }
            var out: [String: Tensor] = [:]
            for p in try f.allDatasets(under: g) {
                out[ParameterPath.dotted(String(p.dropFirst(g.count + 1)))] = try readVerifiedTensor(f, p, path)
            }
            return out
        }
        (c.hasRecipeChecksum, c.hasIndexChecksum) = try verifyStructure(f, h, path)
        c.model = try tensors(under: "/model")
        c.ema = try tensors(under: "/ema")
        if try group("/optimizer/moments") {
            for slot in try f.groups(in: "/optimizer/moments") {
                c.optimizer.moments[slot] = try tensors(under: "/optimizer/moments/\(slot)")
            }
        }
        if try group("/optimizer/scalars") {
            for name in try f.datasets(in: "/optimizer/scalars") {
                let p = "/optimizer/scalars/\(name)"
                let v = try f.readFloat64(at: p).values
                try verify(crc(of: v), f, p, path)
                guard v.count == 1 else { throw NeoIOError(path, "dataset '\(p)' should hold one number, holds \(v.count)") }
                c.optimizer.scalars[name] = v[0]
            }
        }
        if try group("/rng") {
            for name in try f.datasets(in: "/rng") {
                let p = "/rng/\(name)"
                let v = try f.readUInt64(at: p).values
                try verify(crc(of: v), f, p, path)
                guard v.count == 2 else { throw NeoIOError(path, "dataset '\(p)' should hold [seed, counter], holds \(v.count) values") }
                c.rng[name] = RNGState(seed: v[0], counter: v[1])
            }
        }
        if try group("/loader") {
            for name in try f.datasets(in: "/loader") {
                let p = "/loader/\(name)"
                let v = try f.readInt64(at: p).values
                try verify(crc(of: v), f, p, path)
                guard v.count == 1 else { throw NeoIOError(path, "dataset '\(p)' should hold one integer, holds \(v.count)") }
                c.loader[name] = v[0]
            }
        }
        return c
    }

    /// The recipe text and the dataset list against the root checksums, when the file has them.
    private static func verifyStructure(_ f: HDF5File, _ h: Header, _ path: String) throws -> (recipe: Bool, index: Bool) {
        let recipeCRC = try f.attribute(recipeChecksumAttribute)?.int64Value
        let indexCRC = try f.attribute(indexChecksumAttribute)?.int64Value
        if let stored = recipeCRC {
            let computed = crc(of: Array(h.recipe.utf8))
            guard stored == Int64(computed) else {
                throw NeoIOError(path, "checksum mismatch in the stored recipe text: stored crc32 \(hex(UInt32(truncatingIfNeeded: stored))), text has \(hex(computed)); the file is corrupt")
            }
        }
        if let storedCRC = indexCRC {
            let index = try self.index(of: f)
            let storedCount = try f.attribute(datasetCountAttribute)?.int64Value ?? -1
            guard storedCRC == Int64(index.crc), storedCount == Int64(index.count) else {
                throw NeoIOError(path, "the file lists \(index.count) datasets but \(storedCount) were written, or their names or shapes changed (index crc32 \(hex(index.crc)), stored \(hex(UInt32(truncatingIfNeeded: storedCRC)))); the file's structure is corrupt")
            }
        }
        return (recipeCRC != nil, indexCRC != nil)
    }

    private static func readVerifiedTensor(_ f: HDF5File, _ p: String, _ path: String) throws -> Tensor {
        let type = try f.info(at: p).elementType
        guard type == .float32 else { throw NeoIOError(path, "dataset '\(p)' holds \(type), expected float32") }
        let t = try f.readTensor(at: p)
        try verify(CRC32.checksum(UnsafeRawPointer(t.data), count: t.count * 4), f, p, path)
        return t
    }

    private static func verify(_ computed: UInt32, _ f: HDF5File, _ p: String, _ path: String) throws {
        guard let stored = try f.attribute(checksumAttribute, at: p)?.int64Value else {
            throw NeoIOError(path, "dataset '\(p)' has no '\(checksumAttribute)' checksum attribute")
        }
        guard stored == Int64(computed) else {
            throw NeoIOError(path, "checksum mismatch in dataset '\(p)': stored crc32 \(hex(UInt32(truncatingIfNeeded: stored))), data has \(hex(computed)); the file is corrupt")
        }
    }

    private static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}

// MARK: - Loading parameters into a model

/// A stored tensor whose shape differs from the model's.
public struct ShapeMismatch: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var expected: [Int]
    public var found: [Int]
    public var description: String { "\(name): checkpoint \(found), model \(expected)" }
}

/// How a checkpoint's parameters match a model's names and shapes.
public struct ParameterLoadReport: Sendable, Equatable, CustomStringConvertible {
    /// Names present in both with equal shapes (these are loaded).
    public var loaded: [String]
    /// Expected by the model, absent from the checkpoint.
    public var missing: [String]
    /// In the checkpoint, not expected by the model.
    public var unexpected: [String]
    /// In both, with different shapes.
    public var misShaped: [ShapeMismatch]

    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty && misShaped.isEmpty }
    /// Checkpoint entries not loaded (unexpected and mis-shaped).
    public var skipped: [String] { (unexpected + misShaped.map(\.name)).sorted() }

    /// Compares stored tensors with the expected names and shapes.
    public static func compare(stored: [String: Tensor], expected: [String: [Int]]) -> ParameterLoadReport {
        var r = ParameterLoadReport(loaded: [], missing: [], unexpected: [], misShaped: [])
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) {
            guard let t = stored[name] else { r.missing.append(name); continue }
            if t.shape == shape { r.loaded.append(name) } else { r.misShaped.append(ShapeMismatch(name: name, expected: shape, found: t.shape)) }
        }
        r.unexpected = stored.keys.filter { expected[$0] == nil }.sorted()
        return r
    }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("\(missing.count) missing (\(missing.joined(separator: ", ")))") }
        if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected (\(unexpected.joined(separator: ", ")))") }
        if !misShaped.isEmpty { parts.append("\(misShaped.count) mis-shaped (\(misShaped.map(\.description).joined(separator: "; ")))") }
        return parts.isEmpty ? "all \(loaded.count) parameters match" : parts.joined(separator: ", ")
    }
}

extension Checkpoint {
    public func parameters(_ section: Section) -> [String: Tensor] {
        section == .model ? model : ema
    }

    /// Matches the section's tensors against the model's parameter names and shapes. Strict
    /// (the default): any missing, unexpected or mis-shaped parameter is an error listing all of
    /// them. Not strict: returns the tensors that match and the report of what was skipped.
    public func loadParameters(into expected: [String: [Int]], from section: Section = .model,
                               strict: Bool = true) throws -> (parameters: [String: Tensor], report: ParameterLoadReport) {
        let stored = parameters(section)
        let report = ParameterLoadReport.compare(stored: stored, expected: expected)
        if strict && !report.isExact {
            throw NeoIOError(sourcePath ?? "<checkpoint>", "/\(section.rawValue) does not match the model: \(report); load with strict: false to take only the matching parameters")
        }
        var out: [String: Tensor] = [:]
        for name in report.loaded { out[name] = stored[name] }
        return (out, report)
    }

    /// Copies the section's values into the model's tensors in place (same rules as above).
    @discardableResult
    public func loadParameters(into targets: [String: Tensor], from section: Section = .model,
                               strict: Bool = true) throws -> ParameterLoadReport {
        let (values, report) = try loadParameters(into: targets.mapValues(\.shape), from: section, strict: strict)
        if let bad = values.keys.sorted().first(where: { !targets[$0]!.isContiguous }) {
            throw NeoIOError(sourcePath ?? "<checkpoint>", "cannot load '\(bad)' in place: the model's tensor is not contiguous")
        }
        for (name, v) in values { targets[name]!.copy(from: v) }
        return report
    }
}
