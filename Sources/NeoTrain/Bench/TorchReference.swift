import Foundation
import NeoAudio
import NeoIO
import NeoTensor

/// Runs a PyTorch reference script of a benchmark (`scripts/bench_*_torch.py`) on a safetensors
/// bundle of weights and inputs, and returns the JSON line it prints last, or why it could not run
/// (no script given, script or python3 missing, the script failed). Every benchmark that compares
/// itself with PyTorch goes through here, so the calling convention is the same for all scripts:
/// `script BUNDLE --repeats N --threads T`, the bundle's metadata holding `config` and `lr`.
enum TorchReference {
    enum Outcome {
        /// The script's JSON line and its median step time (`stepSeconds`).
        case ran([String: Any], stepSeconds: Double)
        case unavailable(String)
    }

    static func run(script: String?, bundle: [String: Tensor], configText: String, lr: Double,
                    repeats: Int, threads: Int) throws -> Outcome {
        guard let script else { return .unavailable("no PyTorch script given") }
        guard FileManager.default.fileExists(atPath: script) else { return .unavailable("\(script) not found") }
        guard let python = Subprocess.find("python3") else { return .unavailable("python3 not found") }
        let name = URL(fileURLWithPath: script).deletingPathExtension().lastPathComponent
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("neo-\(name)-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(bundle, metadata: ["config": configText, "lr": "\(lr)"], to: path)
        let (status, output) = Subprocess.run(python, [script, path, "--repeats", "\(repeats)", "--threads", "\(threads)"])
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let stepSeconds = json["stepSeconds"] as? Double else {
            return .unavailable("\(URL(fileURLWithPath: script).lastPathComponent) failed (status \(status)): "
                                + CommandLineError.oneLine(String(output.suffix(400))))
        }
        return .ran(json, stepSeconds: stepSeconds)
    }
}
