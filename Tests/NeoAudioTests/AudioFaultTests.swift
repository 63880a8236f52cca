import Foundation
import NeoAudio
import NeoTensor
import NeoTestSupport
import XCTest

/// Audio a user can hand over by accident (issue 21): a header claiming an absurd rate, float
/// samples in the wrong units, non-finite samples. Each is refused naming the file.
final class AudioFaultTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("audio-faults") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A WAV whose header says 1 Hz (3200 samples would be 53 minutes) is refused with the
    /// accepted range, not read as a long clip.
    func testOneHertzHeaderIsRefusedWithTheAcceptedRange() throws {
        let path = dir.appendingPathComponent("one-hertz.wav").path
        try AudioWriter.write(TestAudio.tone(440, seconds: 0.2, rate: 16000), sampleRate: 16000, to: path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // RIFF header: sample rate at byte 24, byte rate at byte 28 (little-endian UInt32).
        for (offset, value) in [(24, UInt32(1)), (28, UInt32(2))] {
            withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<(offset + 4), with: $0) }
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try AudioDecoder.load(path)) { e in
            XCTAssertEqual("\(e)", "\(path): has a header sample rate of 1 Hz, outside the accepted 4000…384000 Hz (the header is damaged or the file is not audio)")
        }
        // The ends of the range are accepted.
        for rate in [4000, 384_000] {
            let ok = dir.appendingPathComponent("r\(rate).wav").path
            try AudioWriter.write(TestAudio.tone(440, seconds: 0.2, rate: rate), sampleRate: rate, to: ok, format: .wavFloat)
            XCTAssertEqual(try AudioDecoder.load(ok).sampleRate, 16000)
        }
    }

    /// A float WAV with a peak of 3e29 (written in the wrong units, or damaged) is refused
    /// naming the file, where it used to give all-NaN features.
    func testFloatSamplesFarOutsideFullScaleAreRefused() throws {
        let path = dir.appendingPathComponent("loud.wav").path
        var samples = TestAudio.tone(220, seconds: 0.3, rate: 16000)
        samples[1000] = 3e29
        try AudioWriter.write(samples, sampleRate: 16000, to: path, format: .wavFloat)
        XCTAssertThrowsError(try AudioDecoder.load(path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("\(path): has samples far outside [-1, 1] (peak 3e+29"), text)
            XCTAssertTrue(text.contains("frame 1000 (0.062 s)"), text)
        }
        // A modest overshoot (float files may exceed full scale a little) is fine.
        samples[1000] = 1.8
        try AudioWriter.write(samples, sampleRate: 16000, to: path, format: .wavFloat)
        XCTAssertNoThrow(try AudioDecoder.load(path))
    }

    /// Samples handed to the feature extractor directly (dataset clips) get the same checks,
    /// naming their source.
    func testFeatureExtractorRefusesNonFiniteSamplesNamingTheSource() throws {
        let config = WhisperEncoderConfig(width: 8, layers: 1, heads: 2, maxPositions: 100)
        let extractor = FeatureExtractor(encoder: WhisperEncoder(config: config, generator: Generator(seed: 1)), windowFrames: 200)
        var samples = TestAudio.tone(300, seconds: 0.5, rate: 16000)
        samples[77] = .nan
        XCTAssertThrowsError(try extractor.features(samples: samples, source: "ds: clip 'c7'")) { e in
            XCTAssertTrue("\(e)".hasPrefix("ds: clip 'c7': contains 1 non-finite samples (NaN or Inf), the first at frame 77"), "\(e)")
        }
    }
}
