import Foundation

/// What a consent record may allow.
public enum ConsentScope: String, CaseIterable, Sendable, Codable {
    case train, render, reenact
}

/// Consent record, version 2: binds one person (subject id, enrolment photo hash, face embedding,
/// authority-verified birth date) to the uses they allow, for a period, under the authority's
/// Ed25519 signature. Dataset consent (version 1, `consent.json` of a dataset) is separate.
public struct ConsentRecordV2: Codable, Sendable, Equatable {
    public static let formatTag = "neo-consent-2"
    public var format = ConsentRecordV2.formatTag
    public var id: String
    public var subject: String
    /// SHA-256 (hex) of the enrolment photo or video file.
    public var enrolmentSHA256: String
    /// The subject's 128-D face embedding (base64 of little-endian float32).
    public var embedding: String
    public var scopes: [ConsentScope]
    /// ISO 8601 UTC instants.
    public var issued: String
    public var expires: String
    /// YYYY-MM-DD, verified by the authority.
    public var birthDate: String
    /// Id of the signing authority key.
    public var key: String
    /// Base64 Ed25519 signature over `signedBytes`.
    public var signature: String

    public init(id: String, subject: String, enrolmentSHA256: String, embedding: [Float], scopes: [ConsentScope],
                issued: String, expires: String, birthDate: String, key: String = "", signature: String = "") {
        self.id = id; self.subject = subject; self.enrolmentSHA256 = enrolmentSHA256
        self.embedding = EmbeddingCoding.encode(embedding); self.scopes = scopes
        self.issued = issued; self.expires = expires; self.birthDate = birthDate; self.key = key; self.signature = signature
    }

    public var signedBytes: Data {
        get throws {
            var t = SignedText("neo-consent-v2")
            try t.add("format", format)
            try t.add("id", id)
            try t.add("subject", subject)
            try t.add("enrolment-sha256", enrolmentSHA256)
            try t.add("embedding", embedding)
            try t.add("scopes", Set(scopes.map(\.rawValue)).sorted().joined(separator: ","))
            try t.add("issued", issued)
            try t.add("expires", expires)
            try t.add("birth-date", birthDate)
            try t.add("key", key)
            return t.bytes
        }
    }

    public func faceEmbedding() throws -> [Float] { try EmbeddingCoding.decode(embedding, where_: "consent record \(id)") }

    /// Checks the fields' formats; the first problem, or nil.
    public var malformation: String? {
        if format != Self.formatTag { return "format '\(format)' is not \(Self.formatTag)" }
        if id.isEmpty || subject.isEmpty { return "empty id or subject" }
        if enrolmentSHA256.count != 64 || !enrolmentSHA256.allSatisfy(\.isHexDigit) { return "enrolment hash is not 64 hex digits" }
        if (try? faceEmbedding()) == nil { return "embedding is not 128 float32 values" }
        if scopes.isEmpty { return "no scopes" }
        guard let i = GovernanceDate.instant(issued), let e = GovernanceDate.instant(expires) else { return "issue or expiry time is not ISO 8601 UTC" }
        if e <= i { return "expires before it was issued" }
        if GovernanceDate.day(birthDate) == nil { return "birth date '\(birthDate)' is not a valid YYYY-MM-DD day" }
        return nil
    }

    public mutating func sign(with secret: AuthoritySecret) throws {
        key = secret.id
        signature = try secret.sign(try signedBytes)
    }

    /// Why the record's signature fails under `authority` (nil when it verifies).
    public func signatureProblem(authority: AuthorityKey) -> String? {
        if let m = malformation { return "malformed: \(m)" }
        if key != authority.id { return "signed by key '\(key)', not by the consent authority '\(authority.id)'" }
        guard let msg = try? signedBytes, authority.verifies(signature, msg) else {
            return "signature does not verify (record altered or not signed by the authority)"
        }
        return nil
    }

    public static func read(_ path: String) throws -> ConsentRecordV2 { try readJSON(path, what: "consent record (v2)") }
    public func write(to path: String) throws { try writeJSON(self, to: path) }
}

/// A list the consent authority signs as a whole: the revocation list and the protected gallery.
/// The signature covers the format, key, update time and every entry's fields in order.
public struct SignedList<Entry: SignedListEntry>: Codable, Sendable, Equatable {
    public var format = Entry.listFormat
    public var key: String
    public var updated: String
    public var entries: [Entry]
    public var signature: String

    public init(key: String, updated: String, entries: [Entry] = [], signature: String = "") {
        self.key = key; self.updated = updated; self.entries = entries; self.signature = signature
    }

    public var signedBytes: Data {
        get throws {
            var t = SignedText(Entry.listFormat)
            try t.add("format", format)
            try t.add("key", key)
            try t.add("updated", updated)
            // A JSON array per entry, so no field's content can shift the boundary to the next.
            for e in entries { try t.add("entry", String(decoding: try JSONEncoder().encode(e.signedFields), as: UTF8.self)) }
            return t.bytes
        }
    }

    public mutating func sign(with secret: AuthoritySecret) throws {
        key = secret.id
        signature = try secret.sign(try signedBytes)
    }

    public func verify(authority: AuthorityKey, file: String) throws {
        guard key == authority.id, let msg = try? signedBytes, authority.verifies(signature, msg) else {
            throw GovernanceError(file, "\(Entry.documentName) is not signed by the consent authority '\(authority.id)'")
        }
    }

    public static func read(_ path: String) throws -> SignedList { try readJSON(path, what: Entry.documentName) }

    /// Reads the file and checks the authority's signature.
    public static func readVerified(_ path: String, authority: AuthorityKey) throws -> SignedList {
        let d = try read(path)
        try d.verify(authority: authority, file: path)
        return d
    }

    public func write(to path: String) throws { try writeJSON(self, to: path) }
}

public protocol SignedListEntry: Codable, Sendable, Equatable {
    static var listFormat: String { get }
    static var documentName: String { get }
    static var fileName: String { get }
    /// The fields the signature covers, in a fixed order.
    var signedFields: [String] { get }
}

extension SignedList {
    public static var fileName: String { Entry.fileName }
}

/// One revoked consent record.
public struct Revocation: SignedListEntry {
    public static var listFormat: String { "neo-revocations-1" }
    public static var documentName: String { "revocation list" }
    public static var fileName: String { "revocations.json" }
    public var id: String
    public var revoked: String
    public var reason: String
    public var signedFields: [String] { [id, revoked, reason] }
}

/// The authority's signed list of revoked consent record ids.
public typealias RevocationList = SignedList<Revocation>

extension SignedList where Entry == Revocation {
    public func revocation(of id: String) -> Revocation? { entries.first { $0.id == id } }
}

/// One enrolled photo of a person who must never be rendered.
public struct ProtectedIdentity: SignedListEntry {
    public static var listFormat: String { "neo-protected-1" }
    public static var documentName: String { "protected-identity gallery" }
    public static var fileName: String { "protected.json" }
    public var name: String
    public var photoSHA256: String
    /// 128-D embedding, base64 of little-endian float32.
    public var embedding: String
    public var added: String
    public var signedFields: [String] { [name, photoSHA256, embedding, added] }
}

/// The authority's signed gallery of people who must never be rendered (public figures,
/// politicians, people who opted out): one embedding per enrolled photo.
public typealias ProtectedGallery = SignedList<ProtectedIdentity>

extension SignedList where Entry == ProtectedIdentity {
    /// Decoded embeddings with names.
    public func embeddings(file: String) throws -> [(name: String, embedding: [Float])] {
        try entries.map { ($0.name, try EmbeddingCoding.decode($0.embedding, where_: "\(file): entry '\($0.name)'")) }
    }
}
