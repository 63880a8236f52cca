import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// A checkpoint exercising every group: parameters with list indices in their paths, scalars,
/// rank-3 tensors, two optimizer slots and scalars, EMA, RNG states, loader position, metadata.
func sampleCheckpoint(step: Int = 40, seed: UInt64 = 1) -> Checkpoint {
    var s = seed &* 100
    func r(_ shape: [Int]) -> Tensor { s &+= 1; return randn(shape, seed: s) }
    let model: [String: Tensor] = [
        "embed.weight": r([11, 8]),
        "blocks.0.attn.qkv.weight": r([24, 8]),
        "blocks.0.attn.qkv.bias": r([24]),
        "blocks.3.attn.qkv.weight": r([24, 8]),
        "blocks.3.mlp.0.weight": r([16, 8]),
        "conv.kernel": r([4, 2, 3]),
        "head.scale": Tensor.scalar(0.75),
        "layers.0.1.weight": r([2, 2]),
    ]
    var opt = Checkpoint.OptimizerState()
    opt.moments["exp_avg"] = model.mapValues { Tensor.full($0.shape, 0.01) + $0 * 0.5 }
    opt.moments["exp_avg_sq"] = model.mapValues { $0 * $0 }
    opt.scalars = ["step": Double(step), "group0.lr": 3e-4, "group1.lr": 1.5e-5]
    return Checkpoint(
        step: step, modelKind: "toy-regression",
        recipe: "# toy\n[model]\nkind = \"toy-regression\"\nwidth = 8\n[train]\nlr = 3e-4 # ünïcode ✓\n",
        createdAt: Date(timeIntervalSince1970: 1_750_000_000.25), metric: nil,
        metadata: ["git": "abc123", "host": "test machine", "note": "multi\nline"],
        model: model, optimizer: opt, ema: model.mapValues { $0 * 0.9 },
        rng: ["init": RNGState(seed: 7, counter: 0), "dropout": RNGState(seed: UInt64.max, counter: 12345), "loader.shuffle": RNGState(seed: 3, counter: 99)],
        loader: ["epoch": 2, "index": 17, "shuffle_seed": -5])
}

func assertSameTensors(_ a: [String: Tensor], _ b: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Set(a.keys), Set(b.keys), file: file, line: line)
    for (k, t) in a {
        guard let u = b[k] else { continue }
        XCTAssertEqual(t.shape, u.shape, k, file: file, line: line)
        XCTAssertEqual(t.toArray(), u.toArray(), k, file: file, line: line)
    }
}

func assertSameCheckpoint(_ a: Checkpoint, _ b: Checkpoint, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.step, b.step, file: file, line: line)
    XCTAssertEqual(a.modelKind, b.modelKind, file: file, line: line)
    XCTAssertEqual(a.recipe, b.recipe, file: file, line: line)
    XCTAssertEqual(a.createdAt.timeIntervalSince1970, b.createdAt.timeIntervalSince1970, accuracy: 1e-3, file: file, line: line)
    XCTAssertEqual(a.metric, b.metric, file: file, line: line)
    XCTAssertEqual(a.metadata, b.metadata, file: file, line: line)
    assertSameTensors(a.model, b.model, file: file, line: line)
    assertSameTensors(a.ema, b.ema, file: file, line: line)
    XCTAssertEqual(Set(a.optimizer.moments.keys), Set(b.optimizer.moments.keys), file: file, line: line)
    for (slot, d) in a.optimizer.moments { assertSameTensors(d, b.optimizer.moments[slot] ?? [:], file: file, line: line) }
    XCTAssertEqual(a.optimizer.scalars, b.optimizer.scalars, file: file, line: line)
    XCTAssertEqual(a.rng, b.rng, file: file, line: line)
    XCTAssertEqual(a.loader, b.loader, file: file, line: line)
}

/// Byte offset of the first occurrence of `needle` in `hay`.
func firstOffset(of needle: [UInt8], in hay: [UInt8]) -> Int? {
    guard needle.count <= hay.count else { return nil }
    outer: for i in 0...(hay.count - needle.count) {
        for j in 0..<needle.count where hay[i + j] != needle[j] { continue outer }
        return i
    }
    return nil
}

final class CheckpointTests: XCTestCase {
    func testCRC32MatchesTheStandardCheckValueAndABytewiseReference() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)   // the CRC-32/ISO-HDLC check value
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        // Slicing-by-8 against the one-bit-at-a-time definition, for every length and start offset
        // around the 8-byte blocks.
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }
        func reference(_ b: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for x in b { c ^= UInt32(x); for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } }
            return ~c
        }
        for start in 0..<9 {
            for end in stride(from: start, through: 300, by: 7) {
                XCTAssertEqual(CRC32.checksum(bytes[start..<end]), reference(bytes[start..<end]), "\(start)..<\(end)")
            }
        }
        // update() continues a running checksum.
        let whole = CRC32.checksum(bytes)
        let part = bytes.withUnsafeBytes { CRC32.update(CRC32.checksum($0.baseAddress!, count: 100), $0.baseAddress! + 100, count: 200) }
        XCTAssertEqual(part, whole)
    }

    func testParameterPathRuleIsReversible() throws {
        let cases = [
            ("blocks.3.attn.qkv.weight", "blocks.3/attn/qkv/weight"),
            ("embed.weight", "embed/weight"),
            ("weight", "weight"),
            ("0.weight", "0/weight"),
            ("layers.0.1.weight", "layers.0.1/weight"),
            ("blocks.12.mlp.fc1.bias", "blocks.12/mlp/fc1/bias"),
            ("a1.b2", "a1/b2"),
        ]
        for (dotted, h5) in cases {
            XCTAssertEqual(try ParameterPath.hdf5(dotted), h5)
            XCTAssertEqual(ParameterPath.dotted(h5), dotted)
        }
        for bad in ["", "a..b", ".a", "a.", "a/b"] {
            XCTAssertThrowsError(try ParameterPath.hdf5(bad), bad)
        }
    }

    func testRoundTripWithAllGroupsPlainAndCompressed() throws {
        let dir = PythonCrossCheck.temporaryDirectory("ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = sampleCheckpoint()
        c.metric = 0.125
        for (name, compression) in [("plain.h5", HDF5Compression.none), ("zstd.h5", .zstd(level: 3))] {
            let path = dir.appendingPathComponent(name).path
            try c.write(to: path, compression: compression)
            let back = try Checkpoint.read(from: path)
            assertSameCheckpoint(c, back)
            XCTAssertEqual(back.sourcePath, path)

            // The documented layout, seen through the plain HDF5 API.
            let f = try HDF5File.open(path)
            XCTAssertEqual(try f.groups(in: "/"), ["ema", "loader", "metadata", "model", "optimizer", "rng"])
            XCTAssertEqual(try f.attribute("format"), .string("neo-train-checkpoint"))
            XCTAssertEqual(try f.attribute("format_version"), .int64(1))
            XCTAssertEqual(try f.attribute("step"), .int64(40))
            XCTAssertEqual(try f.attribute("model_kind"), .string("toy-regression"))
            XCTAssertEqual(try f.attribute("recipe"), .string(c.recipe))
            XCTAssertEqual(try f.attribute("metric"), .double(0.125))
            XCTAssertEqual(try f.attribute("git", at: "/metadata"), .string("abc123"))
            XCTAssertEqual(try f.kind(at: "/model/blocks.3/attn/qkv/weight"), .dataset)
            XCTAssertEqual(try f.kind(at: "/model/layers.0.1/weight"), .dataset)
            XCTAssertEqual(try f.kind(at: "/optimizer/moments/exp_avg_sq/blocks.3/attn/qkv/weight"), .dataset)
            XCTAssertEqual(try f.readFloat64(at: "/optimizer/scalars/group0.lr").values, [3e-4])
            XCTAssertEqual(try f.readUInt64(at: "/rng/dropout").values, [UInt64.max, 12345])
            XCTAssertEqual(try f.readInt64(at: "/loader/shuffle_seed").values, [-5])
            XCTAssertEqual(try f.info(at: "/model/embed/weight").filterIDs, compression == .none ? [] : [32015])
            for p in try f.allDatasets() {
                XCTAssertNotNil(try f.attribute("crc32", at: p)?.int64Value, "\(p) has no checksum")
            }
            try f.close()

            let info = try Checkpoint.info(of: path)
            XCTAssertEqual(info.step, 40)
            XCTAssertEqual(info.parameterCount, c.model.values.reduce(0) { $0 + $1.count })
            XCTAssertTrue(info.groups.contains("/model/blocks.3/attn/qkv"))
        }
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["plain.h5", "zstd.h5"])
    }

    func testEmptyCheckpointRoundTrips() throws {
        let pathFolder = PythonCrossCheck.temporaryDirectory("ckptempty")
        defer { try? FileManager.default.removeItem(at: pathFolder) }
        let path = pathFolder.appendingPathComponent("e.h5").path
        let c = Checkpoint(step: 0, modelKind: "nothing", recipe: "")
        try c.write(to: path)
        assertSameCheckpoint(c, try Checkpoint.read(from: path))
    }

    func testConflictingAndBadNamesAreRefusedBeforeWriting() throws {
        let dir = PythonCrossCheck.temporaryDirectory("ckptnames")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.h5").path
        var c = Checkpoint(step: 1, model: ["a.b": Tensor.zeros([1]), "a.b.c": Tensor.zeros([1])])
        XCTAssertThrowsError(try c.write(to: path)) {
            XCTAssertTrue("\($0)".contains("'a.b' and 'a.b.c' cannot both be stored"), "\($0)")
        }
        c.model = ["ok": Tensor.zeros([1])]
        c.loader = ["bad/name": 1]
        XCTAssertThrowsError(try c.write(to: path)) { XCTAssertTrue("\($0)".contains("loader name 'bad/name'"), "\($0)") }
        // A failed write leaves nothing behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testCorruptDatasetIsNamed() throws {
        let dir = PythonCrossCheck.temporaryDirectory("ckptcrc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.h5").path
        let c = sampleCheckpoint()
        try c.write(to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let target = c.model["blocks.3.attn.qkv.weight"]!.toArray()
        let needle = target.withUnsafeBytes { Array($0.prefix(32)) }
        let at = try XCTUnwrap(firstOffset(of: needle, in: bytes), "dataset bytes not found in the file")
        bytes[at + 21] ^= 0x5a
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(from: path)) {
            XCTAssertTrue("\($0)".contains("checksum mismatch in dataset '/model/blocks.3/attn/qkv/weight'"), "\($0)")
            XCTAssertTrue("\($0)".hasPrefix(path), "\($0)")
        }
        // Corrupting an integer dataset is caught the same way.
        try c.write(to: path)
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let seedBytes: [UInt8] = withUnsafeBytes(of: UInt64(3).littleEndian) { Array($0) } + withUnsafeBytes(of: UInt64(99).littleEndian) { Array($0) }
        let at2 = try XCTUnwrap(firstOffset(of: seedBytes, in: bytes))
        bytes[at2 + 8] = 98
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(from: path)) {
            XCTAssertTrue("\($0)".contains("checksum mismatch in dataset '/rng/loader.shuffle'"), "\($0)")
        }
    }

    func testCorruptCompressedDatasetIsNamed() throws {
        let dir = PythonCrossCheck.temporaryDirectory("ckptcrcz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("z.h5").path
        let c = Checkpoint(step: 3, modelKind: "k", recipe: "", model: ["big.weight": randn([64, 64], seed: 9)])
        try c.write(to: path, compression: .zstd(level: 3))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]  // zstd frame magic, little-endian
        let at = try XCTUnwrap(firstOffset(of: magic, in: bytes))
        bytes[at + 200] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.read(from: path)) {
            // Either the zstd decoder refuses the chunk or the checksum catches it; both name the dataset.
            XCTAssertTrue("\($0)".contains("'/model/big/weight'"), "\($0)")
        }
    }

    func testNotACheckpointAndNewerVersionAreRefused() throws {
        let dir = PythonCrossCheck.temporaryDirectory("ckptfmt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("other.h5").path
        let f = try HDF5File.create(path)
        try f.write(Tensor.zeros([2]), at: "/x")
        try f.close()
        XCTAssertThrowsError(try Checkpoint.read(from: path)) { XCTAssertTrue("\($0)".contains("not a NEO-train checkpoint"), "\($0)") }
        let newer = dir.appendingPathComponent("newer.h5").path
        try sampleCheckpoint().write(to: newer)
        let g = try HDF5File.open(newer, writable: true)
        try g.setAttribute("format_version", .int64(99))
        try g.close()
        XCTAssertThrowsError(try Checkpoint.read(from: newer)) { XCTAssertTrue("\($0)".contains("format version 99"), "\($0)") }
    }

    func testLoadReportsEveryMissingUnexpectedAndMisShapedParameter() throws {
        let pathFolder = PythonCrossCheck.temporaryDirectory("ckptload")
        defer { try? FileManager.default.removeItem(at: pathFolder) }
        let path = pathFolder.appendingPathComponent("c.h5").path
        try sampleCheckpoint().write(to: path)
        let c = try Checkpoint.read(from: path)
        var expected = c.model.mapValues(\.shape)
        expected["new.head.weight"] = [3, 3]           // missing
        expected["extra.bias"] = [1]                    // missing
        expected.removeValue(forKey: "conv.kernel")     // unexpected
        expected["embed.weight"] = [8, 11]              // mis-shaped
        expected["head.scale"] = [1]                    // mis-shaped (scalar vs [1])
        XCTAssertThrowsError(try c.loadParameters(into: expected)) { e in
            let text = "\(e)"
            for name in ["new.head.weight", "extra.bias", "conv.kernel", "embed.weight: checkpoint [11, 8], model [8, 11]", "head.scale: checkpoint [], model [1]"] {
                XCTAssertTrue(text.contains(name), "missing \(name) in: \(text)")
            }
            XCTAssertTrue(text.contains("2 missing") && text.contains("1 unexpected") && text.contains("2 mis-shaped"), text)
            XCTAssertTrue(text.hasPrefix(path), text)
        }
        let (params, report) = try c.loadParameters(into: expected, strict: false)
        XCTAssertEqual(report.missing, ["extra.bias", "new.head.weight"])
        XCTAssertEqual(report.unexpected, ["conv.kernel"])
        XCTAssertEqual(report.misShaped.map(\.name), ["embed.weight", "head.scale"])
        XCTAssertEqual(report.skipped, ["conv.kernel", "embed.weight", "head.scale"])
        XCTAssertEqual(Set(params.keys), Set(["blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.3.attn.qkv.weight", "blocks.3.mlp.0.weight", "layers.0.1.weight"]))
        XCTAssertEqual(params["blocks.3.attn.qkv.weight"]!.toArray(), c.model["blocks.3.attn.qkv.weight"]!.toArray())

        // In place: an exact match copies every value; the EMA section is selectable.
        let targets = c.model.mapValues { Tensor.zeros($0.shape) }
        let r = try c.loadParameters(into: targets, from: .ema)
        XCTAssertTrue(r.isExact)
        for (k, t) in targets { XCTAssertEqual(t.toArray(), c.ema[k]!.toArray(), k) }
        // Partial in place leaves the others untouched.
        var partial = c.model.mapValues { Tensor.full($0.shape, -1) }
        partial["embed.weight"] = Tensor.full([8, 11], -1)
        let r2 = try c.loadParameters(into: partial, strict: false)
        XCTAssertEqual(r2.misShaped.map(\.name), ["embed.weight"])
        XCTAssertEqual(partial["embed.weight"]!.toArray(), [Float](repeating: -1, count: 88))
        XCTAssertEqual(partial["conv.kernel"]!.toArray(), c.model["conv.kernel"]!.toArray())
    }
}
