import Foundation

/// Typed helpers for the operators the exporters emit (opset 17 signatures).
extension ONNXGraph {
    // MARK: Elementwise (NumPy broadcasting)

    public func add(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Add", a, b) }
    public func sub(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Sub", a, b) }
    public func mul(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Mul", a, b) }
    public func div(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Div", a, b) }
    public func add(_ a: ONNXValue, _ s: Float) -> ONNXValue { add(a, scalar(s)) }
    public func mul(_ a: ONNXValue, _ s: Float) -> ONNXValue { mul(a, scalar(s)) }
    public func pow(_ a: ONNXValue, _ e: Float) -> ONNXValue { op("Pow", a, scalar(e)) }
    public func sqrt(_ x: ONNXValue) -> ONNXValue { op("Sqrt", x) }
    public func erf(_ x: ONNXValue) -> ONNXValue { op("Erf", x) }
    public func tanh(_ x: ONNXValue) -> ONNXValue { op("Tanh", x) }
    public func sigmoid(_ x: ONNXValue) -> ONNXValue { op("Sigmoid", x) }
    public func sin(_ x: ONNXValue) -> ONNXValue { op("Sin", x) }
    public func cos(_ x: ONNXValue) -> ONNXValue { op("Cos", x) }
    public func relu(_ x: ONNXValue) -> ONNXValue { op("Relu", x) }
    public func greater(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Greater", a, b) }
    /// `condition ? a : b` elementwise (condition bool).
    public func `where`(_ condition: ONNXValue, _ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("Where", condition, a, b) }
    public func cast(_ x: ONNXValue, to type: ONNXElementType) -> ONNXValue {
        op("Cast", x, attributes: ["to": .int(Int(type.rawValue))])
    }
    public func identity(_ x: ONNXValue) -> ONNXValue { op("Identity", x) }

    // MARK: Products and reductions

    /// Batched matrix product with NumPy broadcasting of the batch dims.
    public func matMul(_ a: ONNXValue, _ b: ONNXValue) -> ONNXValue { op("MatMul", a, b) }

    /// Gemm: alpha·A'·B' + beta·C on 2-D A and B (primes: optional transposes).
    public func gemm(_ a: ONNXValue, _ b: ONNXValue, _ c: ONNXValue?, transA: Bool = false, transB: Bool = false) -> ONNXValue {
        var attrs: [String: ONNXAttribute] = [:]
        if transA { attrs["transA"] = .int(1) }
        if transB { attrs["transB"] = .int(1) }
        return node("Gemm", c.map { [a, b, $0] } ?? [a, b], attrs)[0]
    }

    /// ReduceMean over `axes` (an attribute up to opset 17, an input from 18).
    public func reduceMean(_ x: ONNXValue, axes: [Int], keepDims: Bool) -> ONNXValue {
        if opset >= 18 {
            return op("ReduceMean", x, int64(axes), attributes: ["keepdims": .int(keepDims ? 1 : 0)])
        }
        return op("ReduceMean", x, attributes: ["axes": .ints(axes), "keepdims": .int(keepDims ? 1 : 0)])
    }

    public func reduceSum(_ x: ONNXValue, axes: [Int], keepDims: Bool) -> ONNXValue {
        op("ReduceSum", x, int64(axes), attributes: ["keepdims": .int(keepDims ? 1 : 0)])
    }

    public func softmax(_ x: ONNXValue, axis: Int) -> ONNXValue { op("Softmax", x, attributes: ["axis": .int(axis)]) }

    /// LayerNormalization (opset 17) over the last axis; `scale` is required by the operator.
    public func layerNormalization(_ x: ONNXValue, scale: ONNXValue, bias: ONNXValue?, epsilon: Float) -> ONNXValue {
        node("LayerNormalization", [x, scale, bias], ["axis": .int(-1), "epsilon": .float(epsilon)])[0]
    }

    // MARK: Shapes

    /// Reshape; 0 in `shape` keeps the input's dim, −1 is inferred.
    public func reshape(_ x: ONNXValue, _ shape: [Int]) -> ONNXValue { op("Reshape", x, int64(shape)) }
    public func reshape(_ x: ONNXValue, shape: ONNXValue) -> ONNXValue { op("Reshape", x, shape) }
    public func transpose(_ x: ONNXValue, _ perm: [Int]) -> ONNXValue { op("Transpose", x, attributes: ["perm": .ints(perm)]) }
    public func unsqueeze(_ x: ONNXValue, _ axes: [Int]) -> ONNXValue { op("Unsqueeze", x, int64(axes)) }
    public func squeeze(_ x: ONNXValue, _ axes: [Int]) -> ONNXValue { op("Squeeze", x, int64(axes)) }
    public func concat(_ xs: [ONNXValue], axis: Int) -> ONNXValue {
        xs.count == 1 ? xs[0] : node("Concat", xs, ["axis": .int(axis)])[0]
    }

    /// Split into pieces of the given sizes along `axis`.
    public func split(_ x: ONNXValue, _ sizes: [Int], axis: Int) -> [ONNXValue] {
        node("Split", [x, int64(sizes)], ["axis": .int(axis)], outputs: sizes.count)
    }

    /// Slice `[start, end)` along `axis` (end may be Int.max for "to the end"; negatives count
    /// from the end).
    public func slice(_ x: ONNXValue, axis: Int, start: Int, end: Int, step: Int = 1) -> ONNXValue {
        op("Slice", x, int64([start]), int64([end]), int64([axis]), int64([step]))
    }

    /// Slice with computed bounds (1-D int64 values of length 1).
    public func slice(_ x: ONNXValue, axis: Int, start: ONNXValue, end: ONNXValue) -> ONNXValue {
        op("Slice", x, start, end, int64([axis]))
    }

    /// Rows `indices` of `data` along `axis` (a scalar index removes the axis).
    public func gather(_ data: ONNXValue, _ indices: ONNXValue, axis: Int) -> ONNXValue {
        op("Gather", data, indices, attributes: ["axis": .int(axis)])
    }

    /// The input's shape as a 1-D int64 tensor.
    public func shape(_ x: ONNXValue) -> ONNXValue { op("Shape", x) }

    /// One dim of `x` as a 1-D int64 tensor of length 1.
    public func dim(_ x: ONNXValue, _ axis: Int) -> ONNXValue {
        op("Shape", x, attributes: ["start": .int(axis), "end": .int(axis == -1 ? Int(Int32.max) : axis + 1)])
    }

    /// A float tensor of the given (computed) shape filled with `value`.
    public func filled(shape: ONNXValue, _ value: Float) -> ONNXValue {
        op("ConstantOfShape", shape, attributes: ["value": .floatTensor([value], shape: [1])])
    }

    /// Float positions start, start+1, …, end−1 from int64 scalar bounds.
    public func range(start: ONNXValue, limit: ONNXValue) -> ONNXValue {
        cast(op("Range", start, limit, int64([1], scalar: true)), to: .float)
    }

    /// A 1-D int64 value of length 1 turned into a scalar.
    public func scalarOf(_ x: ONNXValue) -> ONNXValue { squeeze(x, [0]) }
}
