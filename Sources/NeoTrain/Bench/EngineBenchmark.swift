import Foundation
import NeoTensor

/// `neo-train bench engine`: throughput of the engine's hot paths, each also expressed as a
/// ratio over a reference (sgemm for compute-bound ops, memcpy for memory-bound ones), because
/// shared machines make absolute figures noisy. The reference is measured right before and
/// right after every measured op, in several interleaved rounds, and each ratio is the median
/// of the per-round ratios: a machine whose load changes between two ops no longer skews the
/// comparison the way one reference measured minutes earlier did.
public struct EngineBenchmarkResult: Codable, Sendable {
    public var threads: Int
    public var rounds: Int
    public var sgemm_gflops: Double
    public var memcpy_gbps: Double
    public var linear_gflops: Double
    public var linear_ratio: Double
    public var attention_gflops: Double
    public var attention_ratio: Double
    public var layernorm_gbps: Double
    public var layernorm_ratio: Double
    public var conv3d_gflops: Double
    public var conv3d_ratio: Double
    /// Ratios that cannot be right (a compute op faster than sgemm by more than
    /// `EngineBenchmark.ratioLimit`): one line each; empty when the run is consistent.
    public var measurement_errors: [String]
    public var notes: [String: String]
}

public enum EngineBenchmark {
    /// A compute-bound op built on sgemm cannot beat sgemm; above this ratio the measurement
    /// (not the op) is wrong, usually because the machine's load changed within a round.
    public static let ratioLimit = 1.05

    /// Median wall time in seconds of `body` over `repeats` runs after `warmup` runs.
    static func time(warmup: Int = 1, repeats: Int, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var samples: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return median(samples)
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        if s.isEmpty { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// One measured op: its work per run (flops or bytes) and the body that does it.
    public struct Op {
        public var name: String
        public var work: Double
        public var body: () -> Void
        public init(name: String, work: Double, body: @escaping () -> Void) {
            self.name = name; self.work = work; self.body = body
        }
    }

    /// Throughput of a reference and of ops against it, medians over interleaved rounds.
    public struct Interleaved: Equatable, Sendable {
        /// Work per second of the reference: the median over every reference measurement.
        public var reference: Double
        /// Per op: the median throughput and the median of the per-round ratios.
        public var throughput: [Double]
        public var ratio: [Double]
    }

    /// Runs `rounds` rounds; in each, every op is measured between two measurements of the
    /// reference (reference, op, reference, next op, reference, …), and the op's ratio in that
    /// round is its throughput over the mean of the two reference throughputs around it.
    /// `measure` returns the seconds one run of a body takes (the wall clock by default; tests
    /// pass a scripted clock).
    public static func interleaved(rounds: Int, reference: Op, ops: [Op],
                                   measure: (Op) -> Double) -> Interleaved {
        var refSamples: [Double] = []
        var opSamples = [[Double]](repeating: [], count: ops.count)
        var ratios = [[Double]](repeating: [], count: ops.count)
        for _ in 0..<max(1, rounds) {
            var before = reference.work / measure(reference)
            refSamples.append(before)
            for (i, op) in ops.enumerated() {
                let rate = op.work / measure(op)
                let after = reference.work / measure(reference)
                refSamples.append(after)
                opSamples[i].append(rate)
                ratios[i].append(rate / ((before + after) / 2))
                before = after
            }
        }
        return Interleaved(reference: median(refSamples), throughput: opSamples.map(median), ratio: ratios.map(median))
    }

    /// The measurement-error lines for compute ops whose ratio over sgemm exceeds `ratioLimit`.
    public static func measurementErrors(_ ratios: [(name: String, ratio: Double)]) -> [String] {
        ratios.filter { !($0.ratio <= ratioLimit) }.map {
            String(format: "%@ at %.2f× sgemm is impossible for an op built on sgemm (limit %.2f): the machine's load changed during the run; rerun on a quiet machine", $0.name, $0.ratio, ratioLimit)
        }
    }

    /// Runs every measurement; `quick` runs one round of one repetition (for tests of the
    /// command itself).
    public static func run(quick: Bool = false) -> EngineBenchmarkResult {
        let reps = quick ? 1 : 5
        let rounds = quick ? 1 : 9
        let g = Generator(seed: 1)
        let wall: (Op) -> Double = { op in time(repeats: reps, op.body) }

        // sgemm reference: a 1024³ product through the same BLAS entry point the ops use.
        let n = 1024
        let a = Tensor.normal([n, n], generator: g), b = Tensor.normal([n, n], generator: g)
        let c = Tensor.empty([n, n])
        let sgemm = Op(name: "sgemm", work: 2.0 * Double(n * n * n)) {
            gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
        }

        // memcpy reference: 64 MiB copied; bytes moved = read + write.
        let bytes = 64 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes); memset(dst, 0, bytes)
        let memcpyOp = Op(name: "memcpy", work: 2.0 * Double(bytes)) { memcpy(dst, src, bytes) }

        // linear forward+backward: rows 4096, 512 → 2048. 3 products of 2·4096·512·2048 flops.
        let x = Tensor.normal([4096, 512], generator: g).requiringGrad()
        let w = Tensor.normal([2048, 512], std: 0.02, generator: g).requiringGrad()
        let bias = Tensor.zeros([2048]).requiringGrad()
        let gOut = Tensor.normal([4096, 2048], generator: g)
        let linearOp = Op(name: "linear", work: 3.0 * 2.0 * 4096 * 512 * 2048) {
            let tape = Tape()
            let y = tape.record { linear(x, weight: w, bias: bias) }
            tape.backward(y, gradient: gOut)
            x.grad = nil; w.grad = nil; bias.grad = nil
        }

        // attention forward+backward: B8 H8 T256 D64. Forward QKᵀ and PV, backward four products.
        let (B, H, T, D) = (8, 8, 256, 64)
        let q = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let k = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let v = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let gAttn = Tensor.normal([B, H, T, D], generator: g)
        let attentionOp = Op(name: "attention", work: 6.0 * 2.0 * Double(B * H * T * T * D)) {
            let tape = Tape()
            let y = tape.record { scaledDotProductAttention(q, k, v) }
            tape.backward(y, gradient: gAttn)
            q.grad = nil; k.grad = nil; v.grad = nil
        }

        // layer norm forward+backward on 4096×512. Minimal traffic: forward reads x, writes y;
        // backward reads x and dy, writes dx: 5 tensors' bytes.
        let lx = Tensor.normal([4096, 512], generator: g).requiringGrad()
        let lw = Tensor.ones([512]).requiringGrad(), lb = Tensor.zeros([512]).requiringGrad()
        let lg = Tensor.normal([4096, 512], generator: g)
        let layerNormOp = Op(name: "layer norm", work: 5.0 * Double(4096 * 512 * 4)) {
            let tape = Tape()
            let y = tape.record { layerNorm(lx, weight: lw, bias: lb) }
            tape.backward(y, gradient: lg)
            lx.grad = nil; lw.grad = nil; lb.grad = nil
        }

        // conv3d forward+backward: batch 2, 16 → 32 channels, 16³, kernel 3, padding 1.
        let cx = Tensor.normal([2, 16, 16, 16, 16], generator: g).requiringGrad()
        let cw = Tensor.normal([32, 16, 3, 3, 3], std: 0.05, generator: g).requiringGrad()
        let cb = Tensor.zeros([32]).requiringGrad()
        let cg = Tensor.normal([2, 32, 16, 16, 16], generator: g)
        let convOp = Op(name: "conv3d", work: 3.0 * 2.0 * Double(2 * 32 * 16 * 27 * 16 * 16 * 16)) {
            let tape = Tape()
            let y = tape.record { conv3d(cx, weight: cw, bias: cb, padding: [1, 1, 1]) }
            tape.backward(y, gradient: cg)
            cx.grad = nil; cw.grad = nil; cb.grad = nil
        }

        let compute = interleaved(rounds: rounds, reference: sgemm, ops: [linearOp, attentionOp, convOp], measure: wall)
        let memory = interleaved(rounds: rounds, reference: memcpyOp, ops: [layerNormOp], measure: wall)
        let errors = measurementErrors([("linear", compute.ratio[0]), ("attention", compute.ratio[1]), ("conv3d", compute.ratio[2])])

        return EngineBenchmarkResult(
            threads: EngineContext.current.threads, rounds: rounds,
            sgemm_gflops: compute.reference / 1e9, memcpy_gbps: memory.reference / 1e9,
            linear_gflops: compute.throughput[0] / 1e9, linear_ratio: compute.ratio[0],
            attention_gflops: compute.throughput[1] / 1e9, attention_ratio: compute.ratio[1],
            layernorm_gbps: memory.throughput[0] / 1e9, layernorm_ratio: memory.ratio[0],
            conv3d_gflops: compute.throughput[2] / 1e9, conv3d_ratio: compute.ratio[2],
            measurement_errors: errors,
            notes: [
                "flops": "linear 3·2·4096·512·2048; attention 6·2·B·H·T²·D; conv3d 3·2·N·O·C·27·16³ (forward + twice for backward)",
                "bytes": "memcpy counts read+write; layer norm counts x,y (forward) + x,dy,dx (backward)",
                "timing": "\(rounds) interleaved rounds (reference, op, reference, next op, …); each measurement the median of \(reps) runs after a warm-up run; each ratio the median over rounds of op / mean of the references around it",
            ])
    }
}

extension EngineBenchmark {
    public static func json(_ r: EngineBenchmarkResult) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(r), as: UTF8.self)
    }

    public static func table(_ r: EngineBenchmarkResult) -> String {
        func f(_ v: Double) -> String { String(format: "%8.2f", v) }
        return """
        engine benchmark (\(r.threads) threads)
          sgemm 1024³            \(f(r.sgemm_gflops)) GFLOP/s   (reference)
          memcpy 64 MiB          \(f(r.memcpy_gbps)) GB/s      (reference)
          linear fwd+bwd         \(f(r.linear_gflops)) GFLOP/s   ratio \(String(format: "%.2f", r.linear_ratio)) of sgemm
          attention fwd+bwd      \(f(r.attention_gflops)) GFLOP/s   ratio \(String(format: "%.2f", r.attention_ratio)) of sgemm
          layer norm fwd+bwd     \(f(r.layernorm_gbps)) GB/s      ratio \(String(format: "%.2f", r.layernorm_ratio)) of memcpy
          conv3d fwd+bwd         \(f(r.conv3d_gflops)) GFLOP/s   ratio \(String(format: "%.2f", r.conv3d_ratio)) of sgemm
          (medians of \(r.rounds) interleaved rounds)
        """ + r.measurement_errors.map { "\nMEASUREMENT ERROR: " + $0 }.joined()
    }
}
