import Distributed
import Foundation
import NeoAudio
import NeoNN
import NeoTensor
import Vocal

/// `neo-train bench distributed`: all-reduce bandwidth and a data-parallel VOCAL step at 1 and
/// 2 processes on this machine, and a projection of scaling efficiency for vocal-base at
/// 8/32/128 processes from measured compute and an assumed network.
///
/// The 2-process figures come from `mpirun -np 2 neo-train bench distributed --worker`, started
/// by this command; every 1-process figure is measured in the same run as the reference.
public enum DistributedBenchmark {
    public struct AllReduce: Codable, Sendable {
        public var processes: Int
        public var bucketBytes: Int
        /// Bytes of gradient reduced per call.
        public var bytes: Int
        /// Median over the repetitions.
        public var seconds: Double
        /// The fastest repetition (the least disturbed by other jobs on a shared machine).
        public var bestSeconds: Double
        /// bytes / seconds.
        public var algorithmGBps: Double
        /// 2(N−1)/N · bytes / seconds: what each link carried in a ring all-reduce.
        public var busGBps: Double
    }

    public struct Step: Codable, Sendable {
        public var processes: Int
        public var threadsPerRank: Int
        public var globalBatch: Int
        public var stepSeconds: Double
        public var allReduceSeconds: Double
        public var communicationFraction: Double
        public var gradientBytes: Int
    }

    public struct Projection: Codable, Sendable {
        public var network: String
        public var processes: Int
        public var bandwidthGBps: Double
        public var latencySeconds: Double
        public var computeSeconds: Double
        public var allReduceSeconds: Double
        /// compute / (compute + all-reduce): the all-reduce after backward, as we run it now.
        public var efficiency: Double
        /// compute / max(compute, all-reduce): the bound if the all-reduce overlapped backward fully.
        public var efficiencyOverlapped: Double
    }

    public struct Worker: Codable, Sendable {
        public var allReduce: [AllReduce]
        public var step: Step
    }

    public struct Result: Codable, Sendable, JSONReport {
        public var note: String
        public var recipe: String
        public var oneProcess: Step
        public var twoProcesses: Worker?
        /// Step time at 1 process over step time at 2 (same global batch).
        public var speedup: Double?
        public var baseRecipe: String
        public var baseWindowsPerRank: Int
        public var baseComputeSeconds: Double
        public var baseGradientBytes: Int
        public var bucketBytes: Int
        public var projection: [Projection]


        public func table() -> String {
            func f(_ v: Double, _ d: Int = 3) -> String { String(format: "%.\(d)f", v) }
            var lines = ["step of \(recipe), global batch \(oneProcess.globalBatch):",
                         "  1 process : \(f(oneProcess.stepSeconds)) s (\(oneProcess.threadsPerRank) threads)"]
            if let w = twoProcesses {
                lines.append("  2 processes: \(f(w.step.stepSeconds)) s (\(w.step.threadsPerRank) threads each), all-reduce \(f(w.step.allReduceSeconds)) s = \(f(100 * w.step.communicationFraction, 1)) % of the step; speedup \(f(speedup ?? 0, 2))×")
                lines.append("all-reduce at 2 processes:")
                for a in w.allReduce {
                    lines.append("  \(a.bytes >> 20) MiB in buckets of \(a.bucketBytes >> 10) KiB: \(f(a.seconds * 1000, 1)) ms (best \(f(a.bestSeconds * 1000, 1)) ms), algorithm \(f(a.algorithmGBps, 2)) GB/s, bus \(f(a.busGBps, 2)) GB/s")
                }
            }
            lines.append("\(baseRecipe): \(baseWindowsPerRank) windows per rank, compute \(f(baseComputeSeconds)) s per step, gradient \(baseGradientBytes >> 20) MiB")
            for p in projection {
                lines.append("  \(p.network), \(p.processes) processes: all-reduce \(f(p.allReduceSeconds)) s, efficiency \(f(100 * p.efficiency, 1)) % (overlapped: \(f(100 * p.efficiencyOverlapped, 1)) %)")
            }
            lines.append(note)
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The networks the projection assumes (bandwidth per link, latency per message).
    public static let networks: [(name: String, gbps: Double, latency: Double)] = [
        ("10 GbE (1.25 GB/s, 50 µs)", 1.25, 50e-6),
        ("100 Gb/s InfiniBand (12.5 GB/s, 2 µs)", 12.5, 2e-6),
    ]

    /// Ring all-reduce of `bytes` over `n` processes in buckets of `bucket` bytes:
    /// 2(n−1)/n · bytes / bandwidth, plus 2(n−1) message latencies per bucket.
    public static func ringAllReduceSeconds(bytes: Int, processes n: Int, bandwidthGBps: Double, latency: Double,
                                            bucketBytes: Int) -> Double {
        guard n > 1 else { return 0 }
        let buckets = Double((bytes + bucketBytes - 1) / max(1, bucketBytes))
        return 2 * Double(n - 1) / Double(n) * Double(bytes) / (bandwidthGBps * 1e9) + 2 * Double(n - 1) * latency * buckets
    }

    /// A VOCAL model of `recipe` with one training step on a synthetic batch of `batch` windows,
    /// of which this rank takes its `shard`; the gradients go through `reducer`.
    final class VocalStep {
        let model: VocalModel
        let optimizer: AdamW
        let batch: VocalBatch
        let draw: FlowMatchingDraw
        let parameters: [Parameter]

        init(recipe: Recipe, batch b: Int, shard: BatchShard) throws {
            var config = VocalKind.config(recipe)
            config.gradientCheckpointing = false
            let g = Generator(seed: 11)
            model = try VocalModel(config: config, generator: g)
            let n = config.windowFrames, d = config.latentDim
            let clip = Tensor.normal([b, recipe.section(VocalDataSection.self).referenceFrames, d], generator: g)
            let whole = VocalBatch(motion: Tensor.normal([b, n, d], generator: g),
                                   audio: Tensor.normal([b, config.audioLayers, 2 * n, config.audioWidth], generator: g),
                                   identity: clip, emotion: (0..<b).map { $0 % config.emotionCount })
            let all = FlowMatchingDraw.draw(shape: [b, n, d], settings: FlowMatchingSettings(), generator: g)
            let r = try shard.range(batch: b, key: "--batch")
            batch = whole.rows(r)
            draw = FlowMatchingDraw(t: Array(all.t[r]), keep: Array(all.keep[r]), noise: all.noise.rows(r))
            optimizer = AdamW(model.trainableParameters(), learningRate: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0)
            parameters = optimizer.allParameters.map(\.1)
        }

        var gradientBytes: Int { 4 * parameters.reduce(0) { $0 + $1.count } }

        func run(reducer: GradientReducer) throws {
            let tape = Tape()
            tape.backward(tape.record { flowMatchingLoss(model: model, batch: batch, draw: draw) })
            try reducer.reduce(parameters)
            optimizer.step()
            optimizer.zeroGrad()
        }
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// The step of `recipe` at this process count: median of `repeats` after a warm-up step.
    static func measureStep(recipe: Recipe, batch: Int, repeats: Int, world: Communicator) throws -> Step {
        let threads = DataParallel.threadsPerRank(world: world)
        return try EngineContext(threads: threads).run {
            let step = try VocalStep(recipe: recipe, batch: batch, shard: BatchShard(rank: world.rank, count: world.size))
            let reducer: GradientReducer = world.size > 1 ? AllReduceReducer(world: world) : SingleProcessReducer()
            try step.run(reducer: reducer)
            world.barrier()
            let reduced0 = (reducer as? AllReduceReducer)?.seconds ?? 0
            var times: [Double] = []
            for _ in 0..<repeats {
                world.barrier()
                times.append(try seconds { try step.run(reducer: reducer) })
            }
            let comm = ((reducer as? AllReduceReducer)?.seconds ?? 0) - reduced0
            // Every rank waits for the slowest: the step time is rank 0's after a barrier.
            let t = VocalBenchmark.median(times), c = comm / Double(repeats)
            return Step(processes: world.size, threadsPerRank: threads, globalBatch: batch, stepSeconds: t,
                        allReduceSeconds: c, communicationFraction: t > 0 ? c / t : 0, gradientBytes: step.gradientBytes)
        }
    }

    /// All-reduce of `bytes` in several bucket sizes (each rank's buffers sized like a model's
    /// gradients: many tensors of 1 MiB and a few small ones).
    static func measureAllReduce(bytes: Int, buckets: [Int], repeats: Int, world: Communicator) -> [AllReduce] {
        let floats = bytes / 4
        var sizes: [Int] = []
        var left = floats
        while left > 0 {
            let n = min(left, sizes.count % 4 == 3 ? 1024 : 262_144)
            sizes.append(n); left -= n
        }
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        defer { storage.deallocate() }
        storage.initialize(repeating: Float(world.rank), count: floats)
        var buffers: [UnsafeMutableBufferPointer<Float>] = []
        var at = 0
        for n in sizes { buffers.append(UnsafeMutableBufferPointer(start: storage + at, count: n)); at += n }
        return buckets.map { bucket in
            let c = world.withBucketBytes(bucket)
            c.allReduceAverage(buffers)
            var times: [Double] = []
            for _ in 0..<repeats {
                world.barrier()
                times.append(seconds { c.allReduceAverage(buffers) })
            }
            let t = VocalBenchmark.median(times), n = Double(world.size)
            return AllReduce(processes: world.size, bucketBytes: bucket, bytes: 4 * floats, seconds: t, bestSeconds: times.min() ?? t,
                             algorithmGBps: Double(4 * floats) / t / 1e9,
                             busGBps: 2 * (n - 1) / n * Double(4 * floats) / t / 1e9)
        }
    }

    /// The worker run by each rank under `mpirun`; rank 0 returns the figures.
    public static func worker(recipePath: String, batch: Int, repeats: Int, allReduceBytes: Int) throws -> Worker? {
        let world = Communicator.world
        let recipe = try Recipe.load(path: recipePath, kinds: ModelKind.builtIn.map(\.schema))
        let buckets = [256 << 10, 1 << 20, 4 << 20, 16 << 20]
        let allReduce = measureAllReduce(bytes: allReduceBytes, buckets: buckets, repeats: repeats, world: world)
        let step = try measureStep(recipe: recipe, batch: batch, repeats: repeats, world: world)
        return world.isRoot ? Worker(allReduce: allReduce, step: step) : nil
    }

    /// The whole benchmark from one process: the 1-process figures here, the 2-process ones from
    /// `executable` under `mpirun` (skipped, with a note, when `mpirun` is missing).
    public static func run(executable: String, recipePath: String, batch: Int, baseRecipePath: String, baseWindowsPerRank: Int,
                           repeats: Int, allReduceBytes: Int) throws -> Result {
        let single = Communicator.single()
        let recipe = try Recipe.load(path: recipePath, kinds: ModelKind.builtIn.map(\.schema))
        guard recipe.modelKind == "vocal" else { throw TrainError("\(recipePath): model.kind is not \"vocal\"") }
        let one = try measureStep(recipe: recipe, batch: batch, repeats: repeats, world: single)

        var worker: Worker? = nil
        var note = "measured on a shared 2-core machine (loaded by other jobs); 2 processes share its cores"
        if let mpirun = Subprocess.find("mpirun") {
            let args = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2",
                        "--mca", "btl_vader_single_copy_mechanism", "none", "--mca", "mpi_yield_when_idle", "1",
                        executable, "bench", "distributed", "--worker", "--recipe", recipePath, "--batch", "\(batch)",
                        "--repeats", "\(repeats)", "--allreduce-mib", "\(allReduceBytes >> 20)"]
            let (status, out) = Subprocess.run(mpirun, args)
            guard status == 0, let line = out.split(separator: "\n").first(where: { $0.hasPrefix(workerPrefix) }) else {
                throw TrainError("the 2-process worker failed (mpirun exit \(status)): " + CommandLineError.oneLine(String(out.suffix(600))))
            }
            worker = try JSONDecoder().decode(Worker.self, from: Data(line.dropFirst(workerPrefix.count).utf8))
        } else {
            note += "; mpirun not found, so no 2-process figures"
        }

        let base = try Recipe.load(path: baseRecipePath, kinds: ModelKind.builtIn.map(\.schema))
        let baseStep = try measureStep(recipe: base, batch: baseWindowsPerRank, repeats: max(1, repeats / 2), world: single)
        let bucket = single.bucketBytes
        var projection: [Projection] = []
        for net in networks {
            for n in [8, 32, 128] {
                let comm = ringAllReduceSeconds(bytes: baseStep.gradientBytes, processes: n, bandwidthGBps: net.gbps,
                                                latency: net.latency, bucketBytes: bucket)
                let c = baseStep.stepSeconds
                projection.append(Projection(network: net.name, processes: n, bandwidthGBps: net.gbps, latencySeconds: net.latency,
                                             computeSeconds: c, allReduceSeconds: comm, efficiency: c / (c + comm),
                                             efficiencyOverlapped: c / max(c, comm)))
            }
        }
        return Result(note: note, recipe: recipePath, oneProcess: one, twoProcesses: worker,
                      speedup: worker.map { one.stepSeconds / $0.step.stepSeconds },
                      baseRecipe: baseRecipePath, baseWindowsPerRank: baseWindowsPerRank, baseComputeSeconds: baseStep.stepSeconds,
                      baseGradientBytes: baseStep.gradientBytes, bucketBytes: bucket, projection: projection)
    }

    /// How the worker's line starts on rank 0's stdout.
    public static let workerPrefix = "distributed-worker: "
}
