import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// Full disks, outputs that are inputs, temporaries of interrupted runs, and damaged file
/// structure (issue 21).
final class FileSafetyTests: XCTestCase {
    func checkpoint(step: Int, floats: Int) -> Checkpoint {
        Checkpoint(step: step, modelKind: "toy", recipe: "[model]\nhidden = [32, 32]\n",
                   model: ["layers.0.weight": Tensor.full([floats], Float(step)), "layers.1.weight": Tensor.full([4], 1)],
                   loader: ["index": Int64(step)])
    }

    /// A checkpoint write that runs out of space on a real (tmpfs) disk throws one error that
    /// says so, leaves no temporary file, and the checkpoint written before stays readable.
    /// (libhdf5 used to crash the process at exit after such a failure.)
    func testFullDiskIsOneErrorAndTheLastCheckpointSurvives() throws {
        let (disk, reason) = SmallDisk.mount(bytes: 1 << 20, tag: "ckpt")
        guard let disk else { throw XCTSkip(reason) }
        let manager = try CheckpointManager(directory: disk.path + "/run", keepLast: 5)
        try manager.save(checkpoint(step: 10, floats: 50_000))   // 200 KB
        var failure: Error?
        for step in stride(from: 20, through: 100, by: 10) {
            do { try manager.save(checkpoint(step: step, floats: 50_000)) } catch { failure = error; break }
        }
        let error = try XCTUnwrap(failure, "a 1 MiB disk cannot hold nine 200 KB checkpoints")
        let text = String(describing: error)
        XCTAssertTrue(text.contains("No space left on device"), text)
        XCTAssertFalse(text.contains("\n"), text)
        let names = try FileManager.default.contentsOfDirectory(atPath: manager.directory)
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
        let latest = try XCTUnwrap(manager.latestValid { XCTFail("unexpected warning: \($0)") })
        XCTAssertEqual(latest.checkpoint.model["layers.0.weight"]!.toArray().first, Float(latest.checkpoint.step))
        XCTAssertEqual(latest.path, manager.stepFiles().last!.path)
    }

    /// The same for a plain HDF5 file and an atomic whole-file write.
    func testFullDiskForHDF5AndAtomicWrites() throws {
        let (disk, reason) = SmallDisk.mount(bytes: 256 << 10, tag: "h5")
        guard let disk else { throw XCTSkip(reason) }
        let f = try HDF5File.create(disk.path + "/big.h5")
        try f.write(Tensor.full([200_000], 1), at: "/x")   // 800 KB, in memory so far
        XCTAssertThrowsError(try f.close()) { e in
            XCTAssertTrue(String(describing: e).contains("No space left on device"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: disk.path + "/big.h5"))
        XCTAssertThrowsError(try AtomicFile.write(Data(count: 1 << 20), to: disk.path + "/blob")) { e in
            XCTAssertTrue(String(describing: e).contains("No space left on device"), "\(e)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), [])
    }

    /// An output that is an input under any spelling (same path, another path to it, a
    /// symbolic link, a hard link) is refused; another file, or one that does not exist yet,
    /// is not.
    func testOutputThatResolvesToAnInputIsRefused() throws {
        let dir = PythonCrossCheck.temporaryDirectory("guard").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.wav"
        try Data("RIFF".utf8).write(to: URL(fileURLWithPath: input))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.wav", withDestinationPath: input)
        try FileManager.default.linkItem(atPath: input, toPath: dir + "/hard.wav")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        for out in [input, dir + "/sub/../in.wav", dir + "/link.wav", dir + "/hard.wav"] {
            XCTAssertThrowsError(try OutputGuard.refuseInputs(out: out, inputs: [("--checkpoint", dir + "/c.h5"), ("--audio", input)])) { e in
                XCTAssertTrue(String(describing: e).contains("--out is the input given as --audio"), "\(e)")
            }
        }
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/other.wav"))
        XCTAssertNoThrow(try OutputGuard.refuseInputs(out: dir + "/other.wav", inputs: [("--audio", input)]))
        XCTAssertNoThrow(try OutputGuard.refuseInputs(out: dir + "/new.npy", inputs: [("--audio", input)]))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), Data("RIFF".utf8))
    }

    /// Temporaries (`.X.tmp-PID` files, `.X.partial-PID` folders) of processes that are gone
    /// are removed; those of live processes and other names stay.
    func testStaleTemporariesOfDeadProcessesAreRemoved() throws {
        let dir = PythonCrossCheck.temporaryDirectory("stale").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A pid that is certainly dead: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier, live = getpid()
        let fm = FileManager.default
        _ = fm.createFile(atPath: dir + "/.shard-000.h5.tmp-\(dead)", contents: Data([1]))
        try fm.createDirectory(atPath: dir + "/.ds.partial-\(dead)/sub", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: dir + "/.ds.partial-\(dead)/sub/x", contents: Data([1]))
        _ = fm.createFile(atPath: dir + "/.mine.h5.tmp-\(live)", contents: Data([1]))
        _ = fm.createFile(atPath: dir + "/.init.tmp-1", contents: Data([1]))   // pid 1 is alive
        _ = fm.createFile(atPath: dir + "/shard-000.h5", contents: Data([1]))
        _ = fm.createFile(atPath: dir + "/.hidden", contents: Data([1]))
        let removed = AtomicFile.removeStaleTemporaries(in: dir).map { ($0 as NSString).lastPathComponent }.sorted()
        XCTAssertEqual(removed, [".ds.partial-\(dead)", ".shard-000.h5.tmp-\(dead)"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir).sorted(), [".hidden", ".init.tmp-1", ".mine.h5.tmp-\(live)", "shard-000.h5"])
    }

    /// Temporaries in flight are registered until committed or discarded, so an interrupt
    /// handler can remove exactly those.
    func testPendingTemporariesFollowTheWrites() throws {
        let dir = PythonCrossCheck.temporaryDirectory("pending").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.bin"
        let tmp = AtomicFile.temporaryPath(for: path)
        XCTAssertTrue(PendingTemporaries.shared.current.contains(tmp))
        _ = FileManager.default.createFile(atPath: tmp, contents: Data([1, 2]))
        try AtomicFile.commit(temporary: tmp, to: path)
        XCTAssertFalse(PendingTemporaries.shared.current.contains(tmp))
        try AtomicFile.write(Data([3]), to: dir + "/b.bin")
        XCTAssertFalse(PendingTemporaries.shared.current.contains { $0.hasPrefix(dir) })
        // An abandoned temporary is deleted by deleteAll.
        let t2 = AtomicFile.temporaryPath(for: dir + "/c.bin")
        _ = FileManager.default.createFile(atPath: t2, contents: Data([1]))
        XCTAssertGreaterThanOrEqual(PendingTemporaries.shared.deleteAll(), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t2))
    }

    /// One changed byte in the stored recipe text, or in a group's name (which makes a layer's
    /// datasets vanish from the listing without touching any data), is caught by every read.
    func testDamagedRecipeTextOrStructureIsCaught() throws {
        let dir = PythonCrossCheck.temporaryDirectory("structure").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.h5"
        try checkpoint(step: 3, floats: 8).write(to: path)
        let good = try Checkpoint.read(from: path)
        XCTAssertTrue(good.hasRecipeChecksum && good.hasIndexChecksum)

        func damaged(_ needle: String, _ replacement: String) throws -> String {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let n = Data(needle.utf8)
            let r = try XCTUnwrap(bytes.range(of: n), "'\(needle)' not found in the file")
            bytes.replaceSubrange(r, with: Data(replacement.utf8))
            let out = dir + "/damaged-\(UUID().uuidString.prefix(6)).h5"
            try bytes.write(to: URL(fileURLWithPath: out))
            return out
        }
        let recipe = try damaged("hidden = [32, 32]", "hidden = [32, 33]")
        XCTAssertThrowsError(try Checkpoint.read(from: recipe)) { e in
            XCTAssertTrue(String(describing: e).contains("stored recipe text"), "\(e)")
        }
        let renamed = try damaged("layers.1", "layers.7")
        XCTAssertThrowsError(try Checkpoint.read(from: renamed)) { e in
            XCTAssertTrue(String(describing: e).contains("structure is corrupt") || String(describing: e).contains("checksum"), "\(e)")
        }
    }
}
