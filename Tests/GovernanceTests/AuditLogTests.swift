import Foundation
import Governance
import XCTest

/// The audit chain: intact logs verify; a changed, removed or reordered line is reported at the
/// first line where the chain breaks.
final class AuditLogTests: XCTestCase {
    private func makeLog(_ lines: Int) throws -> (AuditLog, URL) {
        let folder = try Fixture.temporaryFolder()
        let log = AuditLog(path: folder.appendingPathComponent("audit.log").path)
        for i in 0..<lines {
            try log.append(.init(time: "2026-12-05T20:00:0\(i)Z", decision: i % 2 == 0 ? "refused" : "allowed",
                                 reason: "case \(i)", scope: "render", inputs: [String(repeating: "\(i)", count: 64)],
                                 consent: i % 2 == 0 ? nil : "c-\(i)", output: nil))
        }
        return (log, folder)
    }

    private func lines(_ log: AuditLog) throws -> [String] {
        try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func write(_ lines: [String], _ log: AuditLog) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: log.path, atomically: true, encoding: .utf8)
    }

    func testIntactChainVerifiesAndLinksEachLineToThePrevious() throws {
        let (log, folder) = try makeLog(5)
        defer { try? FileManager.default.removeItem(at: folder) }
        XCTAssertNil(try log.verify())
        let e = try log.entries()
        XCTAssertEqual(e.map(\.seq), [1, 2, 3, 4, 5])
        XCTAssertEqual(e[0].prev, AuditLog.genesis)
        let text = try lines(log)
        XCTAssertEqual(e[3].prev, AuditLog.lineHash(Data(text[2].utf8)))
    }

    func testChangedLineIsReported() throws {
        let (log, folder) = try makeLog(5)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text[2] = text[2].replacingOccurrences(of: "\"refused\"", with: "\"allowed\"")
        try write(text, log)
        XCTAssertEqual(try log.verify()?.line, 3)
        // Recomputing the changed line's own hash still breaks the next line's link.
        let body = text[2][..<text[2].range(of: ",\"hash\":\"")!.lowerBound]
        text[2] = body + ",\"hash\":\"\(sha256Hex(Data(body.utf8)))\"}"
        try write(text, log)
        let broken = try XCTUnwrap(try log.verify())
        XCTAssertEqual(broken.line, 4)
        XCTAssertTrue(broken.reason.contains("prev hash"), broken.reason)
    }

    func testRemovedLineIsReported() throws {
        let (log, folder) = try makeLog(5)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text.remove(at: 1)
        try write(text, log)
        XCTAssertEqual(try log.verify()?.line, 2)
    }

    func testReorderedLinesAreReported() throws {
        let (log, folder) = try makeLog(5)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text.swapAt(2, 3)
        try write(text, log)
        XCTAssertEqual(try log.verify()?.line, 3)
    }

    func testAppendAfterTamperingKeepsTheBreakVisible() throws {
        let (log, folder) = try makeLog(3)
        defer { try? FileManager.default.removeItem(at: folder) }
        var text = try lines(log)
        text.remove(at: 0)
        try write(text, log)
        try log.append(.init(time: "2026-12-05T21:00:00Z", decision: "refused", reason: "later", scope: "train",
                             inputs: [], consent: nil, output: nil))
        XCTAssertEqual(try log.verify()?.line, 1)
    }
}
