import Foundation
import CFFTW
import NeoTensor

/// FFTW's planner is not thread-safe; plans are made and destroyed only under this lock
/// (executing a finished plan on separate buffers is safe from any thread).
private let fftwPlannerLock = NSLock()

/// Whisper's log-mel front end, step for step: 400-point periodic Hann window, hop 160,
/// centred frames with reflect padding (torch.stft's center=True), power spectrum, the last
/// frame dropped, an 80-band Slaney mel filter bank, log10(max(x, 1e-10)), a floor at
/// (global max − 8), then (x + 4) / 4. Input is mono 16 kHz audio; output is [nMels, frames]
/// with frames = samples / 160 (whole hops).
public final class LogMelSpectrogram: @unchecked Sendable {
    public static let sampleRate = 16_000
    public static let nFFT = 400
    public static let hop = 160
    public let nMels: Int
    /// [nMels, nFFT/2 + 1] row-major, librosa's `mel(sr=16000, n_fft=400, n_mels=nMels)`.
    public let melFilters: [Float]
    /// Periodic Hann window of length nFFT.
    public let window: [Float]
    private let plan: fftwf_plan
    private let bins = LogMelSpectrogram.nFFT / 2 + 1

    public init(nMels: Int = 80) {
        self.nMels = nMels
        melFilters = LogMelSpectrogram.melFilterBank(sampleRate: Self.sampleRate, nFFT: Self.nFFT, nMels: nMels)
        let n = Self.nFFT
        window = (0..<n).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n))) }
        // Plan once on SIMD-aligned scratch buffers; every execution uses buffers from
        // fftwf_malloc, which have the same alignment, through the new-array interface.
        fftwPlannerLock.lock()
        let input = fftwf_alloc_real(n)!
        let output = fftwf_alloc_complex(n / 2 + 1)!
        // FFTW_ESTIMATE, not FFTW_MEASURE: a measured plan depends on how busy the machine is,
        // and another plan rounds differently, so the same audio would give features (and
        // every model trained on them) that differ from run to run.
        plan = fftwf_plan_dft_r2c_1d(Int32(n), input, output, UInt32(FFTW_ESTIMATE))
        fftwf_free(input)
        fftwf_free(output)
        fftwPlannerLock.unlock()
    }

    deinit {
        fftwPlannerLock.lock()
        fftwf_destroy_plan(plan)
        fftwPlannerLock.unlock()
    }

    /// Frames Whisper keeps for `samples` samples: torch.stft's 1 + samples/hop, less the last.
    public static func frameCount(samples: Int) -> Int { samples / hop }

    /// The log-mel spectrogram of mono 16 kHz `samples`, [nMels, samples / 160].
    /// `source` names the audio in errors.
    public func compute(_ samples: [Float], source: String = "<samples>") throws -> Tensor {
        let n = Self.nFFT, hop = Self.hop, pad = n / 2, bins = self.bins
        guard samples.count > pad else {
            throw AudioError(file: source, "is too short for a log-mel spectrogram: \(samples.count) samples; more than \(pad) are needed")
        }
        let frames = Self.frameCount(samples: samples.count)
        let length = samples.count
        // Reflect-padded signal: x[-i] = x[i], x[L-1+i] = x[L-1-i].
        var padded = [Float](repeating: 0, count: length + 2 * pad)
        padded.withUnsafeMutableBufferPointer { p in
            samples.withUnsafeBufferPointer { s in
                for i in 0..<length { p[pad &+ i] = s[i] }
                for i in 1...pad {
                    p[pad &- i] = s[i]
                    p[pad &+ length &- 1 &+ i] = s[length &- 1 &- i]
                }
            }
        }
        // Power spectrum per frame, [frames, bins], frames split over threads.
        var power = [Float](repeating: 0, count: frames * bins)
        let plan = self.plan
        padded.withUnsafeBufferPointer { sig in
            window.withUnsafeBufferPointer { win in
                power.withUnsafeMutableBufferPointer { pw in
                    let sigBase = sig.baseAddress!, winBase = win.baseAddress!
                    let pwBase = pw.baseAddress!
                    parallelRanges(frames, minPerThread: 64) { lo, hi in
                        let input = fftwf_alloc_real(n)!
                        let output = fftwf_alloc_complex(n / 2 + 1)!
                        defer { fftwf_free(input); fftwf_free(output) }
                        let spectrum = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self)
                        for t in lo..<hi {
                            let frame = sigBase + t &* hop
                            for i in 0..<n { input[i] = frame[i] * winBase[i] }
                            fftwf_execute_dft_r2c(plan, input, output)
                            let row = pwBase + t &* bins
                            for k in 0..<bins {
                                let re = spectrum[2 &* k], im = spectrum[2 &* k &+ 1]
                                row[k] = re * re + im * im
                            }
                        }
                    }
                }
            }
        }
        // Mel energies [nMels, frames] = filters [nMels, bins] · powerᵀ.
        let out = Tensor.empty([nMels, frames])
        melFilters.withUnsafeBufferPointer { f in
            power.withUnsafeBufferPointer { p in
                gemm(transA: false, transB: true, m: nMels, n: frames, k: bins,
                     a: f.baseAddress!, lda: bins, b: p.baseAddress!, ldb: bins,
                     beta: 0, c: out.data, ldc: frames)
            }
        }
        let o = out.data, count = nMels * frames
        var peak = -Float.infinity
        for i in 0..<count {
            let v = log10f(max(o[i], 1e-10))
            o[i] = v
            peak = max(peak, v)
        }
        let floor = peak - 8
        for i in 0..<count { o[i] = (max(o[i], floor) + 4) / 4 }
        return out
    }

    /// The Slaney-style mel filter bank librosa builds by default (`htk=False`, `norm="slaney"`):
    /// triangles between mel-spaced edges from 0 Hz to sr/2 on Slaney's scale (linear below
    /// 1 kHz, logarithmic above), each scaled to unit area (2 / bandwidth in Hz). Computed in
    /// double precision and rounded to float, as librosa does. Returns [nMels, nFFT/2 + 1].
    public static func melFilterBank(sampleRate: Int, nFFT: Int, nMels: Int) -> [Float] {
        let bins = nFFT / 2 + 1
        let fMax = Double(sampleRate) / 2
        let fftFrequencies = (0..<bins).map { fMax * Double($0) / Double(bins - 1) }
        let lowMel = hzToMel(0), highMel = hzToMel(fMax)
        let edges = (0..<(nMels + 2)).map { melToHz(lowMel + (highMel - lowMel) * Double($0) / Double(nMels + 1)) }
        var weights = [Float](repeating: 0, count: nMels * bins)
        for m in 0..<nMels {
            let lowerWidth = edges[m + 1] - edges[m], upperWidth = edges[m + 2] - edges[m + 1]
            let norm = 2 / (edges[m + 2] - edges[m])
            for k in 0..<bins {
                let rising = (fftFrequencies[k] - edges[m]) / lowerWidth
                let falling = (edges[m + 2] - fftFrequencies[k]) / upperWidth
                weights[m * bins + k] = Float(max(0, min(rising, falling)) * norm)
            }
        }
        return weights
    }

    /// Slaney's mel scale: 3 mels per 200 Hz below 1 kHz, then log-spaced with 27 mels per
    /// factor 6.4.
    static let slaneyLinearStep = 200.0 / 3, slaneyBreakHz = 1000.0, slaneyLogStep = log(6.4) / 27
    static func hzToMel(_ f: Double) -> Double {
        let breakMel = slaneyBreakHz / slaneyLinearStep
        return f >= slaneyBreakHz ? breakMel + log(f / slaneyBreakHz) / slaneyLogStep : f / slaneyLinearStep
    }
    static func melToHz(_ m: Double) -> Double {
        let breakMel = slaneyBreakHz / slaneyLinearStep
        return m >= breakMel ? slaneyBreakHz * exp(slaneyLogStep * (m - breakMel)) : m * slaneyLinearStep
    }
}
