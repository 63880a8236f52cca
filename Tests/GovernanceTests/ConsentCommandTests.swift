import Foundation
import Governance
import XCTest

/// `neo-train consent …` end to end: keygen, protect, sign, verify, revoke, check, audit.
final class ConsentCommandTests: XCTestCase {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    private func neo(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("neo-train")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func testCommandsEndToEnd() throws {
        try Fixture.requireModels()
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dir = folder.appendingPathComponent("gov").path
        let common = ["--dir", dir, "--models", Fixture.models.directory]
        let rec = folder.appendingPathComponent("hopper.json").path
        let out = folder.appendingPathComponent("face.png").path

        var r = try neo(["consent", "keygen"] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try neo(["consent", "keygen"] + common)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("already exists"), r.stderr)
        r = try neo(["consent", "protect", "--photo", Fixture.collins, "--name", "Eileen Collins"] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try neo(["consent", "sign", "--photo", Fixture.hopper, "--subject", "hopper", "--scopes", "render,train",
                     "--birth-date", "1906-12-09", "--expires", "2099-01-01T00:00:00Z", "--out", rec] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try neo(["consent", "sign", "--photo", Fixture.hopper, "--subject", "x", "--scopes", "paint",
                     "--birth-date", "1906-12-09", "--expires", "2099-01-01T00:00:00Z", "--out", rec + "2"] + common)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("unknown scope 'paint'"), r.stderr)
        r = try neo(["consent", "verify", rec] + common)
        XCTAssertEqual(r.status, 0, r.stderr)

        // Refused: the protected identity. Exit 3, one line, no output file.
        r = try neo(["consent", "check", "--photo", Fixture.collins, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: refused: "), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        // Allowed.
        r = try neo(["consent", "check", "--photo", Fixture.hopper, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))
        try FileManager.default.removeItem(atPath: out)

        // Revoked, then refused.
        let id = try ConsentRecordV2.read(rec).id
        r = try neo(["consent", "revoke", "--id", id, "--reason", "withdrawn"] + common)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try neo(["consent", "verify", rec] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        r = try neo(["consent", "check", "--photo", Fixture.hopper, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        XCTAssertTrue(r.stderr.contains("revoked"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        // The audit log holds three decisions and verifies; after an edit it reports the line.
        let log = (dir as NSString).appendingPathComponent(AuditLog.fileName)
        r = try neo(["consent", "audit", log])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("3 entries"), r.stdout)
        var lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.remove(at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        r = try neo(["consent", "audit", log])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("line 2"), r.stderr)
    }
}
