import XCTest
import Foundation
import NeoAudio
import NeoTestSupport

final class AudioDecoderTests: XCTestCase {
    /// Two seconds of a 16 kHz test signal: a 440 Hz + 1250 Hz mixture, well inside every
    /// codec's band.
    private func signal(rate: Int = 16_000, seconds: Double = 2) -> [Float] {
        let a = TestAudio.tone(440, seconds: seconds, rate: rate, amplitude: 0.3)
        let b = TestAudio.tone(1250, seconds: seconds, rate: rate, amplitude: 0.2)
        return zip(a, b).map { $0 + $1 }
    }

    /// Correlation coefficient of two equal-length signals.
    private func correlation(_ a: [Float], _ b: [Float]) -> Double {
        let n = min(a.count, b.count)
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<n { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i] * a[i]); bb += Double(b[i] * b[i]) }
        return ab / (aa * bb).squareRoot()
    }

    /// Every format libsndfile writes here decodes to the signal: lossless ones to within their
    /// quantisation step, lossy ones (Vorbis, MP3) highly correlated at the right length.
    func testDecodesEveryFormat() throws {
        let dir = PythonCrossCheck.temporaryDirectory("decode")
        let x = signal()
        for format in AudioFileFormat.allCases {
            let path = dir.appendingPathComponent("x.\(format.rawValue)").path
            try AudioWriter.write(x, sampleRate: 16_000, to: path, format: format)
            let a = try AudioDecoder.load(path)
            XCTAssertEqual(a.sampleRate, 16_000)
            switch format {
            case .wav16, .flac:
                XCTAssertEqual(a.samples.count, x.count, format.rawValue)
                XCTAssertLessThanOrEqual(zip(a.samples, x).map { abs($0 - $1) }.max()!, 1.0 / 32_768 + 1e-6, format.rawValue)
            case .wav24, .wav32, .wavFloat:
                XCTAssertEqual(a.samples.count, x.count, format.rawValue)
                XCTAssertLessThanOrEqual(zip(a.samples, x).map { abs($0 - $1) }.max()!, 1.0 / 8_388_608 + 1e-7, format.rawValue)
            case .oggVorbis, .mp3:
                // Lossy codecs may add encoder delay; find the best alignment within 50 ms.
                let segment = Array(x[4000..<12000])
                let best = (0...800).map { lag in correlation(Array(a.samples[(4000 + lag)..<(12000 + lag)]), segment) }.max()!
                XCTAssertGreaterThan(best, 0.99, format.rawValue)
                XCTAssertEqual(Double(a.samples.count), Double(x.count), accuracy: 0.06 * 16_000, format.rawValue)
            }
        }
    }

    /// Stereo 44.1 kHz is averaged to mono and resampled to 16 kHz.
    func testDownmixesAndResamples() throws {
        let dir = PythonCrossCheck.temporaryDirectory("downmix")
        let left = TestAudio.tone(500, seconds: 1, rate: 44_100, amplitude: 0.6)
        let right = TestAudio.tone(500, seconds: 1, rate: 44_100, amplitude: 0.2)
        var interleaved = [Float]()
        for i in 0..<left.count { interleaved += [left[i], right[i]] }
        let path = dir.appendingPathComponent("stereo.wav").path
        try AudioWriter.write(interleaved, channels: 2, sampleRate: 44_100, to: path, format: .wavFloat)
        let a = try AudioDecoder.load(path)
        XCTAssertEqual(a.sourceChannels, 2)
        XCTAssertEqual(a.sourceSampleRate, 44_100)
        XCTAssertEqual(a.samples.count, 16_000)
        // Mean of the channels: a 500 Hz tone of amplitude 0.4.
        let mid = Array(a.samples[2000..<14000])
        XCTAssertEqual(Double(mid.map { abs($0) }.max()!), 0.4, accuracy: 0.004)
    }

    /// Each kind of bad file gives an AudioError that names the file and says what is wrong.
    func testBadFilesGiveNamedErrors() throws {
        let dir = PythonCrossCheck.temporaryDirectory("badaudio")
        func expect(_ path: String, _ phrase: String, line: UInt = #line) {
            XCTAssertThrowsError(try AudioDecoder.load(path), line: line) { error in
                XCTAssertTrue(error is AudioError, "\(error)", line: line)
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(path + ": "), text, line: line)
                XCTAssertTrue(text.contains(phrase), text, line: line)
            }
        }
        let url = { (name: String) in dir.appendingPathComponent(name).path }

        expect(url("missing.wav"), "no such file")
        expect(dir.path, "is a folder")

        _ = FileManager.default.createFile(atPath: url("text.wav"), contents: Data("this is not audio at all, just words".utf8))
        expect(url("text.wav"), "is not a readable audio file")
        _ = FileManager.default.createFile(atPath: url("random.flac"), contents: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }))
        expect(url("random.flac"), "is not a readable audio file")

        _ = FileManager.default.createFile(atPath: url("zero.wav"), contents: Data())
        expect(url("zero.wav"), "is empty")
        try AudioWriter.write([], sampleRate: 16_000, to: url("noframes.wav"))
        expect(url("noframes.wav"), "is empty")

        try AudioWriter.write([Float](repeating: 0, count: 16_000), sampleRate: 16_000, to: url("silent.wav"))
        expect(url("silent.wav"), "is silent")
        try AudioWriter.write([Float](repeating: 0, count: 32_000), sampleRate: 16_000, to: url("silent.flac"), format: .flac)
        expect(url("silent.flac"), "is silent")

        var withNaN = signal()
        withNaN[12_345] = .nan
        try AudioWriter.write(withNaN, sampleRate: 16_000, to: url("nan.wav"), format: .wavFloat)
        expect(url("nan.wav"), "non-finite samples (NaN or Inf), the first at frame 12345")
        var withInf = signal()
        withInf[100] = .infinity
        withInf[200] = -.infinity
        try AudioWriter.write(withInf, sampleRate: 16_000, to: url("inf.wav"), format: .wavFloat)
        expect(url("inf.wav"), "contains 2 non-finite samples")

        try AudioWriter.write(TestAudio.tone(300, seconds: 0.05, rate: 16_000), sampleRate: 16_000, to: url("short.wav"))
        expect(url("short.wav"), "is too short: 0.050 s")
        try AudioWriter.write(TestAudio.tone(300, seconds: 0.09, rate: 44_100), sampleRate: 44_100, to: url("short44.flac"), format: .flac)
        expect(url("short44.flac"), "is too short")

        // Truncation: cut each file at 40% of its bytes.
        for format in [AudioFileFormat.wav16, .wav24, .flac, .oggVorbis, .mp3] {
            let whole = url("whole.\(format.rawValue)"), cut = url("cut.\(format.rawValue)")
            try AudioWriter.write(signal(seconds: 3), sampleRate: 16_000, to: whole, format: format)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
            _ = FileManager.default.createFile(atPath: cut, contents: bytes.prefix(bytes.count * 2 / 5))
            XCTAssertNoThrow(try AudioDecoder.load(whole), format.rawValue)
            expect(cut, "truncated")
        }
    }

    /// Signals at exactly the minimum duration and just above silence are accepted.
    func testBoundariesAreAccepted() throws {
        let dir = PythonCrossCheck.temporaryDirectory("boundary")
        let path = dir.appendingPathComponent("edge.wav").path
        var x = [Float](repeating: 0, count: 1600)
        x[800] = 2.0 / 32_768
        try AudioWriter.write(x, sampleRate: 16_000, to: path)
        let a = try AudioDecoder.load(path)
        XCTAssertEqual(a.samples.count, 1600)
        XCTAssertEqual(a.duration, AudioDecoder.minimumDuration, accuracy: 1e-9)
    }
}
