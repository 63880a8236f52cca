import Crypto
import Foundation

/// The work behind `neo-train consent …`: the consent authority's chores (keys, records,
/// revocations, the protected gallery) and the audit-log check. The gate itself is `Gate`.
public enum ConsentTool {
    static func file(_ dir: String, _ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// Creates an authority key pair in `dir` with an empty signed revocation list and gallery.
    public static func keygen(directory dir: String, now: Date = Date()) throws -> String {
        let secretPath = file(dir, AuthoritySecret.fileName)
        guard !FileManager.default.fileExists(atPath: secretPath) else {
            throw GovernanceError(secretPath, "an authority key already exists; remove it first to replace the authority")
        }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw GovernanceError(dir, "cannot create directory: \(error.localizedDescription)")
        }
        let key = Curve25519.Signing.PrivateKey()
        let secret = AuthoritySecret(key)
        try writeJSON(secret, to: secretPath, permissions: 0o600)
        try writeJSON(AuthorityKey(key.publicKey), to: file(dir, AuthorityKey.fileName))
        var list = RevocationList(key: secret.id, updated: GovernanceDate.string(now))
        try list.sign(with: secret)
        try list.write(to: file(dir, RevocationList.fileName))
        var gallery = ProtectedGallery(key: secret.id, updated: GovernanceDate.string(now))
        try gallery.sign(with: secret)
        try gallery.write(to: file(dir, ProtectedGallery.fileName))
        return secret.id
    }

    /// The one face of a photo, or an error naming how many were found.
    static func singleFace(_ photo: String, analyzer: FaceAnalyzer) throws -> (hash: String, face: FaceDescription) {
        let hash = try sha256Hex(file: photo)
        let image = try RGBImage.load(photo)
        let boxes = try analyzer.detect(image)
        guard boxes.count == 1 else { throw GovernanceError(photo, "\(boxes.count) faces found; exactly one is required") }
        return (hash, try analyzer.describe(image, box: boxes[0]))
    }

    /// The nearest protected identity within the protected-match distance, if any.
    static func protectedMatch(_ embedding: [Float], directory dir: String) throws -> (name: String, distance: Float)? {
        let authority = try AuthorityKey.read(file(dir, AuthorityKey.fileName))
        let galleryPath = file(dir, ProtectedGallery.fileName)
        let gallery = try ProtectedGallery.readVerified(galleryPath, authority: authority)
        return try gallery.embeddings(file: galleryPath)
            .map { ($0.name, FaceAnalyzer.distance(embedding, $0.embedding)) }
            .filter { $0.1 < GatePolicy.protectedMatchDistance }
            .min { $0.1 < $1.1 }
    }

    /// Signs a consent record v2 for the one face in `photo`.
    public static func sign(directory dir: String, keyPath: String?, photo: String, subject: String, scopes: [ConsentScope],
                            birthDate: String, expires: String, output: String, models: FaceModelFiles, now: Date = Date()) throws -> ConsentRecordV2 {
        let secret = try AuthoritySecret.read(keyPath ?? file(dir, AuthoritySecret.fileName))
        guard let born = GovernanceDate.day(birthDate) else { throw GovernanceError("--birth-date", "'\(birthDate)' is not a valid YYYY-MM-DD day") }
        guard let age = GovernanceDate.age(birthDay: born, at: now), age >= GatePolicy.adultAge else {
            throw GovernanceError("--birth-date", "\(birthDate) makes the subject a minor; minors' likenesses are refused")
        }
        guard let end = GovernanceDate.instant(expires), end > now else {
            throw GovernanceError("--expires", "'\(expires)' is not an ISO 8601 UTC time in the future")
        }
        let (hash, face) = try singleFace(photo, analyzer: FaceModelCache.models(models).0)
        if let m = try protectedMatch(face.embedding, directory: dir) {
            throw GovernanceError(photo, "the face matches protected identity '\(m.name)' (distance \(m.distance)); no consent can be signed for it")
        }
        let issued = GovernanceDate.string(now)
        let id = "c-" + String(sha256Hex(Data("\(subject)|\(hash)|\(issued)".utf8)).prefix(16))
        var record = ConsentRecordV2(id: id, subject: subject, enrolmentSHA256: hash, embedding: face.embedding,
                                     scopes: scopes, issued: issued, expires: GovernanceDate.string(end), birthDate: birthDate)
        try record.sign(with: secret)
        try record.write(to: output)
        return record
    }

    /// Why a record is not currently valid (signature, period, revocation), or nil.
    public static func verify(record path: String, directory dir: String, now: Date = Date()) throws -> String? {
        let authority = try AuthorityKey.read(file(dir, AuthorityKey.fileName))
        let record = try ConsentRecordV2.read(path)
        if let p = record.signatureProblem(authority: authority) { return p }
        if let i = GovernanceDate.instant(record.issued), now < i { return "not valid before \(record.issued)" }
        if let e = GovernanceDate.instant(record.expires), now >= e { return "expired at \(record.expires)" }
        let list = try RevocationList.readVerified(file(dir, RevocationList.fileName), authority: authority)
        if let r = list.revocation(of: record.id) { return "revoked at \(r.revoked): \(r.reason)" }
        return nil
    }

    /// The private key (default DIR/authority.key) and the public key it must belong to.
    static func authorityPair(_ dir: String, _ keyPath: String?) throws -> (AuthoritySecret, AuthorityKey) {
        let secret = try AuthoritySecret.read(keyPath ?? file(dir, AuthoritySecret.fileName))
        let authority = try AuthorityKey.read(file(dir, AuthorityKey.fileName))
        guard authority.id == secret.id else { throw GovernanceError(dir, "the private key '\(secret.id)' is not the authority '\(authority.id)'") }
        return (secret, authority)
    }

    /// Adds a record id to the signed revocation list.
    public static func revoke(directory dir: String, keyPath: String?, id: String, reason: String, now: Date = Date()) throws {
        let (secret, authority) = try authorityPair(dir, keyPath)
        let listPath = file(dir, RevocationList.fileName)
        var list = try RevocationList.readVerified(listPath, authority: authority)
        guard list.revocation(of: id) == nil else { throw GovernanceError(id, "already revoked") }
        list.entries.append(Revocation(id: id, revoked: GovernanceDate.string(now), reason: reason))
        list.updated = GovernanceDate.string(now)
        try list.sign(with: secret)
        try list.write(to: listPath)
    }

    /// Adds the one face of `photo` to the signed protected-identity gallery.
    public static func protect(directory dir: String, keyPath: String?, photo: String, name: String, models: FaceModelFiles,
                               now: Date = Date()) throws {
        let (secret, authority) = try authorityPair(dir, keyPath)
        let galleryPath = file(dir, ProtectedGallery.fileName)
        var gallery = try ProtectedGallery.readVerified(galleryPath, authority: authority)
        let (hash, face) = try singleFace(photo, analyzer: FaceModelCache.models(models).0)
        guard !gallery.entries.contains(where: { $0.photoSHA256 == hash }) else { throw GovernanceError(photo, "this photo is already in the gallery") }
        gallery.entries.append(ProtectedIdentity(name: name, photoSHA256: hash, embedding: EmbeddingCoding.encode(face.embedding), added: GovernanceDate.string(now)))
        gallery.updated = GovernanceDate.string(now)
        try gallery.sign(with: secret)
        try gallery.write(to: galleryPath)
    }
}
