import Foundation
import NeoTensor

/// One tensor's record in a safetensors header.
public struct SafeTensorsEntry: Sendable, Equatable {
    public var name: String
    public var dtype: String
    public var shape: [Int]
    /// Byte range within the data buffer (which starts right after the header).
    public var begin: Int
    public var end: Int
}

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N
/// bytes of UTF-8 JSON mapping each tensor name to {dtype, shape, data_offsets} plus an optional
/// `__metadata__` string→string map, then the data buffer, every byte of which belongs to exactly
/// one tensor (little-endian, row-major). We write F32; we read F32, F16, BF16 and F64 as Float32.
public enum SafeTensors {
    /// Bytes per element of every dtype the format defines (used to validate any file).
    static let elementSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8,
    ]
    /// The reference implementation refuses headers above this size.
    static let maxHeaderBytes = 100_000_000
    static let metadataKey = "__metadata__"

    /// Encodes float32 tensors (names sorted, data packed in that order) and optional metadata.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String]? = nil) throws -> Data {
        var header = "{"
        var first = true
        if let metadata {
            header += jsonString(metadataKey) + ":{"
            header += metadata.sorted { $0.key < $1.key }.map { jsonString($0.key) + ":" + jsonString($0.value) }.joined(separator: ",")
            header += "}"
            first = false
        }
        let names = tensors.keys.sorted()
        var offset = 0
        var contiguous: [Tensor] = []
        for name in names {
            if name == metadataKey { throw NeoIOError("<safetensors>", "a tensor may not be named '\(metadataKey)'") }
            let t = tensors[name]!
            let c = t.isContiguous ? t : t.clone()
            contiguous.append(c)
            let bytes = c.count * 4
            if !first { header += "," }
            first = false
            header += jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":[" + c.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        // Pad with spaces so that the data buffer starts 8-byte aligned.
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for c in contiguous where c.count > 0 {
            // Float32 in memory is little-endian on every platform we build for.
            out.append(UnsafeBufferPointer(start: UnsafeRawPointer(c.data).assumingMemoryBound(to: UInt8.self), count: c.count * 4))
        }
        return out
    }

    /// Writes a `.safetensors` file atomically.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil, to path: String) throws {
        let data: Data
        do { data = try encode(tensors, metadata: metadata) } catch let e as NeoIOError { throw NeoIOError(path, e.problem) }
        try AtomicFile.write(data, to: path)
    }

    /// Reads every tensor (as Float32) and the metadata.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let f = try SafeTensorsFile(path: path)
        return (try f.tensors(), f.metadata)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// A validated safetensors file: its header is parsed and checked when opened, tensors are
/// converted on request. The file is memory-mapped.
public struct SafeTensorsFile: Sendable {
    public let path: String
    public let metadata: [String: String]
    /// Entries in data order.
    public let entries: [SafeTensorsEntry]
    private let data: Data
    private let dataStart: Int

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path) else { throw NeoIOError(path, "no such file") }
        let d: Data
        do { d = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw NeoIOError(path, "cannot read file: \(error.localizedDescription)")
        }
        try self.init(data: d, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        self.path = path
        self.data = data
        func bad(_ problem: String) -> NeoIOError { NeoIOError(path, "malformed safetensors file: \(problem)") }
        guard data.count >= 8 else { throw bad("\(data.count) bytes is too short for the 8-byte header length") }
        let n64 = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n64 <= UInt64(SafeTensors.maxHeaderBytes) else { throw bad("header length \(n64) exceeds the \(SafeTensors.maxHeaderBytes)-byte limit") }
        let n = Int(n64)
        guard 8 + n <= data.count else { throw bad("header length \(n) runs past the end of the \(data.count)-byte file") }
        let headerBytes = [UInt8](data[data.startIndex + 8 ..< data.startIndex + 8 + n])
        guard headerBytes.first == UInt8(ascii: "{") else { throw bad("the header does not start with '{'") }
        guard String(bytes: headerBytes, encoding: .utf8) != nil else { throw bad("the header is not valid UTF-8") }
        let root: JSONValue
        do { var parser = JSONParser(headerBytes); root = try parser.parseDocument() } catch let e as JSONParser.Failure {
            throw bad("header JSON: \(e.message) at byte \(e.offset)")
        }
        guard case .object(let members) = root else { throw bad("the header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [SafeTensorsEntry] = []
        for (key, value) in members {
            if key == SafeTensors.metadataKey {
                guard case .object(let kv) = value else { throw bad("'__metadata__' is not an object") }
                for (k, v) in kv {
                    guard case .string(let s) = v else { throw bad("metadata value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else { throw bad("tensor '\(key)' is not described by an object") }
            let f = Dictionary(fields, uniquingKeysWith: { a, _ in a })
            guard case .string(let dtype)? = f["dtype"] else { throw bad("tensor '\(key)' has no string 'dtype'") }
            guard let size = SafeTensors.elementSizes[dtype] else { throw bad("tensor '\(key)' has unknown dtype '\(dtype)'") }
            guard case .array(let shapeValues)? = f["shape"] else { throw bad("tensor '\(key)' has no 'shape' array") }
            var shape: [Int] = []
            for v in shapeValues {
                guard let d = v.nonNegativeInt else { throw bad("tensor '\(key)' has a shape entry that is not a non-negative integer") }
                shape.append(d)
            }
            guard case .array(let offs)? = f["data_offsets"], offs.count == 2,
                  let begin = offs[0].nonNegativeInt, let end = offs[1].nonNegativeInt else {
                throw bad("tensor '\(key)' needs 'data_offsets' of two non-negative integers")
            }
            guard end >= begin else { throw bad("tensor '\(key)' ends (\(end)) before it begins (\(begin))") }
            var count = 1
            for d in shape {
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw bad("tensor '\(key)' shape \(shape) overflows") }
                count = m
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: size)
            guard !o, bytes == end - begin else {
                throw bad("tensor '\(key)' of \(dtype) \(shape) needs \(o ? "too many" : String(bytes)) bytes, its data_offsets [\(begin), \(end)] span \(end - begin)")
            }
            entries.append(SafeTensorsEntry(name: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The buffer must be covered exactly: sorted by offset, each tensor starts where the last ended.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for e in entries {
            if e.begin < cursor { throw bad("tensor '\(e.name)' at [\(e.begin), \(e.end)] overlaps the tensor before it (which ends at \(cursor))") }
            if e.begin > cursor { throw bad("gap in the data buffer between bytes \(cursor) and \(e.begin) (before tensor '\(e.name)')") }
            cursor = e.end
        }
        let bufferSize = data.count - 8 - n
        guard cursor == bufferSize else {
            throw bad(cursor < bufferSize
                ? "\(bufferSize - cursor) bytes after the last tensor belong to no tensor"
                : "the data buffer is \(bufferSize) bytes but the tensors need \(cursor) (file truncated?)")
        }
        self.metadata = metadata
        self.entries = entries
        self.dataStart = 8 + n
    }

    public var names: [String] { entries.map(\.name) }
    public func entry(_ name: String) -> SafeTensorsEntry? { entries.first { $0.name == name } }

    /// The named tensor converted to Float32 (F32, F16, BF16 and F64 are supported).
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entry(name) else { throw NeoIOError(path, "no tensor '\(name)'") }
        return try convert(e)
    }

    /// Every tensor, converted to Float32; any other dtype is an error naming the tensor.
    public func tensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for e in entries { out[e.name] = try convert(e) }
        return out
    }

    private func convert(_ e: SafeTensorsEntry) throws -> Tensor {
        let t = Tensor.empty(e.shape)
        let n = t.count
        let out = t.data
        let supported = ["F32", "F16", "BF16", "F64"]
        guard supported.contains(e.dtype) else {
            throw NeoIOError(path, "tensor '\(e.name)' has dtype \(e.dtype); only F32, F16, BF16 and F64 convert to Float32")
        }
        if n == 0 { return t }
        data.withUnsafeBytes { raw in
            let p = raw.baseAddress! + dataStart + e.begin
            switch e.dtype {
            case "F32":
                UnsafeMutableRawPointer(out).copyMemory(from: p, byteCount: n * 4)
            case "F16":
                for i in 0..<n { out[i] = Float16Bits(bits: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))).float }
            case "BF16":
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) << 16) }
            default:
                for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)))) }
            }
        }
        return t
    }
}

// MARK: - A strict JSON parser (RFC 8259) for safetensors headers

indirect enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text, kept exact.
    case number(String)
    case bool(Bool)
    case null

    var nonNegativeInt: Int? {
        guard case .number(let s) = self, !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }
}

struct JSONParser {
    struct Failure: Error { let message: String; let offset: Int }
    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { b = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let v = try value()
        skipSpace()
        if i != b.count { throw Failure(message: "unexpected text after the JSON value", offset: i) }
        return v
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < b.count, b[i] == c else { throw Failure(message: "expected '\(Character(UnicodeScalar(c)))'", offset: i) }
        i += 1
    }

    private mutating func value() throws -> JSONValue {
        skipSpace()
        guard i < b.count else { throw Failure(message: "unexpected end of header", offset: i) }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw Failure(message: "unexpected character", offset: i)
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw Failure(message: "invalid literal", offset: i) }
        i += w.count
    }

    private mutating func nest() throws {
        depth += 1
        if depth > 64 { throw Failure(message: "nesting deeper than 64 levels", offset: i) }
    }

    private mutating func object() throws -> JSONValue {
        try nest(); defer { depth -= 1 }
        i += 1
        var members: [(String, JSONValue)] = []
        var seen = Set<String>()
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            let at = i
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw Failure(message: "expected a string key", offset: i) }
            let key = try string()
            guard seen.insert(key).inserted else { throw Failure(message: "duplicate key \"\(key)\"", offset: at) }
            try expect(UInt8(ascii: ":"))
            members.append((key, try value()))
            skipSpace()
            guard i < b.count else { throw Failure(message: "unterminated object", offset: i) }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw Failure(message: "expected ',' or '}'", offset: i)
        }
    }

    private mutating func array() throws -> JSONValue {
        try nest(); defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value())
            skipSpace()
            guard i < b.count else { throw Failure(message: "unterminated array", offset: i) }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw Failure(message: "expected ',' or ']'", offset: i)
        }
    }

    private mutating func number() throws -> String {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int { let s = i; while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }; return i - s }
        guard i < b.count else { throw Failure(message: "incomplete number", offset: start) }
        if b[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { throw Failure(message: "invalid number", offset: start) }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            if digits() == 0 { throw Failure(message: "invalid number", offset: start) }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            if digits() == 0 { throw Failure(message: "invalid number", offset: start) }
        }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw Failure(message: "incomplete \\u escape", offset: i) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw Failure(message: "invalid \\u escape", offset: i)
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        let start = i
        i += 1
        var bytes: [UInt8] = []
        while true {
            guard i < b.count else { throw Failure(message: "unterminated string", offset: start) }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw Failure(message: "control character in a string", offset: i) }
            if c != UInt8(ascii: "\\") { bytes.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw Failure(message: "unterminated escape", offset: i) }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw Failure(message: "unpaired surrogate in \\u escape", offset: i)
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw Failure(message: "unpaired surrogate in \\u escape", offset: i) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw Failure(message: "unpaired surrogate in \\u escape", offset: i)
                }
                bytes += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw Failure(message: "invalid escape", offset: i - 1)
            }
        }
        guard let s = String(bytes: bytes, encoding: .utf8) else { throw Failure(message: "invalid UTF-8 in a string", offset: start) }
        return s
    }
}
