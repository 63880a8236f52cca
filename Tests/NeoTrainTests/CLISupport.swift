import Foundation
import XCTest
import NeoIO
import NeoTensor
import NeoTestSupport

/// Runs the real `neo-train` executable (built next to the test bundle) as a child process.
enum CLI {
    static var executable: URL { Bundle.main.bundleURL.appendingPathComponent("neo-train") }

    struct Result {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
    }

    /// Starts the command with stdout and stderr going to files in `logs`.
    static func spawn(_ args: [String], env: [String: String] = [:], logs: URL) throws -> (Process, URL, URL) {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let tag = UUID().uuidString.prefix(8)
        let out = logs.appendingPathComponent("out-\(tag).txt"), err = logs.appendingPathComponent("err-\(tag).txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        return (p, out, err)
    }

    static func run(_ args: [String], env: [String: String] = [:], logs: URL) throws -> Result {
        let (p, out, err) = try spawn(args, env: env, logs: logs)
        p.waitUntilExit()
        return Result(status: p.terminationStatus, reason: p.terminationReason,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Polls `condition` every 2 ms for up to `timeout` seconds.
    static func wait(timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(2000)
        }
        return condition()
    }
}

/// Bit-level comparison of two checkpoints' training state.
enum CheckpointComparison {
    static func bits(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

    static func sameTensors(_ a: [String: Tensor], _ b: [String: Tensor], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), "\(what): names differ", file: file, line: line)
        XCTAssertFalse(a.isEmpty, "\(what): empty", file: file, line: line)
        for (k, t) in a {
            guard let u = b[k] else { continue }
            XCTAssertEqual(t.shape, u.shape, "\(what).\(k): shape", file: file, line: line)
            let x = bits(t), y = bits(u)
            guard x.count == y.count else { continue }
            let differing = zip(x, y).enumerated().filter { $0.element.0 != $0.element.1 }
            if let first = differing.first {
                XCTFail("\(what).\(k): \(differing.count) of \(x.count) values differ in their bits; first at \(first.offset): "
                        + "\(Float(bitPattern: first.element.0)) vs \(Float(bitPattern: first.element.1))", file: file, line: line)
            }
        }
    }

    /// Parameters, optimiser moments and scalars, EMA, RNG states, loader position and step.
    static func assertIdentical(_ pa: String, _ pb: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try Checkpoint.read(from: pa), b = try Checkpoint.read(from: pb)
        XCTAssertEqual(a.step, b.step, file: file, line: line)
        sameTensors(a.model, b.model, "model", file: file, line: line)
        XCTAssertEqual(a.optimizer.moments.keys.sorted(), b.optimizer.moments.keys.sorted(), file: file, line: line)
        for (slot, m) in a.optimizer.moments {
            sameTensors(m, b.optimizer.moments[slot] ?? [:], "optimizer.\(slot)", file: file, line: line)
        }
        XCTAssertEqual(a.optimizer.scalars, b.optimizer.scalars, "optimizer scalars", file: file, line: line)
        sameTensors(a.ema, b.ema, "ema", file: file, line: line)
        XCTAssertEqual(a.rng, b.rng, "rng", file: file, line: line)
        XCTAssertEqual(a.loader, b.loader, "loader", file: file, line: line)
        XCTAssertEqual(a.metadata["ema.updates"], b.metadata["ema.updates"], file: file, line: line)
    }
}
