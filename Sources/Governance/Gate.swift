import Foundation
import NeoIO

/// The fixed thresholds of the gate. They are constants, not options: no flag moves them.
public enum GatePolicy {
    /// Faces whose estimated age is below this are refused unless a valid consent record attests
    /// an adult birth date. 25 leaves a 7-year margin over adulthood for the age model's error.
    public static let minimumEstimatedAge: Float = 25
    /// Age in whole years (from the attested birth date) below which a subject is a minor.
    public static let adultAge = 18
    /// Largest identity-embedding distance at which the photo's face counts as the consent
    /// record's subject: dlib's own same-person threshold for this network (0.6) made stricter.
    public static let consentMatchDistance: Float = 0.5
    /// Distance below which a face counts as a protected identity: dlib's same-person threshold.
    public static let protectedMatchDistance: Float = 0.6
}

/// What the gate checks: a photo file, or frames sampled from a video file.
public enum GateInput: Sendable {
    case photo(String)
    case frames(source: String, frames: [RGBImage])
}

/// What an allowed decision hands to the step that makes the output.
public struct GateApproval: Sendable {
    public var faces: [FaceDescription]
    public var record: ConsentRecordV2
    public var estimatedAge: Float
}

public struct GateDecision: Sendable {
    public var allowed: Bool
    /// One line: why it was refused, or what was allowed.
    public var reason: String
    public var consentId: String?
    public var outputSHA256: String?
    public var estimatedAge: Float?
}

/// The one gate every photo and video passes before training, rendering or reenactment:
/// decode → exactly one face → protected-identity check → age check → consent check (signature,
/// validity period, revocation, scope, attested adult birth date, face match). Every decision is
/// appended to the audit log; a refused decision leaves no output file.
public final class Gate: Sendable {
    public static let defaultDirectory = "Checkpoints/governance"
    /// Exit status of a command the gate refused.
    public static let refusalExitStatus: Int32 = 3

    /// Holds `authority.pub`, `revocations.json`, `protected.json` and `audit.log`.
    public let directory: String
    public let modelFiles: FaceModelFiles

    public init(directory: String = Gate.defaultDirectory, models: FaceModelFiles = FaceModelFiles()) {
        self.directory = directory
        self.modelFiles = models
    }

    public var auditLog: AuditLog { AuditLog(path: path(AuditLog.fileName)) }
    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The face and age models (loaded once per process).
    public func models() throws -> (FaceAnalyzer, AgeModel) { try FaceModelCache.models(modelFiles) }

    /// Runs the gate. When allowed and `output` is given, `produce` writes the output (a file or
    /// a folder) to the temporary path it is handed; the gate hashes it, logs the decision, then
    /// renames it into place. Refused, failed or unlogged decisions leave nothing at `output`.
    public func authorize(_ input: GateInput, consent consentPath: String?, scope: ConsentScope,
                          output: String? = nil, now: Date = Date(),
                          produce: ((GateApproval, String) throws -> Void)? = nil) -> GateDecision {
        var inputHashes: [String] = []
        var consentId: String?
        var estimatedAge: Float?
        func refuse(_ reason: String) -> GateDecision {
            var why = reason
            do {
                try auditLog.append(.init(time: GovernanceDate.string(now), decision: "refused", reason: reason,
                                          scope: scope.rawValue, inputs: inputHashes, consent: consentId, output: nil))
            } catch { why += " (and the audit log could not be written: \(error))" }
            return GateDecision(allowed: false, reason: why, consentId: consentId, outputSHA256: nil, estimatedAge: estimatedAge)
        }

        // 1. Decode.
        let images: [(label: String, image: RGBImage)]
        switch input {
        case .photo(let p):
            guard let data = FileManager.default.contents(atPath: p) else { return refuse("\(p): photo missing or unreadable") }
            inputHashes = [sha256Hex(data)]
            do { images = [(p, try RGBImage.load(p))] } catch { return refuse("\(error)") }
        case .frames(let source, let frames):
            if let data = FileManager.default.contents(atPath: source) { inputHashes = [sha256Hex(data)] }
            guard !frames.isEmpty else { return refuse("\(source): no frames were sampled") }
            images = frames.enumerated().map { ("\(source) frame \($0.offset)", $0.element) }
        }
        let analyzer: FaceAnalyzer, ageModel: AgeModel
        do { (analyzer, ageModel) = try models() } catch { return refuse("face models unavailable: \(error)") }

        // 2. Exactly one face in every image.
        var faces: [FaceDescription] = []
        for (label, image) in images {
            do {
                let boxes = try analyzer.detect(image)
                if boxes.isEmpty { return refuse("\(label): no face found") }
                if boxes.count > 1 { return refuse("\(label): \(boxes.count) faces found; exactly one is required") }
                faces.append(try analyzer.describe(image, box: boxes[0]))
            } catch { return refuse("\(label): face analysis failed: \(error)") }
        }

        // 3. Protected identities.
        let authority: AuthorityKey
        do {
            authority = try AuthorityKey.read(path(AuthorityKey.fileName))
            let galleryPath = path(ProtectedGallery.fileName)
            let gallery = try ProtectedGallery.readVerified(galleryPath, authority: authority)
            for (name, e) in try gallery.embeddings(file: galleryPath) {
                for (i, f) in faces.enumerated() {
                    let d = FaceAnalyzer.distance(f.embedding, e)
                    if d < GatePolicy.protectedMatchDistance {
                        return refuse("\(images[i].label): the face matches protected identity '\(name)' (distance \(fmt(d)) < \(fmt(GatePolicy.protectedMatchDistance)))")
                    }
                }
            }
        } catch { return refuse("governance set-up unusable: \(error)") }

        // The consent record is read here because an attested birth date may override the age check.
        var record: ConsentRecordV2?
        var recordProblem: String?
        if let consentPath {
            do {
                let r = try ConsentRecordV2.read(consentPath)
                consentId = r.id
                record = r
                recordProblem = r.signatureProblem(authority: authority).map { "\(consentPath): \($0)" }
            } catch { recordProblem = "\(error)" }
        } else {
            recordProblem = "no consent record given"
        }

        // 4. Age.
        do {
            var youngest = Float.infinity
            for (i, f) in faces.enumerated() {
                let chip = try FaceAnalyzer.chip(images[i].image, landmarks: f.landmarks, size: AgeModel.inputSize, padding: AgeModel.chipPadding)
                youngest = min(youngest, try ageModel.estimate(chip: chip))
            }
            estimatedAge = youngest
        } catch { return refuse("age estimation failed: \(error)") }
        let attestedAge = record.flatMap { r in GovernanceDate.day(r.birthDate).flatMap { GovernanceDate.age(birthDay: $0, at: now) } }
        if let est = estimatedAge, est < GatePolicy.minimumEstimatedAge {
            let attestsAdult = recordProblem == nil && (attestedAge ?? 0) >= GatePolicy.adultAge
            if !attestsAdult {
                return refuse("estimated age \(fmt(est)) is under \(fmt(GatePolicy.minimumEstimatedAge)) and no valid consent record attests an adult birth date")
            }
        }

        // 5. Consent.
        guard let record else { return refuse(recordProblem ?? "no consent record") }
        if let recordProblem { return refuse(recordProblem) }
        let id = record.id
        if let issued = GovernanceDate.instant(record.issued), now < issued { return refuse("consent record \(id) is not valid before \(record.issued)") }
        if let expires = GovernanceDate.instant(record.expires), now >= expires { return refuse("consent record \(id) expired at \(record.expires)") }
        do {
            let list = try RevocationList.readVerified(path(RevocationList.fileName), authority: authority)
            if let r = list.revocation(of: id) { return refuse("consent record \(id) was revoked at \(r.revoked): \(r.reason)") }
        } catch { return refuse("governance set-up unusable: \(error)") }
        guard record.scopes.contains(scope) else {
            return refuse("consent record \(id) does not grant scope '\(scope.rawValue)' (grants: \(record.scopes.map(\.rawValue).joined(separator: ", ")))")
        }
        if let a = attestedAge, a < GatePolicy.adultAge {
            return refuse("consent record \(id) attests a birth date \(record.birthDate): the subject is \(a), a minor")
        }
        do {
            let enrolled = try record.faceEmbedding()
            for (i, f) in faces.enumerated() {
                let d = FaceAnalyzer.distance(f.embedding, enrolled)
                if d > GatePolicy.consentMatchDistance {
                    return refuse("\(images[i].label): the face does not match consent record \(id)'s subject '\(record.subject)' (distance \(fmt(d)) > \(fmt(GatePolicy.consentMatchDistance)))")
                }
            }
        } catch { return refuse("\(error)") }

        // Allowed: make the output in a temporary file, log, then move it into place.
        let approval = GateApproval(faces: faces, record: record, estimatedAge: estimatedAge ?? 0)
        var outputHash: String?
        var temporary: String?
        if let output, let produce {
            let tmp = AtomicFile.temporaryPath(for: output)
            temporary = tmp
            do {
                try produce(approval, tmp)
                outputHash = try sha256Hex(fileOrFolder: tmp)
            } catch {
                try? FileManager.default.removeItem(atPath: tmp)
                return refuse("allowed, but making the output failed: \(error)")
            }
        }
        let reason = "allowed: scope '\(scope.rawValue)' under consent record \(id) for subject '\(record.subject)'"
        do {
            try auditLog.append(.init(time: GovernanceDate.string(now), decision: "allowed", reason: reason,
                                      scope: scope.rawValue, inputs: inputHashes, consent: id, output: outputHash))
        } catch {
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
            return GateDecision(allowed: false, reason: "refused: the audit log could not be written: \(error)", consentId: id,
                                outputSHA256: nil, estimatedAge: estimatedAge)
        }
        if let temporary, let output {
            guard rename(temporary, output) == 0 else {
                try? FileManager.default.removeItem(atPath: temporary)
                return GateDecision(allowed: false, reason: "\(output): cannot move the output into place: \(String(cString: strerror(errno)))",
                                    consentId: id, outputSHA256: nil, estimatedAge: estimatedAge)
            }
        }
        return GateDecision(allowed: true, reason: reason, consentId: id, outputSHA256: outputHash, estimatedAge: estimatedAge)
    }
}

private func fmt(_ x: Float) -> String { String(format: "%.3f", Double(x)) }
