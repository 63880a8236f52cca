import Foundation

/// How a loss combines its per-element values.
public enum Reduction: Sendable {
    /// The average over elements (or over non-ignored rows for cross-entropy): a scalar.
    case mean
    /// The sum over elements: a scalar.
    case sum
    /// The per-element losses, unreduced.
    case none
}

/// Σ of a contiguous buffer in Double, parallel in chunks.
private func sumDouble(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    let chunks = elementwiseChunks(n)
    if chunks <= 1 {
        var acc = 0.0
        for i in 0..<n { acc += Double(p[i]) }
        return Float(acc)
    }
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { parts in
        let pp = parts.baseAddress!
        concurrentChunks(chunks) { c in
            let lo = n &* c / chunks, hi = n &* (c &+ 1) / chunks
            var acc = 0.0
            for i in lo..<hi { acc += Double(p[i]) }
            pp[c] = acc
        }
        var total = 0.0
        for c in 0..<chunks { total += pp[c] }
        return Float(total)
    }
}

/// A loss of the form reduce(f(pred, target)) with NumPy broadcasting between the two, fused:
/// one pass for the values, one for the gradients (∂f/∂pred and ∂f/∂target per element).
@inline(__always)
private func pointwiseLoss(_ name: String, _ pred: Tensor, _ target: Tensor, _ reduction: Reduction,
                           value: @escaping (Float, Float) -> Float,
                           gradPred: @escaping (Float, Float) -> Float,
                           gradTarget: @escaping (Float, Float) -> Float) -> Tensor {
    let shape = pred.shape == target.shape ? pred.shape : broadcastShapes(pred.shape, target.shape)
    let p = noGrad { pred.expand(shape).contiguousNoGrad() }, t = noGrad { target.expand(shape).contiguousNoGrad() }
    let n = Tensor.count(shape)
    let pp = p.data, pt = t.data
    let elems = Tensor.empty(shape)
    let pe = elems.data
    parallelRanges(n, minPerThread: 1 << 15) { lo, hi in for i in lo..<hi { pe[i] = value(pp[i], pt[i]) } }
    let out: Tensor
    switch reduction {
    case .none: out = elems
    case .sum: out = Tensor.scalar(sumDouble(pe, n))
    case .mean: out = Tensor.scalar(n == 0 ? .nan : sumDouble(pe, n) / Float(n))
    }
    return recordOp(name, inputs: [pred, target], output: out) { g in
        let gc = g.contiguousNoGrad()
        let pg = gc.data
        let perElement = reduction == .none
        let scale: Float = perElement ? 1 : pg[0] * (reduction == .mean ? 1 / Float(Swift.max(n, 1)) : 1)
        func grad(_ f: @escaping (Float, Float) -> Float, _ input: Tensor) -> Tensor? {
            guard input.requiresGrad else { return nil }
            let d = Tensor.empty(shape)
            let pd = d.data
            parallelRanges(n, minPerThread: 1 << 15) { lo, hi in
                if perElement { for i in lo..<hi { pd[i] = pg[i] * f(pp[i], pt[i]) } }
                else { for i in lo..<hi { pd[i] = scale * f(pp[i], pt[i]) } }
            }
            return sumToShape(d, input.shape)
        }
        // The broadcast copies own the buffers behind pp/pt: keep them alive until here.
        return withExtendedLifetime((p, t)) { [grad(gradPred, pred), grad(gradTarget, target)] }
    }
}

/// Mean squared error: reduce((pred − target)²). Broadcasting between pred and target.
public func mseLoss(_ pred: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    pointwiseLoss("mse_loss", pred, target, reduction,
                  value: { ($0 - $1) * ($0 - $1) }, gradPred: { 2 * ($0 - $1) }, gradTarget: { 2 * ($1 - $0) })
}

/// Mean absolute error: reduce(|pred − target|); the gradient at a tie is 0 (as PyTorch).
public func l1Loss(_ pred: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    pointwiseLoss("l1_loss", pred, target, reduction,
                  value: { Swift.abs($0 - $1) },
                  gradPred: { $0 > $1 ? 1 : ($0 < $1 ? -1 : 0) },
                  gradTarget: { $0 > $1 ? -1 : ($0 < $1 ? 1 : 0) })
}

/// Smooth L1 (Huber-like, PyTorch's definition): 0.5·d²/beta where |d| < beta, else |d| − 0.5·beta,
/// with d = pred − target. beta = 0 is the L1 loss.
public func smoothL1Loss(_ pred: Tensor, _ target: Tensor, beta: Float = 1, reduction: Reduction = .mean) -> Tensor {
    ensure(beta >= 0, "smoothL1Loss: beta must be ≥ 0, got \(beta)")
    func dd(_ d: Float) -> Float { Swift.abs(d) < beta ? d / beta : (d > 0 ? 1 : (d < 0 ? -1 : 0)) }
    return pointwiseLoss("smooth_l1_loss", pred, target, reduction,
                         value: { p, t in
                             let d = Swift.abs(p - t)
                             return d < beta ? 0.5 * d * d / beta : d - 0.5 * beta
                         },
                         gradPred: { dd($0 - $1) }, gradTarget: { -dd($0 - $1) })
}

/// Binary cross-entropy on logits: max(x, 0) − x·t + log(1 + e^(−|x|)), which never overflows.
/// Gradients: σ(x) − t for the logits, −x for the target.
public func bceWithLogits(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    pointwiseLoss("bce_with_logits", logits, target, reduction,
                  value: { x, t in Swift.max(x, 0) - x * t + Foundation.log1p(Foundation.exp(-Swift.abs(x))) },
                  gradPred: { x, t in
                      let s = x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
                      return s - t
                  },
                  gradTarget: { x, _ in -x })
}

/// Cross-entropy of class logits [N, C] against class indices (one per row), fused with the
/// log-softmax: forward saves each row's log-sum-exp; backward is softmax − one-hot.
/// Rows whose target equals `ignoreIndex` contribute nothing (and `.mean` averages over the
/// others). `.none` gives the [N] per-row losses.
public func crossEntropy(_ logits: Tensor, targets: [Int], reduction: Reduction = .mean, ignoreIndex: Int? = nil) -> Tensor {
    ensure(logits.rank == 2, "crossEntropy: logits must be [N, C], got shape \(logits.shape)")
    let rows = logits.shape[0], c = logits.shape[1]
    ensure(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of logits \(logits.shape)")
    for (i, t) in targets.enumerated() where t != ignoreIndex {
        ensure(t >= 0 && t < c, "crossEntropy: target \(t) at row \(i) is outside 0..<\(c)")
    }
    let src = logits.contiguousNoGrad()
    let px = src.data
    let lse = Tensor.empty([rows])
    let losses = Tensor.empty([rows])
    let pl = lse.data, pr = losses.data
    let tgt = targets
    let valid = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    tgt.withUnsafeBufferPointer { tb in
        let tp = tb.baseAddress
        parallelRanges(rows, minPerThread: rowsPerChunk(c)) { lo, hi in
            for r in lo..<hi {
                let row = px + r &* c
                let m = rowMax(row, c)
                var s: Float = 0
                var j = 0
                // Σ e^(x − m) without a scratch row.
                let m8 = F8(repeating: m)
                var acc = F8()
                while j &+ 8 <= c { acc += exp8(load8(row + j) - m8); j &+= 8 }
                s = acc.sum()
                while j < c { s += exp1(row[j] - m); j &+= 1 }
                let l = m + Foundation.log(s)
                pl[r] = l
                let t = tp![r]
                pr[r] = t == ignoreIndex ? 0 : l - row[t]
            }
        }
    }
    let out: Tensor
    switch reduction {
    case .none: out = losses
    case .sum: out = Tensor.scalar(sumDouble(pr, rows))
    case .mean: out = Tensor.scalar(valid == 0 ? .nan : sumDouble(pr, rows) / Float(valid))
    }
    return recordOp("cross_entropy", inputs: [logits], output: out) { g in
        let gc = g.contiguousNoGrad()
        let pg = gc.data
        let dx = Tensor.empty([rows, c])
        let pd = dx.data
        let uniform: Float = reduction == .none ? 0 : pg[0] * (reduction == .mean ? 1 / Float(Swift.max(valid, 1)) : 1)
        tgt.withUnsafeBufferPointer { tb in
            let tp = tb.baseAddress
            parallelRanges(rows, minPerThread: rowsPerChunk(c)) { lo, hi in
                for r in lo..<hi {
                    let row = px + r &* c, d = pd + r &* c
                    let t = tp![r]
                    if t == ignoreIndex { d.update(repeating: 0, count: c); continue }
                    let gr = reduction == .none ? pg[r] : uniform
                    let l8 = F8(repeating: pl[r]), g8 = F8(repeating: gr)
                    var j = 0
                    while j &+ 8 <= c { store8(exp8(load8(row + j) - l8) * g8, d + j); j &+= 8 }
                    while j < c { d[j] = exp1(row[j] - pl[r]) * gr; j &+= 1 }
                    d[t] -= gr
                }
            }
        }
        withExtendedLifetime((src, lse)) {}
        return [dx]
    }
}

extension Tensor {
    /// log σ(x) = min(x, 0) − log(1 + e^(−|x|)), stable for any x; d/dx = σ(−x).
    public func logSigmoid() -> Tensor {
        let x = self
        let out = unaryMap(x) { v in Swift.min(v, 0) - Foundation.log1p(Foundation.exp(-Swift.abs(v))) }
        return recordOp("log_sigmoid", inputs: [x], output: out) { g in
            [g * unaryMap(x) { v in v >= 0 ? Foundation.exp(-v) / (1 + Foundation.exp(-v)) : 1 / (1 + Foundation.exp(v)) }]
        }
    }
}

extension Composite {
    static func reduce(_ t: Tensor, _ reduction: Reduction) -> Tensor {
        switch reduction {
        case .none: return t
        case .sum: return t.sum()
        case .mean: return t.mean()
        }
    }
    public static func mseLoss(_ pred: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        reduce((pred - target).square(), reduction)
    }
    public static func l1Loss(_ pred: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        reduce((pred - target).abs(), reduction)
    }
    public static func smoothL1Loss(_ pred: Tensor, _ target: Tensor, beta: Float = 1, reduction: Reduction = .mean) -> Tensor {
        let d = pred - target
        let a = d.abs()
        let quadratic = d.square() * (0.5 / beta)
        return reduce(Tensor.where(a.lt(beta).detach(), quadratic, a - 0.5 * beta), reduction)
    }
    public static func bceWithLogits(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        let softplusNegAbs = ((-logits.abs()).exp() + 1).log()
        return reduce(logits.relu() - logits * target + softplusNegAbs, reduction)
    }
    public static func crossEntropy(_ logits: Tensor, targets: [Int], reduction: Reduction = .mean, ignoreIndex: Int? = nil) -> Tensor {
        let rows = logits.shape[0], c = logits.shape[1]
        var onehot = [Float](repeating: 0, count: rows * c)
        var valid = 0
        for (r, t) in targets.enumerated() where t != ignoreIndex { onehot[r * c + t] = 1; valid += 1 }
        let perRow = -(logSoftmax(logits, dim: -1) * Tensor(onehot, shape: [rows, c])).sum(axes: [1])
        switch reduction {
        case .none: return perRow
        case .sum: return perRow.sum()
        case .mean: return perRow.sum() * (1 / Float(valid))
        }
    }
    public static func logSigmoid(_ x: Tensor) -> Tensor {
        x.minimum(Tensor.scalar(0)) - ((-x.abs()).exp() + 1).log()
    }
}
