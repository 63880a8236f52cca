import Foundation
import NeoAudio

/// `neo-train bench audio`: NeoAudio's encoder benchmark with the repository's defaults.
public enum AudioBenchCommand {
    public static func run(weights: String?, audio: String?, seconds: Double, threads: Int, repeats: Int,
                           torch: Bool) throws -> AudioBenchResult {
        guard seconds > 0 && seconds <= 600 else { throw TrainError("--seconds: expected a number in (0, 600], got \(seconds)") }
        guard threads >= 1 else { throw TrainError("--threads: expected an integer ≥ 1, got \(threads)") }
        let path = weights ?? AudioFeatureCache.defaultWeights
        _ = try AudioFeatureCache.extractor(weights: weights)  // the clear error when missing
        let folder = URL(fileURLWithPath: "Tests/crosscheck")
        return try AudioBench.run(weights: path, audio: audio, seconds: seconds, threads: threads, repeats: repeats,
                                  crosscheckFolder: torch && FileManager.default.fileExists(atPath: folder.path) ? folder : nil)
    }

    public static func table(_ r: AudioBenchResult) -> String {
        var out = "\(r.encoder) (\(r.weights)) on \(String(format: "%.0f", r.audioSeconds)) s of \(r.audioSource), \(r.ours.threads) threads\n"
        out += String(format: "ours   %.3f s  %.1f× real time", r.ours.seconds, r.ours.audioSecondsPerSecond)
        if let t = r.torch {
            out += String(format: "\ntorch  %.3f s  %.1f× real time  (ours %.2f× faster)", t.seconds, t.audioSecondsPerSecond, r.speedupOverTorch ?? 0)
        } else if let why = r.torchUnavailable {
            out += "\ntorch  unavailable: \(why)"
        }
        return out
    }
}
