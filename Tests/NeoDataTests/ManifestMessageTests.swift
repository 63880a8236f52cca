import Foundation
import NeoData
import NeoTestSupport
import XCTest

/// A broken JSON manifest is reported with its line and column (issue 21, item 11).
final class ManifestMessageTests: XCTestCase {
    func testBadJSONManifestNamesLineAndColumn() throws {
        let dir = PythonCrossCheck.temporaryDirectory("manifest-msg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.json").path
        try "[\n  {\"clip\": \"a\", \"identity\": \"x\",\n   \"emotion\": }\n]\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DataImporter.readManifest(path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("\(path): not valid JSON: line 3, column 15"), text)
            XCTAssertFalse(text.contains("around character"), text)
        }
    }
}
