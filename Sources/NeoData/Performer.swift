import Foundation
import NeoTensor

/// A phoneme placed on the clip's time line (seconds).
public struct TimedPhoneme: Sendable, Equatable {
    public var name: String
    public var start: Double
    public var end: Double
    public init(name: String, start: Double, end: Double) { self.name = name; self.start = start; self.end = end }
}

/// What the performer reacts to: the clip's 16 kHz audio (a whole number of frames), the
/// phonemes, and the spans of speech and of laughter.
public struct PerformanceScript: Sendable {
    public var audio: [Float]
    public var phonemes: [TimedPhoneme]
    public var sentenceStarts: [Double]
    public var laughSpans: [ClosedRange<Double>]
    public init(audio: [Float], phonemes: [TimedPhoneme], sentenceStarts: [Double], laughSpans: [ClosedRange<Double>]) {
        self.audio = audio; self.phonemes = phonemes; self.sentenceStarts = sentenceStarts; self.laughSpans = laughSpans
    }
}

/// Ground-truth motion [T, 70] and per-frame labels of one performance.
public struct Performance: Sendable {
    public var motion: [Float]
    public var frames: Int
    public var viseme: [Int32]
    /// Index into `phonemeInventory`, −1 where no phoneme sounds.
    public var phoneme: [Int32]
    public var phonemeInventory: [String]
    /// Accent strength at the accent's peak frame, 0 elsewhere.
    public var accent: [Float]
    /// Eyelid closure 0…1.
    public var blink: [Float]
    /// What the rig turned into `motion` (and a renderer turns into frames).
    public var articulation: Articulation
}

/// Semantic roles of the 21 implicit keypoints in the synthetic data (x right, y up, z toward the
/// camera). The lip set {6, 12, 14, 17, 19, 20} matches LivePortrait-style pipelines.
public enum FaceKeypoint {
    public static let forehead = 0, leftBrowInner = 1, leftBrowOuter = 2, rightBrowInner = 3, rightBrowOuter = 4
    public static let nose = 5, chin = 6, leftCheek = 7, rightCheek = 8, leftGaze = 9, rightGaze = 10
    public static let leftUpperLid = 11, lowerLip = 12, leftLowerLid = 13, upperLip = 14
    public static let rightUpperLid = 15, rightLowerLid = 16, lipCenter = 17, glabella = 18
    public static let leftMouthCorner = 19, rightMouthCorner = 20
    public static let lips = [6, 12, 14, 17, 19, 20]
    /// Motion layout: [0..<63] keypoint offsets, [63] scale, [64..<67] translation, [67..<70] pitch, yaw, roll (degrees).
    public static let dimension = 70
    public static let scaleIndex = 63, translationIndex = 64, rotationIndex = 67

    /// Lip opening of one motion frame: upper-lip y minus lower-lip y.
    @inline(__always)
    public static func lipOpening(_ frame: UnsafePointer<Float>) -> Float {
        frame[upperLip &* 3 &+ 1] - frame[lowerLip &* 3 &+ 1]
    }
}

/// Frame-rate analysis of audio: RMS energy per 40 ms frame and a pitch track.
public enum SpeechAnalysis {
    public static let samplesPerFrame = 640  // 16 kHz / 25 fps

    /// RMS of each 640-sample frame.
    public static func frameEnergy(_ audio: [Float], frames: Int) -> [Float] {
        var out = [Float](repeating: 0, count: frames)
        audio.withUnsafeBufferPointer { a in
            for t in 0..<frames {
                let lo = t &* samplesPerFrame
                let hi = min(a.count, lo &+ samplesPerFrame)
                var s: Float = 0
                var i = lo
                while i < hi { s += a[i] * a[i]; i &+= 1 }
                out[t] = hi > lo ? (s / Float(hi &- lo)).squareRoot() : 0
            }
        }
        return out
    }

    /// F0 in Hz per frame (0 where unvoiced) by normalised autocorrelation at 8 kHz over 70–400 Hz.
    public static func pitch(_ audio: [Float], frames: Int) -> [Float] {
        // Decimate by 2 after a short low-pass (speech energy above 4 kHz is irrelevant to F0).
        let n8 = audio.count / 2
        var x = [Float](repeating: 0, count: n8)
        audio.withUnsafeBufferPointer { a in
            for i in 0..<n8 {
                let j = 2 &* i
                let prev = j > 0 ? a[j &- 1] : 0
                let next = j &+ 1 < a.count ? a[j &+ 1] : 0
                x[i] = 0.25 * prev + 0.5 * a[j] + 0.25 * next
            }
        }
        let window = 320, minLag = 20, maxLag = 114
        var f0 = [Float](repeating: 0, count: frames)
        x.withUnsafeBufferPointer { p in
            for t in 0..<frames {
                let start = t &* 160 &+ 80 &- window / 2
                if start < 0 || start &+ window &+ maxLag > n8 { continue }
                let b = p.baseAddress! + start
                var e0: Float = 0
                for i in 0..<window { e0 += b[i] * b[i] }
                if e0 < 1e-4 { continue }
                var best: Float = 0, bestLag = 0
                for lag in minLag...maxLag {
                    var r: Float = 0, e1: Float = 0
                    let c = b + lag
                    for i in 0..<window { r += b[i] * c[i]; e1 += c[i] * c[i] }
                    let v = r / (e0 * e1).squareRoot().clampedBelow(1e-12)
                    if v > best { best = v; bestLag = lag }
                }
                if best > 0.55 && bestLag > 0 { f0[t] = 8000 / Float(bestLag) }
            }
        }
        return f0
    }

    /// Accents: peaks of prominence (loudness plus rising pitch) at least 0.36 s apart.
    /// Returns strength 0…1 at each accent's frame, 0 elsewhere.
    public static func accents(energy: [Float], pitch: [Float]) -> [Float] {
        let n = energy.count
        var out = [Float](repeating: 0, count: n)
        guard n > 4 else { return out }
        let db = energy.map { 20 * log10($0 + 1e-5) }
        let voiced = db.filter { $0 > -45 }
        guard voiced.count > 4 else { return out }
        let mean = voiced.reduce(0, +) / Float(voiced.count)
        let std = max(1, (voiced.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(voiced.count)).squareRoot())
        let f0v = pitch.filter { $0 > 0 }
        let f0Mean = f0v.isEmpty ? 0 : f0v.reduce(0, +) / Float(f0v.count)
        var prominence = [Float](repeating: -10, count: n)
        for t in 0..<n where db[t] > -45 {
            var p = (db[t] - mean) / std
            if pitch[t] > 0 && f0Mean > 0 { p += 2.5 * max(0, pitch[t] / f0Mean - 1) }
            prominence[t] = p
        }
        // Smooth over three frames so one loud frame does not count as a stressed syllable.
        var smooth = prominence
        for t in 1..<(n - 1) { smooth[t] = 0.25 * prominence[t - 1] + 0.5 * prominence[t] + 0.25 * prominence[t + 1] }
        var last = -100
        for t in 2..<(n - 2) {
            let v = smooth[t]
            guard v > 1.0 else { continue }
            var isPeak = true
            for k in max(0, t - 4)...min(n - 1, t + 4) where k != t && smooth[k] > v { isPeak = false; break }
            guard isPeak, t - last >= 10 else { continue }
            out[t] = min(1, max(0.3, 0.3 + (v - 1.0) * 0.5))
            last = t
        }
        return out
    }
}

extension Float {
    @inline(__always) func clampedBelow(_ lo: Float) -> Float { self < lo ? lo : self }
}

/// The performer's articulations per frame, before any face rig turns them into keypoints:
/// jaw and lips (viseme units), smile, brows, eye aperture and blink closure, gaze (−1…1), head
/// pose in degrees, and the head's scale and translation in the frame.
public struct Articulation: Sendable, Equatable {
    public var frames: Int
    public var jaw, open, width, round: [Float]
    public var smile, brow, aperture, close: [Float]
    public var gazeX, gazeY: [Float]
    public var pitch, yaw, roll: [Float]
    public var scale: [Float]
    /// 3 per frame.
    public var translation: [Float]

    public init(frames: Int, jaw: [Float], open: [Float], width: [Float], round: [Float], smile: [Float], brow: [Float],
                aperture: [Float], close: [Float], gazeX: [Float], gazeY: [Float], pitch: [Float], yaw: [Float], roll: [Float],
                scale: [Float], translation: [Float]) {
        self.frames = frames; self.jaw = jaw; self.open = open; self.width = width; self.round = round; self.smile = smile
        self.brow = brow; self.aperture = aperture; self.close = close; self.gazeX = gazeX; self.gazeY = gazeY
        self.pitch = pitch; self.yaw = yaw; self.roll = roll; self.scale = scale; self.translation = translation
    }
}

/// Turns articulations into the 70 motion numbers of each frame.
public protocol FaceRig: Sendable {
    /// A short name stored with the data ("rules", "mesh").
    var name: String { get }
    func motion(_ a: Articulation, style: IdentityStyle) -> [Float]
}

/// The original abstract rig: each articulation moves the 21 keypoints by fixed amounts
/// (face units), on top of the identity's neutral offsets. Used when the head model is absent.
public struct KeypointRules: FaceRig {
    public init() {}
    public var name: String { "rules" }

    public func motion(_ a: Articulation, style: IdentityStyle) -> [Float] {
        let D = FaceKeypoint.dimension, frames = a.frames
        var motion = [Float](repeating: 0, count: frames * D)
        let K = FaceKeypoint.self
        motion.withUnsafeMutableBufferPointer { mb in
            let m = mb.baseAddress!
            for t in 0..<frames {
                let f = m + t &* D
                for i in 0..<63 { f[i] = style.neutralFace[i] }
                @inline(__always) func add(_ kp: Int, _ axis: Int, _ v: Float) { f[kp &* 3 &+ axis] += v }
                let smile = a.smile[t], j = a.jaw[t], o = a.open[t], w = a.width[t], r = a.round[t]
                // Jaw and lips.
                add(K.chin, 1, -0.045 * j); add(K.chin, 2, 0.005 * j)
                add(K.lowerLip, 1, -0.030 * j - 0.012 * o); add(K.lowerLip, 2, 0.010 * r)
                add(K.upperLip, 1, 0.008 * o); add(K.upperLip, 2, 0.010 * r)
                add(K.lipCenter, 1, -0.015 * j - 0.006 * o); add(K.lipCenter, 2, 0.012 * r)
                let spread = 0.012 * w - 0.010 * r + 0.006 * smile
                add(K.leftMouthCorner, 0, -spread); add(K.rightMouthCorner, 0, spread)
                add(K.leftMouthCorner, 1, 0.010 * smile - 0.004 * j); add(K.rightMouthCorner, 1, 0.010 * smile - 0.004 * j)
                add(K.leftCheek, 1, 0.006 * smile); add(K.rightCheek, 1, 0.006 * smile)
                // Brows: a frown pulls the inner brows together.
                let b = a.brow[t]
                for kp in [K.leftBrowInner, K.leftBrowOuter, K.rightBrowInner, K.rightBrowOuter] { add(kp, 1, 0.012 * b) }
                if b < 0 { add(K.leftBrowInner, 0, -0.004 * b); add(K.rightBrowInner, 0, 0.004 * b) }
                add(K.glabella, 1, 0.004 * b); add(K.forehead, 1, 0.003 * b)
                // Eyelids: blink closure and aperture.
                let aperture = a.aperture[t], close = a.close[t]
                add(K.leftUpperLid, 1, -0.012 * close + 0.006 * aperture); add(K.rightUpperLid, 1, -0.012 * close + 0.006 * aperture)
                add(K.leftLowerLid, 1, 0.003 * close); add(K.rightLowerLid, 1, 0.003 * close)
                // Gaze (the upper lids follow vertical gaze a little).
                add(K.leftGaze, 0, 0.010 * a.gazeX[t]); add(K.rightGaze, 0, 0.010 * a.gazeX[t])
                add(K.leftGaze, 1, 0.008 * a.gazeY[t]); add(K.rightGaze, 1, 0.008 * a.gazeY[t])
                add(K.leftUpperLid, 1, 0.002 * a.gazeY[t]); add(K.rightUpperLid, 1, 0.002 * a.gazeY[t])
                Performer.writePose(a, t, into: f)
            }
        }
        return motion
    }
}

/// The synthetic performer: turns a script into motion with the causes that real faces show
/// (articulation from phonemes, nods and brow raises at accents, blinks, gaze, sway), shaped by
/// an emotion and an identity's style. A `FaceRig` turns the articulations into keypoints.
public enum Performer {
    public static let fps = 25

    public static func perform(_ script: PerformanceScript, style: IdentityStyle, emotion: Emotion,
                               generator g: Generator, rig: FaceRig = KeypointRules()) -> Performance {
        let frames = script.audio.count / SpeechAnalysis.samplesPerFrame
        let prof = emotion.profile
        let energy = SpeechAnalysis.frameEnergy(script.audio, frames: frames)
        let f0 = SpeechAnalysis.pitch(script.audio, frames: frames)
        let accent = SpeechAnalysis.accents(energy: energy, pitch: f0)
        let peakEnergy = max(1e-4, energy.max() ?? 1e-4)
        // Loudness 0…1, smoothed over ~120 ms: louder speech opens the mouth wider.
        var loud = [Float](repeating: 0, count: frames)
        var acc: Float = 0
        for t in 0..<frames { acc += 0.4 * (energy[t] / peakEnergy - acc); loud[t] = acc }

        let segments = fillSilences(script.phonemes, duration: Double(frames) / Double(fps))
        let visemes = segments.map { Viseme.of(phoneme: $0.name) }
        let mouth = articulate(segments: segments, visemes: visemes, frames: frames, loud: loud, style: style, profile: prof)
        let labels = label(segments: segments, visemes: visemes, frames: frames)
        var head = moveHead(frames: frames, loud: loud, accent: accent, laughSpans: script.laughSpans, style: style,
                            emotion: emotion, generator: g)
        let sentenceFrames = Set(script.sentenceStarts.map { Int($0 * Double(fps)) })
        let blink = blinks(frames: frames, accent: accent, sentenceFrames: sentenceFrames, style: style, profile: prof, generator: g)
        let (gx, gy) = gaze(frames: frames, sentenceFrames: sentenceFrames, style: style, emotion: emotion, generator: g)
        var headFollow: Float = 0
        for t in 0..<frames { headFollow += 0.08 * (gx[t] - headFollow); head.yaw[t] += 3 * headFollow * style.headAmplitude }
        // Its own stream, so the other causes stay as they were.
        let turns = lookAside(frames: frames, sentenceFrames: sentenceFrames, style: style, emotion: emotion,
                              generator: g.derived(0x7A5E))
        for t in 0..<frames { head.yaw[t] += turns[t] }
        let (smileDrift, browDrift) = baselineDrift(frames: frames, generator: g)

        // Baselines and dynamics combined into the articulations a rig reads.
        let dt: Float = 1 / Float(fps)
        var a = Articulation(frames: frames, jaw: mouth.jaw, open: mouth.open, width: mouth.width, round: mouth.round,
                             smile: [], brow: [], aperture: [], close: [], gazeX: gx, gazeY: gy,
                             pitch: [], yaw: [], roll: [], scale: [], translation: [])
        for t in 0..<frames {
            let smile = max(-0.3, min(1.2, prof.smile + style.smileBias + smileDrift[t] + 0.6 * head.laughing[t]))
            let aperture = prof.eyeOpen - 0.15 * max(0, smile - 0.5)
            a.smile.append(smile)
            a.brow.append(prof.brow * style.browAmplitude + head.brow[t] + browDrift[t])
            a.aperture.append(aperture)
            a.close.append(blink[t] * (1 + max(0, aperture)))
            let p = style.headBias[0] + prof.headPitch + head.pitch[t]
            let y = style.headBias[1] + head.yaw[t], rl = style.headBias[2] + head.roll[t]
            a.pitch.append(p); a.yaw.append(y); a.roll.append(rl)
            a.scale.append(style.scale * (1 + 0.004 * sin(Float(t) * dt * 0.3)))
            a.translation += [style.translation[0] + 0.0015 * y, style.translation[1] - 0.0015 * p, style.translation[2]]
        }
        return Performance(motion: rig.motion(a, style: style), frames: frames, viseme: labels.viseme, phoneme: labels.phoneme,
                           phonemeInventory: labels.inventory, accent: accent, blink: blink, articulation: a)
    }

    /// Scale, translation and rotation of frame `t` into motion slots 63…69.
    @inline(__always)
    static func writePose(_ a: Articulation, _ t: Int, into f: UnsafeMutablePointer<Float>) {
        let K = FaceKeypoint.self
        f[K.scaleIndex] = a.scale[t]
        f[K.translationIndex] = a.translation[3 &* t]
        f[K.translationIndex &+ 1] = a.translation[3 &* t &+ 1]
        f[K.translationIndex &+ 2] = a.translation[3 &* t &+ 2]
        f[K.rotationIndex] = a.pitch[t]; f[K.rotationIndex &+ 1] = a.yaw[t]; f[K.rotationIndex &+ 2] = a.roll[t]
    }

    /// Jaw, lip opening, width and rounding: a dominance-weighted blend of viseme targets
    /// (coarticulation), sampled at 100 Hz with the lips leading the sound by the identity's
    /// anticipation, scaled by loudness.
    static func articulate(segments: [TimedPhoneme], visemes: [Viseme], frames: Int, loud: [Float], style: IdentityStyle,
                           profile prof: EmotionProfile) -> (jaw: [Float], open: [Float], width: [Float], round: [Float]) {
        var jaw = [Float](repeating: 0, count: frames)
        var open = [Float](repeating: 0, count: frames)
        var width = [Float](repeating: 0, count: frames)
        var round = [Float](repeating: 0, count: frames)
        let lead = Double(style.anticipation)
        let centers = segments.map { ($0.start + $0.end) / 2 - lead }
        let widths = segments.map { max(0.03, ($0.end - $0.start)) * 0.5 + 0.04 }
        var lo = 0
        let sub = 4
        for t in 0..<frames {
            var sj: Float = 0, so: Float = 0, sw: Float = 0, sr: Float = 0
            for k in 0..<sub {
                let time = (Double(t) + (Double(k) + 0.5) / Double(sub)) / Double(fps)
                while lo < segments.count && centers[lo] < time - 0.6 { lo += 1 }
                var wsum: Double = 0, j = 0.0, o = 0.0, w = 0.0, r = 0.0
                var i = lo
                while i < segments.count && centers[i] < time + 0.6 {
                    let tg = visemes[i].target
                    let d = Double(tg.dominance) * exp(-abs(time - centers[i]) / widths[i])
                    wsum += d; j += d * Double(tg.jaw); o += d * Double(tg.open); w += d * Double(tg.width); r += d * Double(tg.round)
                    i += 1
                }
                if wsum > 1e-9 { sj += Float(j / wsum); so += Float(o / wsum); sw += Float(w / wsum); sr += Float(r / wsum) }
            }
            let gain = style.articulation * prof.articulation * (0.7 + 0.6 * loud[t])
            jaw[t] = sj / Float(sub) * gain + prof.jaw
            open[t] = so / Float(sub) * gain
            width[t] = sw / Float(sub)
            round[t] = sr / Float(sub)
        }
        return (jaw, open, width, round)
    }

    /// Viseme and phoneme labels from the audio timing (no lead) at each frame's centre.
    static func label(segments: [TimedPhoneme], visemes: [Viseme], frames: Int) -> (viseme: [Int32], phoneme: [Int32], inventory: [String]) {
        var inventory: [String] = []
        var inventoryIndex: [String: Int32] = [:]
        var visemeLabel = [Int32](repeating: 0, count: frames)
        var phonemeLabel = [Int32](repeating: -1, count: frames)
        var si = 0
        for t in 0..<frames {
            let time = (Double(t) + 0.5) / Double(fps)
            while si < segments.count && segments[si].end <= time { si += 1 }
            guard si < segments.count, segments[si].start <= time else { continue }
            let v = visemes[si]
            visemeLabel[t] = v.rawValue
            if v != .sil {
                let name = segments[si].name
                if let idx = inventoryIndex[name] { phonemeLabel[t] = idx } else {
                    let idx = Int32(inventory.count)
                    inventory.append(name); inventoryIndex[name] = idx; phonemeLabel[t] = idx
                }
            }
        }
        return (visemeLabel, phonemeLabel, inventory)
    }

    /// Head pose and accent brow raises: idle sway (sinusoids + Ornstein-Uhlenbeck drift), nods at
    /// accents after the identity's reaction delay, and laughter bobbing.
    static func moveHead(frames: Int, loud: [Float], accent: [Float], laughSpans: [ClosedRange<Double>], style: IdentityStyle,
                         emotion: Emotion, generator g: Generator)
        -> (pitch: [Float], yaw: [Float], roll: [Float], brow: [Float], laughing: [Float]) {
        let dt: Float = 1 / Float(fps)
        let prof = emotion.profile
        var pitch = [Float](repeating: 0, count: frames)
        var yaw = [Float](repeating: 0, count: frames)
        var roll = [Float](repeating: 0, count: frames)
        let headAmp = style.headAmplitude * prof.headGain
        let axisAmp: [Float] = [1.2, 2.0, 0.8]
        for axis in 0..<3 {
            var comps: [(f: Float, a: Float, ph: Float)] = []
            for (k, share) in [Float(0.5), 0.3, 0.2].enumerated() {
                let f = (0.07 + Float(g.nextUniform()) * 0.38) * style.tempo * prof.sway * (1 + Float(k) * 0.6)
                comps.append((f, share * axisAmp[axis] * headAmp, Float(g.nextUniform()) * 2 * .pi))
            }
            // Drift: an Ornstein-Uhlenbeck process, low-passed (~1 Hz) so the head does not jitter.
            var ou: Float = 0, drift: Float = 0
            let tau: Float = 1.5, sigma = 0.6 * axisAmp[axis] * headAmp
            for t in 0..<frames {
                let time = Float(t) * dt
                var v: Float = 0
                for c in comps { v += c.a * sin(2 * .pi * c.f * time + c.ph) }
                ou += -ou / tau * dt + sigma * (2 * dt / tau).squareRoot() * Float(g.nextNormal())
                drift += 0.2 * (ou - drift)
                v += drift
                switch axis {
                case 0: pitch[t] = v
                case 1: yaw[t] = v
                default: roll[t] = v
                }
            }
        }
        // Speaking makes the head livelier: yaw/roll follow the loudness a little.
        for t in 0..<frames {
            pitch[t] += 1.2 * headAmp * loud[t]
            roll[t] *= 1 + 0.4 * loud[t]
        }
        var brow = [Float](repeating: 0, count: frames)
        let delayFrames = Double(style.reactionDelay) * Double(fps)
        let nodTau = Double(0.13 / style.tempo) * Double(fps)
        let browChance = min(0.95, 0.4 * Double(prof.browAccentGain))
        for t in 0..<frames where accent[t] > 0 {
            let s = accent[t]
            let amp = 2.6 * headAmp / prof.headGain * prof.nodGain * s
            let yawSign: Float = g.nextUniform() < 0.5 ? -1 : 1
            let yawShare: Float = emotion == .explaining ? 0.6 : 0.2
            let raise = g.nextUniform() < browChance
            let start = Double(t) + delayFrames
            let hi = min(frames, Int(start + nodTau * 8) + 1)
            var k = max(0, Int(start))
            while k < hi {
                let x = (Double(k) - start) / nodTau
                if x > 0 {
                    // A down nod (gamma-shaped) with a small rebound.
                    let h = Float(x * exp(1 - x) - 0.25 * max(0, x - 1.5) * exp(1.5 - x))
                    pitch[k] -= amp * h
                    yaw[k] += yawSign * yawShare * amp * Float(x * exp(1 - x))
                }
                k += 1
            }
            if raise {
                let bAmp = 0.6 * style.browAmplitude * prof.browAccentGain * s
                let rise = 0.12 * Double(fps), hold = 0.3 * Double(fps)
                let end = min(frames, Int(start + rise + hold + rise) + 1)
                var k2 = max(0, Int(start))
                while k2 < end {
                    let x = Double(k2) - start
                    var v = 0.0
                    if x < rise { v = 0.5 - 0.5 * cos(.pi * x / rise) }
                    else if x < rise + hold { v = 1 }
                    else { v = 0.5 + 0.5 * cos(.pi * (x - rise - hold) / rise) }
                    brow[k2] += bAmp * Float(max(0, v))
                    k2 += 1
                }
            }
        }
        // Laughter: the head tips back and bobs with each burst; smile and squint peak.
        var laughing = [Float](repeating: 0, count: frames)
        for span in laughSpans {
            let a = Int(span.lowerBound * Double(fps)), b = Int(span.upperBound * Double(fps))
            for t in max(0, a - 5)..<min(frames, b + 8) {
                let x = Float(t)
                let edge = min(1, max(0, min((x - Float(a) + 5) / 5, (Float(b) + 8 - x) / 8)))
                laughing[t] = max(laughing[t], edge)
            }
        }
        for t in 0..<frames where laughing[t] > 0 {
            pitch[t] += laughing[t] * (4 + 6 * loud[t]) * style.headAmplitude
            roll[t] += laughing[t] * 1.5 * sin(Float(t) * dt * 2 * .pi * 0.8)
        }
        return (pitch, yaw, roll, brow, laughing)
    }

    /// Eyelid closure: a hazard per frame (identity rate × emotion), raised just after accents and
    /// sentence starts, with a refractory time after each blink.
    static func blinks(frames: Int, accent: [Float], sentenceFrames: Set<Int>, style: IdentityStyle, profile prof: EmotionProfile,
                       generator g: Generator) -> [Float] {
        var blink = [Float](repeating: 0, count: frames)
        let ratePerFrame = Double(style.blinksPerMinute * prof.blinkRate) / 60 / Double(fps)
        let refractory = 8 + g.nextInt(4)  // 320–440 ms
        var boost = 0
        var since = 100
        let shape: [Float] = [0.45, 1, 0.9, 0.55, 0.2]
        var t = 0
        while t < frames {
            // People blink more at phrase starts and strong accents.
            if accent[t] > 0.6 || sentenceFrames.contains(t) { boost = 6 }
            var hazard = ratePerFrame * (boost > 0 ? 2.5 : 1)
            if boost > 0 { boost -= 1 }
            if since < refractory { hazard = 0 }
            since += 1
            if g.nextUniform() < hazard {
                for (k, v) in shape.enumerated() where t + k < frames { blink[t + k] = max(blink[t + k], v) }
                since = 0
            }
            t += 1
        }
        return blink
    }

    /// Gaze: saccades at random times to new targets, biased back to the listener; when
    /// explaining, the eyes drift away (thinking) at sentence starts.
    static func gaze(frames: Int, sentenceFrames: Set<Int>, style: IdentityStyle, emotion: Emotion,
                     generator g: Generator) -> ([Float], [Float]) {
        var gx = [Float](repeating: 0, count: frames), gy = [Float](repeating: 0, count: frames)
        var curX: Float = 0, curY: Float = 0, tgtX: Float = 0, tgtY: Float = 0
        let saccadeRate = Double(emotion.profile.gazeShifts) / Double(style.gazeInterval) / Double(fps)
        for t in 0..<frames {
            if g.nextUniform() < saccadeRate {
                if g.nextUniform() < 0.5 {
                    tgtX = Float(g.nextNormal()) * 0.15; tgtY = Float(g.nextNormal()) * 0.1
                } else {
                    tgtX = max(-1, min(1, Float(g.nextNormal()) * 0.5)); tgtY = max(-1, min(1, Float(g.nextNormal()) * 0.35))
                }
            }
            if emotion == .explaining && sentenceFrames.contains(t) {
                tgtX = (g.nextUniform() < 0.5 ? -1 : 1) * 0.5; tgtY = 0.4
            }
            curX += 0.6 * (tgtX - curX); curY += 0.6 * (tgtY - curY)  // a saccade takes ~2 frames
            gx[t] = curX; gy[t] = curY
        }
        return (gx, gy)
    }

    /// Occasional turns of the head to one side (10–20°, scaled by the identity's head
    /// amplitude), held for about a second: speakers look aside when thinking, most when
    /// explaining and often at a sentence start. Yaw in degrees per frame.
    static func lookAside(frames: Int, sentenceFrames: Set<Int>, style: IdentityStyle, emotion: Emotion,
                          generator g: Generator) -> [Float] {
        var yaw = [Float](repeating: 0, count: frames)
        let perSecond: Double
        switch emotion {
        case .explaining: perSecond = 1.0 / 6
        case .laughing, .happy: perSecond = 1.0 / 10
        case .serious: perSecond = 1.0 / 25
        default: perSecond = 1.0 / 14
        }
        let gain = min(1.5, max(0.6, style.headAmplitude))
        var t = 0
        while t < frames {
            let atSentence = sentenceFrames.contains(t) && emotion == .explaining && g.nextUniform() < 0.5
            if atSentence || g.nextUniform() < perSecond / Double(fps) {
                let amp = Float(g.nextUniform() < 0.5 ? -1 : 1) * (10 + 10 * Float(g.nextUniform())) * gain
                let rise = 10, hold = 12 + g.nextInt(25), fall = 12
                for k in 0..<(rise + hold + fall) where t + k < frames {
                    let v: Float = k < rise ? 0.5 - 0.5 * cos(.pi * Float(k) / Float(rise))
                        : k < rise + hold ? 1 : 0.5 + 0.5 * cos(.pi * Float(k - rise - hold) / Float(fall))
                    yaw[t + k] += amp * v
                }
                t += rise + hold + fall + 25  // at least a second between turns
                continue
            }
            t += 1
        }
        return yaw
    }

    /// Slow drift of the emotional baseline (smile, brows) so long clips are not static.
    static func baselineDrift(frames: Int, generator g: Generator) -> ([Float], [Float]) {
        let dt: Float = 1 / Float(fps)
        var smileDrift = [Float](repeating: 0, count: frames), browDrift = [Float](repeating: 0, count: frames)
        var sd: Float = 0, bd: Float = 0
        for t in 0..<frames {
            sd += -sd / 3 * dt + 0.08 * (2 * dt / 3).squareRoot() * Float(g.nextNormal())
            bd += -bd / 3 * dt + 0.06 * (2 * dt / 3).squareRoot() * Float(g.nextNormal())
            smileDrift[t] = sd; browDrift[t] = bd
        }
        return (smileDrift, browDrift)
    }

    /// Phoneme segments covering the clip: gaps become silence segments.
    static func fillSilences(_ phonemes: [TimedPhoneme], duration: Double) -> [TimedPhoneme] {
        var out: [TimedPhoneme] = []
        var cursor = 0.0
        for p in phonemes.sorted(by: { $0.start < $1.start }) {
            if p.start > cursor + 0.02 { out.append(TimedPhoneme(name: "_", start: cursor, end: p.start)) }
            let s = max(p.start, cursor)
            if p.end > s { out.append(TimedPhoneme(name: p.name, start: s, end: p.end)); cursor = p.end }
        }
        if duration > cursor + 0.02 { out.append(TimedPhoneme(name: "_", start: cursor, end: duration)) }
        return out
    }
}
