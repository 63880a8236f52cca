import Foundation
import XCTest
import NeoTestSupport
import NeoData

/// Synthetic corpora shared by the tests of one process (each is generated once).
final class TestCorpus: @unchecked Sendable {
    static let shared = TestCorpus()
    private let lock = NSLock()
    private var folders: [String: String] = [:]
    private let root = PythonCrossCheck.temporaryDirectory("data-fixtures")

    private init() {
        // The fixtures live until the test bundle finishes.
        let cleaner = FixtureCleaner(root)
        XCTestObservationCenter.shared.addTestObserver(cleaner)
    }

    /// A dataset folder for (identities, minutes, seed); do not modify it (copy first).
    func folder(identities: Int, minutes: Double, seed: UInt64) throws -> String {
        lock.lock(); defer { lock.unlock() }
        let key = "\(identities)-\(minutes)-\(seed)"
        if let f = folders[key] { return f }
        let out = root.appendingPathComponent(key).path
        _ = try SyntheticPerformer.synthesize(identities: identities, minutes: minutes, seed: seed, out: out)
        folders[key] = out
        return out
    }

    /// A private copy of a fixture that a test may change.
    func copy(of folder: String, tag: String) throws -> String {
        let dst = PythonCrossCheck.temporaryDirectory(tag).appendingPathComponent("ds").path
        try FileManager.default.copyItem(atPath: folder, toPath: dst)
        return dst
    }
}

final class FixtureCleaner: NSObject, XCTestObservation, @unchecked Sendable {
    let root: URL
    init(_ root: URL) { self.root = root }
    func testBundleDidFinish(_ testBundle: Bundle) { try? FileManager.default.removeItem(at: root) }
}
