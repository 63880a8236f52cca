import NeoTensor
import RewardModel
import XCTest

/// The degradation zoo: identity at strength 0, each damage as specified, monotone in strength,
/// deterministic given the generator.
final class DegradationTests: XCTestCase {
    let stats = Fixtures.statistics
    let layout = MotionLayout(dim: 70)

    func apply(_ d: Degradation, _ s: Float, seed: UInt64 = 9, window: PerformanceWindow = Fixtures.window(),
               settings: DegradationSettings = DegradationSettings()) -> PerformanceWindow {
        d.apply(to: window, strength: s, generator: Generator(seed: seed), statistics: stats, settings: settings,
                donor: Fixtures.window(3))
    }

    func testStrengthZeroIsTheIdentity() {
        let w = Fixtures.window()
        for d in Degradation.allCases {
            let out = apply(d, 0)
            XCTAssertEqual(out.motion, w.motion, "\(d) at strength 0 changed the motion")
            XCTAssertEqual(out.audio, w.audio, "\(d) at strength 0 changed the audio")
        }
    }

    func testDeterministicGivenTheGenerator() {
        for d in Degradation.allCases {
            let a = apply(d, 0.6, seed: 4), b = apply(d, 0.6, seed: 4)
            XCTAssertEqual(a.motion, b.motion, "\(d)")
            XCTAssertEqual(a.audio, b.audio, "\(d)")
        }
        XCTAssertNotEqual(apply(.jitter, 0.6, seed: 4).motion, apply(.jitter, 0.6, seed: 5).motion)
        XCTAssertNotEqual(apply(.twitches, 0.6, seed: 4).motion, apply(.twitches, 0.6, seed: 5).motion)
    }

    func testEveryDegradationHasAnAspect() {
        let byAspect = Dictionary(grouping: Degradation.allCases, by: \.aspect)
        XCTAssertEqual(Set(byAspect[.audioAlignment]!), [.timeOffset, .swappedAudio])
        XCTAssertEqual(Set(byAspect[.naturalness]!), [.jitter, .twitches, .overSmoothing, .frozenFace])
        XCTAssertEqual(Set(byAspect[.expressionRange]!), [.dampedExpression, .exaggeratedExpression, .headMotionRemoval])
    }

    func testTimeOffsetShiftsMotionAgainstAudioUsingClipContext() {
        let clip = Fixtures.clips[0], w = Fixtures.window(), d = 70
        var settings = DegradationSettings()
        settings.maxOffsetFrames = 8
        for s: Float in [0.25, 0.5, 1] {
            let out = apply(.timeOffset, s, settings: settings)
            XCTAssertEqual(out.audio, w.audio)
            // Find the shift k with out[t] = clip[start + t − k] for every frame.
            let shifts = (-8...8).filter { k in
                (0..<w.frames).allSatisfy { t in
                    Array(out.motion[(t * d)..<((t + 1) * d)]) == Array(clip.motion[((20 + t - k) * d)..<((20 + t - k + 1) * d)])
                }
            }
            XCTAssertEqual(shifts.map(abs), [Int((s * 8).rounded())], "strength \(s)")
        }
    }

    func testJitterAddsNoiseOfTheStatedScale() {
        let w = Fixtures.window(length: 100, margin: 0)
        let out = apply(.jitter, 0.8, window: w)
        XCTAssertEqual(out.audio, w.audio)
        // Per dimension, the added noise has std 0.8·0.25·std(dim); pooled over dims after
        // dividing by that scale it is ~N(0, 1).
        var sq = 0.0, n = 0
        for f in 0..<w.frames {
            for j in 0..<70 {
                let z = Double(out.motion[f * 70 + j] - w.motion[f * 70 + j]) / Double(0.8 * 0.25 * stats.std[j])
                sq += z * z; n += 1
            }
        }
        XCTAssertEqual((sq / Double(n)).squareRoot(), 1, accuracy: 0.05)
        XCTAssertGreaterThan(Fixtures.roughness(out.motion, frames: w.frames, dim: 70),
                             2 * Fixtures.roughness(w.motion, frames: w.frames, dim: 70))
    }

    func testFrozenFaceHoldsOneFrame() {
        let w = Fixtures.window()
        let whole = apply(.frozenFace, 1)
        XCTAssertEqual(Fixtures.repeatedFrames(whole.motion, frames: 40, dim: 70), 39, "strength 1 freezes the whole window")
        let half = apply(.frozenFace, 0.5)
        XCTAssertEqual(Fixtures.repeatedFrames(half.motion, frames: 40, dim: 70), 19, "a run of 20 equal frames")
        // Frames outside the held run are untouched.
        let changed = (0..<40).filter { f in half.motion[(f * 70)..<((f + 1) * 70)] != w.motion[(f * 70)..<((f + 1) * 70)] }
        XCTAssertLessThanOrEqual(changed.count, 19)
        XCTAssertEqual(half.audio, w.audio)
    }

    func testDampedAndExaggeratedScaleExpressionAroundItsMean() {
        let w = Fixtures.window()
        let base = Fixtures.std(w.motion, frames: 40, dim: 70, dims: layout.expression)
        for (d, s, factor) in [(Degradation.dampedExpression, Float(0.5), 1 - 0.5 * 0.85),
                               (.exaggeratedExpression, 0.5, 1 + 0.5 * 1.5)] as [(Degradation, Float, Double)] {
            let out = apply(d, s)
            XCTAssertEqual(Fixtures.std(out.motion, frames: 40, dim: 70, dims: layout.expression), base * factor,
                           accuracy: base * 1e-4, "\(d)")
            for f in 0..<40 {
                for j in layout.pose { XCTAssertEqual(out.motion[f * 70 + j], w.motion[f * 70 + j], "\(d) touched pose") }
            }
            for j in layout.expression {  // the window mean stays
                let before = (0..<40).reduce(0.0) { $0 + Double(w.motion[$1 * 70 + j]) }
                let after = (0..<40).reduce(0.0) { $0 + Double(out.motion[$1 * 70 + j]) }
                XCTAssertEqual(after / 40, before / 40, accuracy: 1e-5)
            }
        }
    }

    func testHeadMotionRemovalFlattensPoseOnly() {
        let w = Fixtures.window()
        let out = apply(.headMotionRemoval, 1)
        XCTAssertEqual(Fixtures.std(out.motion, frames: 40, dim: 70, dims: layout.pose), 0, accuracy: 1e-5)
        for f in 0..<40 {
            for j in layout.expression { XCTAssertEqual(out.motion[f * 70 + j], w.motion[f * 70 + j]) }
        }
    }

    func testTwitchesAreShortSpikesOnFewDims() {
        let w = Fixtures.window()
        let out = apply(.twitches, 0.5)
        var touchedFrames = Set<Int>(), touchedDims = Set<Int>()
        var peak = 0.0
        for f in 0..<40 {
            for j in 0..<70 where out.motion[f * 70 + j] != w.motion[f * 70 + j] {
                touchedFrames.insert(f); touchedDims.insert(j)
                peak = max(peak, Double(abs(out.motion[f * 70 + j] - w.motion[f * 70 + j]) / stats.std[j]))
            }
        }
        // 2/s · 40 frames / 25 fps → at most 4 twitches at strength 1, 2 at 0.5; 3 frames each.
        XCTAssertFalse(touchedFrames.isEmpty)
        XCTAssertLessThanOrEqual(touchedFrames.count, 2 * 3)
        XCTAssertLessThanOrEqual(touchedDims.count, 2 * 3)
        XCTAssertEqual(peak, (1 + 2 * 0.5) * 1.5, accuracy: 1e-3, "peak of (1 + 2s)·1.5 std")
    }

    func testOverSmoothingIsALowPass() {
        let w = Fixtures.window()
        let out = apply(.overSmoothing, 0.5)
        XCTAssertLessThan(Fixtures.roughness(out.motion, frames: 40, dim: 70), 0.2 * Fixtures.roughness(w.motion, frames: 40, dim: 70))
        // Interior frames keep their local mean (the kernel sums to 1).
        for j in [0, 37, 69] {
            let a = (10..<30).reduce(0.0) { $0 + Double(w.motion[$1 * 70 + j]) } / 20
            let b = (10..<30).reduce(0.0) { $0 + Double(out.motion[$1 * 70 + j]) } / 20
            XCTAssertEqual(a, b, accuracy: 0.2 * Double(stats.std[j]))
        }
    }

    func testSwappedAudioTakesTheDonorsAudio() {
        let w = Fixtures.window(), donor = Fixtures.window(3)
        let all = apply(.swappedAudio, 1)
        XCTAssertEqual(all.audio, donor.audio)
        XCTAssertEqual(all.motion, w.motion)
        let half = apply(.swappedAudio, 0.5)
        let rows = 3 * 80  // layers × audio frames
        let swapped = (0..<rows).filter { r in half.audio[(r * 8)..<((r + 1) * 8)] != w.audio[(r * 8)..<((r + 1) * 8)] }
        XCTAssertEqual(swapped.count, 3 * 40, "20 motion frames = 40 audio frames in each of 3 layers")
    }

    /// A simple measure of each kind of damage grows with the strength.
    func testMonotoneInStrength() {
        let w = Fixtures.window()
        let strengths: [Float] = [0, 0.25, 0.5, 0.75, 1]
        func measure(_ d: Degradation, _ out: PerformanceWindow) -> Double {
            switch d {
            case .timeOffset, .twitches, .jitter: return Fixtures.meanAbsDifference(out.motion, w.motion)
            case .frozenFace: return Double(Fixtures.repeatedFrames(out.motion, frames: 40, dim: 70))
            case .dampedExpression: return -Fixtures.std(out.motion, frames: 40, dim: 70, dims: layout.expression)
            case .exaggeratedExpression: return Fixtures.std(out.motion, frames: 40, dim: 70, dims: layout.expression)
            case .overSmoothing: return -Fixtures.roughness(out.motion, frames: 40, dim: 70)
            case .swappedAudio: return Fixtures.meanAbsDifference(out.audio, w.audio)
            case .headMotionRemoval: return -Fixtures.std(out.motion, frames: 40, dim: 70, dims: layout.pose)
            }
        }
        for d in Degradation.allCases where d != .timeOffset {
            let values = strengths.map { measure(d, apply(d, $0)) }
            for (a, b) in zip(values, values.dropFirst()) { XCTAssertLessThan(a, b, "\(d): \(values)") }
        }
        // Time offset: the shift itself grows (its motion difference need not, speech being rhythmic).
        let shifts = strengths.map { s -> Int in
            let out = apply(.timeOffset, s)
            return (0...12).first { k in
                let a = out.motion[(20 * 70)..<(21 * 70)]
                return a == Fixtures.clips[0].motion[((40 - k) * 70)..<((41 - k) * 70)] || a == Fixtures.clips[0].motion[((40 + k) * 70)..<((41 + k) * 70)]
            } ?? -1
        }
        XCTAssertEqual(shifts, [0, 3, 6, 9, 12])
    }
}

extension Fixtures {
    static func window(length: Int, margin: Int) -> PerformanceWindow {
        clips[0].window(start: 10, length: length, margin: margin)!
    }
}
