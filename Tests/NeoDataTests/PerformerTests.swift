import XCTest
import NeoTensor
import NeoData

/// The performer on controlled scripts: fake phonemes with a matching audio envelope, so each
/// property is checked without espeak-ng.
final class PerformerTests: XCTestCase {
    /// `seconds` of "speech": sentences of phonemes (60–160 ms each) separated by pauses; the
    /// audio is a 140 Hz tone whose loudness follows the phonemes (vowels loud, consonants soft).
    func script(seconds: Double, seed: UInt64) -> PerformanceScript {
        let g = Generator(seed: seed)
        let vowels = ["a", "E", "i:", "O", "u:", "@", "aI", "oU"], consonants = ["p", "t", "k", "s", "m", "n", "l", "f", "r", "S", "D", "w"]
        var phonemes: [TimedPhoneme] = [], starts: [Double] = []
        var t = 0.3
        while t < seconds - 1 {
            starts.append(t)
            let sentenceEnd = min(seconds - 0.5, t + 1.5 + 2 * g.nextUniform())
            var vowel = false
            while t < sentenceEnd {
                let d = 0.06 + 0.1 * g.nextUniform()
                let name = vowel ? vowels[g.nextInt(vowels.count)] : consonants[g.nextInt(consonants.count)]
                phonemes.append(TimedPhoneme(name: name, start: t, end: t + d))
                t += d; vowel.toggle()
            }
            t += 0.3 + 0.4 * g.nextUniform()
        }
        let n = Int(seconds * 25) * 640
        var audio = [Float](repeating: 0, count: n)
        for p in phonemes {
            let loud: Float = Viseme.of(phoneme: p.name).target.jaw > 0.3 ? 0.5 : 0.08
            // Stressed syllables: every third vowel louder and higher.
            let lo = Int(p.start * 16000), hi = min(n, Int(p.end * 16000))
            for i in lo..<hi { audio[i] = loud * sin(Float(i) * 2 * .pi * 140 / 16000) }
        }
        return PerformanceScript(audio: audio, phonemes: phonemes, sentenceStarts: starts, laughSpans: [])
    }

    func measures(_ s: PerformanceScript, _ style: IdentityStyle, _ e: Emotion, seed: UInt64 = 1) -> (ClipMeasures, Performance) {
        let p = Performer.perform(s, style: style, emotion: e, generator: Generator(seed: seed))
        let clip = Clip(id: "x", identity: style.identity, emotion: e.rawValue, language: "en", consentId: "c", audio: s.audio,
                        motion: p.motion, motionDim: 70, labels: ["blink": .floats(p.blink), "accent": .floats(p.accent)])
        return (ClipMeasures(clip), p)
    }

    func testLipsFollowTheSpeechAndLeadIt() throws {
        let s = script(seconds: 60, seed: 3)
        var leads: [Double] = []
        for i in 0..<6 {
            let style = IdentityStyle.derive(index: i, seed: 9)
            let (m, p) = measures(s, style, .neutral)
            XCTAssertGreaterThan(m.correlation, 0.35, "identity \(i)")  // measured 0.43–0.50 on this script
            XCTAssertEqual(p.frames, 1500)
            XCTAssertEqual(p.motion.count, 1500 * 70)
            leads.append(m.lead)
            // Control: against the energy of the time-reversed audio the correlation vanishes.
            let rev = PerformanceScript(audio: s.audio.reversed(), phonemes: [], sentenceStarts: [], laughSpans: [])
            let energy = SpeechAnalysis.frameEnergy(rev.audio, frames: p.frames).map(Double.init)
            var lip = [Double](repeating: 0, count: p.frames)
            p.motion.withUnsafeBufferPointer { b in for t in 0..<p.frames { lip[t] = Double(FaceKeypoint.lipOpening(b.baseAddress! + t * 70)) } }
            XCTAssertLessThan(abs(ClipMeasures.pearson(lip, energy, lag: 0)), 0.15)
        }
        // Anticipation of 40–100 ms is 1–2.5 frames: the best lag has the lips first.
        XCTAssertGreaterThanOrEqual(leads.reduce(0, +) / Double(leads.count), 0.5, "\(leads)")
        XCTAssertTrue(leads.allSatisfy { $0 >= 0 }, "\(leads)")
    }

    func testEmotionShiftsBaselineAndDynamics() throws {
        let s = script(seconds: 40, seed: 4)
        let style = IdentityStyle.derive(index: 2, seed: 9)
        var m: [Emotion: ClipMeasures] = [:]
        for e in Emotion.allCases { m[e] = measures(s, style, e).0 }
        func brow(_ e: Emotion) -> Double { m[e]!.browSum / Double(m[e]!.frames) }
        func corner(_ e: Emotion) -> Double { m[e]!.cornerSum / Double(m[e]!.frames) }
        func pitch(_ e: Emotion) -> Double { m[e]!.pitchSum / Double(m[e]!.frames) }
        func speed(_ e: Emotion) -> Double { m[e]!.speedSum / Double(m[e]!.frames - 1) }
        XCTAssertGreaterThan(brow(.surprised), brow(.neutral) + 0.004)
        XCTAssertLessThan(brow(.serious), brow(.neutral) - 0.002)
        XCTAssertGreaterThan(corner(.happy), corner(.neutral) + 0.004)
        XCTAssertGreaterThan(corner(.laughing), corner(.happy))
        XCTAssertLessThan(corner(.serious), corner(.neutral))
        XCTAssertGreaterThan(pitch(.surprised), pitch(.neutral) + 2)
        XCTAssertLessThan(pitch(.serious), pitch(.neutral) - 2)
        XCTAssertGreaterThan(speed(.explaining), 1.3 * speed(.serious))
        XCTAssertGreaterThan(speed(.laughing), 1.3 * speed(.serious))
    }

    func testIdentityStyleShowsInMotion() throws {
        let s = script(seconds: 90, seed: 5)
        var styleBlinks: [Double] = [], blinks: [Double] = [], styleHead: [Double] = [], head: [Double] = []
        for i in 0..<8 {
            let style = IdentityStyle.derive(index: i, seed: 13)
            let (m, p) = measures(s, style, .neutral, seed: UInt64(i))
            styleBlinks.append(Double(style.blinksPerMinute)); blinks.append(Double(m.blinks!) / 1.5)
            styleHead.append(Double(style.headAmplitude)); head.append(m.speedSum / Double(m.frames - 1))
            // Refractory time: blink onsets at least 8 frames (320 ms) apart.
            var last = -100
            for t in 1..<p.frames where p.blink[t] > 0 && p.blink[t - 1] == 0 {
                XCTAssertGreaterThanOrEqual(t - last, 8); last = t
            }
        }
        print("identity style vs measured: blinks", ClipMeasures.pearson(styleBlinks, blinks, lag: 0), "head", ClipMeasures.pearson(styleHead, head, lag: 0))
        XCTAssertGreaterThan(ClipMeasures.pearson(styleBlinks, blinks, lag: 0), 0.6, "\(styleBlinks) vs \(blinks)")
        XCTAssertGreaterThan(ClipMeasures.pearson(styleHead, head, lag: 0), 0.6, "\(styleHead) vs \(head)")
    }

    func testAccentsDriveNods() throws {
        let s = script(seconds: 90, seed: 6)
        let style = IdentityStyle.derive(index: 1, seed: 9)
        let p = Performer.perform(s, style: style, emotion: .explaining, generator: Generator(seed: 2))
        let accents = (0..<p.frames).filter { p.accent[$0] > 0 }
        XCTAssertGreaterThan(accents.count, 20)
        // Event-triggered average of head pitch: it dips after each accent (a nod).
        var before = 0.0, after = 0.0, n = 0.0
        for a in accents where a >= 2 && a + 8 < p.frames {
            before += Double(p.motion[(a - 1) * 70 + 67])
            after += Double(p.motion[(a + 3 + Int(style.reactionDelay * 25)) * 70 + 67])
            n += 1
        }
        XCTAssertLessThan(after / n, before / n - 0.8, "mean pitch before \(before / n), after \(after / n)")
    }

    func testSpeakersSometimesLookAside() throws {
        let s = script(seconds: 60, seed: 8)
        let style = IdentityStyle.derive(index: 3, seed: 9)
        let explaining = Performer.perform(s, style: style, emotion: .explaining, generator: Generator(seed: 4))
        let yaw = (0..<explaining.frames).map { explaining.motion[$0 * 70 + 68] }
        // Turns of 10–20° (× head amplitude 0.6–1.5) on top of a few degrees of sway: the side of
        // the head shows, and no turn goes past 45°.
        XCTAssertGreaterThan(yaw.map(abs).max()!, 8)
        XCTAssertLessThan(yaw.map(abs).max()!, 45)
        let serious = Performer.perform(s, style: style, emotion: .serious, generator: Generator(seed: 4))
        let turned = { (p: Performance) in (0..<p.frames).filter { abs(p.motion[$0 * 70 + 68]) > 8 }.count }
        XCTAssertGreaterThan(turned(explaining), turned(serious), "explaining speakers look aside more than serious ones")
    }
}
