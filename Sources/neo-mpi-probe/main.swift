// Runs the collectives of `Distributed` on known inputs and prints what each rank got, so tests
// can launch it under `mpirun -np N` and check the results exactly from outside.
import Distributed
import Foundation
import NeoTensor

let world = Communicator.world
let scenario = CommandLine.arguments.dropFirst().first ?? ""
let r = Float(world.rank), n = world.size

/// Writes one whole line with a single write(2). Every rank's stdout is a pipe to mpirun, and
/// stdio's block buffering flushes at buffer boundaries, mid-line; mpirun then interleaves the
/// ranks' fragments. A line under PIPE_BUF (4096 bytes) written at once arrives whole.
func say(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
}

func line(_ name: String, _ values: [Float]) {
    say("rank \(world.rank) \(name) " + values.map { String($0) }.joined(separator: " "))
}

switch scenario {
case "collectives":
    say("rank \(world.rank) size \(n) mpi \(world.usesMPI) bucket \(world.bucketBytes)")
    // Buffers of several lengths, one longer than a small bucket (set by the test), so packing,
    // flushing and splitting are all exercised. Values are exact in Float: rank·k + k/2.
    let lengths = [1, 100, 300, 7, 200]
    let tensors = lengths.enumerated().map { (i, len) in
        Tensor((0..<len).map { Float($0 % 17) * (r + 1) + Float(i) * 0.5 + r * 4 }, shape: [len])
    }
    world.allReduceAverage(tensors)
    for (i, t) in tensors.enumerated() { line("allreduce\(i)", t.toArray()) }
    let b = Tensor((0..<5).map { Float($0) + r * 100 }, shape: [5])
    world.broadcast([b], root: n - 1)
    line("broadcast", b.toArray())
    let bytes = world.broadcast(bytes: world.isRoot ? Array("from root".utf8) : [])
    say("rank \(world.rank) bytes \(String(decoding: bytes, as: UTF8.self))")
    if let g = world.gather([r, r * 10 + 1]) { line("gather", g) }
    line("allgather", world.allGather([r + 0.25]))
    line("sum", world.allReduceSum([Double(world.rank) + 0.5]).map(Float.init))
    line("max", world.allReduceMax([Int64(world.rank * 3)]).map(Float.init))
    world.barrier()
    say("rank \(world.rank) done")
case "abort":
    // Rank 1 fails; rank 0 waits in a collective that can never complete.
    if world.rank == 1 { world.abort(code: 3, message: "probe: rank 1 gives up") }
    world.barrier()
    say("rank \(world.rank) passed the barrier")
case "die":
    // Rank 1 is killed by SIGKILL; rank 0 waits in a collective.
    if world.rank == 1 { kill(getpid(), SIGKILL) }
    world.barrier()
    say("rank \(world.rank) passed the barrier")
default:
    say("unknown scenario '\(scenario)'")
    exit(2)
}
