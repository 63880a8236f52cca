import Foundation
import Governance
import NeoTestSupport
import XCTest

/// `neo-train consent …` end to end: keygen, protect, sign, verify, revoke, check, audit.
final class ConsentCommandTests: XCTestCase {
    private func neo(_ args: [String]) -> (status: Int32, output: String) {
        PythonCrossCheck.run(Bundle.main.bundleURL.appendingPathComponent("neo-train").path, args)
    }

    func testCommandsEndToEnd() throws {
        try Fixture.requireModels()
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dir = folder.appendingPathComponent("gov").path
        let common = ["--dir", dir, "--models", Fixture.models.directory]
        let rec = folder.appendingPathComponent("hopper.json").path
        let out = folder.appendingPathComponent("face.png").path

        var r = neo(["consent", "keygen"] + common)
        XCTAssertEqual(r.status, 0, r.output)
        r = neo(["consent", "keygen"] + common)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("already exists"), r.output)
        r = neo(["consent", "protect", "--photo", Fixture.collins, "--name", "Eileen Collins"] + common)
        XCTAssertEqual(r.status, 0, r.output)
        r = neo(["consent", "sign", "--photo", Fixture.hopper, "--subject", "hopper", "--scopes", "render,train",
                     "--birth-date", "1906-12-09", "--expires", "2099-01-01T00:00:00Z", "--out", rec] + common)
        XCTAssertEqual(r.status, 0, r.output)
        r = neo(["consent", "sign", "--photo", Fixture.hopper, "--subject", "x", "--scopes", "paint",
                     "--birth-date", "1906-12-09", "--expires", "2099-01-01T00:00:00Z", "--out", rec + "2"] + common)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("unknown scope 'paint'"), r.output)
        r = neo(["consent", "verify", rec] + common)
        XCTAssertEqual(r.status, 0, r.output)

        // Refused: the protected identity. Exit 3, one line, no output file.
        r = neo(["consent", "check", "--photo", Fixture.collins, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        XCTAssertTrue(r.output.hasPrefix("neo-train: refused: "), r.output)
        XCTAssertEqual(r.output.split(separator: "\n").count, 1, "one line: \(r.output)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        // Allowed.
        r = neo(["consent", "check", "--photo", Fixture.hopper, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))
        try FileManager.default.removeItem(atPath: out)

        // Revoked, then refused.
        let id = try ConsentRecordV2.read(rec).id
        r = neo(["consent", "revoke", "--id", id, "--reason", "withdrawn"] + common)
        XCTAssertEqual(r.status, 0, r.output)
        r = neo(["consent", "verify", rec] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        r = neo(["consent", "check", "--photo", Fixture.hopper, "--consent", rec, "--scope", "render", "--out", out] + common)
        XCTAssertEqual(r.status, Gate.refusalExitStatus)
        XCTAssertTrue(r.output.contains("revoked"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))

        // The audit log holds three decisions and verifies; after an edit it reports the line.
        let log = (dir as NSString).appendingPathComponent(AuditLog.fileName)
        r = neo(["consent", "audit", log])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("3 entries"), r.output)
        var lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.remove(at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        r = neo(["consent", "audit", log])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("line 2"), r.output)
    }
}
