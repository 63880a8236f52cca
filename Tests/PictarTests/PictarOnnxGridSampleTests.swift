import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

/// The render graph's 3-D warp as ONNX: a 5-D GridSample node (opset 20, mode "linear") run in
/// onnxruntime gives NeoTensor's gridSample3d within 1e-5 (Tests/crosscheck/onnx_gridsample_5d.py,
/// which also reports whether opset 16 runs it).
final class PictarOnnxGridSampleTests: XCTestCase {
    func testOnnxRuntimeRunsFiveDimensionalGridSample() throws {
        guard PythonCrossCheck.available(["onnx", "onnxruntime", "numpy"]) else {
            throw XCTSkip("python3 with onnx, onnxruntime and numpy is not available")
        }
        let dir = PythonCrossCheck.temporaryDirectory("onnx-gridsample5d")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = randn([2, 3, 4, 6, 5], seed: 1)
        let grid = randn([2, 3, 5, 4, 3], seed: 2) * 0.7
        let out = gridSample3d(input, grid: grid, alignCorners: false, padding: .zeros)
        try NPY.write(input, to: dir.appendingPathComponent("input.npy").path)
        try NPY.write(grid, to: dir.appendingPathComponent("grid.npy").path)
        try NPY.write(out, to: dir.appendingPathComponent("neo.npy").path)
        let r = PythonCrossCheck.runScript("onnx_gridsample_5d.py", [dir.path])
        print(r.output)
        XCTAssertEqual(r.status, 0, r.output)
    }
}
