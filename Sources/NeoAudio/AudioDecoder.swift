import Foundation
import CSndfile

/// Mono float32 audio at a known sample rate, with a note of where it came from.
public struct DecodedAudio: Sendable {
    /// Mono samples, nominally in [-1, 1].
    public var samples: [Float]
    public var sampleRate: Int
    /// Rate and channel count of the file before downmixing and resampling.
    public var sourceSampleRate: Int
    public var sourceChannels: Int
    /// libsndfile's name for the container and encoding, e.g. "WAV (Microsoft) / Signed 16 bit PCM".
    public var sourceFormat: String

    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

/// Reads any file libsndfile understands (WAV in its integer and float variants, FLAC,
/// Ogg/Vorbis, Opus, MP3, AIFF, …), downmixes to mono and resamples to the framework's
/// 16 kHz (docs/architecture.md §3). Every problem with the file is an `AudioError` naming it.
public enum AudioDecoder {
    /// The framework's internal sample rate.
    public static let sampleRate = 16_000
    /// Shorter clips carry too little speech to encode (Whisper's stem needs a few frames).
    public static let minimumDuration = 0.1
    /// A clip whose peak is below one step of 16-bit audio is digital silence.
    public static let silencePeak: Float = 1.0 / 32_768
    /// Samples are nominally in [-1, 1]; float files may overshoot a little, but a peak beyond
    /// this (36 dB over full scale) is a file written in the wrong units or damaged, and its
    /// log-mel power would overflow float32.
    public static let maximumPeak: Float = 64
    /// Header sample rates accepted: from narrow-band telephone audio to studio rates. A rate
    /// outside is a damaged header (1 Hz would make a 3 s file 13 hours long).
    public static let sampleRates = 4_000...384_000

    /// Decodes `path`, checks it, downmixes and resamples to `sampleRate` (16 kHz by default).
    public static func load(_ path: String, sampleRate: Int = AudioDecoder.sampleRate) throws -> DecodedAudio {
        let raw = try readMono(path)
        try validate(raw.samples, sampleRate: raw.sampleRate, file: path)
        var out = raw
        if raw.sampleRate != sampleRate {
            out.samples = try Resampler.resample(raw.samples, from: raw.sampleRate, to: sampleRate, file: path)
            out.sampleRate = sampleRate
        }
        return out
    }

    /// Decodes `path` to mono at its own rate, without the silence/length checks (but with the
    /// checks that the file is audio, is complete, and holds only finite samples).
    public static func readMono(_ path: String) throws -> DecodedAudio {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AudioError(file: path, "no such file")
        }
        if isDirectory.boolValue { throw AudioError(file: path, "is a folder, not an audio file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw AudioError(file: path, "cannot be read (permission denied)")
        }
        let fileBytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
        if fileBytes == 0 { throw AudioError(file: path, "is empty (0 bytes)") }

        var info = SF_INFO()
        guard let sf = sf_open(path, Int32(SFM_READ), &info) else {
            let reason = String(cString: sf_strerror(nil))
            if sf_error(nil) == Int32(SF_ERR_MALFORMED_FILE) {
                throw AudioError(file: path, "is damaged or truncated: libsndfile recognises the format but cannot parse it (\(reason))")
            }
            throw AudioError(file: path, "is not a readable audio file (libsndfile: \(reason))")
        }
        defer { sf_close(sf) }

        let channels = Int(info.channels), rate = Int(info.samplerate)
        let format = formatName(info.format)
        guard channels > 0, rate > 0 else {
            throw AudioError(file: path, "has an invalid header (\(channels) channels at \(rate) Hz)")
        }
        guard sampleRates.contains(rate) else {
            throw AudioError(file: path, "has a header sample rate of \(rate) Hz, outside the accepted \(sampleRates.lowerBound)…\(sampleRates.upperBound) Hz (the header is damaged or the file is not audio)")
        }
        if info.frames <= 0 { throw AudioError(file: path, "is empty (0 audio frames; \(format))") }
        if let problem = truncation(sf, path: path, info: info, fileBytes: fileBytes) {
            throw AudioError(file: path, problem)
        }

        // Reads in blocks, averaging the channels as it goes.
        let declared = Int(info.frames)
        var mono = [Float]()
        mono.reserveCapacity(min(declared, 1 << 24))
        let blockFrames = 1 << 14
        var block = [Float](repeating: 0, count: blockFrames * channels)
        let scale = 1 / Float(channels)
        while true {
            let got = block.withUnsafeMutableBufferPointer { sf_readf_float(sf, $0.baseAddress, sf_count_t(blockFrames)) }
            if got <= 0 { break }
            let n = Int(got)
            block.withUnsafeBufferPointer { b in
                if channels == 1 {
                    mono.append(contentsOf: b[0..<n])
                } else {
                    for f in 0..<n {
                        var s: Float = 0
                        let base = f &* channels
                        for c in 0..<channels { s += b[base &+ c] }
                        mono.append(s * scale)
                    }
                }
            }
        }
        let err = sf_error(sf)
        if err != 0 {
            throw AudioError(file: path, "is truncated or damaged: decoding stopped after \(mono.count) of \(declared) frames (libsndfile: \(String(cString: sf_strerror(sf))))")
        }
        // Compressed streams cut short decode fewer frames than declared; an Ogg stream without
        // its final page has no known length at all. MP3 lengths from a Xing/LAME header may be
        // off by the encoder's padding, so a shortfall under a few MPEG frames is tolerated.
        let isMPEG = info.format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_MPEG)
        if info.frames == sf_count_t.max {
            throw AudioError(file: path, "is truncated: the stream ends without its final page, so its length is unknown (\(format); \(mono.count) frames decoded)")
        }
        if mono.count < declared - (isMPEG ? 4 * 1152 : 0) {
            throw AudioError(file: path, "is truncated: the header declares \(declared) frames but only \(mono.count) could be decoded (\(format))")
        }
        if mono.isEmpty { throw AudioError(file: path, "is empty (0 audio frames decoded; \(format))") }
        try checkSamples(mono, sampleRate: rate, file: path)
        return DecodedAudio(samples: mono, sampleRate: rate, sourceSampleRate: rate, sourceChannels: channels, sourceFormat: format)
    }

    /// Every sample finite and within ±`maximumPeak`; the error names the file, the count and
    /// the first offending frame.
    public static func checkSamples(_ samples: [Float], sampleRate rate: Int, file: String) throws {
        func at(_ i: Int) -> String { "frame \(i) (\(String(format: "%.3f", Double(i) / Double(rate))) s)" }
        if let bad = samples.firstIndex(where: { !$0.isFinite }) {
            let count = samples.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
            throw AudioError(file: file, "contains \(count) non-finite samples (NaN or Inf), the first at \(at(bad))")
        }
        if let loud = samples.firstIndex(where: { abs($0) > maximumPeak }) {
            let peak = samples.reduce(Float(0)) { max($0, abs($1)) }
            throw AudioError(file: file, "has samples far outside [-1, 1] (peak \(peak), the first beyond ±\(Int(maximumPeak)) at \(at(loud))); accepted peak ≤ \(Int(maximumPeak)): the file is damaged or written in the wrong units")
        }
    }

    /// Length and silence checks on decoded mono samples.
    public static func validate(_ samples: [Float], sampleRate: Int, file: String) throws {
        let duration = Double(samples.count) / Double(sampleRate)
        if duration < minimumDuration {
            throw AudioError(file: file, "is too short: \(String(format: "%.3f", duration)) s (\(samples.count) frames at \(sampleRate) Hz); at least \(minimumDuration) s is needed")
        }
        var peak: Float = 0
        for s in samples { peak = max(peak, abs(s)) }
        if peak < silencePeak {
            throw AudioError(file: file, "is silent: peak amplitude \(peak) over \(String(format: "%.2f", duration)) s is below one 16-bit step")
        }
    }

    /// A description of how the file is cut short, or nil. libsndfile quietly shortens a WAV/AIFF
    /// whose sample-data chunk runs past the end of the file; its log records that as
    /// "data : 248922 (should be 19956)". Placeholder sizes left by streaming writers
    /// (0 or ≥ 0x7FFFF000, meaning "unknown") are not truncation.
    static func truncation(_ sf: OpaquePointer, path: String, info: SF_INFO, fileBytes: Int) -> String? {
        var log = [CChar](repeating: 0, count: 8192)
        let n = log.withUnsafeMutableBufferPointer { sf_command(sf, Int32(SFC_GET_LOG_INFO), $0.baseAddress, Int32($0.count)) }
        guard n > 0 else { return nil }
        let text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let chunk = parts[0].trimmingCharacters(in: .whitespaces)
            guard ["data", "SSND"].contains(chunk) else { continue }
            let rest = parts[1]
            guard let open = rest.range(of: "(should be ") else { continue }
            let declaredText = rest[..<open.lowerBound].trimmingCharacters(in: .whitespaces)
            let presentText = rest[open.upperBound...].prefix { $0.isNumber }
            guard let declared = Int(declaredText), let present = Int(presentText) else { continue }
            if declared == 0 || declared >= 0x7FFF_F000 { continue }
            if present < declared {
                return "is truncated: its '\(chunk)' chunk declares \(declared) bytes of audio but the file holds only \(present)"
            }
        }
        return nil
    }

    /// libsndfile's names for the major format and the encoding.
    static func formatName(_ format: Int32) -> String {
        func name(_ code: Int32, _ command: Int32) -> String {
            var f = SF_FORMAT_INFO()
            f.format = code
            guard sf_command(nil, command, &f, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0, let p = f.name else {
                return String(format: "0x%x", code)
            }
            return String(cString: p)
        }
        let major = name(format & Int32(SF_FORMAT_TYPEMASK), Int32(SFC_GET_FORMAT_INFO))
        let sub = name(format & Int32(SF_FORMAT_SUBMASK), Int32(SFC_GET_FORMAT_INFO))
        return "\(major) / \(sub)"
    }
}
