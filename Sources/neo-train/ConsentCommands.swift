import ArgumentParser
import Foundation
import Governance
import NeoIO

struct ConsentGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Consent authority, protected identities, the gate every photo passes, and its audit log.",
        subcommands: [ConsentKeygen.self, ConsentSign.self, ConsentVerify.self, ConsentRevoke.self, ConsentProtect.self,
                      ConsentCheck.self, ConsentAudit.self, ConsentDistances.self])
}

/// The governance folder and the private key options shared by the authority's commands.
struct GovernanceOptions: ParsableArguments {
    @Option(name: .customLong("dir"), help: "Governance folder: authority.pub, revocations.json, protected.json, audit.log.")
    var directory: String = Gate.defaultDirectory

    @Option(name: .customLong("models"), help: "Folder of the face and age models (scripts/setup.sh installs them).")
    var models: String = FaceModelFiles.defaultDirectory
}

struct ConsentKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Create a consent authority key pair with an empty revocation list and gallery.")
    @OptionGroup var options: GovernanceOptions

    func run() throws {
        let id = try ConsentTool.keygen(directory: options.directory)
        print("authority \(id) created in \(options.directory) (keep authority.key secret)")
    }
}

struct ConsentSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign a consent record (v2) for the one face in an enrolment photo.")
    @OptionGroup var options: GovernanceOptions
    @Option(help: "Authority private key (default: DIR/authority.key).") var key: String?
    @Option(help: "Enrolment photo (PNG or JPEG) with exactly one face.") var photo: String
    @Option(help: "Subject id.") var subject: String
    @Option(help: "Granted scopes, comma-separated: train, render, reenact.") var scopes: String
    @Option(name: .customLong("birth-date"), help: "Birth date verified by the authority (YYYY-MM-DD).") var birthDate: String
    @Option(help: "Expiry, ISO 8601 UTC (e.g. 2027-12-31T00:00:00Z).") var expires: String
    @Option(name: .customLong("out"), help: "Record file to write.") var output: String

    func run() throws {
        var parsed: [ConsentScope] = []
        for s in scopes.split(separator: ",") {
            let name = s.trimmingCharacters(in: .whitespaces)
            guard let scope = ConsentScope(rawValue: name) else {
                throw GovernanceError("--scopes", "unknown scope '\(name)' (allowed: train, render, reenact)")
            }
            parsed.append(scope)
        }
        guard !parsed.isEmpty else { throw GovernanceError("--scopes", "no scope given") }
        let r = try ConsentTool.sign(directory: options.directory, keyPath: key, photo: photo, subject: subject, scopes: parsed,
                                     birthDate: birthDate, expires: expires, output: output,
                                     models: FaceModelFiles(directory: options.models))
        print("signed consent record \(r.id) for '\(r.subject)' (\(r.scopes.map(\.rawValue).joined(separator: ","))) → \(output)")
    }
}

struct ConsentVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check a consent record's signature, validity period and revocation.")
    @OptionGroup var options: GovernanceOptions
    @Argument(help: "Consent record (v2).") var record: String

    func run() throws {
        if let problem = try ConsentTool.verify(record: record, directory: options.directory) {
            FileHandle.standardError.write(Data("neo-train: \(record): not valid: \(problem)\n".utf8))
            throw ExitCode(Gate.refusalExitStatus)
        }
        print("\(record): valid")
    }
}

struct ConsentRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Add a consent record id to the authority's signed revocation list.")
    @OptionGroup var options: GovernanceOptions
    @Option(help: "Authority private key (default: DIR/authority.key).") var key: String?
    @Option(help: "Consent record id.") var id: String
    @Option(help: "Why it is revoked.") var reason: String = "revoked by the subject"

    func run() throws {
        try ConsentTool.revoke(directory: options.directory, keyPath: key, id: id, reason: reason)
        print("revoked \(id)")
    }
}

struct ConsentProtect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protect", abstract: "Add the face in a photo to the signed protected-identity gallery.")
    @OptionGroup var options: GovernanceOptions
    @Option(help: "Authority private key (default: DIR/authority.key).") var key: String?
    @Option(help: "Photo (PNG or JPEG) with exactly one face.") var photo: String
    @Option(help: "Name of the protected person.") var name: String

    func run() throws {
        try ConsentTool.protect(directory: options.directory, keyPath: key, photo: photo, name: name,
                                models: FaceModelFiles(directory: options.models))
        print("protected '\(name)' (\(photo))")
    }
}

struct ConsentCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the gate on a photo; when allowed and --out is given, write the aligned face the renderer would receive.")
    @OptionGroup var options: GovernanceOptions
    @Option(help: "Photo (PNG or JPEG).") var photo: String
    @Option(help: "Consent record (v2).") var consent: String?
    @Option(help: "Use to authorise: train, render or reenact.") var scope: String
    @Option(name: .customLong("out"), help: "Aligned 150×150 face (PNG) written only when allowed.") var output: String?

    func run() throws {
        guard let s = ConsentScope(rawValue: scope) else {
            throw GovernanceError("--scope", "unknown scope '\(scope)' (allowed: train, render, reenact)")
        }
        let gate = Gate(directory: options.directory, models: FaceModelFiles(directory: options.models))
        let decision = gate.authorize(.photo(photo), consent: consent, scope: s, output: output) { approval, tmp in
            try approval.faces[0].chip.save(tmp)
        }
        guard decision.allowed else {
            FileHandle.standardError.write(Data("neo-train: refused: \(decision.reason)\n".utf8))
            throw ExitCode(Gate.refusalExitStatus)
        }
        print(decision.reason + (output.map { " → \($0)" } ?? ""))
    }
}

struct ConsentAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify an audit log's hash chain; report the first broken line.")
    @Argument(help: "Audit log (JSON lines).") var log: String

    func run() throws {
        if let broken = try AuditLog(path: log).verify() {
            throw GovernanceError(log, "line \(broken.line): \(broken.reason)")
        }
        let n = try AuditLog(path: log).entries().count
        print("\(log): chain intact, \(n) entries")
    }
}

struct ConsentDistances: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distances",
        abstract: "Identity-embedding distances over all pairs of faces in ROOT/<identity>/<image>, with error rates at the gate's thresholds.")
    @OptionGroup var options: GovernanceOptions
    @Argument(help: "Root folder with one sub-folder per identity.") var root: String
    @Option(name: .customLong("out"), help: "Folder for summary.json, histogram.csv, extremes.csv and images.csv.") var output: String
    @Flag(name: .customLong("all-pairs"), help: "Also write pairs.csv, one row per pair (large).") var allPairs = false

    func run() throws {
        let (analyzer, age) = try FaceModelCache.models(FaceModelFiles(directory: options.models))
        let survey = try DistanceSurvey.run(root: root, analyzer: analyzer, age: age)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        func put(_ name: String, _ text: String) throws {
            try AtomicFile.write(Data(text.utf8), to: (output as NSString).appendingPathComponent(name))
        }
        if allPairs { try put("pairs.csv", survey.pairsCSV) }
        try put("histogram.csv", survey.histogramCSV())
        try put("extremes.csv", survey.extremesCSV())
        try put("images.csv", survey.samplesCSV)
        let thresholds: [Float] = [0.4, 0.45, GatePolicy.consentMatchDistance, 0.55, GatePolicy.protectedMatchDistance, 0.65, 0.7]
        let rates = thresholds.map { survey.rates(threshold: $0) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try put("summary.json", String(decoding: try enc.encode(rates), as: UTF8.self))
        let usable = survey.samples.filter { $0.embedding != nil }.count
        print("\(survey.samples.count) images, \(usable) with exactly one face, \(survey.pairs.count) pairs")
        for r in rates {
            print(String(format: "threshold %.2f: false refusals %d/%d (%.4f), false accepts %d/%d (%.4f)",
                         Double(r.threshold), r.falseRefusals, r.samePairs, r.falseRefusalRate,
                         r.falseAccepts, r.differentPairs, r.falseAcceptRate))
        }
    }
}
