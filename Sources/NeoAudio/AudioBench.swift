import Foundation
import NeoTensor
import NeoIO

/// Timings of one implementation of log-mel + encoder over the bench audio.
public struct AudioBenchTiming: Codable, Sendable {
    /// Best of the timed passes, seconds.
    public var seconds: Double
    public var allSeconds: [Double]
    /// Seconds of audio encoded per second of compute (audio seconds / best time).
    public var audioSecondsPerSecond: Double
    public var threads: Int
    /// Ours only: the log-mel's share of the best pass.
    public var logMelSeconds: Double?
    /// Process CPU time (all threads) of the pass with the least of it, seconds: steadier than
    /// wall time on a shared machine.
    public var cpuSeconds: Double?
    /// audio seconds / cpuSeconds.
    public var audioSecondsPerCPUSecond: Double?
}

/// Result of `neo-train bench audio`.
public struct AudioBenchResult: Codable, Sendable {
    public var audioSeconds: Double
    public var audioSource: String
    public var windowSeconds: Double
    public var encoder: String
    public var weights: String
    public var ours: AudioBenchTiming
    /// PyTorch's eager encoder on the same weights and samples (nil when torch is unavailable).
    public var torch: AudioBenchTiming?
    public var torchVersion: String?
    /// Why there is no torch timing, if there is none.
    public var torchUnavailable: String?
    /// ours.audioSecondsPerSecond / torch.audioSecondsPerSecond (wall time).
    public var speedupOverTorch: Double?
    /// The same ratio in CPU time.
    public var cpuSpeedupOverTorch: Double?
    public var cpu: String

    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// `neo-train bench audio`: seconds of audio encoded per second of compute for 60 s of speech
/// (log-mel + every hidden state, in 30 s windows), ours and PyTorch's on the same weights in
/// the same run.
public enum AudioBench {
    /// - Parameters:
    ///   - weights: Whisper checkpoint (`WhisperWeights.load`).
    ///   - audio: a speech file; nil makes `seconds` of espeak-ng speech (a synthetic
    ///     voiced signal when espeak-ng is absent: the compute does not depend on the content).
    ///   - threads: threads for both (ours: a fresh `EngineContext`; torch: set_num_threads).
    ///   - repeats: timed passes after one warm-up; the best counts.
    ///   - crosscheckFolder: the folder holding `audio_bench.py` (the repository's
    ///     Tests/crosscheck); nil skips PyTorch.
    public static func run(weights: String, audio: String? = nil, seconds: Double = 60, threads: Int = 2,
                           repeats: Int = 3, crosscheckFolder: URL? = nil) throws -> AudioBenchResult {
        let (samples, source) = try benchAudio(audio, seconds: seconds)
        let context = EngineContext(threads: threads)
        let extractor = try context.run { try FeatureExtractor(weights: weights) }
        var times: [Double] = [], melTimes: [Double] = [], cpuTimes: [Double] = []
        try context.run {
            _ = try extractor.features(samples: samples)
            for _ in 0..<max(1, repeats) {
                let c0 = processCPUSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let mel = try extractor.logMel.compute(samples)
                let t1 = DispatchTime.now().uptimeNanoseconds
                _ = extractor.hiddenStates(logMel: mel)
                let t2 = DispatchTime.now().uptimeNanoseconds
                cpuTimes.append(processCPUSeconds() - c0)
                times.append(Double(t2 - t0) / 1e9)
                melTimes.append(Double(t1 - t0) / 1e9)
            }
        }
        let duration = Double(samples.count) / Double(AudioDecoder.sampleRate)
        let best = times.indices.min { times[$0] < times[$1] }!
        let c = extractor.encoder.config
        var result = AudioBenchResult(
            audioSeconds: duration, audioSource: source, windowSeconds: Double(extractor.windowFrames) / 100,
            encoder: "whisper width=\(c.width) layers=\(c.layers) heads=\(c.heads)",
            weights: URL(fileURLWithPath: weights).lastPathComponent,
            ours: AudioBenchTiming(seconds: times[best], allSeconds: times, audioSecondsPerSecond: duration / times[best],
                                   threads: threads, logMelSeconds: melTimes[best],
                                   cpuSeconds: cpuTimes.min()!, audioSecondsPerCPUSecond: duration / cpuTimes.min()!),
            cpu: cpuName())
        guard let folder = crosscheckFolder else {
            result.torchUnavailable = "no crosscheck folder given"
            return result
        }
        let script = folder.appendingPathComponent("audio_bench.py").path
        guard FileManager.default.fileExists(atPath: script) else {
            result.torchUnavailable = "\(script) not found"
            return result
        }
        guard let python = Subprocess.find("python3") else {
            result.torchUnavailable = "python3 not found"
            return result
        }
        let samplesPath = FileManager.default.temporaryDirectory.appendingPathComponent("neo-bench-audio-\(UUID().uuidString).npy").path
        defer { try? FileManager.default.removeItem(atPath: samplesPath) }
        try NPY.write(Tensor(samples, shape: [samples.count]), to: samplesPath)
        let (status, output) = Subprocess.run(python, [script, weights, samplesPath, "--threads", "\(threads)",
                                                   "--repeats", "\(max(1, repeats))", "--window", "\(extractor.windowFrames)"])
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let torchBest = json["seconds"] as? Double else {
            result.torchUnavailable = "audio_bench.py failed (status \(status)): \(output.suffix(400))"
            return result
        }
        let torchRate = duration / torchBest
        let torchCPU = json["cpu_seconds"] as? Double
        result.torch = AudioBenchTiming(seconds: torchBest, allSeconds: json["all_seconds"] as? [Double] ?? [torchBest],
                                        audioSecondsPerSecond: torchRate, threads: json["threads"] as? Int ?? threads, logMelSeconds: nil,
                                        cpuSeconds: torchCPU, audioSecondsPerCPUSecond: torchCPU.map { duration / $0 })
        result.torchVersion = json["torch_version"] as? String
        result.speedupOverTorch = result.ours.audioSecondsPerSecond / torchRate
        if let torchCPU, let ours = result.ours.cpuSeconds { result.cpuSpeedupOverTorch = torchCPU / ours }
        return result
    }

    /// The bench clip at 16 kHz: a file, espeak-ng speech looped to `seconds`, or a synthetic
    /// voiced signal.
    static func benchAudio(_ file: String?, seconds: Double) throws -> ([Float], String) {
        let n = Int(seconds * Double(AudioDecoder.sampleRate))
        func loop(_ x: [Float]) -> [Float] {
            var out = [Float]()
            out.reserveCapacity(n)
            while out.count < n { out += x }
            return Array(out.prefix(n))
        }
        if let file { return (loop(try AudioDecoder.load(file).samples), URL(fileURLWithPath: file).lastPathComponent) }
        if let espeak = Subprocess.find("espeak-ng") {
            let wav = FileManager.default.temporaryDirectory.appendingPathComponent("neo-bench-speech-\(UUID().uuidString).wav").path
            defer { try? FileManager.default.removeItem(atPath: wav) }
            let text = "Talking heads learn to move their lips from the sound of speech. Every layer of the encoder hears a different part of it, from phonemes to prosody."
            if Subprocess.run(espeak, ["-w", wav, text]).status == 0, let speech = try? AudioDecoder.load(wav) {
                return (loop(speech.samples), "espeak-ng speech")
            }
        }
        // A 120 Hz voice with formant-like harmonics, its pitch gliding.
        let rate = Double(AudioDecoder.sampleRate)
        var phase = 0.0
        let voiced = (0..<n).map { i -> Float in
            let t = Double(i) / rate
            phase += 2 * Double.pi * (120 + 30 * sin(2 * Double.pi * 0.5 * t)) / rate
            var v = 0.0
            for h in 1...20 { v += sin(Double(h) * phase) * exp(-Double(h) / 6) }
            return Float(0.1 * v * (0.6 + 0.4 * sin(2 * Double.pi * 3 * t)))
        }
        return (voiced, "synthetic voiced signal")
    }

    static func cpuName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }
}

/// CPU time used so far by this process, all threads, seconds.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
