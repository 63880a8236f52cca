import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

final class NPYTests: XCTestCase {
    func testRoundTripAndAtomicWrite() throws {
        let dir = PythonCrossCheck.temporaryDirectory("npy")
        let path = dir.appendingPathComponent("m.npy").path
        let t = randn([5, 70], seed: 3)
        try NPY.write(t, to: path)
        let back = try NPY.read(path)
        XCTAssertEqual(back.shape, [5, 70])
        XCTAssertEqual(back.toArray(), t.toArray())
        // No temporary file is left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.npy"])
    }

    func testBadFilesGiveNamedErrors() throws {
        let dir = PythonCrossCheck.temporaryDirectory("npybad")
        let junk = dir.appendingPathComponent("junk.npy").path
        XCTAssertTrue(FileManager.default.createFile(atPath: junk, contents: Data("hello".utf8)))
        XCTAssertThrowsError(try NPY.read(junk)) { XCTAssertTrue("\($0)".contains("junk.npy: not a .npy file"), "\($0)") }
        XCTAssertThrowsError(try NPY.read(dir.appendingPathComponent("missing.npy").path)) { XCTAssertTrue("\($0)".contains("cannot read"), "\($0)") }
        var full = NPY.encode(randn([4, 3], seed: 1))
        full.removeLast(8)
        let cut = dir.appendingPathComponent("cut.npy").path
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: full))
        XCTAssertThrowsError(try NPY.read(cut)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
    }

    func testReadsNumpyWrittenFile() throws {
        guard PythonCrossCheck.available(["numpy"]) else { throw XCTSkip("numpy not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("npypy")
        let path = dir.appendingPathComponent("a.npy").path
        let r = PythonCrossCheck.run(PythonCrossCheck.python()!, ["-c", "import numpy as np; np.save('\(path)', np.arange(24, dtype=np.float64).reshape(2,3,4) * 0.5)"])
        XCTAssertEqual(r.status, 0, r.output)
        let t = try NPY.read(path)
        XCTAssertEqual(t.shape, [2, 3, 4])
        XCTAssertEqual(t.toArray(), (0..<24).map { Float($0) * 0.5 })
    }
}
