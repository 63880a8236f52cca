import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

final class CheckpointManagerTests: XCTestCase {
    func small(_ step: Int) -> Checkpoint {
        Checkpoint(step: step, modelKind: "toy", recipe: "step = \(step)", model: ["w": Tensor.full([3], Float(step))],
                   loader: ["index": Int64(step)])
    }

    func testFileNames() {
        XCTAssertEqual(CheckpointManager.fileName(step: 40), "step-00000040.h5")
        XCTAssertEqual(CheckpointManager.fileName(step: 123_456_789), "step-123456789.h5")
        XCTAssertEqual(CheckpointManager.step(ofFileName: "step-00000040.h5"), 40)
        XCTAssertNil(CheckpointManager.step(ofFileName: ".step-00000040.h5.tmp-12"))
        XCTAssertNil(CheckpointManager.step(ofFileName: "step-4x.h5"))
        XCTAssertNil(CheckpointManager.step(ofFileName: "best.h5"))
        XCTAssertThrowsError(try CheckpointManager(directory: "/tmp/x", keepLast: 0))
    }

    func testKeepsLastNAndBestByMetric() throws {
        let dirFolder = PythonCrossCheck.temporaryDirectory("mgr")
        defer { try? FileManager.default.removeItem(at: dirFolder) }
        let dir = dirFolder.path
        let m = try CheckpointManager(directory: dir + "/run/checkpoints", keepLast: 2)
        let metrics: [Double] = [3, 1, 2, 4, 5]
        var bests: [Bool] = []
        for (i, metric) in metrics.enumerated() {
            bests.append(try m.save(small((i + 1) * 10), metric: metric).isBest)
        }
        XCTAssertEqual(bests, [true, true, false, false, false])
        XCTAssertEqual(m.stepFiles().map(\.step), [40, 50])
        // best.h5 outlives its step file (step-00000020.h5 was pruned).
        let best = try XCTUnwrap(try m.best())
        XCTAssertEqual(best.step, 20)
        XCTAssertEqual(best.metric, 1)
        XCTAssertEqual(best.model["w"]!.toArray(), [20, 20, 20])
        let names = try FileManager.default.contentsOfDirectory(atPath: m.directory).sorted()
        XCTAssertEqual(names, ["best.h5", "step-00000040.h5", "step-00000050.h5"])
        XCTAssertEqual(m.latestValid(warn: { XCTFail($0) })?.checkpoint.step, 50)

        // Resuming from step 40 and saving step 45 drops step 50 (an abandoned later run).
        let r = try m.save(small(45), metric: 0.5)
        XCTAssertTrue(r.isBest)
        XCTAssertEqual(r.removed.map { ($0 as NSString).lastPathComponent }, ["step-00000050.h5"])
        XCTAssertEqual(m.stepFiles().map(\.step), [40, 45])
        XCTAssertEqual(try m.best()?.step, 45)
    }

    func testLatestValidSkipsTruncatedGarbageAndTemporaryFiles() throws {
        let dirFolder = PythonCrossCheck.temporaryDirectory("mgrbad")
        defer { try? FileManager.default.removeItem(at: dirFolder) }
        let dir = dirFolder.path
        let m = try CheckpointManager(directory: dir, keepLast: 5)
        for s in [10, 20, 30] { try m.save(small(s)) }
        // A torn newest file (cut in half), a newer one that is garbage, and a temporary left by a
        // writer that died (PID that cannot exist) plus one of this very process.
        let p30 = m.path(step: 30)
        let d = try Data(contentsOf: URL(fileURLWithPath: p30))
        try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: p30))
        try Data(repeating: 0xAB, count: 5000).write(to: URL(fileURLWithPath: m.path(step: 40)))
        let deadTemp = dir + "/.step-00000050.h5.tmp-2147483646"
        let ownTemp = dir + "/.step-00000060.h5.tmp-\(getpid())"
        try d.write(to: URL(fileURLWithPath: deadTemp))
        try d.write(to: URL(fileURLWithPath: ownTemp))

        var warnings: [String] = []
        let found = try XCTUnwrap(m.latestValid(warn: { warnings.append($0) }))
        XCTAssertEqual(found.checkpoint.step, 20)
        XCTAssertEqual(found.path, m.path(step: 20))
        XCTAssertEqual(found.checkpoint.model["w"]!.toArray(), [20, 20, 20])
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        XCTAssertTrue(warnings[0].contains("step-00000040.h5") && warnings[0].contains("cannot open as HDF5"), warnings[0])
        XCTAssertTrue(warnings[1].contains("step-00000030.h5"), warnings[1])
        XCTAssertFalse(FileManager.default.fileExists(atPath: deadTemp), "a dead writer's temporary file is cleaned up")
        XCTAssertTrue(FileManager.default.fileExists(atPath: ownTemp), "this process's temporary file is left alone")
        unlink(ownTemp)

        // A checksum failure in the newest file also makes it fall back.
        try m.save(small(30))
        let p = m.path(step: 30)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        let needle = [Float](repeating: 30, count: 3).withUnsafeBytes { Array($0) }
        let at = try XCTUnwrap(firstOffset(of: needle, in: bytes))
        bytes[at + 5] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        warnings = []
        XCTAssertEqual(m.latestValid(warn: { warnings.append($0) })?.checkpoint.step, 20)
        XCTAssertTrue(warnings.contains { $0.contains("checksum mismatch in dataset '/model/w'") }, "\(warnings)")
    }

    func testNoCheckpointsGivesNilAndBestIsTheLastResort() throws {
        let dirFolder = PythonCrossCheck.temporaryDirectory("mgrnone")
        defer { try? FileManager.default.removeItem(at: dirFolder) }
        let dir = dirFolder.path
        let m = try CheckpointManager(directory: dir, keepLast: 1)
        XCTAssertNil(m.latestValid(warn: { XCTFail($0) }))
        XCTAssertNil(try m.best())
        try m.save(small(10), metric: 1)
        try Data("broken".utf8).write(to: URL(fileURLWithPath: m.path(step: 10)))
        var warnings: [String] = []
        let found = try XCTUnwrap(m.latestValid(warn: { warnings.append($0) }))
        XCTAssertEqual(found.path, m.bestPath)
        XCTAssertEqual(found.checkpoint.step, 10)
        XCTAssertEqual(warnings.count, 1)
    }
}

/// A real writer process killed with SIGKILL while it writes a checkpoint: the test binary runs
/// itself as the child (only `testChildWritesUntilKilled`, which does nothing unless the parent
/// set NEO_IO_CRASH_DIR).
final class CheckpointCrashTests: XCTestCase {
    static func heavy(_ step: Int) -> Checkpoint {
        var model: [String: Tensor] = [:]
        for i in 0..<200 { model["layers.\(i).weight"] = Tensor.full([128, 128], Float(step)) }
        return Checkpoint(step: step, modelKind: "crash", recipe: "", model: model)
    }

    func testChildWritesUntilKilled() throws {
        guard let dir = ProcessInfo.processInfo.environment["NEO_IO_CRASH_DIR"] else {
            throw XCTSkip("child half of testKilledWriterNeverReplacesTheLastGoodCheckpoint")
        }
        let m = try CheckpointManager(directory: dir, keepLast: 100)
        var step = 100
        while true {
            step += 1
            try m.save(Self.heavy(step))
        }
    }

    func testKilledWriterNeverReplacesTheLastGoodCheckpoint() throws {
        #if os(Linux)
        let exe = CommandLine.arguments[0]
        guard exe.hasSuffix(".xctest"), FileManager.default.isExecutableFile(atPath: exe) else {
            throw XCTSkip("test binary not found for the child process")
        }
        let dirFolder = PythonCrossCheck.temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(at: dirFolder) }
        let dir = dirFolder.path
        let m = try CheckpointManager(directory: dir, keepLast: 100)
        try m.save(Self.heavy(10))
        try m.save(Self.heavy(20))
        let goodBytes = try Data(contentsOf: URL(fileURLWithPath: m.path(step: 20)))

        let child = Process()
        child.executableURL = URL(fileURLWithPath: exe)
        child.arguments = ["NeoIOTests.CheckpointCrashTests/testChildWritesUntilKilled"]
        var env = ProcessInfo.processInfo.environment
        env["NEO_IO_CRASH_DIR"] = dir
        child.environment = env
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        let pid = child.processIdentifier
        // Kill it once its temporary file for step 101 holds 1 MiB of the 13 MB: mid-write.
        let temp = dir + "/.step-00000101.h5.tmp-\(pid)"
        func tempSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: temp))?[.size] as? Int) ?? 0 }
        let deadline = Date().addingTimeInterval(60)
        while tempSize() < 1 << 20 && child.isRunning && Date() < deadline { usleep(200) }
        let sawPartial = tempSize() >= 1 << 20
        kill(pid, SIGKILL)
        child.waitUntilExit()
        XCTAssertTrue(sawPartial, "the child never got 1 MiB into its write")
        XCTAssertEqual(child.terminationReason, .uncaughtSignal)

        // The good checkpoint is byte-identical, every step file that exists is whole, and the
        // newest valid one is picked.
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: m.path(step: 20))), goodBytes)
        let steps = m.stepFiles().map(\.step)
        for s in steps { XCTAssertNoThrow(try Checkpoint.read(from: m.path(step: s)), "step \(s)") }
        var warnings: [String] = []
        let latest = try XCTUnwrap(m.latestValid(warn: { warnings.append($0) }))
        XCTAssertEqual(latest.checkpoint.step, steps.last)
        XCTAssertTrue(warnings.isEmpty, "\(warnings)")
        XCTAssertEqual(latest.checkpoint.model["layers.7.weight"]!.toArray()[0], Float(steps.last!))
        // The killed writer's temporary file is gone after latestValid (its process is dead).
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp))
        #else
        throw XCTSkip("spawns the test binary, which is Linux-only here")
        #endif
    }
}
