import Foundation

/// A float32 n-dimensional array: a view (shape, strides, offset) onto shared `Storage`.
/// Row-major and contiguous unless made otherwise by a view op (permute, slice, expand).
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int
    public let storage: Storage
    /// Set on leaves by the user (parameters, inputs); set on op outputs when an input needs it.
    public var requiresGrad: Bool
    /// Accumulated gradient of a leaf after `backward`.
    public var grad: Tensor?
    /// False for tensors produced by a recorded op.
    public internal(set) var isLeaf: Bool = true
    /// The tape that recorded this tensor's producing op, if any.
    weak var tape: Tape?

    public init(storage: Storage, shape: [Int], strides: [Int], offset: Int = 0, requiresGrad: Bool = false) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    // MARK: Geometry

    public var rank: Int { shape.count }
    public var count: Int { Tensor.count(shape) }
    @inline(__always) public static func count(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape { n &*= d }
        return n
    }
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        var i = shape.count - 1
        while i >= 0 { s[i] = acc; acc &*= shape[i]; i -= 1 }
        return s
    }
    public var isContiguous: Bool {
        var acc = 1
        var i = shape.count - 1
        while i >= 0 {
            if shape[i] != 1 && strides[i] != acc { return false }
            acc &*= shape[i]
            i -= 1
        }
        return true
    }
    /// Pointer to element [0, 0, …] of this view.
    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Normalises a possibly negative axis.
    @inline(__always) public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        ensure(r >= 0 && r < Swift.max(rank, 1), "axis \(a) is out of range for a tensor of rank \(rank) (shape \(shape))")
        return r
    }

    // MARK: Creation

    /// A contiguous tensor with uninitialised contents, from the current context's pool.
    public static func empty(_ shape: [Int]) -> Tensor {
        for d in shape { ensure(d >= 0, "negative dimension in shape \(shape)") }
        let st = Storage(count: count(shape), pool: EngineContext.current.pool)
        return Tensor(storage: st, shape: shape, strides: contiguousStrides(shape))
    }
    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let t = empty(shape)
        let p = t.data
        let n = t.count
        for i in 0..<n { p[i] = value }
        return t
    }
    public static func zeros(_ shape: [Int]) -> Tensor {
        let t = empty(shape)
        t.data.update(repeating: 0, count: t.count)
        return t
    }
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
    public static func scalar(_ v: Float) -> Tensor { full([], v) }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }
    /// 0, step, 2·step, … below `end` (starting at `start`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        ensure(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int((Double(end - start) / Double(step)).rounded(.up)))
        let t = empty([n])
        for i in 0..<n { t.data[i] = start + Float(i) * step }
        return t
    }
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, generator: Generator) -> Tensor {
        let t = empty(shape)
        generator.fillUniform(t.data, count: t.count, low: low, high: high)
        return t
    }
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: Generator) -> Tensor {
        let t = empty(shape)
        generator.fillNormal(t.data, count: t.count, mean: mean, std: std)
        return t
    }
    public convenience init(_ values: [Float], shape: [Int]? = nil, requiresGrad: Bool = false) {
        let shp = shape ?? [values.count]
        ensure(Tensor.count(shp) == values.count, "Tensor(values:shape:): \(values.count) values do not fill shape \(shp)")
        let st = Storage(count: values.count, pool: EngineContext.current.pool)
        values.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { st.pointer.update(from: base, count: values.count) }
        }
        self.init(storage: st, shape: shp, strides: Tensor.contiguousStrides(shp), requiresGrad: requiresGrad)
    }

    /// Marks a leaf as needing a gradient; returns self.
    @discardableResult public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    // MARK: Reading

    /// The elements in row-major order.
    public func toArray() -> [Float] {
        let c = contiguousNoGrad()
        return Array(UnsafeBufferPointer(start: c.data, count: c.count))
    }
    /// The single element of a one-element tensor.
    public var item: Float {
        ensure(count == 1, "item: tensor has \(count) elements (shape \(shape)), expected 1")
        return toArray()[0]
    }
    /// Element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        ensure(index.count == rank, "subscript: \(index.count) indices for rank \(rank)")
        var o = offset
        for (i, ix) in index.enumerated() {
            ensure(ix >= 0 && ix < shape[i], "index \(ix) out of range for dim \(i) of size \(shape[i])")
            o &+= ix &* strides[i]
        }
        return storage.pointer[o]
    }

    public var description: String {
        let vals = toArray()
        let shown = vals.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(vals.count > 8 ? ", …" : "")])"
    }

    // MARK: Copies

    /// A contiguous copy (or self when already contiguous), outside autodiff.
    func contiguousNoGrad() -> Tensor {
        if isContiguous { return self }
        let out = Tensor.empty(shape)
        copyStrided(from: self, to: out.data)
        return out
    }

    /// A detached, independent copy.
    public func clone() -> Tensor {
        let out = Tensor.empty(shape)
        copyStrided(from: self, to: out.data)
        return out
    }

    /// The same data, cut from the tape: gradients do not flow through the result.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// Copies `src`'s values into this tensor in place (shapes must match; outside autodiff).
    public func copy(from src: Tensor) {
        ensure(src.shape == shape, "copy(from:): shape \(src.shape) does not match \(shape)")
        ensure(isContiguous, "copy(from:): destination must be contiguous")
        copyStrided(from: src, to: data)
    }
}

/// Writes the elements of any strided view, in row-major order, to `dst`.
func copyStrided(from t: Tensor, to dst: UnsafeMutablePointer<Float>) {
    let n = t.count
    if n == 0 { return }
    if t.isContiguous { dst.update(from: t.data, count: n); return }
    let (shape, strides) = coalesce(t.shape, [t.strides])
    let src = t.storage.pointer + t.offset
    let r = shape.count
    let inner = shape[r - 1], istr = strides[0][r - 1]
    let outer = n / inner
    let st = strides[0]
    if r == 1 {
        for i in 0..<inner { dst[i] = src[i &* istr] }
        return
    }
    // Parallel over outer rows when large.
    let body: (Int) -> Void = { row in
        var rem = row
        var o = 0
        var d = r - 2
        while d >= 0 { let ix = rem % shape[d]; rem /= shape[d]; o &+= ix &* st[d]; d -= 1 }
        let s = src + o
        let out = dst + row &* inner
        if istr == 1 { out.update(from: s, count: inner) } else { for i in 0..<inner { out[i] = s[i &* istr] } }
    }
    if n >= 1 << 16 { parallelFor(outer, minPerThread: 64, body) } else { for row in 0..<outer { body(row) } }
}

/// Merges adjacent dimensions that are contiguous with each other in every operand, and drops
/// size-1 dims; the result always has at least one dimension.
func coalesce(_ shape: [Int], _ stridesList: [[Int]]) -> ([Int], [[Int]]) {
    var outShape: [Int] = []
    var outStrides: [[Int]] = Array(repeating: [], count: stridesList.count)
    for d in 0..<shape.count where shape[d] != 1 {
        if let last = outShape.last {
            var mergeable = true
            for k in 0..<stridesList.count where outStrides[k].last! != stridesList[k][d] &* shape[d] {
                mergeable = false; break
            }
            if mergeable {
                outShape[outShape.count - 1] = last &* shape[d]
                for k in 0..<stridesList.count { outStrides[k][outStrides[k].count - 1] = stridesList[k][d] }
                continue
            }
        }
        outShape.append(shape[d])
        for k in 0..<stridesList.count { outStrides[k].append(stridesList[k][d]) }
    }
    if outShape.isEmpty { return ([1], stridesList.map { _ in [1] }) }
    return (outShape, outStrides)
}
