import Foundation
import CSndfile

/// Container/encoding pairs libsndfile writes.
public enum AudioFileFormat: String, Sendable, CaseIterable {
    case wav16, wav24, wav32, wavFloat, flac, oggVorbis, mp3

    var code: Int32 {
        switch self {
        case .wav16: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        case .wav24: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24)
        case .wav32: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32)
        case .wavFloat: return Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
        case .flac: return Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
        case .oggVorbis: return Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS)
        case .mp3: return Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III)
        }
    }
}

/// Writes audio through libsndfile (for test material, demos and dataset clips).
public enum AudioWriter {
    /// Writes interleaved `samples` (frames × channels) to `path`.
    public static func write(_ samples: [Float], channels: Int = 1, sampleRate: Int, to path: String,
                             format: AudioFileFormat = .wav16) throws {
        guard channels > 0, samples.count % channels == 0 else {
            throw AudioError(file: path, "cannot write \(samples.count) samples as \(channels) channels")
        }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = format.code
        guard sf_format_check(&info) != 0 else {
            throw AudioError(file: path, "libsndfile cannot write \(format.rawValue) at \(sampleRate) Hz with \(channels) channels")
        }
        guard let sf = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw AudioError(file: path, "cannot be written (libsndfile: \(String(cString: sf_strerror(nil))))")
        }
        // Keep float data as-is and integer data unclipped-by-surprise: libsndfile clips on convert.
        sf_command(sf, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
        let frames = samples.count / channels
        let written = samples.withUnsafeBufferPointer { sf_writef_float(sf, $0.baseAddress, sf_count_t(frames)) }
        let closeStatus = sf_close(sf)
        if written != sf_count_t(frames) || closeStatus != 0 {
            throw AudioError(file: path, "writing stopped after \(written) of \(frames) frames")
        }
    }
}
