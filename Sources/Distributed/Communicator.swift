import CMPI
import Foundation

/// The processes of one training job and the collective operations between them, over MPI.
///
/// A process started by `mpirun`/`srun` (detected from the launcher's environment) initialises
/// MPI once and joins `MPI_COMM_WORLD`; any other process is a world of one that never touches
/// MPI, so single-process runs behave exactly as without this module (no singleton `MPI_Init`:
/// with Open MPI 4 it starts a helper daemon, which costs time and can fail in containers).
///
/// `@unchecked Sendable`: after `init` the class holds only constants (rank, size) and the
/// staging buffer of the bucketed all-reduce. MPI is initialised with
/// `MPI_THREAD_SERIALIZED`, and every collective must be called by all ranks in the same order,
/// so callers issue them from one thread at a time (the training loop's); the staging buffer is
/// used only inside those calls, under `lock`.
public final class Communicator: @unchecked Sendable {
    /// This process's index in the job, 0..<size.
    public let rank: Int
    /// Processes in the job.
    public let size: Int
    /// Whether MPI was initialised (launched by an MPI launcher).
    public let usesMPI: Bool
    /// Bytes per all-reduce bucket (many small gradients are packed into one message).
    public let bucketBytes: Int

    private let lock = NSLock()
    private var staging: UnsafeMutablePointer<Float>
    private var stagingCount: Int
    private var finalized = false

    /// The job this process belongs to; MPI is initialised on first use when launched by an MPI
    /// launcher and finalised at process exit.
    public static let world = Communicator()

    /// The environment variables by which a launcher tells its processes their place: Open MPI's
    /// `mpirun`, PMIx (Slurm `srun --mpi=pmix`) and PMI-1/2 (MPICH-style launchers, `srun --mpi=pmi2`).
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// Whether `environment` shows an MPI launcher.
    public static func launchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    /// The bucket size from `NEO_ALLREDUCE_BUCKET_MB` (default 4 MiB).
    static func bucketFromEnvironment() -> Int {
        let mb = ProcessInfo.processInfo.environment["NEO_ALLREDUCE_BUCKET_MB"].flatMap(Double.init) ?? 4
        return max(1024, Int(mb * 1_048_576))
    }

    private init() {
        bucketBytes = Communicator.bucketFromEnvironment()
        stagingCount = bucketBytes / 4
        staging = .allocate(capacity: stagingCount)
        guard Communicator.launchedByMPI() else {
            rank = 0; size = 1; usesMPI = false
            return
        }
        var provided: Int32 = 0
        var argc: Int32 = 0
        let code = MPI_Init_thread(&argc, nil, neo_mpi_thread_serialized(), &provided)
        Communicator.check(code, "MPI_Init_thread")
        // Errors return codes (turned into a message and MPI_Abort by `check`) instead of
        // Open MPI's default silent abort, so a failure names the operation.
        Communicator.check(MPI_Comm_set_errhandler(neo_mpi_comm_world(), neo_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(neo_mpi_comm_world(), &r)
        MPI_Comm_size(neo_mpi_comm_world(), &s)
        rank = Int(r); size = Int(s); usesMPI = true
        atexit { Communicator.world.finalize() }
    }

    /// A world of one that never touches MPI, whatever the environment (tests, benchmarks).
    public static func single(bucketBytes: Int = 4 << 20) -> Communicator { Communicator(single: bucketBytes) }

    private init(single bucket: Int) {
        rank = 0; size = 1; usesMPI = false
        bucketBytes = max(1024, bucket)
        stagingCount = bucketBytes / 4
        staging = .allocate(capacity: stagingCount)
    }

    /// The same processes with buckets of `bytes` (benchmarks compare bucket sizes).
    public func withBucketBytes(_ bytes: Int) -> Communicator { Communicator(of: self, bucket: bytes) }

    private init(of other: Communicator, bucket: Int) {
        rank = other.rank; size = other.size; usesMPI = other.usesMPI
        bucketBytes = max(1024, bucket)
        stagingCount = bucketBytes / 4
        staging = .allocate(capacity: stagingCount)
        finalized = true   // only `world` ends MPI
    }

    deinit { staging.deallocate() }

    public var isRoot: Bool { rank == 0 }

    /// Ends MPI (once); called at process exit. Without it Open MPI reports the job as failed.
    public func finalize() {
        lock.lock(); defer { lock.unlock() }
        guard usesMPI, !finalized else { return }
        finalized = true
        var done: Int32 = 0
        MPI_Finalized(&done)
        if done == 0 { MPI_Finalize() }
    }

    /// Ends every process of the job with `code`, after printing `message` on stderr (one rank's
    /// failure must not leave the others waiting in a collective).
    public func abort(code: Int32, message: String) -> Never {
        FileHandle.standardError.write(Data("neo-train: rank \(rank) of \(size): \(message)\n".utf8))
        if usesMPI { MPI_Abort(neo_mpi_comm_world(), code) }
        exit(code)
    }

    static func check(_ code: Int32, _ what: String) {
        guard code != neo_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(neo_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("neo-train: \(what) failed: \(message); ending the job\n".utf8))
        MPI_Abort(neo_mpi_comm_world(), 70)
        exit(70)
    }

    // MARK: Collectives

    /// Waits until every process has arrived.
    public func barrier() {
        guard usesMPI else { return }
        Communicator.check(MPI_Barrier(neo_mpi_comm_world()), "MPI_Barrier")
    }

    /// Sums `count` floats at `p` over all processes, in place.
    public func allReduceSum(_ p: UnsafeMutablePointer<Float>, count: Int) {
        guard usesMPI, count > 0 else { return }
        var done = 0
        // MPI counts are Int32: reduce in pieces below 2^31 elements.
        while done < count {
            let n = min(count - done, Int(Int32.max))
            Communicator.check(MPI_Allreduce(neo_mpi_in_place(), p + done, Int32(n), neo_mpi_float(), neo_mpi_sum(), neo_mpi_comm_world()),
                               "MPI_Allreduce")
            done += n
        }
    }

    /// Sums doubles over all processes (losses, counts: a few numbers).
    public func allReduceSum(_ values: [Double]) -> [Double] { allReduce(values, neo_mpi_double(), neo_mpi_sum()) }

    /// The largest of each value over all processes (flags: "some rank wants to stop").
    public func allReduceMax(_ values: [Int64]) -> [Int64] { allReduce(values, neo_mpi_int64(), neo_mpi_max()) }

    /// A few numbers of MPI type `type` combined by `op` over all processes.
    private func allReduce<T: BitwiseCopyable>(_ values: [T], _ type: MPI_Datatype, _ op: MPI_Op) -> [T] {
        guard usesMPI, !values.isEmpty else { return values }
        var v = values
        let code = v.withUnsafeMutableBytes { MPI_Allreduce(neo_mpi_in_place(), $0.baseAddress, Int32(values.count), type, op, neo_mpi_comm_world()) }
        Communicator.check(code, "MPI_Allreduce")
        return v
    }

    /// Replaces each buffer by its mean over all processes. The buffers (equal lengths on every
    /// rank, same order) are packed into buckets of `bucketBytes`, so many small gradients cost
    /// one message per bucket instead of one each; a buffer larger than a bucket is reduced in
    /// place in bucket-sized pieces.
    public func allReduceAverage(_ buffers: [UnsafeMutableBufferPointer<Float>]) {
        guard usesMPI, size > 1 else { return }
        lock.lock(); defer { lock.unlock() }
        let scale = 1 / Float(size)
        var pending: [(UnsafeMutableBufferPointer<Float>, Int)] = []   // (buffer, offset in staging)
        var filled = 0
        func flush() {
            guard filled > 0 else { return }
            allReduceSum(staging, count: filled)
            for (b, at) in pending {
                let src = staging + at, dst = b.baseAddress!
                var i = 0
                while i < b.count { dst[i] = src[i] * scale; i &+= 1 }
            }
            pending.removeAll(keepingCapacity: true)
            filled = 0
        }
        for b in buffers where b.count > 0 {
            if b.count > stagingCount {
                flush()
                var at = 0
                while at < b.count {
                    let n = min(stagingCount, b.count - at)
                    let p = b.baseAddress! + at
                    allReduceSum(p, count: n)
                    var i = 0
                    while i < n { p[i] *= scale; i &+= 1 }
                    at += n
                }
                continue
            }
            if filled + b.count > stagingCount { flush() }
            (staging + filled).update(from: b.baseAddress!, count: b.count)
            pending.append((b, filled))
            filled += b.count
        }
        flush()
    }

    /// Copies rank `root`'s floats into every other rank's buffer (same length everywhere).
    public func broadcast(_ p: UnsafeMutablePointer<Float>, count: Int, root: Int = 0) {
        guard usesMPI, count > 0 else { return }
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            Communicator.check(MPI_Bcast(p + done, Int32(n), neo_mpi_float(), Int32(root), neo_mpi_comm_world()), "MPI_Bcast")
            done += n
        }
    }

    /// Rank `root`'s bytes on every rank (the length travels first, so only the root needs to
    /// know it).
    public func broadcast(bytes: [UInt8], root: Int = 0) -> [UInt8] {
        guard usesMPI else { return bytes }
        var length = [Int64(rank == root ? bytes.count : 0)]
        Communicator.check(MPI_Bcast(&length, 1, neo_mpi_int64(), Int32(root), neo_mpi_comm_world()), "MPI_Bcast")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        var done = 0
        while done < out.count {
            let n = min(out.count - done, Int(Int32.max))
            out.withUnsafeMutableBytes { raw in
                Communicator.check(MPI_Bcast(raw.baseAddress! + done, Int32(n), neo_mpi_byte(), Int32(root), neo_mpi_comm_world()),
                                   "MPI_Bcast")
            }
            done += n
        }
        return out
    }

    /// Every rank's `values` (the same count on each rank), concatenated in rank order, on
    /// `root`; nil on the other ranks.
    public func gather(_ values: [Float], root: Int = 0) -> [Float]? {
        guard usesMPI else { return values }
        var out = [Float](repeating: 0, count: rank == root ? values.count * size : 0)
        var send = values
        let code = out.withUnsafeMutableBufferPointer { o in
            MPI_Gather(&send, Int32(values.count), neo_mpi_float(), o.baseAddress, Int32(values.count), neo_mpi_float(),
                       Int32(root), neo_mpi_comm_world())
        }
        Communicator.check(code, "MPI_Gather")
        return rank == root ? out : nil
    }

    /// Every rank's `values` (the same count on each rank), concatenated in rank order, on every rank.
    public func allGather(_ values: [Float]) -> [Float] {
        guard usesMPI else { return values }
        var out = [Float](repeating: 0, count: values.count * size)
        var send = values
        let code = out.withUnsafeMutableBufferPointer { o in
            MPI_Allgather(&send, Int32(values.count), neo_mpi_float(), o.baseAddress, Int32(values.count), neo_mpi_float(),
                          neo_mpi_comm_world())
        }
        Communicator.check(code, "MPI_Allgather")
        return out
    }
}
