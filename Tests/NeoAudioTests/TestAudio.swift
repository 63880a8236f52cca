import Foundation
import NeoTensor
import NeoIO
import NeoAudio
import NeoTestSupport

/// Test material: real speech from espeak-ng, converted with sox/ffmpeg; synthetic tones.
enum TestAudio {
    /// Full path of an executable on PATH, or nil.
    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Speaks `text` with espeak-ng into a 22.05 kHz 16-bit WAV; nil when espeak-ng is absent.
    static func speech(_ text: String, in dir: URL, name: String = "speech.wav") -> String? {
        guard let espeak = which("espeak-ng") else { return nil }
        let path = dir.appendingPathComponent(name).path
        let r = PythonCrossCheck.run(espeak, ["-w", path, text])
        return r.status == 0 ? path : nil
    }

    /// Runs sox with `args`; nil when sox is absent or fails.
    static func sox(_ args: [String]) -> Bool {
        guard let sox = which("sox") else { return false }
        return PythonCrossCheck.run(sox, args).status == 0
    }

    static func ffmpeg(_ args: [String]) -> Bool {
        guard let ffmpeg = which("ffmpeg") else { return false }
        return PythonCrossCheck.run(ffmpeg, ["-loglevel", "error", "-y"] + args).status == 0
    }

    static let sentence = "The quick brown fox jumps over the lazy dog. Every layer of the encoder hears a different part of speech."

    /// A sine of `frequency` Hz, `seconds` long at `rate`, amplitude `amplitude`.
    static func tone(_ frequency: Double, seconds: Double, rate: Int, amplitude: Double = 0.5) -> [Float] {
        let n = Int(seconds * Double(rate))
        return (0..<n).map { Float(amplitude * sin(2 * Double.pi * frequency * Double($0) / Double(rate))) }
    }

    static func writeNPY(_ values: [Float], shape: [Int], to url: URL) throws {
        try NPY.write(Tensor(values, shape: shape), to: url.path)
    }
}
