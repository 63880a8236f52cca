import Foundation
import XCTest
import NeoTrain
import NeoTestSupport

/// `neo-train bench pictar`: the PyTorch version of the model (scripts/bench_pictar_torch.py),
/// given our weights, batch and equivariance transform, renders the same training frames and
/// computes the same total loss (every term) within 1e-4 relative, and our gradient of every
/// parameter is within 1e-3 (of each tensor's largest magnitude) of PyTorch's float64 evaluation;
/// a bad size is a one-line error.
final class PictarBenchTests: XCTestCase {
    func testTorchReferenceComputesTheSameFramesAndLoss() throws {
        guard PythonCrossCheck.available(["torch", "safetensors"]) else { throw XCTSkip("python3 with torch and safetensors is not available") }
        let script = PythonCrossCheck.repoRoot.appendingPathComponent("scripts/bench_pictar_torch.py").path
        let r = try PictarBenchmark.run(size: "tiny", torchScript: script, threads: 1, batch: 2, repeats: 1, renderFrames: 1, quick: true)
        XCTAssertNil(r.torchUnavailable, r.torchUnavailable ?? "")
        XCTAssertLessThan(try XCTUnwrap(r.predictionRelativeError), 1e-4)
        XCTAssertLessThan(try XCTUnwrap(r.lossRelativeError), 1e-4)
        XCTAssertLessThan(try XCTUnwrap(r.gradientRelativeError), 1e-3, "worst at \(r.worstGradient ?? "?")")
        XCTAssertNotNil(r.torchGradientRelativeError)
        XCTAssertEqual(r.imageSize, 64)
        XCTAssertGreaterThan(r.render.framesPerSecond, 0)
    }

    func testUnknownSizeIsAOneLineError() throws {
        let logs = PythonCrossCheck.temporaryDirectory("bench-pictar")
        defer { try? FileManager.default.removeItem(at: logs) }
        let r = try CLI.run(["bench", "pictar", "--size", "huge", "--no-torch"], logs: logs)
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown size 'huge'"), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }
}
