import NeoTensor

/// Zeroes each element with probability p and scales the rest by 1/(1 − p) in training mode;
/// the identity in evaluation mode. Masks come from the explicit generator, so they repeat
/// when its state is restored (resume, gradient checkpointing).
public final class Dropout: Module, UnaryLayer {
    public let p: Float
    public let generator: Generator

    public init(_ p: Float, generator: Generator) {
        ensure(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        self.generator = generator
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard training, p > 0 else { return x }
        return dropout(x, p: p, generator: generator)
    }
}

/// Inverted dropout as a fused op: one mask draw, backward multiplies by the same mask.
public func dropout(_ x: Tensor, p: Float, generator: Generator) -> Tensor {
    ensure(p >= 0 && p < 1, "dropout: p must be in [0, 1), got \(p)")
    if p == 0 { return x }
    let xc = contiguousValues(x)
    let n = x.count
    let mask = Tensor.empty(x.shape)
    let m = mask.data
    generator.fillUniform(m, count: n)
    let keepScale = 1 / (1 - p)
    for i in 0..<n { m[i] = m[i] >= p ? keepScale : 0 }
    let out = Tensor.empty(x.shape)
    let o = out.data, xs = xc.data
    parallelRanges(n) { lo, hi in
        var i = lo
        while i < hi { o[i] = xs[i] * m[i]; i &+= 1 }
    }
    return recordOp("dropout", inputs: [x], output: out) { g in
        [x.requiresGrad ? g * mask : nil]
    }
}
