import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoAudio
import NeoTestSupport

final class LogMelTests: XCTestCase {
    /// Properties of the filter bank that hold whatever the reference: 80 triangles over 201
    /// bins, each non-negative, unit area in Hz (Slaney norm), peaks rising in frequency.
    func testMelFilterBankShapeAndNormalisation() {
        let f = LogMelSpectrogram.melFilterBank(sampleRate: 16_000, nFFT: 400, nMels: 80)
        XCTAssertEqual(f.count, 80 * 201)
        XCTAssertTrue(f.allSatisfy { $0 >= 0 && $0.isFinite })
        var lastPeak = -1
        for m in 0..<80 {
            let row = Array(f[(m * 201)..<((m + 1) * 201)])
            let peak = row.indices.max { row[$0] < row[$1] }!
            XCTAssertGreaterThanOrEqual(peak, lastPeak, "band \(m)")
            lastPeak = peak
            // A triangle of height 2/(f_hi - f_lo) over [f_lo, f_hi] has area 1 in Hz; sampled
            // every 40 Hz the sum times 40 Hz approximates it where bands span many bins.
            let area = row.reduce(0, +) * 40
            if m >= 60 { XCTAssertEqual(Double(area), 1, accuracy: 0.03, "band \(m)") }
        }
    }

    /// The window is periodic Hann, and frames are samples/160 (whisper drops stft's last frame).
    func testWindowAndFrameCount() throws {
        let lm = LogMelSpectrogram()
        XCTAssertEqual(lm.window[0], 0)
        XCTAssertEqual(lm.window[200], 1, accuracy: 1e-7)
        XCTAssertEqual(lm.window[100], lm.window[300], accuracy: 1e-7)
        let x = TestAudio.tone(440, seconds: 1.1, rate: 16_000)
        let m = try lm.compute(Array(x[0..<16_159]))
        XCTAssertEqual(m.shape, [80, 100])
        XCTAssertThrowsError(try lm.compute([Float](repeating: 0.1, count: 150), source: "tiny")) {
            XCTAssertTrue("\($0)".contains("tiny: is too short"), "\($0)")
        }
    }

    /// A 1 kHz tone puts its energy in the mel bands around 1 kHz, and the output respects
    /// whisper's dynamic range: max − min ≤ 8/4 = 2 after the clamp and scaling.
    func testToneLandsInTheRightBand() throws {
        let lm = LogMelSpectrogram()
        let m = try lm.compute(TestAudio.tone(1000, seconds: 0.5, rate: 16_000)).toArray()
        let frames = 50
        var bandEnergy = [Float](repeating: 0, count: 80)
        for b in 0..<80 { for t in 0..<frames { bandEnergy[b] += m[b * frames + t] } }
        let best = bandEnergy.indices.max { bandEnergy[$0] < bandEnergy[$1] }!
        // Slaney mel of 1 kHz is 15; the 82 edges are spaced (mel(8000)=45.25)/81 apart.
        let expected = 15.0 / (LogMelSpectrogram_melMax / 81) - 1
        XCTAssertEqual(Double(best), expected, accuracy: 1.0)
        XCTAssertLessThanOrEqual(m.max()! - m.min()!, 2.0 + 1e-6)
    }

    /// Real speech (espeak-ng, and the same utterance as 44.1 kHz stereo FLAC and 48 kHz
    /// Ogg/Vorbis made by sox) against a float64 NumPy and a float32 torch reimplementation of
    /// whisper.audio.log_mel_spectrogram fed the same decoded samples: ≤ 1e-4 absolute.
    func testMatchesWhisperReferenceOnSpeech() throws {
        guard PythonCrossCheck.available(["numpy", "torch"]) else { throw XCTSkip("numpy/torch not installed") }
        let dir = PythonCrossCheck.temporaryDirectory("logmel")
        guard let wav = TestAudio.speech(TestAudio.sentence, in: dir) else { throw XCTSkip("espeak-ng not installed") }
        var files = [wav]
        let flac = dir.appendingPathComponent("speech.flac").path, ogg = dir.appendingPathComponent("speech.ogg").path
        if TestAudio.sox([wav, "-r", "44100", "-c", "2", flac]) { files.append(flac) }
        if TestAudio.sox([wav, "-r", "48000", ogg]) { files.append(ogg) }
        XCTAssertEqual(files.count, 3, "sox could not make the FLAC/Ogg versions")
        let lm = LogMelSpectrogram()
        let filtersURL = dir.appendingPathComponent("filters.npy")
        try TestAudio.writeNPY(lm.melFilters, shape: [80, 201], to: filtersURL)
        var args = [filtersURL.path], names = [String]()
        for (i, file) in files.enumerated() {
            let audio = try AudioDecoder.load(file)
            let mel = try lm.compute(audio.samples, source: file)
            XCTAssertEqual(mel.shape, [80, audio.samples.count / 160])
            let samplesURL = dir.appendingPathComponent("samples\(i).npy"), oursURL = dir.appendingPathComponent("ours\(i).npy")
            try TestAudio.writeNPY(audio.samples, shape: [audio.samples.count], to: samplesURL)
            try NPY.write(mel, to: oursURL.path)
            args += [samplesURL.path, oursURL.path]
            names.append("\((file as NSString).lastPathComponent) (\(audio.sourceFormat), \(audio.sourceSampleRate) Hz)")
        }
        let r = PythonCrossCheck.runScript("audio_logmel.py", args)
        XCTAssertEqual(r.status, 0, r.output)
        let lines = r.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertEqual(lines.count, files.count, r.output)
        for (name, line) in zip(names, lines) {
            let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            print("log-mel \(name): \(report)")
            XCTAssertLessThanOrEqual(report["max_abs_vs_numpy64"] as? Double ?? 1, 1e-4, name)
            XCTAssertLessThanOrEqual(report["max_abs_vs_torch32"] as? Double ?? 1, 1e-4, name)
            XCTAssertLessThanOrEqual(report["max_abs_filters"] as? Double ?? 1, 1e-7, name)
        }
    }
}

/// Slaney mel of 8 kHz: 15 + ln(8) / (ln(6.4)/27).
private let LogMelSpectrogram_melMax = 15 + log(8.0) / (log(6.4) / 27)
