import Foundation
import NeoExport
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import XCTest

/// Runs exported graphs in onnxruntime through Tests/crosscheck/export_onnx_run.py.
enum ORT {
    static var available: Bool { PythonCrossCheck.available(["numpy", "onnx", "onnxruntime"]) }

    /// Writes the model and the runs' inputs to a temporary folder, runs the checker and
    /// onnxruntime, and returns each run's outputs.
    static func run(_ model: Data, _ runs: [[String: Tensor]], outputs: [String],
                    file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Tensor]] {
        let dir = PythonCrossCheck.temporaryDirectory("onnx")
        defer {
            // NEO_EXPORT_KEEP=DIR keeps the model and inputs there for a look by hand.
            if let keep = ProcessInfo.processInfo.environment["NEO_EXPORT_KEEP"] {
                try? FileManager.default.removeItem(atPath: keep)
                try? FileManager.default.copyItem(at: dir, to: URL(fileURLWithPath: keep))
            }
            try? FileManager.default.removeItem(at: dir)
        }
        let modelPath = dir.appendingPathComponent("model.onnx").path
        try model.write(to: URL(fileURLWithPath: modelPath))
        var manifestRuns: [[String: [String: String]]] = []
        for (i, run) in runs.enumerated() {
            var ins: [String: String] = [:], outs: [String: String] = [:]
            for (name, t) in run {
                let p = dir.appendingPathComponent("run\(i).in.\(name).npy").path
                try NPY.write(t, to: p)
                ins[name] = p
            }
            for name in outputs { outs[name] = dir.appendingPathComponent("run\(i).out.\(name).npy").path }
            manifestRuns.append(["inputs": ins, "outputs": outs])
        }
        let manifest = dir.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: ["model": modelPath, "runs": manifestRuns]).write(to: manifest)
        let r = PythonCrossCheck.runScript("export_onnx_run.py", [manifest.path])
        guard r.status == 0 else {
            print(r.output)
            XCTFail("onnxruntime run failed (status \(r.status)): " + r.output.split(separator: "\n").suffix(3).joined(separator: " | "), file: file, line: line)
            throw ExportTestFailure("onnxruntime run failed")
        }
        return try manifestRuns.map { run in try run["outputs"]!.mapValues { try NPY.read($0) } }
    }
}

struct ExportTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The comparison used for every graph: max |ort − ours| / (|ours| + floor) with the floor
/// 1e-3 · max|ours|, so numbers far below the output's scale are judged against that scale
/// rather than against themselves. Tolerance 1e-4.
enum Compare {
    static let tolerance = 1e-4
    static let floorFraction = 1e-3

    static func relativeError(_ ort: Tensor, _ ours: Tensor) -> Double {
        let scale = ours.toArray().reduce(0) { max($0, Double(abs($1))) }
        return maxRelativeError(ort, ours, floor: max(floorFraction * scale, 1e-12))
    }

    static func assertClose(_ ort: Tensor, _ ours: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ort.shape, ours.shape, "\(what): shape", file: file, line: line)
        guard ort.shape == ours.shape else { return }
        let e = relativeError(ort, ours)
        XCTAssertLessThanOrEqual(e, tolerance, "\(what): relative error \(e)", file: file, line: line)
        XCTAssertGreaterThan(ours.toArray().reduce(0) { max($0, abs($1)) }, 0, "\(what): ours is all zeros, the comparison would be empty", file: file, line: line)
        print("[export] \(what): max relative error \(String(format: "%.2e", e)) (floor 1e-3·max|ours|), max abs \(String(format: "%.2e", maxAbsoluteError(ort, ours))), floor 1e-6: \(String(format: "%.2e", maxRelativeError(ort, ours)))")
    }
}

/// Moves every parameter away from its initial value (zero-initialised gates and output layers
/// would otherwise make a model output exactly zero): weights get N(0, 1/fan_in)-scale noise,
/// vectors N(0, 0.1²) noise.
func randomizeParameters(_ m: Module, seed: UInt64) {
    let g = Generator(seed: seed)
    noGrad {
        for (_, p) in m.namedParameters() {
            let std: Float = p.shape.count >= 2 ? 1 / Float(p.shape.last!).squareRoot() : 0.1
            let noise = Tensor.normal(p.shape, std: std, generator: g)
            p.value.copy(from: p.value + noise)
        }
    }
}
