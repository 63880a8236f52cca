import CEspeak
import Foundation

/// One phoneme as espeak-ng reports it: its eSpeak mnemonic and the sample (at the
/// synthesizer's native rate) where it starts in the sentence's audio.
public struct PhonemeEvent: Sendable, Equatable {
    public var name: String
    public var sample: Int
    public init(name: String, sample: Int) { self.name = name; self.sample = sample }
}

/// A voice: language, variant (espeak-ng's `!v` files: m1…m8, f1…f5, klatt, …), and prosody.
public struct VoiceSettings: Sendable, Hashable, Codable {
    public var language: String
    public var variant: String
    /// Words per minute (espeak-ng accepts 80…450).
    public var rate: Int
    /// Base pitch 0…100 (50 is the voice's normal).
    public var pitch: Int
    /// Pitch range 0…100 (0 monotone, 50 normal).
    public var range: Int
    /// Loudness 0…200 (100 normal).
    public var volume: Int
    public init(language: String, variant: String, rate: Int = 175, pitch: Int = 50, range: Int = 50, volume: Int = 100) {
        self.language = language; self.variant = variant
        self.rate = rate; self.pitch = pitch; self.range = range; self.volume = volume
    }
    /// The name espeak_SetVoiceByName takes: language plus variant, e.g. "de+f3".
    public var espeakName: String { variant.isEmpty ? language : "\(language)+\(variant)" }
}

/// Speech for one text: mono samples at `sampleRate` (espeak-ng: 22050 Hz), the phonemes with
/// the sample each starts at, and word starts (samples).
public struct SpokenText: Sendable {
    public var samples: [Float]
    public var sampleRate: Int
    public var phonemes: [PhonemeEvent]
    public var wordStarts: [Int]
}

/// espeak-ng behind a lock, one fresh library instance per session.
///
/// espeak-ng keeps its state in process globals (not thread-safe) and carries synthesis state
/// from one message to the next in function-level statics (pitch flutter phase, gain control,
/// noise from `rand()`), so the same text gives slightly different audio depending on what was
/// spoken before. For reproducible corpora each session loads a private copy of the library
/// (`dlopen` with deep binding, its own statics), initialises it, speaks, terminates and
/// unloads it; `rand()` is reseeded. Sessions are serialised by a lock.
public final class SpeechSynthesizer: @unchecked Sendable {
    public static let shared = SpeechSynthesizer()

    private let lock = NSLock()
    private var privateCopy: String?

    private init() {}

    /// Runs `body` with a freshly loaded espeak-ng instance; the audio of a session depends only
    /// on what is spoken inside it.
    public func session<R>(_ body: (EspeakSession) throws -> R) throws -> R {
        lock.lock(); defer { lock.unlock() }
        let path = try libraryCopy()
        let instance = try EspeakSession(libraryPath: path)
        defer { instance.close() }
        return try body(instance)
    }

    /// Speaks one text in its own session.
    public func speak(_ text: String, voice: VoiceSettings) throws -> SpokenText {
        try session { try $0.speak(text, voice: voice) }
    }

    /// The library file the process linked (from /proc/self/maps), else the usual install paths.
    static func installedLibrary() -> String? {
        if let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) {
            for line in maps.split(separator: "\n") {
                if let slash = line.firstIndex(of: "/"), line.contains("libespeak-ng.so") {
                    return String(line[slash...])
                }
            }
        }
        let dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
        for d in dirs where FileManager.default.fileExists(atPath: d + "/libespeak-ng.so.1") { return d + "/libespeak-ng.so.1" }
        return nil
    }

    /// A copy of the installed libespeak-ng under a path of its own, so that dlopen gives a new
    /// instance instead of the one the process linked.
    private func libraryCopy() throws -> String {
        if let privateCopy { return privateCopy }
        guard let found = Self.installedLibrary() else {
            throw DataError(file: "libespeak-ng", "cannot find the espeak-ng library (Debian: libespeak-ng1)")
        }
        let source = URL(fileURLWithPath: found).resolvingSymlinksInPath().path
        let attrs = try? FileManager.default.attributesOfItem(atPath: source)
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? 0
        let inode = (attrs?[.systemFileNumber] as? NSNumber)?.intValue ?? 0
        let target = FileManager.default.temporaryDirectory
            .appendingPathComponent("neo-train-espeak-\(inode)-\(size).so").path
        if !FileManager.default.fileExists(atPath: target) {
            guard let data = FileManager.default.contents(atPath: source) else {
                throw DataError(file: source, "cannot read espeak-ng library to make a private copy")
            }
            try AtomicWrite.data(data, to: target)
        }
        privateCopy = target
        return target
    }
}

/// One loaded espeak-ng instance (see `SpeechSynthesizer.session`).
public final class EspeakSession {
    private typealias InitFn = @convention(c) (espeak_AUDIO_OUTPUT, Int32, UnsafePointer<CChar>?, Int32) -> Int32
    private typealias CallbackFn = @convention(c) (UnsafeMutablePointer<Int16>?, Int32, UnsafeMutablePointer<espeak_EVENT>?) -> Int32
    private typealias SetCallbackFn = @convention(c) (CallbackFn?) -> Void
    private typealias SetVoiceFn = @convention(c) (UnsafePointer<CChar>?) -> espeak_ERROR
    private typealias SetParameterFn = @convention(c) (espeak_PARAMETER, Int32, Int32) -> espeak_ERROR
    private typealias SynthFn = @convention(c) (UnsafeRawPointer?, Int, UInt32, espeak_POSITION_TYPE, UInt32, UInt32,
                                                 UnsafeMutablePointer<UInt32>?, UnsafeMutableRawPointer?) -> espeak_ERROR
    private typealias TerminateFn = @convention(c) () -> espeak_ERROR

    private var handle: UnsafeMutableRawPointer?
    private let setVoice: SetVoiceFn
    private let setParameter: SetParameterFn
    private let synth: SynthFn
    private let terminate: TerminateFn
    public let sampleRate: Int

    fileprivate init(libraryPath: String) throws {
        // RTLD_DEEPBIND (8): the copy resolves its own exported functions to itself, never to
        // the instance the process linked.
        guard let h = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL | 0x8) else {
            let msg = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw DataError(file: libraryPath, "cannot load espeak-ng: \(msg)")
        }
        func sym<T>(_ name: String, _ type: T.Type) throws -> T {
            guard let p = dlsym(h, name) else {
                dlclose(h)
                throw DataError(file: libraryPath, "espeak-ng has no symbol \(name)")
            }
            return unsafeBitCast(p, to: type)
        }
        let initialize = try sym("espeak_Initialize", InitFn.self)
        let setCallback = try sym("espeak_SetSynthCallback", SetCallbackFn.self)
        setVoice = try sym("espeak_SetVoiceByName", SetVoiceFn.self)
        setParameter = try sym("espeak_SetParameter", SetParameterFn.self)
        synth = try sym("espeak_Synth", SynthFn.self)
        terminate = try sym("espeak_Terminate", TerminateFn.self)
        let options = Int32(espeakINITIALIZE_PHONEME_EVENTS) | Int32(espeakINITIALIZE_DONT_EXIT)
        let rate = initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, options)
        guard rate > 0 else {
            dlclose(h)
            throw DataError(file: "espeak-ng", "espeak_Initialize failed (is espeak-ng-data installed? Debian: espeak-ng-data)")
        }
        setCallback(espeakCollect)
        handle = h
        sampleRate = Int(rate)
        srand(1)
    }

    fileprivate func close() {
        guard let h = handle else { return }
        _ = terminate()
        dlclose(h)
        handle = nil
    }

    /// Speaks `text` (UTF-8) with `voice`; every parameter is set on each call.
    public func speak(_ text: String, voice: VoiceSettings) throws -> SpokenText {
        let status = voice.espeakName.withCString { setVoice($0) }
        guard status == EE_OK else {
            throw DataError(file: "espeak-ng", "voice '\(voice.espeakName)' not found (language or variant missing from espeak-ng-data)")
        }
        _ = setParameter(espeakRATE, Int32(min(450, max(80, voice.rate))), 0)
        _ = setParameter(espeakPITCH, Int32(min(100, max(0, voice.pitch))), 0)
        _ = setParameter(espeakRANGE, Int32(min(100, max(0, voice.range))), 0)
        _ = setParameter(espeakVOLUME, Int32(min(200, max(0, voice.volume))), 0)
        _ = setParameter(espeakPUNCTUATION, 0, 0)
        let collector = SpeechCollector()
        let context = Unmanaged.passRetained(collector)
        defer { context.release() }
        let result: espeak_ERROR = text.withCString { cText in
            synth(cText, strlen(cText) + 1, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, context.toOpaque())
        }
        guard result == EE_OK else { throw DataError(file: "espeak-ng", "espeak_Synth failed (\(result)) for '\(text)'") }
        // Events count samples from the start of the message.
        let total = collector.samples.count
        return SpokenText(samples: collector.samples, sampleRate: sampleRate,
                          phonemes: collector.phonemes.filter { $0.sample <= total },
                          wordStarts: collector.wordStarts.filter { $0 <= total })
    }
}

/// Receives one message's audio blocks and events (called synchronously inside espeak_Synth).
private final class SpeechCollector {
    var samples: [Float] = []
    var phonemes: [PhonemeEvent] = []
    var wordStarts: [Int] = []
}

private func espeakCollect(_ wav: UnsafeMutablePointer<Int16>?, _ count: Int32,
                           _ events: UnsafeMutablePointer<espeak_EVENT>?) -> Int32 {
    guard let events, let user = events.pointee.user_data else { return 0 }
    let collector = Unmanaged<SpeechCollector>.fromOpaque(user).takeUnretainedValue()
    if let wav, count > 0 {
        collector.samples.reserveCapacity(collector.samples.count + Int(count))
        for i in 0..<Int(count) { collector.samples.append(Float(wav[i]) * (1.0 / 32768.0)) }
    }
    var e = events
    while e.pointee.type != espeakEVENT_LIST_TERMINATED {
        switch e.pointee.type {
        case espeakEVENT_PHONEME:
            let name = withUnsafeBytes(of: e.pointee.id.string) { raw -> String in
                let bytes = raw.prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            collector.phonemes.append(PhonemeEvent(name: name, sample: Int(e.pointee.sample)))
        case espeakEVENT_WORD:
            collector.wordStarts.append(Int(e.pointee.sample))
        default:
            break
        }
        e = e.advanced(by: 1)
    }
    return 0
}
