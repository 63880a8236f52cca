import Foundation
import Governance
import NeoIO
import NeoTensor
import NeoTestSupport
import XCTest

/// Our dlib shim against dlib's Python binding, and our run of the age ResNet-10 against
/// onnxruntime.
final class FaceModelTests: XCTestCase {
    override func setUpWithError() throws { try Fixture.requireModels() }

    /// Tolerances: Debian's dlib 19.24 (ours) and dlib-bin 20.0.1 (PyPI) differ in version and
    /// BLAS, so the embeddings agree to float rounding, not bit for bit (measured on the Hopper
    /// photo: 8.5e-6 largest component difference, 3.8e-5 distance). Boxes and landmarks are integers.
    static let embeddingComponentTolerance: Float = 1e-4
    static let embeddingDistanceTolerance: Float = 5e-4

    func testEmbeddingMatchesDlibPythonBinding() throws {
        guard PythonCrossCheck.available(["dlib"]) else { throw XCTSkip("dlib Python binding (dlib-bin) not installed") }
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (analyzer, _) = try FaceModelCache.models(Fixture.models)
        for photo in [Fixture.hopper, Fixture.collins] {
            let out = folder.appendingPathComponent("dlib.json").path
            let r = PythonCrossCheck.runScript("governance_dlib_embed.py", [Fixture.models.directory, photo, out])
            XCTAssertEqual(r.status, 0, r.output)
            struct Face: Decodable { var box: [Int]; var landmarks: [[Int]]; var embedding: [Float] }
            struct Report: Decodable { var faces: [Face] }
            let ref = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
            let image = try RGBImage.load(photo)
            let boxes = try analyzer.detect(image)
            XCTAssertEqual(boxes.count, 1)
            XCTAssertEqual(ref.faces.count, 1)
            let b = boxes[0]
            XCTAssertEqual([b.left, b.top, b.right, b.bottom].map { Int($0) }, ref.faces[0].box, photo)
            let face = try analyzer.describe(image, box: b)
            XCTAssertEqual(face.landmarks.map { Int($0) }, ref.faces[0].landmarks.flatMap { $0 }, photo)
            var worst: Float = 0
            for (a, e) in zip(face.embedding, ref.faces[0].embedding) { worst = max(worst, abs(a - e)) }
            XCTAssertLessThan(worst, Self.embeddingComponentTolerance, photo)
            XCTAssertLessThan(FaceAnalyzer.distance(face.embedding, ref.faces[0].embedding), Self.embeddingDistanceTolerance, photo)
        }
    }

    func testDistinctPeopleAreFarApartAndEditedCopiesClose() throws {
        let (analyzer, _) = try FaceModelCache.models(Fixture.models)
        func embed(_ img: RGBImage) throws -> [Float] {
            let boxes = try analyzer.detect(img)
            XCTAssertEqual(boxes.count, 1)
            return try analyzer.describe(img, box: boxes[0]).embedding
        }
        let collins = try RGBImage.load(Fixture.collins)
        let a = try embed(collins), b = try embed(try RGBImage.load(Fixture.hopper))
        XCTAssertGreaterThan(FaceAnalyzer.distance(a, b), GatePolicy.protectedMatchDistance)
        XCTAssertLessThan(FaceAnalyzer.distance(a, try embed(collins.flippedHorizontally())), GatePolicy.consentMatchDistance)
    }

    func testAgeModelMatchesOnnxRuntime() throws {
        guard PythonCrossCheck.available(["onnx", "onnxruntime", "numpy"]) else { throw XCTSkip("onnx/onnxruntime not installed (scripts/setup.sh installs them)") }
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (analyzer, age) = try FaceModelCache.models(Fixture.models)
        // Inputs: the two gallery faces' aligned chips and two random batches.
        var inputs: [Tensor] = []
        for photo in [Fixture.collins, Fixture.hopper] {
            let img = try RGBImage.load(photo)
            let box = try analyzer.detect(img)[0]
            let chip = try FaceAnalyzer.chip(img, landmarks: try analyzer.landmarks(img, box: box), size: 64, padding: AgeModel.chipPadding)
            inputs.append(AgeModel.input(chip: chip))
        }
        let g = Generator(seed: 16)
        inputs.append(Tensor.uniform([3, 3, 64, 64], low: -0.5, high: 0.5, generator: g))
        var runs: [[String: [String: String]]] = []
        for (i, x) in inputs.enumerated() {
            let xp = folder.appendingPathComponent("x\(i).npy").path, yp = folder.appendingPathComponent("y\(i).npy").path
            try NPY.write(x, to: xp)
            runs.append(["inputs": ["images": xp], "outputs": ["probabilities": yp]])
        }
        let manifest = folder.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: ["model": Fixture.models.age, "runs": runs]).write(to: manifest)
        let r = PythonCrossCheck.runScript("export_onnx_run.py", [manifest.path])
        XCTAssertEqual(r.status, 0, r.output)
        for (i, x) in inputs.enumerated() {
            let ours = try age.probabilities(x)
            let ref = try NPY.read(folder.appendingPathComponent("y\(i).npy").path)
            XCTAssertEqual(ours.shape, ref.shape)
            var worst: Float = 0
            for (a, b) in zip(ours.toArray(), ref.toArray()) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThan(worst, 1e-4, "input \(i): max |Δp| = \(worst)")
        }
    }

    func testBadModelAndImageFilesGiveOneLineErrors() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let junk = folder.appendingPathComponent("junk.onnx").path
        try Data([1, 2, 3, 4]).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try AgeModel(path: junk)) { XCTAssertTrue("\($0)".hasPrefix(junk), "\($0)") }
        XCTAssertThrowsError(try RGBImage.load(junk)) { XCTAssertTrue("\($0)".contains("cannot decode image"), "\($0)") }
        XCTAssertThrowsError(try FaceAnalyzer(files: FaceModelFiles(directory: folder.path))) {
            XCTAssertTrue("\($0)".contains("face model missing"), "\($0)")
        }
    }
}
