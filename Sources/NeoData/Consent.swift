import Crypto
import Foundation
import NeoIO

/// One identity's consent: who, what uses are allowed, when, and an Ed25519 signature over those
/// fields by the key `key` names.
public struct ConsentRecord: Codable, Sendable, Equatable {
    public var id: String
    public var identity: String
    public var scopes: [String]
    /// ISO date (YYYY-MM-DD) the consent was given.
    public var date: String
    /// Id of the signing key (see `ConsentKey.id`).
    public var key: String
    /// Base64 Ed25519 signature over `signedBytes`.
    public var signature: String

    public init(id: String, identity: String, scopes: [String], date: String, key: String, signature: String = "") {
        self.id = id; self.identity = identity; self.scopes = scopes; self.date = date; self.key = key; self.signature = signature
    }

    /// The canonical message that is signed: one field per line, scopes sorted.
    public var signedBytes: Data {
        let text = "neo-consent-v1\nid:\(id)\nidentity:\(identity)\nscopes:\(scopes.sorted().joined(separator: ","))\ndate:\(date)\nkey:\(key)\n"
        return Data(text.utf8)
    }

    /// Signs this record with `privateKey` (sets `key` and `signature`).
    public mutating func sign(with privateKey: Curve25519.Signing.PrivateKey) throws {
        key = ConsentKey.id(of: privateKey.publicKey)
        signature = try privateKey.signature(for: signedBytes).base64EncodedString()
    }
}

/// A public key that signs consent records, named by an id derived from the key itself.
public struct ConsentKey: Codable, Sendable, Equatable {
    public var id: String
    /// Base64 of the raw 32-byte Ed25519 public key.
    public var publicKey: String
    public var note: String

    public init(publicKey: Curve25519.Signing.PublicKey, note: String) {
        self.id = ConsentKey.id(of: publicKey)
        self.publicKey = publicKey.rawRepresentation.base64EncodedString()
        self.note = note
    }

    /// "ed25519:" + first 16 hex digits of SHA-256 of the raw public key.
    public static func id(of key: Curve25519.Signing.PublicKey) -> String {
        let digest = SHA256.hash(data: key.rawRepresentation)
        return "ed25519:" + digest.prefix(8).map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    /// The demo signing key of a synthetic dataset, derived from the synthesis seed. It proves
    /// only that the records were not edited after generation; it is not anyone's real consent.
    public static func demoPrivateKey(seed: UInt64) -> Curve25519.Signing.PrivateKey {
        var material = Data("neo-train synthetic consent demo key".utf8)
        withUnsafeBytes(of: seed.littleEndian) { material.append(contentsOf: $0) }
        let digest = SHA256.hash(data: material)
        // 32 bytes of seed material always form a valid Ed25519 private key.
        return try! Curve25519.Signing.PrivateKey(rawRepresentation: Data(digest))
    }
}

/// The consent file of a dataset (`consent.json`): signing keys and one record per identity.
public struct ConsentBook: Codable, Sendable, Equatable {
    public static let fileName = "consent.json"
    /// Scope a clip needs to be used for training.
    public static let trainingScope = "train"

    public var format: String = "neo-consent-1"
    public var keys: [ConsentKey]
    public var records: [ConsentRecord]

    public init(keys: [ConsentKey], records: [ConsentRecord]) { self.keys = keys; self.records = records }

    public static func read(_ path: String) throws -> ConsentBook {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "consent file missing or unreadable")
        }
        do { return try JSONDecoder().decode(ConsentBook.self, from: data) } catch {
            throw DataError(file: path, "not a valid consent file: \(error)")
        }
    }

    /// Stable JSON (sorted keys, pretty) so equal books give equal bytes.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    public func write(to path: String) throws {
        try AtomicWrite.data(try encoded(), to: path)
    }

    /// Why `record` is not valid (nil when it is): unknown key, bad signature, missing scope.
    public func problem(with record: ConsentRecord, requiredScope: String? = ConsentBook.trainingScope,
                        trustedKeys: Set<String>? = nil) -> String? {
        guard let key = keys.first(where: { $0.id == record.key }) else { return "signed by unknown key '\(record.key)'" }
        if let trustedKeys, !trustedKeys.contains(key.id) { return "signed by key '\(key.id)', which is not trusted" }
        guard let raw = Data(base64Encoded: key.publicKey),
              let pub = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              ConsentKey.id(of: pub) == key.id else { return "key '\(key.id)' is malformed or does not match its id" }
        guard let sig = Data(base64Encoded: record.signature), pub.isValidSignature(sig, for: record.signedBytes) else {
            return "signature does not verify (record altered or signed by another key)"
        }
        if let requiredScope, !record.scopes.contains(requiredScope) { return "scope '\(requiredScope)' not granted (scopes: \(record.scopes.joined(separator: ", ")))" }
        return nil
    }

    /// The valid record of each identity (identity → record) and the problems of the others.
    public func validate(requiredScope: String? = ConsentBook.trainingScope, trustedKeys: Set<String>? = nil)
        -> (valid: [String: ConsentRecord], problems: [String: String]) {
        var valid: [String: ConsentRecord] = [:]
        var problems: [String: String] = [:]
        for r in records {
            if let p = problem(with: r, requiredScope: requiredScope, trustedKeys: trustedKeys) {
                problems[r.identity] = "record \(r.id): \(p)"
            } else {
                valid[r.identity] = r
            }
        }
        for id in valid.keys { problems[id] = nil }
        return (valid, problems)
    }

    /// Checks that every (identity, consent id) pair has a valid record with that id; throws one
    /// error listing every identity that fails and why.
    public func require(_ uses: [(identity: String, consentId: String, clip: String)], file: String,
                        requiredScope: String = ConsentBook.trainingScope, trustedKeys: Set<String>? = nil) throws {
        let (valid, problems) = validate(requiredScope: requiredScope, trustedKeys: trustedKeys)
        var failures: [String: (reason: String, clips: [String])] = [:]
        for u in uses {
            let reason: String
            if u.consentId.isEmpty {
                reason = "clip has no consent record id"
            } else if let r = valid[u.identity] {
                if r.id == u.consentId { continue }
                reason = "clip names consent record '\(u.consentId)' but the identity's valid record is '\(r.id)'"
            } else if let p = problems[u.identity] {
                reason = p
            } else {
                reason = "no consent record for this identity"
            }
            let k = "\(u.identity)|\(reason)"
            failures[k, default: (reason, [])].clips.append(u.clip)
        }
        guard failures.isEmpty else {
            let lines = failures.keys.sorted().map { k -> String in
                let f = failures[k]!
                let identity = String(k.split(separator: "|", maxSplits: 1)[0])
                let shown = f.clips.prefix(5).joined(separator: ", ") + (f.clips.count > 5 ? ", … (\(f.clips.count) clips)" : "")
                return "  identity '\(identity)': \(f.reason) [clips: \(shown)]"
            }
            throw DataError(file: file, "clips refused for lack of valid consent:\n" + lines.joined(separator: "\n"))
        }
    }
}

/// Writes whole files through a temporary file and rename (NeoIO's AtomicFile does the work).
enum AtomicWrite {
    static func data(_ data: Data, to path: String) throws {
        do { try AtomicFile.write(data, to: path) } catch { throw DataError(file: path, "cannot write: \(error)") }
    }
}
