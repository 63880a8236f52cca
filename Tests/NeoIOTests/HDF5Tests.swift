import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

final class HDF5Tests: XCTestCase {
    func testDatasetsAttributesAndListingRoundTrip() throws {
        let dir = PythonCrossCheck.temporaryDirectory("h5basic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.h5").path
        let t3 = randn([2, 3, 4], seed: 1)
        let scalar = Tensor.scalar(2.5)
        do {
            let f = try HDF5File.create(path)
            try f.write(t3, at: "/g/h/t3")                      // intermediate groups created
            try f.write(scalar, at: "g/scalar")
            try f.write(t3.transpose(0, 2), at: "/g/transposed") // non-contiguous view is copied
            try f.write(Tensor.zeros([0, 5]), at: "/empty")
            try f.writeInt64([1, -2, Int64.max], at: "/ints")
            try f.writeUInt64([UInt64.max, 7], at: "/u64")
            try f.writeUInt8([0, 255, 9, 10], shape: [2, 2], at: "/bytes")
            try f.writeFloat64([0.1, 0.2], at: "/f64")
            try f.writeStrings(["héllo", "", "wörld"], at: "/names")
            try f.writeString("just one", at: "/one")
            try f.createGroup("/empty_group/inner")
            try f.setAttribute("s", .string("text ✓"), at: "/g/h/t3")
            try f.setAttribute("i", .int64(-42))
            try f.setAttribute("d", .double(1.0 / 3.0))
            try f.setAttribute("fa", .floats([1, 2.5, -3]))
            try f.setAttribute("ia", .int64s([4, 5]))
            try f.setAttribute("da", .doubles([]))
            try f.setAttribute("sa", .strings(["x", "yz"]))
            try f.setAttribute("i", .int64(43))                // replaces
            XCTAssertThrowsError(try f.write(t3, at: "/g/h/t3")) { XCTAssertTrue("\($0)".contains("already taken"), "\($0)") }
            try f.close()
        }
        let f = try HDF5File.open(path)
        XCTAssertFalse(f.isWritable)
        XCTAssertEqual(try f.readTensor(at: "/g/h/t3").toArray(), t3.toArray())
        XCTAssertEqual(try f.readTensor(at: "/g/h/t3").shape, [2, 3, 4])
        XCTAssertEqual(try f.readTensor(at: "/g/scalar").shape, [])
        XCTAssertEqual(try f.readTensor(at: "/g/scalar").item, 2.5)
        XCTAssertEqual(try f.readTensor(at: "/g/transposed").toArray(), t3.transpose(0, 2).toArray())
        XCTAssertEqual(try f.readTensor(at: "/empty").shape, [0, 5])
        XCTAssertEqual(try f.readInt64(at: "/ints").values, [1, -2, Int64.max])
        XCTAssertEqual(try f.readUInt64(at: "/u64").values, [UInt64.max, 7])
        let b = try f.readUInt8(at: "/bytes")
        XCTAssertEqual(b.values, [0, 255, 9, 10]); XCTAssertEqual(b.shape, [2, 2])
        XCTAssertEqual(try f.readFloat64(at: "/f64").values, [0.1, 0.2])
        XCTAssertEqual(try f.readStrings(at: "/names").values, ["héllo", "", "wörld"])
        XCTAssertEqual(try f.readString(at: "/one"), "just one")
        XCTAssertEqual(try f.readTensor(at: "/g/h/t3", rows: 1..<2).toArray(), Array(t3.toArray()[12..<24]))
        XCTAssertEqual(try f.attribute("s", at: "/g/h/t3"), .string("text ✓"))
        XCTAssertEqual(try f.attribute("i"), .int64(43))
        XCTAssertEqual(try f.attribute("d"), .double(1.0 / 3.0))
        XCTAssertEqual(try f.attribute("fa"), .floats([1, 2.5, -3]))
        XCTAssertEqual(try f.attribute("ia"), .int64s([4, 5]))
        XCTAssertEqual(try f.attribute("da"), .doubles([]))
        XCTAssertEqual(try f.attribute("sa"), .strings(["x", "yz"]))
        XCTAssertNil(try f.attribute("nope"))
        XCTAssertEqual(try f.attributeNames(), ["d", "da", "fa", "i", "ia", "sa"])
        XCTAssertEqual(try f.groups(in: "/"), ["empty_group", "g"])
        XCTAssertEqual(try f.datasets(in: "/"), ["bytes", "empty", "f64", "ints", "names", "one", "u64"])
        XCTAssertEqual(try f.allDatasets(under: "/g"), ["/g/h/t3", "/g/scalar", "/g/transposed"])
        XCTAssertEqual(try f.kind(at: "/empty_group/inner"), .group)
        XCTAssertNil(try f.kind(at: "/missing/deeper"))
        let info = try f.info(at: "/ints")
        XCTAssertEqual(info.elementType, .int64)
        XCTAssertEqual(info.shape, [3])
        XCTAssertNil(info.chunkShape)
        // Errors name the file and the object.
        XCTAssertThrowsError(try f.readTensor(at: "/g/nothing")) { XCTAssertEqual("\($0)", "\(path): no dataset '/g/nothing'") }
        XCTAssertThrowsError(try f.readTensor(at: "/names")) { XCTAssertTrue("\($0)".contains("'/names' holds string"), "\($0)") }
        XCTAssertThrowsError(try f.readInt64(at: "/f64")) { XCTAssertTrue("\($0)".contains("expected integers"), "\($0)") }
        XCTAssertThrowsError(try f.write(t3, at: "/x")) { XCTAssertTrue("\($0)".contains("read-only"), "\($0)") }
        XCTAssertThrowsError(try f.readTensor(at: "/g/h/t3", rows: 1..<3)) { XCTAssertTrue("\($0)".contains("outside"), "\($0)") }
        try f.close()
        XCTAssertThrowsError(try f.readTensor(at: "/g/h/t3")) { XCTAssertTrue("\($0)".contains("closed"), "\($0)") }
    }

    func testZstdCompressionShrinksAndRoundTrips() throws {
        let dir = PythonCrossCheck.temporaryDirectory("h5zstd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("z.h5").path
        // Compressible: a smooth ramp with repeats; incompressible: random normals.
        let ramp = Tensor((0..<(256 * 300)).map { Float($0 % 300) * 0.25 }, shape: [256, 300])
        let noise = randn([64, 33, 7], seed: 5)
        do {
            let f = try HDF5File.create(path)
            try f.write(ramp, at: "/ramp", options: .zstd(level: 5))
            try f.write(noise, at: "/noise", options: HDF5DatasetOptions(compression: .zstd(level: 1), chunkShape: [16, 33, 7]))
            try f.writeInt64((0..<1000).map { Int64($0 / 10) }, at: "/ints", options: .zstd())
            try f.write(Tensor.scalar(1), at: "/scalar", options: .zstd())   // scalars are stored plain
            XCTAssertThrowsError(try f.write(noise, at: "/bad", options: .zstd(level: 40))) { XCTAssertTrue("\($0)".contains("zstd level 40"), "\($0)") }
            try f.close()
        }
        let f = try HDF5File.open(path)
        let info = try f.info(at: "/ramp")
        XCTAssertEqual(info.filterIDs, [32015])
        XCTAssertNotNil(info.chunkShape)
        XCTAssertLessThan(info.storageBytes, 256 * 300 * 4 / 10, "ramp should compress at least 10×, stored \(info.storageBytes) bytes")
        XCTAssertEqual(try f.info(at: "/noise").chunkShape, [16, 33, 7])
        XCTAssertEqual(try f.readTensor(at: "/ramp").toArray(), ramp.toArray())
        XCTAssertEqual(try f.readTensor(at: "/noise").toArray(), noise.toArray())
        XCTAssertEqual(try f.readTensor(at: "/noise", rows: 10..<40).toArray(), noise.slice(dim: 0, start: 10, end: 40).toArray())
        XCTAssertEqual(try f.readInt64(at: "/ints").values, (0..<1000).map { Int64($0 / 10) })
        XCTAssertEqual(try f.info(at: "/scalar").filterIDs, [])
    }

    func testDefaultChunksKeepTrailingDimensions() throws {
        let dir = PythonCrossCheck.temporaryDirectory("h5chunk")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.h5").path
        let f = try HDF5File.create(path)
        try f.write(Tensor.zeros([1000, 512]), at: "/big", options: .zstd())
        let chunk = try XCTUnwrap(try f.info(at: "/big").chunkShape)
        XCTAssertEqual(chunk[1], 512)
        XCTAssertLessThanOrEqual(chunk[0] * chunk[1] * 4, 1 << 20)
        try f.close()
    }

    func testThreadsWritingAndReadingFilesConcurrently() throws {
        let dir = PythonCrossCheck.temporaryDirectory("h5threads")
        defer { try? FileManager.default.removeItem(at: dir) }
        // HDF5 calls are serialised inside NeoIO, so loaders and writers on several threads are safe.
        @Sendable func work(_ i: Int) throws {
            let path = dir.appendingPathComponent("t\(i).h5").path
            let values = (0..<5000).map { Float(($0 * (i + 1)) % 97) }
            for round in 0..<3 {
                let f = try HDF5File.create(path)
                try f.writeFloat32(values, shape: [50, 100], at: "/clips/\(round)/audio", options: .zstd(level: 1 + i))
                try f.setAttribute("round", .int64(Int64(round)), at: "/clips/\(round)")
                try f.close()
                let g = try HDF5File.open(path)
                XCTAssertEqual(try g.readFloat32(at: "/clips/\(round)/audio").values, values)
                XCTAssertEqual(try g.attribute("round", at: "/clips/\(round)"), .int64(Int64(round)))
                try g.close()
            }
        }
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            do { try work(i) } catch { XCTFail("thread \(i): \(error)") }
        }
    }

    func testOpeningGarbageNamesTheFile() throws {
        let dir = PythonCrossCheck.temporaryDirectory("h5bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.h5").path
        XCTAssertTrue(FileManager.default.createFile(atPath: junk, contents: Data(repeating: 7, count: 4096)))
        XCTAssertThrowsError(try HDF5File.open(junk)) {
            XCTAssertTrue("\($0)".hasPrefix("\(junk): cannot open as HDF5"), "\($0)")
        }
        XCTAssertThrowsError(try HDF5File.open(dir.appendingPathComponent("none.h5").path)) {
            XCTAssertTrue("\($0)".contains("no such file"), "\($0)")
        }
    }
}
