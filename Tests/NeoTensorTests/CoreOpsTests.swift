import XCTest
import Foundation
import NeoTensor
import NeoTestSupport

/// Gradient and value tests of the core ops: every differentiable op against central finite
/// differences (eps 1e-2, |Δ| ≤ 2e-3 + 2e-2·|numeric|), with broadcasting both ways and
/// non-contiguous inputs.
final class CoreOpsTests: XCTestCase {

    func testBinaryOpsBroadcastBothWays() {
        // [3,1,4] with [2,4]: each operand broadcasts along a different dim.
        let ops: [(String, (Tensor, Tensor) -> Tensor)] = [
            ("add", { $0 + $1 }), ("sub", { $0 - $1 }), ("mul", { $0 * $1 }),
            ("div", { $0 / ($1.square() + 0.5) }), ("maximum", { $0.maximum($1) }), ("minimum", { $0.minimum($1) }),
            ("pow", { ($0.square() + 0.5).pow($1) }),
        ]
        for (name, op) in ops {
            let a = randn([3, 1, 4], seed: 1), b = randn([2, 4], seed: 2)
            let r = gradCheck([a, b]) { op($0[0], $0[1]) }
            XCTAssertTrue(r.passed, "\(name): \(r)")
        }
    }

    func testNonContiguousInputs() {
        let base = randn([4, 3], seed: 3)
        let other = randn([3, 4], seed: 4)
        // A transposed view and a strided slice as direct inputs.
        let t = base.transpose(0, 1)  // [3,4], non-contiguous
        XCTAssertFalse(t.isContiguous)
        assertGradCheck([t, other]) { $0[0] * $0[1] + $0[0].exp() }
        let s = randn([4, 6], seed: 5).slice(dim: 1, start: 1, end: 6, step: 2)  // [4,3]
        XCTAssertFalse(s.isContiguous)
        assertGradCheck([s]) { $0[0].tanh() * $0[0] }
    }

    func testUnaryOps() {
        let pos = Tensor.uniform([2, 5], low: 0.5, high: 2, generator: Generator(seed: 9))
        let any = randn([2, 5], seed: 10)
        assertGradCheck([pos]) { $0[0].log() }
        assertGradCheck([pos]) { $0[0].sqrt() }
        assertGradCheck([pos]) { $0[0].rsqrt() }
        assertGradCheck([pos]) { $0[0].pow(1.7) }
        for (name, f) in [("exp", { (x: Tensor) in x.exp() }), ("tanh", { $0.tanh() }), ("sigmoid", { $0.sigmoid() }),
                          ("sin", { $0.sin() }), ("cos", { $0.cos() }), ("square", { $0.square() }),
                          ("neg", { -$0 }), ("affine", { $0 * 3 + 1 }), ("rdiv", { 2 / ($0.square() + 1) })] as [(String, (Tensor) -> Tensor)] {
            let r = gradCheck([any]) { f($0[0]) }
            XCTAssertTrue(r.passed, "\(name): \(r)")
        }
        // Kinks away from the sample points.
        let away = Tensor([-1.5, -0.7, 0.6, 1.2, 2.5, -2.4])
        assertGradCheck([away]) { $0[0].abs() }
        assertGradCheck([away]) { $0[0].relu() }
        assertGradCheck([away]) { $0[0].clamp(min: -1, max: 1) }
    }

    func testWhere() {
        let c = Tensor([1, 0, 1, 0], shape: [4])
        let a = randn([3, 4], seed: 11), b = randn([1, 4], seed: 12)
        assertGradCheck([a, b]) { Tensor.where(c, $0[0], $0[1]) }
        let v = Tensor.where(c, Tensor.full([4], 5), Tensor.full([4], -5)).toArray()
        XCTAssertEqual(v, [5, -5, 5, -5])
    }

    func testReductions() {
        let x = randn([3, 4, 5], seed: 13)
        // Distinct values 0.05 apart, shuffled, so ±eps never changes which element is extreme.
        var order = Array(0..<60)
        let g = Generator(seed: 99)
        for i in stride(from: 59, to: 0, by: -1) { order.swapAt(i, g.nextInt(i + 1)) }
        let separated = Tensor(order.map { Float($0) * 0.05 - 1.5 }, shape: [3, 4, 5])
        for axes in [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]] {
            for keep in [false, true] {
                assertGradCheck([x]) { $0[0].sum(axes: axes, keepDims: keep) }
                assertGradCheck([x]) { $0[0].mean(axes: axes, keepDims: keep) }
                assertGradCheck([x]) { $0[0].variance(axes: axes, keepDims: keep) }
                assertGradCheck([separated]) { $0[0].max(axes: axes, keepDims: keep) }
                assertGradCheck([separated]) { $0[0].min(axes: axes, keepDims: keep) }
            }
        }
        let y = Tensor([1, 5, 2, 7, 0, 3], shape: [2, 3])
        XCTAssertEqual(y.sum(axes: [1]).toArray(), [8, 10])
        XCTAssertEqual(y.max(axes: [0]).toArray(), [7, 5, 3])
        XCTAssertEqual(y.argmax(dim: 1).toArray(), [1, 0])
        XCTAssertEqual(y.sum(axes: [0], keepDims: true).shape, [1, 3])
        XCTAssertEqual(Double(y.variance().item), 6.8, accuracy: 1e-5)  // Σ(x−3)² = 34, /5
    }

    func testTiedMaxSharesGradient() {
        let x = Tensor([2, 2, 1], requiresGrad: true)
        let tape = Tape()
        let y = tape.record { x.max() }
        tape.backward(y)
        XCTAssertEqual(x.grad!.toArray(), [0.5, 0.5, 0])
    }

    func testMatmulAndTransposeFlags() {
        let a = randn([2, 3, 4], seed: 14), b = randn([4, 5], seed: 15)
        assertGradCheck([a, b]) { $0[0].matmul($0[1]) }
        // Transposed views go to BLAS as flags: the result must equal the copied version.
        let at = randn([4, 3], seed: 16).mT
        let r1 = at.matmul(b), r2 = at.contiguous().matmul(b)
        XCTAssertLessThan(maxAbsoluteError(r1, r2), 1e-6)
        assertGradCheck([randn([4, 3], seed: 17).mT, randn([5, 4], seed: 18).mT]) { $0[0].matmul($0[1]) }
        // Batch broadcasting in both directions.
        assertGradCheck([randn([2, 1, 3, 4], seed: 19), randn([3, 4, 2], seed: 20)]) { $0[0].matmul($0[1]) }
        // Vectors.
        assertGradCheck([randn([4], seed: 21), randn([4, 3], seed: 22)]) { $0[0].matmul($0[1]) }
        // Known values.
        let p = Tensor([1, 2, 3, 4], shape: [2, 2]), q = Tensor([5, 6, 7, 8], shape: [2, 2])
        XCTAssertEqual(p.matmul(q).toArray(), [19, 22, 43, 50])
    }

    func testViews() {
        let x = randn([2, 3, 4], seed: 23)
        assertGradCheck([x]) { $0[0].permute([2, 0, 1]).reshape([4, 6]) * Tensor.arange(0, 6) }
        assertGradCheck([x]) { $0[0].slice(dim: 2, start: 1, end: 4, step: 2).exp() }
        assertGradCheck([randn([3, 1], seed: 24)]) { $0[0].expand([2, 3, 5]) * randn([2, 3, 5], seed: 25) }
        assertGradCheck([x]) { $0[0].unsqueeze(1).squeeze(1).transpose(0, 2).contiguous() }
        XCTAssertEqual(x.reshape([-1, 4]).shape, [6, 4])
        let ar = Tensor.arange(0, 6).reshape([2, 3])
        XCTAssertEqual(ar.mT.contiguous().toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(ar.slice(dim: 1, start: 1, end: 3).toArray(), [1, 2, 4, 5])
    }

    func testGradientAccumulatesAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        for _ in 0..<2 {
            let tape = Tape()
            let y = tape.record { (x * x).sum() }
            y.backward()
        }
        XCTAssertEqual(x.grad!.toArray(), [4, 8, 12])
    }

    func testNoGradAndDetachStopRecording() {
        let x = Tensor([1, 2], requiresGrad: true)
        let tape = Tape()
        tape.record {
            _ = noGrad { x * 2 }
            _ = x.detach() * 3
        }
        XCTAssertEqual(tape.count, 0)
    }

    func testCheckpointMatchesPlainBackward() {
        let w = randn([4, 4], seed: 30).requiringGrad()
        let x = randn([3, 4], seed: 31).requiringGrad()
        let gen = Generator(seed: 5)
        func block(_ h: Tensor) -> Tensor {
            // Uses the generator so the recomputation must restore its state.
            let noise = Tensor.uniform(h.shape, generator: gen)
            return (h.matmul(w).tanh() * noise).sum()
        }
        let t1 = Tape()
        let state = gen.state
        let y1 = t1.record { block(x) }
        t1.backward(y1)
        let gw = w.grad!.toArray(), gx = x.grad!.toArray()
        w.grad = nil; x.grad = nil
        gen.state = state
        let t2 = Tape()
        let y2 = t2.record { checkpoint([x], generator: gen) { block($0[0]) } }
        XCTAssertEqual(y1.item, y2.item)
        t2.backward(y2)
        XCTAssertEqual(w.grad!.toArray(), gw)
        XCTAssertEqual(x.grad!.toArray(), gx)
    }

    func testGeneratorIsDeterministicAndRestorable() {
        let g = Generator(seed: 42)
        let a = Tensor.normal([1000], generator: g)
        let saved = g.state
        let b = Tensor.uniform([10], generator: g)
        g.state = saved
        let c = Tensor.uniform([10], generator: g)
        XCTAssertEqual(b.toArray(), c.toArray())
        XCTAssertEqual(Tensor.normal([1000], generator: Generator(seed: 42)).toArray(), a.toArray())
        let v = a.toArray().map(Double.init)
        let mean = v.reduce(0, +) / 1000
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 999).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.1)
        XCTAssertEqual(sd, 1, accuracy: 0.1)
        XCTAssertNotEqual(g.derived(1, 2).state, g.derived(2, 1).state)
    }

    func testPoolReusesBuffersOnceWarm() {
        let ctx = EngineContext()
        ctx.run {
            let w = randn([64, 64], seed: 1).requiringGrad()
            func step() {
                let tape = Tape()
                let x = Tensor.ones([32, 64])
                let y = tape.record { (x.matmul(w).tanh() * 2 + 1).square().mean() }
                tape.backward(y)
                w.grad = nil
            }
            step(); step()
            let before = ctx.pool.systemAllocations
            for _ in 0..<5 { step() }
            XCTAssertEqual(ctx.pool.systemAllocations, before, "a warm step allocated new buffers")
        }
    }

    func testOpWithoutBackwardTrapsWithMessage() throws {
        let probe = Bundle.main.bundleURL.appendingPathComponent("neo-tensor-probe")
        func run(_ arg: String) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = probe
            p.arguments = [arg]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let (code, out) = try run("round-needs-grad")
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("op 'round' has no backward"), out)
        let (code2, out2) = try run("round-detached")
        XCTAssertEqual(code2, 0, out2)
        XCTAssertTrue(out2.contains("ok"))
    }
}
