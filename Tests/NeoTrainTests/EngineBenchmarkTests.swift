import XCTest
import NeoTrain

/// The engine benchmark's interleaving and its measurement-error flag, driven by a scripted
/// clock (the benchmark itself is measured by `neo-train bench engine`, never by a test).
final class EngineBenchmarkTests: XCTestCase {
    /// Reference and ops alternate (ref, op1, ref, op2, ref per round); each round's ratio uses
    /// the two references around the op, and the reported figures are medians over rounds. A
    /// round whose machine slowed down (everything twice as slow) leaves the ratios unchanged,
    /// where a reference taken once at the start would halve them.
    func testInterleavedRoundsUseTheReferencesAroundEachOp() {
        var calls: [String] = []
        let ref = EngineBenchmark.Op(name: "ref", work: 100) {}
        let a = EngineBenchmark.Op(name: "a", work: 50) {}
        let b = EngineBenchmark.Op(name: "b", work: 80) {}
        // Seconds per run: ref 1, a 1, b 2 (ratios 0.5 and 0.4); the second round runs on a
        // machine twice as slow for everything, the third on one twice as fast.
        let slowdown: [Double] = [1, 2, 0.5]
        let r = EngineBenchmark.interleaved(rounds: 3, reference: ref, ops: [a, b]) { op in
            calls.append(op.name)
            let round = (calls.count - 1) / 5   // five measurements per round
            let base = op.name == "b" ? 2.0 : 1.0
            return base * slowdown[min(round, 2)]
        }
        XCTAssertEqual(calls, Array(repeating: ["ref", "a", "ref", "b", "ref"], count: 3).flatMap { $0 })
        XCTAssertEqual(r.ratio[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.ratio[1], 0.4, accuracy: 1e-12)
        XCTAssertEqual(r.throughput[0], 50, accuracy: 1e-12)   // median of 50, 25, 100
        XCTAssertEqual(r.reference, 100, accuracy: 1e-12)
    }

    /// A compute op faster than sgemm by more than 5% is reported as a measurement error; 1.0
    /// and 1.05 are not; NaN (a broken timer) is.
    func testRatiosAboveTheLimitAreMeasurementErrors() {
        let errors = EngineBenchmark.measurementErrors([("linear", 1.64), ("attention", 1.05), ("conv3d", 0.4), ("x", .nan)])
        XCTAssertEqual(errors.count, 2)
        XCTAssertTrue(errors[0].hasPrefix("linear at 1.64× sgemm is impossible"), errors[0])
        XCTAssertTrue(errors[1].hasPrefix("x at nan"), errors[1])
        XCTAssertTrue(EngineBenchmark.measurementErrors([("linear", 0.9)]).isEmpty)
    }
}
