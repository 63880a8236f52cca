import Distributed
import Foundation
import XCTest

/// The collectives run by `neo-mpi-probe` under `mpirun`, checked exactly (every value is exact
/// in Float, so the sum order does not matter).
final class CollectiveTests: XCTestCase {
    /// rank → name → values, from the probe's `rank R name v…` lines.
    func parse(_ output: String) -> [Int: [String: [Float]]] {
        var out: [Int: [String: [Float]]] = [:]
        for line in output.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3, f[0] == "rank", let r = Int(f[1]) else { continue }
            out[r, default: [:]][String(f[2])] = f.dropFirst(3).compactMap { Float(String($0)) }
        }
        return out
    }

    func testCollectivesOnTwoProcesses() throws {
        let n = 2
        // A bucket of 256 floats: the 300-float buffer is split, the others are packed and flushed.
        let r = try MPILaunch.run(processes: n, MPILaunch.product("neo-mpi-probe").path, ["collectives"],
                                  environment: ["NEO_ALLREDUCE_BUCKET_MB": "0.0009765625"])
        XCTAssertEqual(r.status, 0, r.output)
        let got = parse(r.output)
        XCTAssertEqual(got.keys.sorted(), Array(0..<n), r.output)
        let meanR = Double(n - 1) / 2
        for rank in 0..<n {
            let g = try XCTUnwrap(got[rank], r.output)
            XCTAssertTrue(r.output.contains("rank \(rank) size \(n) mpi true bucket 1024"), r.output)
            for (i, len) in [1, 100, 300, 7, 200].enumerated() {
                let expected = (0..<len).map { j in Float(Double(j % 17) * (meanR + 1) + Double(i) * 0.5 + 4 * meanR) }
                XCTAssertEqual(g["allreduce\(i)"], expected, "rank \(rank), buffer \(i)")
            }
            XCTAssertEqual(g["broadcast"], (0..<5).map { Float($0) + Float(n - 1) * 100 })
            XCTAssertEqual(g["allgather"], (0..<n).map { Float($0) + 0.25 })
            XCTAssertEqual(g["sum"], [Float((0..<n).map { Double($0) + 0.5 }.reduce(0, +))])
            XCTAssertEqual(g["max"], [Float((n - 1) * 3)])
            XCTAssertTrue(r.output.contains("rank \(rank) bytes from root"), r.output)
            XCTAssertTrue(r.output.contains("rank \(rank) done"), r.output)
        }
        XCTAssertEqual(got[0]?["gather"], (0..<n).flatMap { [Float($0), Float($0 * 10 + 1)] })
        XCTAssertNil(got[1]?["gather"], "only the root receives the gather")
    }

    /// Without a launcher the probe is a world of one: no MPI, every collective the identity.
    func testSingleProcessNeedsNoMPIRun() throws {
        let r = try MPILaunch.runSingle(MPILaunch.product("neo-mpi-probe").path, ["collectives"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("rank 0 size 1 mpi false"), r.output)
        let g = try XCTUnwrap(parse(r.output)[0])
        XCTAssertEqual(g["allreduce2"], (0..<300).map { Float($0 % 17) + 1 })
        XCTAssertEqual(g["gather"], [0, 1])
        XCTAssertEqual(g["sum"], [0.5])
        XCTAssertFalse(Communicator.launchedByMPI(["PATH": "/usr/bin"]))
        XCTAssertTrue(Communicator.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
    }

    /// One rank's abort ends the whole job (the other is waiting in a barrier) with a non-zero
    /// status and the failing rank's message.
    func testAbortEndsEveryRank() throws {
        let r = try MPILaunch.run(processes: 2, MPILaunch.product("neo-mpi-probe").path, ["abort"])
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("rank 1 of 2: probe: rank 1 gives up"), r.output)
        XCTAssertFalse(r.output.contains("passed the barrier"), r.output)
        XCTAssertLessThan(r.seconds, 30, "the job took \(r.seconds) s to end")
    }

    /// A rank killed by SIGKILL ends the job: the survivor does not hang in its collective.
    func testKilledRankEndsTheJob() throws {
        let r = try MPILaunch.run(processes: 2, MPILaunch.product("neo-mpi-probe").path, ["die"])
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertFalse(r.output.contains("passed the barrier"), r.output)
        XCTAssertLessThan(r.seconds, 30, "the job took \(r.seconds) s to end")
    }
}
