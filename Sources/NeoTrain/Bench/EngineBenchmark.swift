import Foundation
import NeoTensor

/// `neo-train bench engine`: throughput of the engine's hot paths, each also expressed as a
/// ratio over a reference measured in the same run (sgemm for compute-bound ops, memcpy for
/// memory-bound ones), because shared machines make absolute figures noisy.
public struct EngineBenchmarkResult: Codable, Sendable {
    public var threads: Int
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
    public var notes: [String: String]
}

public enum EngineBenchmark {
    /// Median wall time in seconds of `body` over `repeats` runs after `warmup` runs.
    static func time(warmup: Int = 2, repeats: Int, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var samples: [Double] = []
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// Runs every measurement; `quick` shrinks repeat counts (for tests of the command itself).
    public static func run(quick: Bool = false) -> EngineBenchmarkResult {
        let reps = quick ? 1 : 7
        let g = Generator(seed: 1)

        // sgemm reference: a 1024³ product through the same BLAS entry point the ops use.
        let n = 1024
        let a = Tensor.normal([n, n], generator: g), b = Tensor.normal([n, n], generator: g)
        let c = Tensor.empty([n, n])
        let tGemm = time(repeats: reps) {
            gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
        }
        let sgemm = 2.0 * Double(n * n * n) / tGemm / 1e9

        // memcpy reference: 64 MiB copied; bytes moved = read + write.
        let bytes = 64 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes); memset(dst, 0, bytes)
        let tCopy = time(repeats: reps * 2) { memcpy(dst, src, bytes) }
        let memcpyGBps = 2.0 * Double(bytes) / tCopy / 1e9

        // linear forward+backward: rows 4096, 512 → 2048. 3 products of 2·4096·512·2048 flops.
        let x = Tensor.normal([4096, 512], generator: g).requiringGrad()
        let w = Tensor.normal([2048, 512], std: 0.02, generator: g).requiringGrad()
        let bias = Tensor.zeros([2048]).requiringGrad()
        let gOut = Tensor.normal([4096, 2048], generator: g)
        let tLinear = time(repeats: reps) {
            let tape = Tape()
            let y = tape.record { linear(x, weight: w, bias: bias) }
            tape.backward(y, gradient: gOut)
            x.grad = nil; w.grad = nil; bias.grad = nil
        }
        let linearGF = 3.0 * 2.0 * 4096 * 512 * 2048 / tLinear / 1e9

        // attention forward+backward: B8 H8 T256 D64. Forward QKᵀ and PV, backward four products.
        let (B, H, T, D) = (8, 8, 256, 64)
        let q = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let k = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let v = Tensor.normal([B, H, T, D], generator: g).requiringGrad()
        let gAttn = Tensor.normal([B, H, T, D], generator: g)
        let tAttn = time(repeats: reps) {
            let tape = Tape()
            let y = tape.record { scaledDotProductAttention(q, k, v) }
            tape.backward(y, gradient: gAttn)
            q.grad = nil; k.grad = nil; v.grad = nil
        }
        let attnFlops = 6.0 * 2.0 * Double(B * H * T * T * D)
        let attnGF = attnFlops / tAttn / 1e9

        // layer norm forward+backward on 4096×512. Minimal traffic: forward reads x, writes y;
        // backward reads x and dy, writes dx: 5 tensors' bytes.
        let lx = Tensor.normal([4096, 512], generator: g).requiringGrad()
        let lw = Tensor.ones([512]).requiringGrad(), lb = Tensor.zeros([512]).requiringGrad()
        let lg = Tensor.normal([4096, 512], generator: g)
        let tLN = time(repeats: reps * 3) {
            let tape = Tape()
            let y = tape.record { layerNorm(lx, weight: lw, bias: lb) }
            tape.backward(y, gradient: lg)
            lx.grad = nil; lw.grad = nil; lb.grad = nil
        }
        let lnGBps = 5.0 * Double(4096 * 512 * 4) / tLN / 1e9

        // conv3d forward+backward: batch 2, 16 → 32 channels, 16³, kernel 3, padding 1.
        let cx = Tensor.normal([2, 16, 16, 16, 16], generator: g).requiringGrad()
        let cw = Tensor.normal([32, 16, 3, 3, 3], std: 0.05, generator: g).requiringGrad()
        let cb = Tensor.zeros([32]).requiringGrad()
        let cg = Tensor.normal([2, 32, 16, 16, 16], generator: g)
        let tConv = time(repeats: reps) {
            let tape = Tape()
            let y = tape.record { conv3d(cx, weight: cw, bias: cb, padding: [1, 1, 1]) }
            tape.backward(y, gradient: cg)
            cx.grad = nil; cw.grad = nil; cb.grad = nil
        }
        let convFlops = 3.0 * 2.0 * Double(2 * 32 * 16 * 27 * 16 * 16 * 16)
        let convGF = convFlops / tConv / 1e9

        return EngineBenchmarkResult(
            threads: EngineContext.current.threads,
            sgemm_gflops: sgemm, memcpy_gbps: memcpyGBps,
            linear_gflops: linearGF, linear_ratio: linearGF / sgemm,
            attention_gflops: attnGF, attention_ratio: attnGF / sgemm,
            layernorm_gbps: lnGBps, layernorm_ratio: lnGBps / memcpyGBps,
            conv3d_gflops: convGF, conv3d_ratio: convGF / sgemm,
            notes: [
                "flops": "linear 3·2·4096·512·2048; attention 6·2·B·H·T²·D; conv3d 3·2·N·O·C·27·16³ (forward + twice for backward)",
                "bytes": "memcpy counts read+write; layer norm counts x,y (forward) + x,dy,dx (backward)",
                "timing": "median of \(reps) runs after 2 warm-up runs (layer norm \(reps * 3), memcpy \(reps * 2))",
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
        """
    }
}
