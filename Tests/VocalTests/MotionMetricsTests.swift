import Foundation
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

final class MotionMetricsTests: XCTestCase {
    /// A 70-number clip whose dim d at frame t is f(t, d).
    private func clip(frames: Int, dim: Int = 70, _ f: (Int, Int) -> Float) -> MotionClip {
        var v: [Float] = []
        for t in 0..<frames { for d in 0..<dim { v.append(f(t, d)) } }
        return MotionClip(values: v, frames: frames, dim: dim)
    }

    /// A smooth random track (sum of a few sines with random phases).
    private func smoothTrack(_ n: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        let parts = (0..<4).map { _ in (0.1 + 0.5 * g.nextUniform(), 2 * Double.pi * g.nextUniform()) }
        return (0..<n).map { t in Float(parts.reduce(0.0) { $0 + sin($1.0 * Double(t) + $1.1) }) }
    }

    func testLipOpeningUsesTheDocumentedKeypoints() {
        let c = clip(frames: 3) { t, d in
            switch d {
            case 14 * 3 + 1: return Float(t) + 2    // upper lip y (synthetic layout)
            case 12 * 3 + 1: return -Float(t)       // lower lip y
            case 19 * 3 + 1: return 0.5 * Float(t)  // LivePortrait lower lip y (down)
            case 17 * 3 + 1: return 0.1
            default: return 7
            }
        }
        XCTAssertEqual(MotionMetrics.lipOpening(c), [2, 4, 6])
        let lp = MotionMetrics.lipOpening(c, geometry: .livePortrait)
        for (a, b) in zip(lp, [-0.1, 0.4, 0.9] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(Set(LipGeometry.synthetic.upper + LipGeometry.synthetic.lower).isSubset(of: Set(LipGeometry.lipKeypoints)), true)
        XCTAssertEqual(Set(LipGeometry.livePortrait.upper + LipGeometry.livePortrait.lower).isSubset(of: Set(LipGeometry.lipKeypoints)), true)
    }

    func testEnergyEnvelopeAndCorrelation() {
        // 3 frames of a 0.5-amplitude 400 Hz sine, then 1 frame of silence, then half a frame.
        var samples = (0..<(3 * 640)).map { Float(0.5 * sin(2 * Double.pi * 400 * Double($0) / 16_000)) }
        samples += Array(repeating: 0, count: 640) + Array(repeating: 0.25, count: 320)
        let env = MotionMetrics.audioEnergyEnvelope(samples)
        XCTAssertEqual(env.count, 5)
        for t in 0..<3 { XCTAssertEqual(env[t], 0.5 / Float(2.0.squareRoot()), accuracy: 1e-4) }
        XCTAssertEqual(env[3], 0)
        XCTAssertEqual(env[4], 0.25, accuracy: 1e-6)
        XCTAssertEqual(MotionMetrics.pearson([1, 2, 3, 4], [2, 4, 6, 8]), 1, accuracy: 1e-12)
        XCTAssertEqual(MotionMetrics.pearson([1, 2, 3, 4], [8, 6, 4, 2]), -1, accuracy: 1e-12)
        XCTAssertEqual(MotionMetrics.pearson([1, 1, 1], [1, 2, 3]), 0)
        // Lip-sync correlation of a clip whose opening is an affine copy of the track is 1.
        let track = smoothTrack(50, seed: 1)
        let c = clip(frames: 50) { t, d in d == 14 * 3 + 1 ? 3 * track[t] + 1 : 0 }
        XCTAssertEqual(MotionMetrics.lipSyncCorrelation(c, track: track), 1, accuracy: 1e-6)
    }

    func testSyncOffsetFindsAKnownLag() {
        let audio = smoothTrack(120, seed: 2)
        for lag in [-6, 0, 4, 15] {
            // The motion lags the audio by `lag` frames: m[t] = a[t − lag].
            let motion = (0..<120).map { t in audio[min(max(t - lag, 0), 119)] }
            let r = MotionMetrics.syncOffset(motion: motion, audio: audio, maxOffset: 15)
            XCTAssertEqual(r.offset, lag)
            XCTAssertEqual(r.distances.count, 31)
            XCTAssertLessThan(r.minDistance, 0.02, "lag \(lag)")
            XCTAssertGreaterThan(r.confidence, 0.5, "lag \(lag)")
        }
        // Unrelated tracks: low confidence.
        let ng = Generator(seed: 3)
        let noise = (0..<120).map { _ in Float(2 * ng.nextUniform() - 1) }
        let r = MotionMetrics.syncOffset(motion: noise, audio: audio)
        XCTAssertGreaterThan(r.minDistance, 0.3)
    }

    func testJitterExpressionRangeAndPoseDiversity() {
        // x(t) = 0.01·t³ has third difference 0.06 everywhere; a linear drift has none.
        let cubic = clip(frames: 20, dim: 2) { t, d in d == 0 ? 0.01 * Float(t * t * t) : 0.3 * Float(t) }
        XCTAssertEqual(MotionMetrics.jitter(cubic, dims: 0..<1), 0.06, accuracy: 1e-4)
        XCTAssertEqual(MotionMetrics.jitter(cubic, dims: 1..<2), 0, accuracy: 1e-5)
        XCTAssertEqual(MotionMetrics.jitter(cubic), 0.03, accuracy: 1e-4)
        // Alternating ±a has population std a.
        let c = clip(frames: 10) { t, d in
            let s: Float = t % 2 == 0 ? 1 : -1
            if d < 63 { return s * (d < 30 ? 0.2 : 0.4) }
            if d >= 67 { return 5 + s * 3 }
            return 1
        }
        XCTAssertEqual(MotionMetrics.expressionRange(c), (30 * 0.2 + 33 * 0.4) / 63, accuracy: 1e-6)
        XCTAssertEqual(MotionMetrics.headPoseDiversity(c), 3, accuracy: 1e-6)
    }

    func testJacobiEigendecomposition() {
        let two = MotionMetrics.symmetricEigen([2, 1, 1, 2], n: 2)
        XCTAssertEqual(two.values[0], 1, accuracy: 1e-12)
        XCTAssertEqual(two.values[1], 3, accuracy: 1e-12)
        let n = 12
        let g = Generator(seed: 5)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { let v = g.nextNormal(); a[i * n + j] = v; a[j * n + i] = v } }
        let (values, vectors) = MotionMetrics.symmetricEigen(a, n: n)
        XCTAssertEqual(values, values.sorted())
        var worst = 0.0, orth = 0.0
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0, o = 0.0
                for k in 0..<n { s += vectors[i * n + k] * values[k] * vectors[j * n + k]; o += vectors[k * n + i] * vectors[k * n + j] }
                worst = max(worst, abs(s - a[i * n + j]))
                orth = max(orth, abs(o - (i == j ? 1 : 0)))
            }
        }
        XCTAssertLessThan(worst, 1e-10, "V·Λ·Vᵀ reconstructs A")
        XCTAssertLessThan(orth, 1e-10, "V is orthonormal")
    }

    func testFrechetDistanceClosedForms() {
        let g = Generator(seed: 6)
        func gaussian(_ n: Int, mean: [Double], std: [Double]) -> [[Double]] {
            (0..<n).map { _ in zip(mean, std).map { $0 + $1 * g.nextNormal() } }
        }
        let a = gaussian(3000, mean: [0, 1, -1], std: [1, 0.5, 2])
        let b = gaussian(3000, mean: [0.5, 1, 0], std: [1.5, 0.5, 1])
        let sa = MotionMetrics.gaussianStatistics(a), sb = MotionMetrics.gaussianStatistics(b)
        // Closed form for diagonal covariances from the sample statistics themselves (their
        // off-diagonal entries are near 0): Σ (μ₁ − μ₂)² + (σ₁ − σ₂)².
        var closed = 0.0
        for i in 0..<3 {
            closed += pow(sa.mean[i] - sb.mean[i], 2) + pow(sa.covariance[i * 4].squareRoot() - sb.covariance[i * 4].squareRoot(), 2)
        }
        let fd = MotionMetrics.frechetDistance(sa, sb)
        XCTAssertEqual(fd, closed, accuracy: 0.02)
        XCTAssertEqual(fd, 0.25 + 0.25 + 1 + 1 + 0, accuracy: 0.15, "population value")
        XCTAssertEqual(MotionMetrics.frechetDistance(sb, sa), fd, accuracy: 1e-9, "symmetric")
        XCTAssertEqual(MotionMetrics.frechetDistance(sa, sa), 0, accuracy: 1e-8)
        // 1-D exactly: (μ₁ − μ₂)² + (σ₁ − σ₂)².
        let one = MotionMetrics.frechetDistance([[1], [3]], [[0], [4], [8]])  // μ 2, σ² 2; μ 4, σ² 16
        XCTAssertEqual(one, 4 + pow(2.0.squareRoot() - 4, 2), accuracy: 1e-12)
    }

    func testFrechetDistanceMatchesNumPy() throws {
        guard PythonCrossCheck.available(["numpy"]) else { throw XCTSkip("numpy not available") }
        let g = Generator(seed: 8)
        // Correlated 6-D features: x = L·z + μ.
        func features(_ n: Int, shift: Double, mix: Double) -> [[Double]] {
            (0..<n).map { _ in
                let z = (0..<6).map { _ in g.nextNormal() }
                return (0..<6).map { i in shift * Double(i) + z[i] + mix * z[(i + 1) % 6] - 0.5 * mix * z[(i + 3) % 6] }
            }
        }
        let a = features(400, shift: 0.1, mix: 0.8), b = features(300, shift: -0.2, mix: 0.3)
        let dir = PythonCrossCheck.temporaryDirectory("vocal-frechet")
        func write(_ x: [[Double]], _ name: String) throws {
            try x.map { $0.map { String($0) }.joined(separator: " ") }.joined(separator: "\n")
                .write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try write(a, "a.txt"); try write(b, "b.txt")
        let (status, output) = PythonCrossCheck.runScript("vocal_frechet.py", [dir.appendingPathComponent("a.txt").path, dir.appendingPathComponent("b.txt").path])
        XCTAssertEqual(status, 0, output)
        let reference = try XCTUnwrap(Double(output.trimmingCharacters(in: .whitespacesAndNewlines)), output)
        let ours = MotionMetrics.frechetDistance(a, b)
        XCTAssertEqual(ours, reference, accuracy: 1e-9 * max(1, reference), "ours \(ours) numpy \(reference)")
    }

    func testReportAveragesOverClips() {
        let track = smoothTrack(60, seed: 4)
        let good = clip(frames: 60) { t, d in d == 14 * 3 + 1 ? track[t] : (d == 67 ? Float(t % 5) : 0) }
        let late = clip(frames: 60) { t, d in d == 14 * 3 + 1 ? track[max(t - 3, 0)] : 0 }
        let report = MotionMetricReport.evaluate(generated: [good, late], tracks: [track, track], tracksAreViseme: true,
                                                 real: [good, good])
        XCTAssertEqual(report.clips, 2)
        XCTAssertEqual(report.lipSyncReference, "viseme")
        XCTAssertEqual(report.meanAbsoluteOffset!, 1.5, accuracy: 1e-9)  // offsets 0 and 3
        XCTAssertLessThan(report.lipSyncCorrelation!, 1)
        XCTAssertGreaterThan(report.lipSyncCorrelation!, 0.5)
        XCTAssertNotNil(report.frechetDistance)
        let json = try! JSONEncoder().encode(report)
        XCTAssertEqual(try! JSONDecoder().decode(MotionMetricReport.self, from: json), report)
    }
}
