import Crypto
import Foundation
import NeoIO

/// Lowercase hex of bytes.
func hexString<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// SHA-256 of bytes as lowercase hex.
public func sha256Hex(_ data: Data) -> String { hexString(SHA256.hash(data: data)) }

/// SHA-256 of a file's bytes as lowercase hex.
public func sha256Hex(file path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw GovernanceError(path, "missing or unreadable") }
    return sha256Hex(data)
}

/// SHA-256 of a file, or of a folder: of the lines "relative-path SHA-256" of its files, sorted
/// (so a dataset folder an import writes has one hash too).
public func sha256Hex(fileOrFolder path: String) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw GovernanceError(path, "missing") }
    guard isDir.boolValue else { return try sha256Hex(file: path) }
    guard let walker = FileManager.default.enumerator(atPath: path) else { throw GovernanceError(path, "cannot list folder") }
    var lines: [String] = []
    while let rel = walker.nextObject() as? String {
        let full = (path as NSString).appendingPathComponent(rel)
        var sub: ObjCBool = false
        if FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue {
            lines.append("\(rel) \(try sha256Hex(file: full))")
        }
    }
    return sha256Hex(Data(lines.sorted().joined(separator: "\n").utf8))
}

/// Embeddings travel as base64 of little-endian float32, so a signature covers exact bits.
enum EmbeddingCoding {
    static func encode(_ v: [Float]) -> String {
        var d = Data(capacity: v.count * 4)
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d.base64EncodedString()
    }

    static func decode(_ s: String, where_: String) throws -> [Float] {
        guard let d = Data(base64Encoded: s), d.count == FaceAnalyzer.embeddingSize * 4 else {
            throw GovernanceError(where_, "embedding is not base64 of \(FaceAnalyzer.embeddingSize) float32 values")
        }
        return d.withUnsafeBytes { raw in
            (0..<FaceAnalyzer.embeddingSize).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

/// The canonical text a signature covers: a format tag, then one `name:value` line per field.
/// Values may not contain line breaks, so no two field lists give the same text.
struct SignedText {
    private var text: String
    init(_ format: String) { text = format + "\n" }
    mutating func add(_ name: String, _ value: String) throws {
        guard !value.contains(where: { $0.isNewline }) else { throw GovernanceError(name, "value contains a line break") }
        text += "\(name):\(value)\n"
    }
    var bytes: Data { Data(text.utf8) }
}

/// The consent authority's public key: it signs consent records, the revocation list and the
/// protected-identity gallery. Its id is "ed25519:" + the first 16 hex digits of SHA-256 of the
/// raw key (the id scheme of the dataset consent records, so one key can serve both).
public struct AuthorityKey: Codable, Sendable, Equatable {
    public static let fileName = "authority.pub"
    public var format = "neo-authority-1"
    public var id: String
    /// Base64 of the raw 32-byte Ed25519 public key.
    public var publicKey: String

    public init(_ key: Curve25519.Signing.PublicKey) {
        id = Self.id(of: key)
        publicKey = key.rawRepresentation.base64EncodedString()
    }

    public static func id(of key: Curve25519.Signing.PublicKey) -> String {
        "ed25519:" + String(hexString(SHA256.hash(data: key.rawRepresentation)).prefix(16))
    }

    public var key: Curve25519.Signing.PublicKey {
        get throws {
            guard let raw = Data(base64Encoded: publicKey), let k = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
                  Self.id(of: k) == id else { throw GovernanceError(id, "authority key is malformed or does not match its id") }
            return k
        }
    }

    /// True when `signature` (base64) is this key's signature of `message`.
    public func verifies(_ signature: String, _ message: Data) -> Bool {
        guard let k = try? key, let sig = Data(base64Encoded: signature) else { return false }
        return k.isValidSignature(sig, for: message)
    }

    public static func read(_ path: String) throws -> AuthorityKey {
        let k: AuthorityKey = try readJSON(path, what: "authority public key")
        _ = try k.key
        return k
    }
}

/// The authority's private key file (`authority.key`, mode 0600).
public struct AuthoritySecret: Codable, Sendable {
    public static let fileName = "authority.key"
    public var format = "neo-authority-secret-1"
    public var id: String
    /// Base64 of the raw 32-byte Ed25519 private key.
    public var privateKey: String

    public init(_ key: Curve25519.Signing.PrivateKey) {
        id = AuthorityKey.id(of: key.publicKey)
        privateKey = key.rawRepresentation.base64EncodedString()
    }

    public var key: Curve25519.Signing.PrivateKey {
        get throws {
            guard let raw = Data(base64Encoded: privateKey), let k = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw),
                  AuthorityKey.id(of: k.publicKey) == id else { throw GovernanceError(id, "authority private key is malformed or does not match its id") }
            return k
        }
    }

    public static func read(_ path: String) throws -> AuthoritySecret {
        let s: AuthoritySecret = try readJSON(path, what: "authority private key")
        _ = try s.key
        return s
    }

    public func sign(_ message: Data) throws -> String { try key.signature(for: message).base64EncodedString() }
}

func readJSON<T: Decodable>(_ path: String, what: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else { throw GovernanceError(path, "\(what) missing or unreadable") }
    do { return try JSONDecoder().decode(T.self, from: data) } catch {
        throw GovernanceError(path, "not a valid \(what): \(jsonProblem(error))")
    }
}

/// A decoding error in one line.
func jsonProblem(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let k, _): return "field '\(k.stringValue)' missing"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
        let path = c.codingPath.map(\.stringValue).joined(separator: ".")
        return (path.isEmpty ? "" : "field '\(path)': ") + c.debugDescription
    default: return "\(error)"
    }
}

/// Stable pretty JSON written through a temporary file and rename.
func writeJSON<T: Encodable>(_ value: T, to path: String, permissions: Int? = nil) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try enc.encode(value)
    data.append(0x0A)
    do { try AtomicFile.write(data, to: path) } catch { throw GovernanceError(path, "cannot write: \(error)") }
    if let permissions, chmod(path, mode_t(permissions)) != 0 {
        throw GovernanceError(path, "cannot set permissions: \(String(cString: strerror(errno)))")
    }
}

/// Dates: instants as ISO 8601 UTC with seconds ("2026-12-05T19:50:00Z"), birth dates as YYYY-MM-DD.
public enum GovernanceDate {
    public static func instant(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }

    public static func string(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    private static var utc: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    /// A calendar day "YYYY-MM-DD" (validated: 2026-02-30 is rejected).
    public static func day(_ s: String) -> DateComponents? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        let c = DateComponents(year: y, month: m, day: d)
        guard let date = utc.date(from: c), utc.dateComponents([.year, .month, .day], from: date) == c else { return nil }
        return c
    }

    /// Whole years between a birth day and `now` (UTC).
    public static func age(birthDay: DateComponents, at now: Date) -> Int? {
        guard let born = utc.date(from: birthDay) else { return nil }
        return utc.dateComponents([.year], from: born, to: now).year
    }
}
