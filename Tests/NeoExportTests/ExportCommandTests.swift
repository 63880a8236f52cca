import Foundation
import NeoExport
import NeoIO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// Runs the built `neo-train` executable.
enum NeoTrainCLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("neo-train")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// `neo-train export` and `CheckpointExport`: safetensors exports read by Python and PyTorch,
/// and the errors (unknown model kind, unwritable path) that must leave no file behind.
final class ExportCommandTests: XCTestCase {
    var dir: URL!

    override func setUp() { dir = PythonCrossCheck.temporaryDirectory("export-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// A checkpoint of a tiny VOCAL model (with EMA weights) or, with `kind`, the same tensors
    /// under another model kind.
    private func writeCheckpoint(_ name: String, kind: String = "vocal", ema: Bool = true) throws -> (path: String, model: VocalModel, ema: VocalModel) {
        let m = try VocalONNXTests.model(seed: 90), e = try VocalONNXTests.model(seed: 91)
        let p = path(name)
        try Checkpoint(step: 3, modelKind: kind, recipe: VocalONNXTests.recipe, model: m.stateDict(),
                       ema: ema ? e.stateDict() : [:]).write(to: p)
        return (p, m, e)
    }

    /// Everything in the test folder (temporary files of a failed write included).
    private func listing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    private func assertOneLineError(_ r: NeoTrainCLI.Result, contains needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, "exit status", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("neo-train: error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(needle), "'\(needle)' in: \(r.stderr)", file: file, line: line)
    }

    func testSafeTensorsExportLoadsInPythonAndPyTorch() throws {
        guard PythonCrossCheck.available(["numpy", "safetensors", "torch"]) else { throw XCTSkip("safetensors/torch not installed") }
        let (ckpt, model, ema) = try writeCheckpoint("run.h5")
        let out = path("weights.safetensors")
        let r = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", "safetensors", "--out", out, "--ema"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("wrote \(out)"), r.stdout)

        // Names: the model's dotted parameter paths, and the EMA copies under "ema.".
        let file = try SafeTensorsFile(path: out)
        let paths = model.namedParameters().map(\.0)
        XCTAssertEqual(Set(file.names), Set(paths + paths.map { "ema." + $0 }))
        var refs: [String: String] = [:]
        for (i, (name, p)) in model.namedParameters().enumerated() {
            refs[name] = path("ref\(i).npy")
            try NPY.write(p.value, to: refs[name]!)
            refs["ema." + name] = path("ref\(i).ema.npy")
            try NPY.write(ema.parameter(at: name)!.value, to: refs["ema." + name]!)
        }
        let expected = ["format": "pt", "neo_train.model_kind": "vocal", "neo_train.recipe": VocalONNXTests.recipe,
                        "neo_train.step": "3", "neo_train.weights": "model+ema"]
        XCTAssertEqual(file.metadata, expected)
        let expect = path("expect.json")
        try JSONSerialization.data(withJSONObject: ["tensors": refs, "metadata": expected]).write(to: URL(fileURLWithPath: expect))
        let check = PythonCrossCheck.runScript("export_safetensors_check.py", [out, expect])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("torch OK"), check.output)
    }

    func testSafeTensorsWithoutEMAHoldsTheModelOnly() throws {
        let (ckpt, model, _) = try writeCheckpoint("run.h5")
        let out = path("model.safetensors")
        try CheckpointExport.run(checkpoint: ckpt, format: .safetensors, out: out, ema: false)
        let (tensors, metadata) = try SafeTensors.read(out)
        XCTAssertEqual(metadata["neo_train.weights"], "model")
        XCTAssertEqual(Set(tensors.keys), Set(model.namedParameters().map(\.0)))
        for (name, p) in model.namedParameters() {
            XCTAssertEqual(tensors[name]!.toArray().map(\.bitPattern), p.value.toArray().map(\.bitPattern), name)
        }
    }

    func testUnknownModelKindIsAnErrorAndWritesNothing() throws {
        let (ckpt, _, _) = try writeCheckpoint("mystery.h5", kind: "mystery")
        let before = listing()
        for format in ["onnx", "safetensors"] {
            let out = path("out.\(format)")
            let r = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", format, "--out", out])
            assertOneLineError(r, contains: "model kind 'mystery'")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), format)
        }
        XCTAssertEqual(listing(), before, "no file, temporary or final, is left")
    }

    func testKnownKindWithoutAGraphGoesToSafeTensorsOnly() throws {
        let (ckpt, _, _) = try writeCheckpoint("toy.h5", kind: "toy-regression")
        let onnx = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", "onnx", "--out", path("toy.onnx")])
        assertOneLineError(onnx, contains: "no ONNX export for model kind 'toy-regression'")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("toy.onnx")))
        let st = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", "safetensors", "--out", path("toy.safetensors")])
        XCTAssertEqual(st.status, 0, st.stderr)
    }

    func testUnwritablePathsAreErrorsAndLeaveNoPartialFile() throws {
        let (ckpt, _, _) = try writeCheckpoint("run.h5")
        try FileManager.default.createDirectory(atPath: path("folder"), withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: path("plain-file"), contents: Data("x".utf8)))
        let before = listing()
        let cases = [(path("missing/out.onnx"), "does not exist"), (path("folder"), "is a folder"),
                     (path("plain-file/out.onnx"), "is not a folder")]
        for format in ["onnx", "safetensors"] {
            for (out, needle) in cases {
                let r = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", format, "--out", out])
                assertOneLineError(r, contains: needle)
            }
        }
        XCTAssertEqual(listing(), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("folder")), [])
    }

    /// Past the early checks, a write that fails at the rename (the target is a folder) removes
    /// its temporary file.
    func testFailedWriteRemovesItsTemporaryFile() throws {
        let (ckpt, _, _) = try writeCheckpoint("run.h5")
        let c = try Checkpoint.read(from: ckpt)
        try FileManager.default.createDirectory(atPath: path("target"), withIntermediateDirectories: false)
        let before = listing()
        XCTAssertThrowsError(try CheckpointExport.writeONNX(c, ema: false, to: path("target"))) { e in
            XCTAssertTrue("\(e)".contains("cannot write the export"), "\(e)")
        }
        XCTAssertThrowsError(try CheckpointExport.writeSafeTensors(c, ema: false, to: path("target")))
        XCTAssertEqual(listing(), before)
    }

    func testMissingCheckpointAndMissingEMAAreClearErrors() throws {
        let r = try NeoTrainCLI.run(["export", "--checkpoint", path("absent.h5"), "--format", "onnx", "--out", path("x.onnx")])
        assertOneLineError(r, contains: "cannot read the checkpoint")
        let (ckpt, _, _) = try writeCheckpoint("noema.h5", ema: false)
        for format in ["onnx", "safetensors"] {
            let e = try NeoTrainCLI.run(["export", "--checkpoint", ckpt, "--format", format, "--out", path("x.\(format)"), "--ema"])
            assertOneLineError(e, contains: "holds no EMA weights")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.onnx")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.safetensors")))
    }
}
