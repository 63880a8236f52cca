import Foundation
import NeoNN
import NeoTensor
import ONNXProto
import SwiftProtobuf

/// A tensor flowing through an ONNX graph under construction: the name of a graph input, an
/// initializer or a node output.
public struct ONNXValue: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// One dimension of a graph input or output: a fixed size or a named symbol (`"frames"`), which
/// runtimes let vary from run to run.
public enum ONNXDim: Hashable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)
    public init(integerLiteral value: Int) { self = .fixed(value) }
    public init(stringLiteral value: String) { self = .symbol(value) }
    public var description: String {
        switch self {
        case .fixed(let n): return "\(n)"
        case .symbol(let s): return s
        }
    }
}

/// Element types used by the exported graphs (values are ONNX's TensorProto.DataType codes).
public enum ONNXElementType: Int32, Sendable, CustomStringConvertible {
    case float = 1
    case int64 = 7
    case bool = 9
    case double = 11
    public var description: String {
        switch self {
        case .float: return "float32"
        case .int64: return "int64"
        case .bool: return "bool"
        case .double: return "float64"
        }
    }
}

/// A node attribute.
public enum ONNXAttribute: Sendable {
    case int(Int)
    case float(Float)
    case ints([Int])
    case string(String)
    /// A float32 tensor value (e.g. ConstantOfShape's fill value).
    case floatTensor([Float], shape: [Int])
}

/// A graph input or output with its documentation (`ONNXGraph.inputs`, `.outputs`).
public struct ONNXPort: Sendable, Equatable {
    public var name: String
    public var elementType: ONNXElementType
    public var shape: [ONNXDim]
    public var doc: String
}

/// Builds an ONNX graph node by node and serialises it as a model (`ModelProto`).
///
/// Parameters of `root` become initializers named by their dotted paths (`blocks.0.motion.qkv.weight`),
/// holding exactly the parameter values, so the initializers of an exported graph and the
/// tensors of a safetensors export carry the same names. Constants made by the exporter are
/// initializers named `const.N`. Node outputs are named after the current scope (`scope(_:_:)`)
/// and the operator, e.g. `blocks.0.motion.qkv/MatMul.12`.
///
/// The default opset is 17: every operator emitted here exists there with the inputs and
/// attributes used (ReduceMean's axes as an attribute, Split/Unsqueeze/Squeeze/ReduceSum axes as
/// inputs, LayerNormalization from 17 on).
public final class ONNXGraph {
    public let name: String
    public let opset: Int
    /// Compute rotary and sinusoidal tables in float64 inside the graph, as ours does (exact to
    /// float32 rounding). Off: float32 throughout, for runtimes without float64 trigonometry
    /// (TensorRT), at a larger error (the VOCAL test: 1.8e-4 relative instead of 2e-5).
    public let float64Tables: Bool
    public private(set) var inputs: [ONNXPort] = []
    public private(set) var outputs: [ONNXPort] = []

    private var nodes: [Onnx_NodeProto] = []
    private var initializers: [Onnx_TensorProto] = []
    private var parameterValues: [ObjectIdentifier: ONNXValue] = [:]
    private let parameterPaths: [ObjectIdentifier: String]
    private var usedNames = Set<String>()
    private var counter = 0
    private var scopes: [String] = []
    private var int64Constants: [[Int64]: ONNXValue] = [:]
    private var floatScalars: [UInt32: ONNXValue] = [:]

    /// - Parameters:
    ///   - name: the graph's name.
    ///   - root: the model whose parameters are named by their dotted paths; parameters of
    ///     other modules get generated names.
    ///   - float64Tables: see `float64Tables`.
    public init(name: String, root: Module? = nil, opset: Int = 17, float64Tables: Bool = true) {
        precondition(opset >= 17, "ONNXGraph: opset \(opset) is below 17 (LayerNormalization)")
        self.name = name
        self.opset = opset
        self.float64Tables = float64Tables
        var paths: [ObjectIdentifier: String] = [:]
        for (path, p) in root?.namedParameters() ?? [] { paths[ObjectIdentifier(p)] = path }
        parameterPaths = paths
    }

    // MARK: Names and scopes

    /// Runs `body` with `name` appended to the scope used to name node outputs.
    public func scope<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        scopes.append(name)
        defer { scopes.removeLast() }
        return try body()
    }

    private func freshName(_ op: String) -> String {
        counter += 1
        let prefix = scopes.filter { !$0.isEmpty }.joined(separator: ".")
        return prefix.isEmpty ? "\(op).\(counter)" : "\(prefix)/\(op).\(counter)"
    }

    /// Constants are named `const.N` whatever the scope.
    private func constantName() -> String {
        counter += 1
        return "const.\(counter)"
    }

    private func claim(_ name: String) {
        precondition(usedNames.insert(name).inserted, "ONNXGraph: the name '\(name)' is used twice")
    }

    // MARK: Inputs, outputs, initializers

    /// Declares a graph input.
    public func input(_ name: String, _ type: ONNXElementType = .float, shape: [ONNXDim], doc: String = "") -> ONNXValue {
        claim(name)
        inputs.append(ONNXPort(name: name, elementType: type, shape: shape, doc: doc))
        return ONNXValue(name)
    }

    /// Declares `value` as a graph output named `name` (through an Identity node when the value
    /// has another name).
    public func output(_ value: ONNXValue, as name: String, _ type: ONNXElementType = .float, shape: [ONNXDim], doc: String = "") {
        if value.name != name {
            claim(name)
            var n = Onnx_NodeProto()
            n.opType = "Identity"
            n.name = "output:\(name)"
            n.input = [value.name]
            n.output = [name]
            nodes.append(n)
        }
        outputs.append(ONNXPort(name: name, elementType: type, shape: shape, doc: doc))
    }

    /// The initializer holding a parameter's current value, named by its dotted path under the
    /// graph's root module (added once however often it is used).
    public func parameter(_ p: Parameter) -> ONNXValue {
        let id = ObjectIdentifier(p)
        if let v = parameterValues[id] { return v }
        let name = parameterPaths[id] ?? freshName("param")
        let v = addInitializer(name, p.value)
        parameterValues[id] = v
        return v
    }

    /// A float32 initializer with the tensor's values (copied now).
    @discardableResult
    public func addInitializer(_ name: String, _ t: Tensor) -> ONNXValue {
        claim(name)
        var tp = Onnx_TensorProto()
        tp.name = name
        tp.dataType = ONNXElementType.float.rawValue
        tp.dims = t.shape.map(Int64.init)
        tp.rawData = littleEndianBytes(t.contiguous().toArray())
        initializers.append(tp)
        return ONNXValue(name)
    }

    /// A float32 constant (an initializer named `const.N`).
    public func constant(_ values: [Float], shape: [Int]) -> ONNXValue {
        precondition(values.count == shape.reduce(1, *), "ONNXGraph.constant: \(values.count) values for shape \(shape)")
        return addInitializer(constantName(), Tensor(values, shape: shape))
    }

    /// A float32 scalar constant (shared between uses of the same value).
    public func scalar(_ v: Float) -> ONNXValue {
        if let c = floatScalars[v.bitPattern] { return c }
        let name = constantName()
        claim(name)
        var tp = Onnx_TensorProto()
        tp.name = name
        tp.dataType = ONNXElementType.float.rawValue
        tp.rawData = littleEndianBytes([v])
        initializers.append(tp)
        let value = ONNXValue(name)
        floatScalars[v.bitPattern] = value
        return value
    }

    /// A float64 constant.
    public func constant(doubles values: [Double], shape: [Int]) -> ONNXValue {
        precondition(values.count == shape.reduce(1, *), "ONNXGraph.constant: \(values.count) values for shape \(shape)")
        let name = constantName()
        claim(name)
        var tp = Onnx_TensorProto()
        tp.name = name
        tp.dataType = ONNXElementType.double.rawValue
        tp.dims = shape.map(Int64.init)
        var d = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        tp.rawData = d
        initializers.append(tp)
        return ONNXValue(name)
    }

    /// An int64 constant: a 1-D tensor, or a scalar with `scalar: true` (shared between uses of
    /// the same values).
    public func int64(_ values: [Int], scalar: Bool = false) -> ONNXValue {
        precondition(!scalar || values.count == 1, "ONNXGraph.int64: a scalar holds one value")
        let key = values.map(Int64.init) + (scalar ? [Int64.min] : [])
        if let c = int64Constants[key] { return c }
        let name = constantName()
        claim(name)
        var tp = Onnx_TensorProto()
        tp.name = name
        tp.dataType = ONNXElementType.int64.rawValue
        if !scalar { tp.dims = [Int64(values.count)] }
        var d = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { d.append(contentsOf: $0) } }
        tp.rawData = d
        initializers.append(tp)
        let v = ONNXValue(name)
        int64Constants[key] = v
        return v
    }

    private func littleEndianBytes(_ values: [Float]) -> Data {
        var d = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    // MARK: Nodes

    /// Appends a node; returns its `outputs` output values. A nil input is an omitted optional
    /// input (written as the empty name when a later input is given).
    @discardableResult
    public func node(_ op: String, _ inputs: [ONNXValue?], _ attributes: [String: ONNXAttribute] = [:],
                     outputs count: Int = 1) -> [ONNXValue] {
        var n = Onnx_NodeProto()
        n.opType = op
        let base = freshName(op)
        n.name = base
        // Trailing omitted inputs are left out rather than written as "": some runtimes'
        // graph optimisers (onnxruntime's, at the extended level) crash on an empty last input.
        var given = inputs
        while let last = given.last, last == nil { given.removeLast() }
        n.input = given.map { $0?.name ?? "" }
        let outs = (0..<count).map { count == 1 ? base : "\(base):\($0)" }
        for o in outs { claim(o) }
        n.output = outs
        for key in attributes.keys.sorted() {
            var a = Onnx_AttributeProto()
            a.name = key
            switch attributes[key]! {
            case .int(let v): a.type = .int; a.i = Int64(v)
            case .float(let v): a.type = .float; a.f = v
            case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
            case .string(let v): a.type = .string; a.s = Data(v.utf8)
            case .floatTensor(let v, let shape):
                var t = Onnx_TensorProto()
                t.dataType = ONNXElementType.float.rawValue
                t.dims = shape.map(Int64.init)
                t.rawData = littleEndianBytes(v)
                a.type = .tensor; a.t = t
            }
            n.attribute.append(a)
        }
        nodes.append(n)
        return outs.map(ONNXValue.init)
    }

    /// A node with one output.
    public func op(_ op: String, _ inputs: ONNXValue?..., attributes: [String: ONNXAttribute] = [:]) -> ONNXValue {
        node(op, inputs, attributes)[0]
    }

    public var nodeCount: Int { nodes.count }
    public var initializerCount: Int { initializers.count }
    /// Operator types used, sorted.
    public var operatorTypes: [String] { Array(Set(nodes.map(\.opType))).sorted() }

    // MARK: Model

    private func valueInfo(_ port: ONNXPort) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = port.shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .fixed(let n): dim.dimValue = Int64(n)
            case .symbol(let s): dim.dimParam = s
            }
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = port.elementType.rawValue
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var v = Onnx_ValueInfoProto()
        v.name = port.name
        v.type = type
        if !port.doc.isEmpty { v.docString = port.doc }
        return v
    }

    /// The model: IR version 8 (the IR of opset 17), the default operator domain at `opset`,
    /// and `metadata` as the model's metadata properties.
    public func model(docString: String = "", metadata: [String: String] = [:]) -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.initializer = initializers
        g.input = inputs.map(valueInfo)
        g.output = outputs.map(valueInfo)
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "neo-train"
        m.producerVersion = "1"
        var set = Onnx_OperatorSetIdProto()
        set.domain = ""
        set.version = Int64(opset)
        m.opsetImport = [set]
        if !docString.isEmpty { m.docString = docString }
        m.metadataProps = metadata.keys.sorted().map { k in
            var e = Onnx_StringStringEntryProto()
            e.key = k
            e.value = metadata[k]!
            return e
        }
        m.graph = g
        return m
    }

    /// The serialised model (the bytes of an `.onnx` file).
    public func serialized(docString: String = "", metadata: [String: String] = [:]) throws -> Data {
        try model(docString: docString, metadata: metadata).serializedData()
    }
}
