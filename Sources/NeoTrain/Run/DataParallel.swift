import Distributed
import Foundation
import NeoNN
import NeoTensor

/// Which part of every global batch this process trains on: with `count` processes, rank r
/// takes samples [r·B/count, (r+1)·B/count) of each micro-batch of B samples, so the union over
/// ranks is the single-process batch in the same order. Equal parts make the mean of the ranks'
/// mean losses the mean loss of the whole batch, and so the averaged gradient its gradient.
public struct BatchShard: Sendable, Equatable {
    public let rank: Int
    public let count: Int

    public init(rank: Int, count: Int) {
        self.rank = rank
        self.count = max(1, count)
    }

    /// One process: the whole batch.
    public static let whole = BatchShard(rank: 0, count: 1)

    public var isWhole: Bool { count == 1 }

    /// This rank's samples of a batch of `batch`; throws when the batch does not split evenly.
    public func range(batch: Int, key: String = "train.batch") throws -> Range<Int> {
        guard batch % count == 0 else {
            throw TrainError("\(key) = \(batch) does not split evenly over \(count) processes; use a multiple of \(count) (the global batch stays the same whatever the process count)")
        }
        let per = batch / count
        return rank * per ..< (rank + 1) * per
    }
}

/// Averages each gradient over the ranks of an MPI job by bucketed all-reduce
/// (`Communicator.allReduceAverage`). A parameter no sample of this rank reached (a dropped
/// condition's embedding) counts as a zero gradient; one that no rank's samples reached keeps
/// no gradient, as in a single-process run, so the optimiser skips it alike.
public final class AllReduceReducer: GradientReducer {
    public let world: Communicator
    /// Seconds spent in the all-reduce so far (the benchmark's communication time).
    public private(set) var seconds = 0.0
    /// Bytes of gradient reduced by the last call.
    public private(set) var lastBytes = 0

    public init(world: Communicator) { self.world = world }

    public func reduce(_ parameters: [Parameter]) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let present = world.allReduceSum(parameters.map { $0.value.grad == nil ? 0 : 1 })
        var tensors: [Tensor] = []
        tensors.reserveCapacity(parameters.count)
        for (p, n) in zip(parameters, present) where n > 0 {
            let v = p.value
            if let g = v.grad {
                if !g.isContiguous { v.grad = g.contiguous() }
            } else {
                v.grad = Tensor.zeros(v.shape)
            }
            tensors.append(v.grad!)
        }
        world.allReduceAverage(tensors)
        lastBytes = tensors.reduce(0) { $0 + 4 * $1.count }
        seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    public func average(_ values: [Double]) -> [Double] {
        world.allReduceSum(values).map { $0 / Double(world.size) }
    }
}

/// The process-level settings of a data-parallel job.
public enum DataParallel {
    /// Threads for this rank's kernels and BLAS: the cores this process may use, shared by the
    /// ranks on its machine (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`, Slurm's
    /// `SLURM_NTASKS_PER_NODE`), at least 1; `NEO_THREADS` overrides.
    public static func threadsPerRank(world: Communicator,
                                      environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let t = environment["NEO_THREADS"].flatMap(Int.init), t > 0 { return t }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard world.size > 1 else { return cores }
        let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
            .lazy.compactMap { environment[$0].flatMap(Int.init) }.first ?? world.size
        return max(1, cores / max(1, local))
    }

    /// Runs `body` as one rank of the job: engine threads set by `threadsPerRank`; stdout of
    /// ranks other than 0 discarded (rank 0 speaks for the job; stderr stays, so every rank's
    /// warnings and errors are seen); and any error of a multi-process job ends every rank
    /// (`MPI_Abort`) with this rank's one-line message, so no rank is left waiting in a collective.
    public static func run<R>(world: Communicator = .world, _ body: () throws -> R) throws -> R {
        guard world.size > 1 else { return try body() }
        if !world.isRoot {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { fflush(nil); dup2(null, STDOUT_FILENO); close(null) }
        }
        do {
            return try EngineContext(threads: threadsPerRank(world: world)).run(body)
        } catch {
            let message = CommandLineError.message(for: error) ?? "\(error)"
            world.abort(code: 1, message: "error: " + message)
        }
    }
}

extension Tensor {
    /// Rows `r` along the first dimension, as a contiguous tensor (a rank's part of a batch).
    func rows(_ r: Range<Int>) -> Tensor {
        slice(dim: 0, start: r.lowerBound, end: r.upperBound).contiguous()
    }
}
