import Foundation
import NeoExport
import NeoNN
import NeoTensor
import NeoTestSupport
import ONNXProto
import Vocal
import XCTest

/// The serialised model itself (no runtime needed): it parses back through the generated
/// schema, initializers are the parameters under their dotted paths with identical bits, the
/// declared inputs/outputs carry symbolic dims, and every node input is defined before use.
final class ONNXGraphTests: XCTestCase {
    private func parse(_ g: ONNXGraph) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try g.serialized(metadata: ["k": "v"]))
    }

    func testInitializersAreTheParametersUnderTheirPaths() throws {
        let model = try VocalModel(config: VocalONNXTests.tinyConfig(), generator: Generator(seed: 3))
        randomizeParameters(model, seed: 4)
        let proto = try parse(VocalONNX.graph(model))
        XCTAssertEqual(proto.irVersion, 8)
        XCTAssertEqual(proto.opsetImport.map(\.version), [17])
        XCTAssertEqual(proto.metadataProps.map(\.key), ["k"])
        let byName = Dictionary(uniqueKeysWithValues: proto.graph.initializer.map { ($0.name, $0) })
        for (path, p) in model.namedParameters() {
            guard let t = byName[path] else { XCTFail("no initializer \(path)"); continue }
            XCTAssertEqual(t.dims.map(Int.init), p.shape, path)
            XCTAssertEqual(t.dataType, 1, path)
            let bits = t.rawData.withUnsafeBytes { raw in (0..<p.count).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian } }
            XCTAssertEqual(bits, p.value.toArray().map(\.bitPattern), path)
        }
        let others = byName.keys.filter { model.parameter(at: $0) == nil }
        XCTAssertTrue(others.allSatisfy { $0.hasPrefix("const.") }, "non-parameter initializers: \(others.sorted())")
    }

    func testSignatureAndTopologicalOrder() throws {
        let model = try VocalModel(config: VocalONNXTests.tinyConfig(), generator: Generator(seed: 5))
        let proto = try parse(VocalONNX.graph(model))
        let g = proto.graph
        XCTAssertEqual(g.input.map(\.name), VocalONNX.inputNames)
        XCTAssertEqual(g.output.map(\.name), [VocalONNX.outputName])
        let xt = g.input[0].type.tensorType
        XCTAssertEqual(xt.shape.dim.map(\.dimParam), ["batch", "frames", ""])
        XCTAssertEqual(xt.shape.dim[2].dimValue, 6)
        XCTAssertEqual(g.input[4].type.tensorType.elemType, 7, "emotion is int64")
        // Every node input exists before the node; every name is produced once.
        var defined = Set(g.input.map(\.name) + g.initializer.map(\.name))
        for node in g.node {
            for i in node.input where !i.isEmpty { XCTAssertTrue(defined.contains(i), "\(node.name) reads \(i) before it exists") }
            XCTAssertFalse(node.input.last?.isEmpty ?? false, "\(node.name): trailing empty input")
            for o in node.output { XCTAssertTrue(defined.insert(o).inserted, "\(o) produced twice") }
        }
        XCTAssertTrue(defined.contains(VocalONNX.outputName))
        XCTAssertEqual(Set(g.node.map(\.name)).count, g.node.count, "node names are unique")
    }

    func testOperatorsStayWithinOpset17() throws {
        let model = try VocalModel(config: VocalONNXTests.tinyConfig(), generator: Generator(seed: 6))
        let ops = Set(VocalONNX.graph(model).operatorTypes)
        let opset17: Set<String> = ["MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid",
                                    "Sin", "Cos", "LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "Concat", "Split",
                                    "Slice", "Reshape", "Transpose", "Gather", "Unsqueeze", "Squeeze", "Shape", "Range", "Cast",
                                    "ConstantOfShape", "Where", "Greater", "Neg", "Identity", "Relu", "Log", "Max"]
        XCTAssertTrue(ops.isSubset(of: opset17), "unexpected operators: \(ops.subtracting(opset17).sorted())")
        XCTAssertTrue(ops.isSuperset(of: ["LayerNormalization", "Softmax", "Gemm", "MatMul", "Sin", "Cos", "Gather", "Where"]))
    }

    func testSharedConstantsAndScopedNames() throws {
        let g = ONNXGraph(name: "t")
        XCTAssertEqual(g.int64([0, 1]), g.int64([0, 1]))
        XCTAssertNotEqual(g.int64([1], scalar: true), g.int64([1]))
        XCTAssertEqual(g.scalar(0.5), g.scalar(0.5))
        let x = g.input("x", shape: ["n"])
        let y = g.scope("a") { g.scope("b") { g.sqrt(x) } }
        XCTAssertTrue(y.name.hasPrefix("a.b/Sqrt."), y.name)
        g.output(y, as: "y", shape: ["n"])
        XCTAssertEqual(g.outputs.map(\.name), ["y"])
    }
}
