import Foundation
import XCTest
import NeoTestSupport
import NeoTrain

/// TensorBoard event files: the record framing and CRCs, the Event protobuf, the mirror of
/// `metrics.jsonl` (fresh, resumed), and TensorBoard's own reader as the judge when present.
final class TensorBoardTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("tensorboard") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    // MARK: An independent reader (bitwise CRC, generic protobuf walk)

    /// CRC-32C one bit at a time, a second implementation to judge the writer's table-driven one.
    static func bitwiseCRC32C(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 0 ? 0 : 0x82F6_3B78) }
        }
        return ~crc
    }

    static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8 }

    struct Event {
        var wallTime: Double?
        var step: Int64 = 0
        var fileVersion: String?
        var values: [(tag: String, value: Float)] = []
    }

    enum Field { case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8]) }

    static func fields(_ b: [UInt8]) throws -> [(Int, Field)] {
        var i = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count, shift < 64 else { throw TrainError("bad varint") }
                let byte = b[i]; i += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
        }
        func le(_ n: Int) throws -> UInt64 {
            guard i + n <= b.count else { throw TrainError("truncated fixed field") }
            var v: UInt64 = 0
            for k in 0..<n { v |= UInt64(b[i + k]) << (8 * UInt64(k)) }
            i += n
            return v
        }
        var out: [(Int, Field)] = []
        while i < b.count {
            let key = try varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: out.append((field, .varint(try varint())))
            case 1: out.append((field, .fixed64(try le(8))))
            case 5: out.append((field, .fixed32(UInt32(try le(4)))))
            case 2:
                let n = Int(try varint())
                guard i + n <= b.count else { throw TrainError("truncated bytes field") }
                out.append((field, .bytes(Array(b[i..<i + n])))); i += n
            default: throw TrainError("unexpected wire type \(key & 7)")
            }
        }
        return out
    }

    static func decodeEvent(_ data: [UInt8]) throws -> Event {
        var e = Event()
        for (field, value) in try fields(data) {
            switch (field, value) {
            case (1, .fixed64(let bits)): e.wallTime = Double(bitPattern: bits)
            case (2, .varint(let v)): e.step = Int64(bitPattern: v)
            case (3, .bytes(let s)): e.fileVersion = String(decoding: s, as: UTF8.self)
            case (5, .bytes(let summary)):
                for (sf, sv) in try fields(summary) {
                    guard sf == 1, case .bytes(let valueBytes) = sv else { throw TrainError("unexpected summary field \(sf)") }
                    var tag = "", number: Float?
                    for (vf, vv) in try fields(valueBytes) {
                        switch (vf, vv) {
                        case (1, .bytes(let s)): tag = String(decoding: s, as: UTF8.self)
                        case (2, .fixed32(let bits)): number = Float(bitPattern: bits)
                        default: throw TrainError("unexpected value field \(vf)")
                        }
                    }
                    e.values.append((tag, try XCTUnwrap(number)))
                }
            default: throw TrainError("unexpected event field \(field)")
            }
        }
        return e
    }

    /// Every record of an event file, with the length and both masked CRCs checked.
    static func readEvents(_ path: String) throws -> [Event] {
        let b = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path)))
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) } }
        var events: [Event] = [], i = 0
        while i < b.count {
            guard i + 12 <= b.count else { throw TrainError("\(path): truncated header at \(i)") }
            let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) })
            guard u32(i + 8) == masked(bitwiseCRC32C(b[i..<i + 8])) else { throw TrainError("\(path): bad length CRC at \(i)") }
            guard i + 12 + length + 4 <= b.count else { throw TrainError("\(path): truncated record at \(i)") }
            let data = Array(b[i + 12..<i + 12 + length])
            guard u32(i + 12 + length) == masked(bitwiseCRC32C(data)) else { throw TrainError("\(path): bad data CRC at \(i)") }
            events.append(try decodeEvent(data))
            i += 12 + length + 4
        }
        return events
    }

    static func eventFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains("tfevents") }.sorted().map { folder + "/" + $0 }
    }

    /// tag → [(step, value)] over all events of the folder's files (in file order).
    static func scalars(_ folder: String) throws -> [String: [(Int, Float)]] {
        var out: [String: [(Int, Float)]] = [:]
        for file in try eventFiles(folder) {
            for e in try readEvents(file) { for v in e.values { out[v.tag, default: []].append((Int(e.step), v.value)) } }
        }
        return out
    }

    /// TensorBoard's EventAccumulator's view of a folder, or nil (with the reason) when the
    /// package is missing.
    static func tensorBoardView(_ folder: String, scratch: String) throws -> [String: [(Int, Float)]] {
        let out = scratch + "/tb-view.json"
        let r = PythonCrossCheck.runScript("train_tensorboard_read.py", [folder, out])
        guard r.status == 0 else { throw TrainError("train_tensorboard_read.py failed: \(r.output)") }
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: [[Any]]])
        return try json.mapValues { events in
            try events.map { pair in
                let step = try XCTUnwrap((pair[0] as? NSNumber)?.intValue)
                let value = try XCTUnwrap((pair[1] as? NSNumber)?.doubleValue)
                return (step, Float(value))
            }
        }
    }

    static func assertSame(_ a: [String: [(Int, Float)]], _ b: [String: [(Int, Float)]],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), "tags differ", file: file, line: line)
        for (tag, points) in a {
            let other = b[tag] ?? []
            XCTAssertEqual(points.map(\.0), other.map(\.0), "\(tag): steps differ", file: file, line: line)
            XCTAssertEqual(points.map(\.1.bitPattern), other.map(\.1.bitPattern), "\(tag): values differ", file: file, line: line)
        }
    }

    // MARK: Tests

    func testCRC32CKnownAnswers() {
        XCTAssertEqual(TensorBoardWriter.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TensorBoardWriter.crc32c([]), 0)
        // 32 zero bytes: the iSCSI (RFC 3720) test vector.
        XCTAssertEqual(TensorBoardWriter.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        var bytes: [UInt8] = []
        var x: UInt32 = 12345
        for _ in 0..<1000 { x = x &* 1_103_515_245 &+ 12345; bytes.append(UInt8(truncatingIfNeeded: x >> 16)) }
        XCTAssertEqual(TensorBoardWriter.crc32c(bytes), Self.bitwiseCRC32C(bytes))
        XCTAssertEqual(TensorBoardWriter.maskedCRC32C(bytes), Self.masked(Self.bitwiseCRC32C(bytes)))
    }

    func testWrittenRecordsReadBackWithValidCRCs() throws {
        let folder = path("tb")
        let writer = try TensorBoardWriter(directory: folder, wallTime: 1_700_000_000.25, hostname: "test host")
        XCTAssertEqual(URL(fileURLWithPath: writer.path).lastPathComponent, "events.out.tfevents.1700000000.test_host")
        let values: [Float] = [0.1, -3.5e-7, 1e30, .infinity, 123456.789]
        for (i, v) in values.enumerated() {
            try writer.addScalars([("loss", v), ("lr", Float(i) * 0.001)], step: i + 1, wallTime: 1_700_000_001 + Double(i))
        }
        try writer.addScalar("eval/loss", 0.75, step: 1_000_000_000_000, wallTime: 1_700_000_100)
        // A second writer in the same folder and second gets its own file.
        let second = try TensorBoardWriter(directory: folder, wallTime: 1_700_000_000.5, hostname: "test host")
        XCTAssertNotEqual(second.path, writer.path)

        let events = try Self.readEvents(writer.path)
        XCTAssertEqual(events.count, values.count + 2)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[0].wallTime, 1_700_000_000.25)
        XCTAssertTrue(events[0].values.isEmpty)
        for (i, v) in values.enumerated() {
            let e = events[i + 1]
            XCTAssertEqual(e.step, Int64(i + 1))
            XCTAssertEqual(e.wallTime, 1_700_000_001 + Double(i))
            XCTAssertEqual(e.values.map(\.tag), ["loss", "lr"])
            XCTAssertEqual(e.values[0].value.bitPattern, v.bitPattern)
            XCTAssertEqual(e.values[1].value.bitPattern, (Float(i) * 0.001).bitPattern)
        }
        XCTAssertEqual(events.last?.step, 1_000_000_000_000)
        XCTAssertEqual(events.last?.values.first?.tag, "eval/loss")
        // A corrupted byte is caught by the data CRC.
        var bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: writer.path)))
        bytes[bytes.count - 6] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path("corrupt")))
        XCTAssertThrowsError(try Self.readEvents(path("corrupt")))
    }

    func testTensorBoardReadsWhatWasWritten() throws {
        guard PythonCrossCheck.available(["tensorboard"]) else { throw XCTSkip("python tensorboard not installed") }
        let folder = path("tb")
        let writer = try TensorBoardWriter(directory: folder)
        var expected: [String: [(Int, Float)]] = [:]
        var x: Float = 1
        for step in 1...50 {
            x = x * 0.93 + 0.013 * Float(step % 7)
            var scalars = [("loss", x), ("lr", 1e-3 / Float(step))]
            if step % 10 == 0 { scalars.append(("eval_loss", x * 1.1 + 1e-6)) }
            try writer.addScalars(scalars, step: step)
            for (k, v) in scalars { expected[k, default: []].append((step, v)) }
        }
        Self.assertSame(try Self.scalars(folder), expected)
        Self.assertSame(try Self.tensorBoardView(folder, scratch: dir.path), expected)
    }

    /// The event files mirror `metrics.jsonl`: every numeric field, nulls skipped; after a
    /// resume the dropped steps are gone and TensorBoard sees each step once, with the new values.
    func testMetricsLogMirrorsIntoTensorBoardAndResumeReplacesDroppedSteps() throws {
        let metrics = path("run/metrics.jsonl")
        try FileManager.default.createDirectory(atPath: path("run"), withIntermediateDirectories: true)
        let tb = MetricsLog.tensorBoardDirectory(forMetrics: metrics)
        XCTAssertEqual(tb, path("run/tensorboard"))
        func record(_ step: Int, _ loss: Float) -> MetricsRecord {
            var r = MetricsRecord(step: step)
            r.set("loss", loss)
            r.set("lr", 0.5 / Double(step))
            if step % 2 == 0 { r.set("eval_loss", step == 4 ? Float.nan : loss * 2) }
            r.setTiming("it_s", 10)
            return r
        }
        var log: MetricsLog? = try MetricsLog(path: metrics)
        for s in 1...6 { try log!.append(record(s, Float(s))) }
        log = nil
        var first = try Self.scalars(tb)
        XCTAssertEqual(first["loss"]?.map(\.0), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(first["eval_loss"]?.map(\.0), [2, 6], "the null (NaN) eval_loss of step 4 is skipped")
        XCTAssertEqual(first["lr"]?.map(\.1), (1...6).map { Float(0.5 / Double($0)) })
        XCTAssertEqual(first["it_s"]?.count, 6)

        // Resume from step 3 with different later values.
        log = try MetricsLog(path: metrics, keepingThrough: 3)
        for s in 4...7 { try log!.append(record(s, Float(s) + 100)) }
        log = nil
        XCTAssertEqual(try Self.eventFiles(tb).count, 1, "the old event file is replaced")
        first = try Self.scalars(tb)
        XCTAssertEqual(first["loss"]?.map(\.0), [1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(first["loss"]?.map(\.1), [1, 2, 3, 104, 105, 106, 107])
        XCTAssertEqual(first["eval_loss"]?.map(\.1), [4, 212])
        // The event files agree with the metrics lines, field by field.
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        var fromLines: [String: [(Int, Float)]] = [:]
        for line in lines {
            let (step, values) = try XCTUnwrap(MetricsRecord.scalars(ofLine: line))
            for (k, v) in values { fromLines[k, default: []].append((step, v)) }
        }
        Self.assertSame(first, fromLines)
        if PythonCrossCheck.available(["tensorboard"]) {
            Self.assertSame(try Self.tensorBoardView(tb, scratch: dir.path), fromLines)
        }

        // A fresh run empties the folder's history along with the log.
        _ = try MetricsLog(path: metrics)
        XCTAssertEqual(try Self.scalars(tb).count, 0)
        _ = try MetricsLog(path: metrics, tensorBoard: false)
        XCTAssertEqual(try Self.eventFiles(tb).count, 1, "tensorBoard: false leaves the folder alone")
    }

    /// A real toy training run through `neo-train pretrain`: the run's tensorboard folder holds
    /// the loss of every logged step, equal to metrics.jsonl's, and eval losses where evaluated.
    func testPretrainRunWritesLossForEveryStep() throws {
        let recipe = path("toy.toml")
        try """
            [run]
            seed = 5
            [model]
            kind = "toy-regression"
            input_dim = 3
            hidden = [8]
            output_dim = 1
            [data]
            eval_examples = 16
            [optim]
            lr = 0.01
            [train]
            steps = 12
            batch = 4
            eval_every = 4
            checkpoint_every = 6
            log_every = 6
            """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let run = path("toy-run")
        let r = try CLI.run(["pretrain", recipe, "--run-dir", run], logs: dir)
        XCTAssertEqual(r.status, 0, r.stderr)

        var fromLines: [String: [(Int, Float)]] = [:]
        for line in try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n") {
            let (step, values) = try XCTUnwrap(MetricsRecord.scalars(ofLine: line))
            for (k, v) in values { fromLines[k, default: []].append((step, v)) }
        }
        let written = try Self.scalars(run + "/tensorboard")
        XCTAssertEqual(written["loss"]?.map(\.0), Array(1...12))
        XCTAssertEqual(written["eval_loss"]?.map(\.0), [4, 8, 12])
        XCTAssertTrue(written["loss"]!.allSatisfy { $0.1.isFinite && $0.1 > 0 })
        Self.assertSame(written, fromLines)
        if PythonCrossCheck.available(["tensorboard"]) {
            Self.assertSame(try Self.tensorBoardView(run + "/tensorboard", scratch: dir.path), fromLines)
        }
    }
}
