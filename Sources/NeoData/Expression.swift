import NeoTensor

/// The six emotional states of the synthetic performer (and the emotion vocabulary of datasets).
public enum Emotion: String, CaseIterable, Sendable, Codable {
    case neutral, happy, serious, surprised, explaining, laughing

    /// Index used in batches (conditioning embeddings): position in `allCases`.
    public var index: Int { Emotion.allCases.firstIndex(of: self)! }

    /// How the state shifts the face's baseline and scales its dynamics.
    public var profile: EmotionProfile {
        switch self {
        case .neutral:
            return EmotionProfile(smile: 0, brow: 0, eyeOpen: 0, jaw: 0, headPitch: 0, headGain: 1, nodGain: 1,
                                  browAccentGain: 0.6, articulation: 1, blinkRate: 1, sway: 1, gazeShifts: 1,
                                  voicePitch: 0, voiceRate: 1, voiceRange: 0)
        case .happy:
            return EmotionProfile(smile: 0.75, brow: 0.15, eyeOpen: -0.15, jaw: 0.05, headPitch: 1, headGain: 1.3, nodGain: 1.2,
                                  browAccentGain: 0.8, articulation: 1.05, blinkRate: 1.1, sway: 1.15, gazeShifts: 1.1,
                                  voicePitch: 8, voiceRate: 1.05, voiceRange: 15)
        case .serious:
            return EmotionProfile(smile: -0.15, brow: -0.4, eyeOpen: -0.1, jaw: 0, headPitch: -3, headGain: 0.55, nodGain: 0.7,
                                  browAccentGain: 0.3, articulation: 0.85, blinkRate: 0.75, sway: 0.8, gazeShifts: 0.6,
                                  voicePitch: -8, voiceRate: 0.9, voiceRange: -15)
        case .surprised:
            return EmotionProfile(smile: 0.1, brow: 0.9, eyeOpen: 0.45, jaw: 0.15, headPitch: 4, headGain: 1.1, nodGain: 1,
                                  browAccentGain: 1.4, articulation: 1.15, blinkRate: 0.55, sway: 1, gazeShifts: 0.8,
                                  voicePitch: 12, voiceRate: 1.1, voiceRange: 25)
        case .explaining:
            return EmotionProfile(smile: 0.15, brow: 0.2, eyeOpen: 0.05, jaw: 0, headPitch: 0, headGain: 1.5, nodGain: 1.7,
                                  browAccentGain: 1.3, articulation: 1.1, blinkRate: 1.2, sway: 1.2, gazeShifts: 1.6,
                                  voicePitch: 2, voiceRate: 0.95, voiceRange: 10)
        case .laughing:
            return EmotionProfile(smile: 1, brow: 0.2, eyeOpen: -0.35, jaw: 0.2, headPitch: 5, headGain: 1.8, nodGain: 1.2,
                                  browAccentGain: 0.5, articulation: 1.1, blinkRate: 1.4, sway: 1.4, gazeShifts: 1,
                                  voicePitch: 10, voiceRate: 1.05, voiceRange: 20)
        }
    }
}

/// Baseline shifts (smile, brow, eyeOpen, jaw in face units; headPitch in degrees) and gains on
/// the dynamics; voice changes are applied to the identity's voice.
public struct EmotionProfile: Sendable {
    public var smile, brow, eyeOpen, jaw, headPitch: Float
    public var headGain, nodGain, browAccentGain, articulation, blinkRate, sway, gazeShifts: Float
    public var voicePitch: Int
    public var voiceRate: Float
    public var voiceRange: Int
}

/// A per-identity performance style and voice, derived deterministically from (seed, identity).
public struct IdentityStyle: Sendable, Codable, Equatable {
    public var identity: String
    public var voice: VoiceSettings
    /// Languages this identity speaks (the first is the one used most).
    public var languages: [String]
    public var articulation: Float     // lip/jaw amplitude
    public var headAmplitude: Float    // head sway and nods
    public var browAmplitude: Float
    public var tempo: Float            // sway frequency multiplier
    public var blinksPerMinute: Float
    public var reactionDelay: Float    // seconds from an accent to the head/brow response
    public var anticipation: Float     // seconds the lips lead the sound (40–100 ms)
    public var gazeInterval: Float     // mean seconds between gaze shifts
    public var smileBias: Float
    public var scale: Float
    public var translation: [Float]    // 3
    public var headBias: [Float]       // pitch, yaw, roll in degrees
    public var neutralFace: [Float]    // 63 expression offsets of this identity's neutral face

    static let variants = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5",
                           "klatt", "klatt2", "klatt3", "andy", "annie", "benjamin", "david", "edward",
                           "linda", "max", "michel", "paul", "pedro", "robert", "steph", "victor"]

    /// The style of identity number `index` for a synthesis `seed`.
    public static func derive(index: Int, seed: UInt64) -> IdentityStyle {
        let g = Generator(seed: seed).derived(0x1D_E47, UInt64(index))
        func u(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(g.nextUniform()) }
        let langs = SentenceList.languages
        let primary = langs[(index &+ g.nextInt(langs.count)) % langs.count]
        var languages = [primary]
        if g.nextUniform() < 0.5 {
            let other = langs[g.nextInt(langs.count)]
            if other != primary { languages.append(other) }
        }
        let variant = variants[g.nextInt(variants.count)]
        let voice = VoiceSettings(language: primary, variant: variant, rate: Int(u(140, 200)), pitch: Int(u(30, 70)),
                                  range: Int(u(40, 80)), volume: 100)
        var neutral = [Float](repeating: 0, count: 63)
        for i in 0..<63 { neutral[i] = Float(g.nextNormal()) * 0.004 }
        return IdentityStyle(
            identity: identityName(index), voice: voice, languages: languages,
            articulation: u(0.8, 1.25), headAmplitude: u(0.6, 1.5), browAmplitude: u(0.5, 1.5), tempo: u(0.7, 1.4),
            blinksPerMinute: u(8, 26), reactionDelay: u(0.04, 0.16), anticipation: u(0.04, 0.10),
            gazeInterval: u(1.2, 3.5), smileBias: u(-0.1, 0.25), scale: u(0.92, 1.08),
            translation: [u(-0.03, 0.03), u(-0.03, 0.03), 0], headBias: [u(-3, 3), u(-4, 4), u(-2, 2)],
            neutralFace: neutral)
    }
}

/// Mouth shapes (the 15 classes common in lip-sync tools). Labels store `rawValue`.
public enum Viseme: Int32, CaseIterable, Sendable {
    case sil = 0, pp, ff, th, dd, kk, ch, ss, nn, rr, aa, e, ih, oh, ou

    /// Articulation target: jaw opening, lip opening (negative = pressed), lip width
    /// (spread +, narrow −), rounding/protrusion; plus how strongly the shape dominates its
    /// neighbours (bilabial closure must be reached, so it dominates).
    public var target: (jaw: Float, open: Float, width: Float, round: Float, dominance: Float) {
        switch self {
        case .sil: return (0.05, 0, 0, 0, 0.4)
        case .pp: return (0.06, -0.25, 0, 0.05, 3.0)
        case .ff: return (0.14, 0.02, 0.1, 0, 2.0)
        case .th: return (0.2, 0.15, 0.1, 0, 1.0)
        case .dd: return (0.25, 0.2, 0.15, 0, 0.7)
        case .kk: return (0.3, 0.22, 0.1, 0, 0.6)
        case .ch: return (0.2, 0.18, -0.2, 0.6, 1.2)
        case .ss: return (0.12, 0.1, 0.3, 0, 1.0)
        case .nn: return (0.2, 0.15, 0.1, 0, 0.7)
        case .rr: return (0.25, 0.2, -0.1, 0.4, 0.8)
        case .aa: return (0.9, 0.8, 0.2, 0, 1.0)
        case .e: return (0.55, 0.5, 0.45, 0, 1.0)
        case .ih: return (0.35, 0.3, 0.6, 0, 1.0)
        case .oh: return (0.6, 0.55, -0.3, 0.7, 1.0)
        case .ou: return (0.3, 0.25, -0.5, 1.0, 1.2)
        }
    }

    /// The viseme of an eSpeak phoneme mnemonic (all languages share the mnemonic style).
    public static func of(phoneme name: String) -> Viseme {
        guard let first = name.first else { return .sil }
        switch name {
        case "tS", "dZ", "S", "Z", "S;", "Z;": return .ch
        case "ts", "dz": return .ss
        case "pf": return .ff
        case "rr": return .rr
        default: break
        }
        switch first {
        case "_", "#", "|": return .sil
        case "p", "b", "m": return .pp
        case "f", "v": return .ff
        case "T", "D": return .th
        case "t", "d": return .dd
        case "k", "g", "h", "x", "C", "q", "G", "?", "X": return .kk
        case "s", "z": return .ss
        case "n", "N", "J", "l", "L": return .nn
        case "r", "R", "*": return .rr
        case "w", "W", "u", "U", "y", "Y": return .ou
        case "j", "i", "I": return .ih
        case "a", "A", "V", "&": return .aa
        case "e", "E", "@", "3": return .e
        case "o", "O", "0", "Q", "9": return .oh
        default: return .dd
        }
    }
}

/// "id0007": the synthetic identity names, zero-padded so they sort in order.
public func identityName(_ index: Int) -> String {
    let digits = String(index)
    return "id" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
