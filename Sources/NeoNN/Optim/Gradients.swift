import NeoTensor

/// The global L2 norm of the gradients of `parameters` (those without a gradient count as zero),
/// accumulated in Double.
public func gradientNorm(_ parameters: [Parameter]) -> Float {
    var total = 0.0
    for p in parameters {
        guard let g = p.grad else { continue }
        let c = contiguousValues(g)
        let ptr = c.data
        total += parallelSum(c.count) { lo, hi in
            var acc = 0.0
            var j = lo
            while j < hi { let x = Double(ptr[j]); acc += x * x; j &+= 1 }
            return acc
        }
    }
    return Float(total.squareRoot())
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does (coefficient maxNorm/(norm + 1e-6), never above 1).
/// Returns the norm before clipping. A non-finite norm leaves the gradients untouched, so the
/// caller can see it and skip the step.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    let norm = gradientNorm(parameters)
    guard norm.isFinite else { return norm }
    let coef = Float(Double(maxNorm) / (Double(norm) + 1e-6))
    if coef < 1 { scaleGradients(parameters, by: coef) }
    return norm
}

/// Multiplies every gradient by `factor` in place.
public func scaleGradients(_ parameters: [Parameter], by factor: Float) {
    for p in parameters {
        guard let g = p.grad else { continue }
        let c = g.isContiguous ? g : g.clone()
        let ptr = c.data
        parallelRanges(c.count) { lo, hi in
            var j = lo
            while j < hi { ptr[j] = ptr[j] * factor; j &+= 1 }
        }
        if c !== g { p.grad = c }
    }
}

/// Drops the gradients of `parameters`.
public func zeroGrad(_ parameters: [Parameter]) {
    for p in parameters { p.grad = nil }
}

/// Gradient accumulation over micro-batches: each micro-batch's backward is seeded with
/// 1/microBatches, so that after `microBatches` calls the gradients hold the average over the
/// micro-batches (the gradient of the mean loss), as one big batch would.
public struct GradientAccumulator: Sendable {
    public let microBatches: Int
    /// Micro-batches back-propagated since the last `reset()`.
    public private(set) var accumulated = 0

    public init(microBatches: Int) {
        ensure(microBatches >= 1, "GradientAccumulator: microBatches must be ≥ 1")
        self.microBatches = microBatches
    }

    /// Back-propagates a scalar micro-batch loss on `tape`, scaled by 1/microBatches.
    public mutating func backward(_ loss: Tensor, tape: Tape) {
        ensure(loss.count == 1, "GradientAccumulator.backward: loss must be a scalar (shape \(loss.shape))")
        tape.backward(loss, gradient: Tensor.full(loss.shape, 1 / Float(microBatches)))
        accumulated += 1
    }

    /// True once `microBatches` micro-batches have been accumulated: time to step.
    public var isReady: Bool { accumulated >= microBatches }

    public mutating func reset() { accumulated = 0 }
}
