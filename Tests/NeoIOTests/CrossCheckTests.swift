import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// Our files read by Python's h5py/hdf5plugin and safetensors, and theirs read by us.
final class H5pyCrossCheckTests: XCTestCase {
    func testCheckpointsOpenInH5pyWithTheDocumentedLayout() throws {
        guard PythonCrossCheck.available(["numpy", "h5py", "hdf5plugin"]) else { throw XCTSkip("h5py or hdf5plugin not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("h5py")
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = sampleCheckpoint(step: 1234, seed: 4)
        c.metric = 0.3125
        let plain = dir.appendingPathComponent("plain.h5").path
        let zstd = dir.appendingPathComponent("zstd.h5").path
        try c.write(to: plain)
        try c.write(to: zstd, compression: .zstd(level: 9))

        var tensors: [String: [String: String]] = [:]
        func dump(_ section: String, _ dict: [String: Tensor]) throws {
            var m: [String: String] = [:]
            for (name, t) in dict {
                let p = dir.appendingPathComponent("\(section.replacingOccurrences(of: "/", with: "_"))-\(name).npy").path
                try NPY.write(t, to: p)
                m[name] = p
            }
            tensors[section] = m
        }
        try dump("model", c.model)
        try dump("ema", c.ema)
        for (slot, d) in c.optimizer.moments { try dump("optimizer/moments/\(slot)", d) }
        let expect: [String: Any] = [
            "step": c.step, "model_kind": c.modelKind, "recipe": c.recipe, "metric": c.metric!,
            "metadata": c.metadata, "tensors": tensors, "scalars": c.optimizer.scalars,
            "rng": c.rng.mapValues { [NSNumber(value: $0.seed), NSNumber(value: $0.counter)] },
            "loader": c.loader.mapValues { NSNumber(value: $0) },
            "compressed": ["plain.h5": false, "zstd.h5": true],
        ]
        let expectPath = dir.appendingPathComponent("expect.json").path
        try JSONSerialization.data(withJSONObject: expect).write(to: URL(fileURLWithPath: expectPath))
        let r = PythonCrossCheck.runScript("io_h5py_check.py", ["verify", expectPath, plain, zstd])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("OK h5py"), r.output)
    }

    func testReadsFilesCompressedByHdf5plugin() throws {
        guard PythonCrossCheck.available(["numpy", "h5py", "hdf5plugin"]) else { throw XCTSkip("h5py or hdf5plugin not installed") }
        let pathFolder = PythonCrossCheck.temporaryDirectory("h5pyz")
        defer { try? FileManager.default.removeItem(at: pathFolder) }
        let path = pathFolder.appendingPathComponent("theirs.h5").path
        let r = PythonCrossCheck.runScript("io_h5py_check.py", ["write-zstd", path])
        XCTAssertEqual(r.status, 0, r.output)
        let f = try HDF5File.open(path)
        XCTAssertEqual(try f.info(at: "/audio/ramp").filterIDs, [32015])
        XCTAssertEqual(try f.readTensor(at: "/audio/ramp").toArray(), (0..<(64 * 50)).map { Float($0 % 50) * 0.5 })
        XCTAssertEqual(try f.readTensor(at: "/audio/ramp", rows: 20..<37).shape, [17, 50])
        XCTAssertEqual(try f.readInt64(at: "/ints").values, (0..<500).map { Int64($0 / 3) })
        XCTAssertEqual(try f.readFloat64(at: "/f64").values.count, 11)
        XCTAssertEqual(try f.readFloat64(at: "/f64").values.last, 1)
        XCTAssertEqual(try f.attribute("clip_id"), .string("clip-0001"))
        XCTAssertEqual(try f.attribute("count"), .int64(3))
        XCTAssertEqual(try f.attribute("rate"), .double(16000.5))
        XCTAssertEqual(try f.attribute("scale", at: "/audio/ramp"), .floats([1.5, 2.5]))
    }
}

final class SafeTensorsCrossCheckTests: XCTestCase {
    func testOursLoadInPythonSafetensors() throws {
        guard PythonCrossCheck.available(["numpy", "safetensors"]) else { throw XCTSkip("safetensors not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("stpy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tensors: [String: Tensor] = [
            "encoder.conv1.weight": randn([4, 3, 5], seed: 1),
            "encoder.blocks.0.attn.query.bias": randn([7], seed: 2),
            "scalar": Tensor.scalar(-2.5),
            "empty": Tensor.zeros([0, 3]),
            "transposed": randn([3, 6], seed: 3).transpose(0, 1),
            "ünï \"quoted\"": randn([2], seed: 4),
        ]
        let metadata = ["format": "pt", "note": "line1\nline2 \"q\" \\ ✓"]
        let path = dir.appendingPathComponent("ours.safetensors").path
        try SafeTensors.write(tensors, metadata: metadata, to: path)
        var refs: [String: String] = [:]
        for (i, (name, t)) in tensors.enumerated() {
            let p = dir.appendingPathComponent("ref\(i).npy").path
            try NPY.write(t, to: p)
            refs[name] = p
        }
        let expectPath = dir.appendingPathComponent("expect.json").path
        try JSONSerialization.data(withJSONObject: ["tensors": refs, "metadata": metadata]).write(to: URL(fileURLWithPath: expectPath))
        let r = PythonCrossCheck.runScript("io_safetensors_check.py", ["verify", path, expectPath])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("OK"), r.output)
    }

    func testPythonWrittenF32F16BF16LoadInOurs() throws {
        guard PythonCrossCheck.available(["numpy", "safetensors"]) else { throw XCTSkip("safetensors not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("stpyw")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The script imports torch itself (slow to import) and exits 3 when it is missing.
        let r = PythonCrossCheck.runScript("io_safetensors_check.py", ["write", dir.path])
        if r.status == 3 { throw XCTSkip("torch not installed") }
        XCTAssertEqual(r.status, 0, r.output)
        for dtype in ["F32", "F16", "BF16"] {
            let file = try SafeTensorsFile(path: dir.appendingPathComponent("\(dtype).safetensors").path)
            XCTAssertEqual(file.metadata, ["dtype": dtype, "writer": "torch"])
            XCTAssertTrue(file.entries.allSatisfy { $0.dtype == dtype }, "\(file.entries)")
            let ours = try file.tensors()
            XCTAssertEqual(ours.count, 4)
            for (name, t) in ours {
                // Python wrote the exact Float32 values of each tensor beside the file.
                let want = try NPY.read(dir.appendingPathComponent("\(dtype)-\(name).npy").path)
                XCTAssertEqual(t.shape, want.shape, "\(dtype) \(name)")
                XCTAssertEqual(t.toArray(), want.toArray(), "\(dtype) \(name)")
            }
        }
    }

    func testReferenceReaderAlsoRefusesOurMalformedFiles() throws {
        guard PythonCrossCheck.available(["numpy", "safetensors"]) else { throw XCTSkip("safetensors not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("stbad")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Every malformed file of the Swift malformed-file test is also refused by the reference
        // implementation, so our checks are not stricter or looser than the format.
        var paths: [String] = []
        for (i, (_, data)) in SafeTensorsTests.malformedFiles().enumerated() {
            let p = dir.appendingPathComponent("bad\(i).safetensors").path
            try data.write(to: URL(fileURLWithPath: p))
            paths.append(p)
        }
        let r = PythonCrossCheck.runScript("io_safetensors_check.py", ["reject"] + paths)
        XCTAssertEqual(r.status, 0, r.output)
    }
}
