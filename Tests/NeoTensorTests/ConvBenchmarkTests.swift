import XCTest
import Foundation
import NeoTensor
import NeoTestSupport

/// Throughput of conv3d forward+backward (batch 2, 16→32 channels, 16³, kernel 3, padding 1)
/// next to a 1024³ sgemm in the same run; issue 2 asks for a ratio ≥ 0.25. Counts
/// 2·N·O·(C/g)·k³·positions FLOPs forward and twice that backward. Only runs with NEO_BENCH=1,
/// meant for a release build:
///     NEO_BENCH=1 swift test -c release --filter ConvBenchmarkTests
/// It prints the figures (with the engine's threads, then with one thread, which is steadier on
/// a shared machine) and asserts only that the timed steps computed real gradients.
final class ConvBenchmarkTests: XCTestCase {
    /// Best wall-clock seconds of `reps` runs after one warm-up run.
    func seconds(_ reps: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return best
    }

    func measure() -> String {
        let a = randn([1024, 1024], seed: 1), b = randn([1024, 1024], seed: 2)
        let sgemmGflops = 2 * pow(1024.0, 3) / seconds(10) { _ = a.matmul(b) } / 1e9

        let x = randn([2, 16, 16, 16, 16], seed: 3).requiringGrad()
        let w = (randn([32, 16, 3, 3, 3], seed: 4) * 0.1).requiringGrad()
        let bias = randn([32], seed: 5).requiringGrad()
        let g = randn([2, 32, 16, 16, 16], seed: 6)
        let forwardFlops = 2.0 * 2 * 32 * 16 * 27 * 4096
        let step = seconds(10) {
            x.grad = nil; w.grad = nil; bias.grad = nil
            let tape = Tape()
            let y = tape.record { conv3d(x, weight: w, bias: bias, padding: [1, 1, 1]) }
            tape.backward(y, gradient: g)
        }
        XCTAssertGreaterThan(Double(w.grad!.abs().sum().item), 0)
        XCTAssertGreaterThan(Double(x.grad!.abs().sum().item), 0)
        XCTAssertGreaterThan(Double(bias.grad!.abs().sum().item), 0)
        let forward = seconds(10) { _ = conv3d(x, weight: w, bias: bias, padding: [1, 1, 1]) }
        let convGflops = 3 * forwardFlops / step / 1e9
        return String(format: "threads %d: sgemm 1024³ %.1f GFLOP/s; conv3d fwd+bwd %.2f ms = %.1f GFLOP/s, ratio %.3f; forward alone %.2f ms = %.1f GFLOP/s",
                      EngineContext.current.threads, sgemmGflops, step * 1e3, convGflops, convGflops / sgemmGflops,
                      forward * 1e3, forwardFlops / forward / 1e9)
    }

    func testConv3dThroughput() throws {
        guard ProcessInfo.processInfo.environment["NEO_BENCH"] == "1" else { throw XCTSkip("set NEO_BENCH=1 to run the benchmark") }
        print(measure())
        // Create the default context first: its lazy creation inside run() would reset
        // OpenBLAS to the default thread count.
        _ = EngineContext.current
        print(EngineContext(threads: 1).run { measure() })
    }
}
