import Foundation
import NeoTensor
import NeoIO

/// What the audio front end produces for one clip.
public struct AudioFeatures {
    /// [melBins, frames], Whisper's log-mel at 100 frames/s, clamped over the whole clip.
    public var logMel: Tensor
    /// [layers + 1, ⌈frames/2⌉ summed over windows, width] at 50 frames/s: index 0 the stem,
    /// 1..<layers the block outputs, `layers` the ln_post output (see `WhisperEncoder.hiddenStates`).
    public var hiddenStates: Tensor
    /// Seconds of 16 kHz audio.
    public var duration: Double
}

/// Audio file → log-mel → every hidden state of a Whisper encoder, in windows of at most 30 s.
/// The log-mel is computed once over the whole clip (its max − 8 floor is global, as in
/// Whisper), then cut into windows of `windowFrames` frames; each window is encoded on its own
/// and the states are concatenated in time. A window of F frames gives ⌈F/2⌉ feature frames, so
/// a clip of N samples gives Σ ⌈F_w/2⌉ = N/320 feature frames when every window is even.
public final class FeatureExtractor {
    public let encoder: WhisperEncoder
    public let logMel: LogMelSpectrogram
    public let windowFrames: Int

    public init(encoder: WhisperEncoder, windowFrames: Int = 3000) {
        precondition(windowFrames >= 2 && windowFrames <= encoder.config.maxMelFrames && windowFrames % 2 == 0,
                     "FeatureExtractor: windowFrames \(windowFrames) must be even and within 2…\(encoder.config.maxMelFrames)")
        self.encoder = encoder
        self.logMel = LogMelSpectrogram(nMels: encoder.config.melBins)
        self.windowFrames = windowFrames
    }

    /// Loads the encoder from a checkpoint (`WhisperWeights.load`).
    public convenience init(weights: String, windowFrames: Int = 3000) throws {
        self.init(encoder: try WhisperWeights.load(weights), windowFrames: windowFrames)
    }

    /// Features of an audio file (decoded, checked and resampled by `AudioDecoder`).
    public func features(file: String) throws -> AudioFeatures {
        let audio = try AudioDecoder.load(file)
        return try features(samples: audio.samples, source: file)
    }

    /// Features of mono 16 kHz samples; `source` names them in errors.
    /// Samples that are not finite or far outside [-1, 1] are refused naming `source`, and so
    /// are features that come out non-finite (the weights then are the problem).
    public func features(samples: [Float], source: String = "<samples>") throws -> AudioFeatures {
        try AudioDecoder.checkSamples(samples, sampleRate: LogMelSpectrogram.sampleRate, file: source)
        let mel = try logMel.compute(samples, source: source)
        let hidden = hiddenStates(logMel: mel)
        if let bad = [("log-mel", mel), ("hidden states", hidden)].first(where: { !$0.1.toArray().allSatisfy(\.isFinite) }) {
            throw AudioError(file: source, "the encoder's \(bad.0) came out NaN or infinite from finite audio; the Whisper weights are damaged")
        }
        return AudioFeatures(logMel: mel, hiddenStates: hidden,
                             duration: Double(samples.count) / Double(LogMelSpectrogram.sampleRate))
    }

    /// Every hidden state of a whole clip's log-mel [melBins, frames], encoded in windows of
    /// `windowFrames`: [layers+1, Σ ⌈F_w/2⌉, width].
    public func hiddenStates(logMel mel: Tensor) -> Tensor {
        let frames = mel.shape[1]
        var windows: [[Tensor]] = []
        var start = 0
        while start < frames {
            let end = min(start + windowFrames, frames)
            windows.append(encoder.hiddenStates(mel.slice(dim: 1, start: start, end: end).contiguous()))
            start = end
        }
        // Per state, the windows one after another in time.
        let perState = (0..<windows[0].count).map { i in
            windows.count == 1 ? windows[0][i] : Tensor.concat(windows.map { $0[i] }, dim: 0)
        }
        return Tensor.stack(perState, dim: 0)
    }

    /// Writes `/log_mel` [80, frames] and `/hidden_states` [layers+1, T', width] (float32) with
    /// attributes describing them, atomically (a temporary file renamed into place).
    public func write(_ features: AudioFeatures, to path: String, source: String? = nil) throws {
        let temporary = AtomicFile.temporaryPath(for: path)
        do {
            let file = try HDF5File.create(temporary)
            try file.write(features.logMel.contiguous(), at: "/log_mel")
            try file.write(features.hiddenStates.contiguous(), at: "/hidden_states")
            let c = encoder.config
            try file.setAttribute("sample_rate", .int64(Int64(LogMelSpectrogram.sampleRate)))
            try file.setAttribute("duration_seconds", .double(features.duration))
            try file.setAttribute("log_mel_frames_per_second", .double(Double(LogMelSpectrogram.sampleRate / LogMelSpectrogram.hop)))
            try file.setAttribute("hidden_frames_per_second", .double(Double(LogMelSpectrogram.sampleRate / LogMelSpectrogram.hop) / 2))
            try file.setAttribute("window_log_mel_frames", .int64(Int64(windowFrames)))
            try file.setAttribute("encoder", .string("whisper width=\(c.width) layers=\(c.layers) heads=\(c.heads)"))
            try file.setAttribute("hidden_states_layout", .string("index 0: stem (conv1+GELU, conv2+GELU, + positions); 1..\(c.layers - 1): block outputs; \(c.layers): ln_post(last block output)"))
            if let source { try file.setAttribute("source", .string(source)) }
            try file.close()
            try AtomicFile.commit(temporary: temporary, to: path)
        } catch let error as AudioError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AudioError(file: path, "cannot write features (\(error))")
        }
    }

    /// `neo-train data features --audio FILE --out FILE.h5`: features of one file, written.
    @discardableResult
    public func extract(audio: String, to out: String) throws -> AudioFeatures {
        let f = try features(file: audio)
        try write(f, to: out, source: audio)
        return f
    }
}
