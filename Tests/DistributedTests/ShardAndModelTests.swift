import Distributed
import NeoTrain
import XCTest

/// The pieces of data parallelism that need no second process: batch shards, threads per rank,
/// the ring all-reduce model of the benchmark, and the world of one.
final class ShardAndModelTests: XCTestCase {
    /// The ranks' parts are disjoint, equal, in rank order, and together the whole batch.
    func testShardsPartitionTheBatchInOrder() throws {
        for (batch, count) in [(4, 1), (4, 2), (64, 4), (12, 3), (8, 8)] {
            let parts = try (0..<count).map { try BatchShard(rank: $0, count: count).range(batch: batch) }
            XCTAssertEqual(parts.flatMap { Array($0) }, Array(0..<batch), "\(batch) over \(count)")
            XCTAssertEqual(Set(parts.map(\.count)), [batch / count])
        }
        XCTAssertTrue(BatchShard.whole.isWhole)
        XCTAssertThrowsError(try BatchShard(rank: 1, count: 3).range(batch: 8)) { e in
            XCTAssertTrue("\(e)".contains("train.batch = 8 does not split evenly over 3 processes"), "\(e)")
        }
    }

    /// Threads: NEO_THREADS wins (when a positive number); a world of one keeps every core.
    /// (The split among ranks sharing a machine needs a launched world; the mpirun tests set
    /// NEO_THREADS=1 instead.)
    func testThreadsPerRank() {
        let one = Communicator.single()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        XCTAssertEqual(DataParallel.threadsPerRank(world: one, environment: [:]), cores)
        XCTAssertEqual(DataParallel.threadsPerRank(world: one, environment: ["NEO_THREADS": "3"]), 3)
        XCTAssertEqual(DataParallel.threadsPerRank(world: one, environment: ["NEO_THREADS": "zero"]), cores)
    }

    /// 2(N−1)/N · bytes / bandwidth + 2(N−1) · latency · buckets; nothing for one process.
    func testRingAllReduceModel() {
        let bytes = 8 << 20
        XCTAssertEqual(DistributedBenchmark.ringAllReduceSeconds(bytes: bytes, processes: 1, bandwidthGBps: 1, latency: 1e-3,
                                                                 bucketBytes: 4 << 20), 0)
        let two = DistributedBenchmark.ringAllReduceSeconds(bytes: bytes, processes: 2, bandwidthGBps: 1, latency: 1e-3, bucketBytes: 4 << 20)
        XCTAssertEqual(two, Double(bytes) / 1e9 + 2 * 1e-3 * 2, accuracy: 1e-12)
        // The bandwidth term approaches 2·bytes/bandwidth as N grows; latency grows linearly.
        let big = DistributedBenchmark.ringAllReduceSeconds(bytes: bytes, processes: 1000, bandwidthGBps: 1, latency: 0, bucketBytes: 4 << 20)
        XCTAssertEqual(big, 2 * 0.999 * Double(bytes) / 1e9, accuracy: 1e-9)
    }

    /// Without a launcher every collective of a world of one returns its input unchanged.
    func testWorldOfOneCollectivesAreIdentity() {
        let c = Communicator.single(bucketBytes: 1024)
        XCTAssertEqual(c.rank, 0)
        XCTAssertEqual(c.size, 1)
        XCTAssertFalse(c.usesMPI)
        XCTAssertEqual(c.allReduceSum([1.5, -2]), [1.5, -2])
        XCTAssertEqual(c.allReduceMax([7]), [7])
        XCTAssertEqual(c.gather([1, 2]), [1, 2])
        XCTAssertEqual(c.broadcast(bytes: [1, 2, 3]), [1, 2, 3])
        var x: [Float] = [1, 2, 3]
        x.withUnsafeMutableBufferPointer { c.allReduceAverage([$0]) }
        XCTAssertEqual(x, [1, 2, 3])
    }
}
