/// Maps the gradient of an op's output to the gradients of its inputs (nil where an input does
/// not need one). Runs with no tape recording.
public typealias BackwardFunction = (_ gradOutput: Tensor) -> [Tensor?]

/// Maps the gradients of an op's outputs (nil for an output nothing downstream used) to the
/// gradients of its inputs. Runs with no tape recording.
public typealias MultiOutputBackwardFunction = (_ gradOutputs: [Tensor?]) -> [Tensor?]

/// One recorded op: one output with `backward`, or several with `multiBackward`.
final class TapeNode {
    let name: String
    let inputs: [Tensor]
    let output: Tensor
    let backward: BackwardFunction?
    let outputs: [Tensor]
    let multiBackward: MultiOutputBackwardFunction?
    init(name: String, inputs: [Tensor], output: Tensor, backward: @escaping BackwardFunction) {
        self.name = name; self.inputs = inputs; self.output = output; self.backward = backward
        outputs = []; multiBackward = nil
    }
    init(name: String, inputs: [Tensor], outputs: [Tensor], backward: @escaping MultiOutputBackwardFunction) {
        self.name = name; self.inputs = inputs; self.output = outputs[0]; self.backward = nil
        self.outputs = outputs; multiBackward = backward
    }
}

/// Reverse-mode autodiff by an explicit tape. Ops append nodes while a tape is current; the
/// tape's order is already topological, so backward walks it in reverse.
public final class Tape: @unchecked Sendable {
    var nodes: [TapeNode] = []

    public init() {}

    /// The tape ops record on; nil means no recording (no-grad).
    @TaskLocal public static var current: Tape?

    /// Runs `body` recording on this tape.
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        try Tape.$current.withValue(self, operation: body)
    }

    /// Number of recorded ops.
    public var count: Int { nodes.count }

    /// Drops every recorded op (and with them the saved activations).
    public func release() { nodes.removeAll(keepingCapacity: true) }

    /// Back-propagates from `output` (a scalar, or any shape when `gradient` is given) and adds
    /// the results into `.grad` of every leaf that requires a gradient. Releases the tape
    /// unless `retain` is set.
    public func backward(_ output: Tensor, gradient: Tensor? = nil, retain: Bool = false) {
        let seed: Tensor
        if let gradient {
            ensure(gradient.shape == output.shape, "backward: gradient shape \(gradient.shape) does not match output shape \(output.shape)")
            seed = gradient.contiguousNoGrad()
        } else {
            ensure(output.count == 1, "backward: output has shape \(output.shape); pass a gradient for non-scalar outputs")
            seed = Tensor.full(output.shape, 1)
        }
        Tape.$current.withValue(nil) {
            var grads: [ObjectIdentifier: Tensor] = [:]
            if output.isLeaf {
                if output.requiresGrad { accumulateLeaf(output, seed) }
                return
            }
            grads[ObjectIdentifier(output)] = seed
            var i = nodes.count - 1
            while i >= 0 {
                let node = nodes[i]
                i -= 1
                let inGrads: [Tensor?]
                if let multi = node.multiBackward {
                    // Every consumer of any output comes later on the tape, so all output
                    // gradients are complete here.
                    let gs = node.outputs.map { grads.removeValue(forKey: ObjectIdentifier($0)) }
                    guard gs.contains(where: { $0 != nil }) else { continue }
                    inGrads = multi(gs)
                } else {
                    guard let g = grads.removeValue(forKey: ObjectIdentifier(node.output)) else { continue }
                    inGrads = node.backward!(g)
                }
                ensure(inGrads.count == node.inputs.count, "backward of '\(node.name)' returned \(inGrads.count) gradients for \(node.inputs.count) inputs")
                for (input, ig) in zip(node.inputs, inGrads) {
                    guard input.requiresGrad, let ig else { continue }
                    ensure(ig.shape == input.shape, "backward of '\(node.name)' produced a gradient of shape \(ig.shape) for an input of shape \(input.shape)")
                    if input.isLeaf {
                        accumulateLeaf(input, ig)
                    } else {
                        let key = ObjectIdentifier(input)
                        if let prev = grads[key] { grads[key] = addNoGrad(prev, ig) } else { grads[key] = ig }
                    }
                }
            }
        }
        if !retain { release() }
    }

    private func accumulateLeaf(_ leaf: Tensor, _ g: Tensor) {
        if let prev = leaf.grad {
            if prev.isContiguous && prev.storage !== g.storage {
                addInPlace(prev, g)
            } else {
                leaf.grad = addNoGrad(prev, g)
            }
        } else {
            // Own a private contiguous copy so later in-place accumulation never writes into
            // a buffer another gradient shares.
            leaf.grad = g.clone()
        }
    }
}

extension Tensor {
    /// Back-propagates from this tensor on the tape that recorded it.
    public func backward(gradient: Tensor? = nil, retain: Bool = false) {
        guard let tape else {
            ensureFailed("backward: this tensor was not produced by a recorded op (is it a leaf, or computed outside Tape.record?)")
        }
        tape.backward(self, gradient: gradient, retain: retain)
    }
}

/// Records an op on the current tape when any input requires a gradient. Op authors call this
/// after computing `output` outside autodiff. A nil `backward` marks an op that has no
/// gradient: recording it with an input that requires one traps, so a missing backward can never
/// silently stop gradients.
@discardableResult
public func recordOp(_ name: String, inputs: [Tensor], output: Tensor, backward: BackwardFunction?) -> Tensor {
    guard let tape = Tape.current else { return output }
    var needs = false
    for t in inputs where t.requiresGrad { needs = true; break }
    guard needs else { return output }
    guard let backward else {
        ensureFailed("NeoTensor: op '\(name)' has no backward, but one of its inputs requires a gradient. Detach the input (tensor.detach()) or run the op under noGrad { }.")
    }
    output.requiresGrad = true
    output.isLeaf = false
    output.tape = tape
    tape.nodes.append(TapeNode(name: name, inputs: inputs, output: output, backward: backward))
    return output
}

/// Records an op with several outputs (each computed outside autodiff) when any input requires
/// a gradient. `backward` receives one gradient per output, nil for an output that no later op
/// used, and returns one per input (nil where not needed).
@discardableResult
public func recordOp(_ name: String, inputs: [Tensor], outputs: [Tensor], backward: @escaping MultiOutputBackwardFunction) -> [Tensor] {
    ensure(!outputs.isEmpty, "recordOp '\(name)': no outputs")
    guard let tape = Tape.current else { return outputs }
    var needs = false
    for t in inputs where t.requiresGrad { needs = true; break }
    guard needs else { return outputs }
    for output in outputs {
        output.requiresGrad = true
        output.isLeaf = false
        output.tape = tape
    }
    tape.nodes.append(TapeNode(name: name, inputs: inputs, outputs: outputs, backward: backward))
    return outputs
}

/// Runs `body` without recording: no op inside builds a graph.
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try Tape.$current.withValue(nil, operation: body)
}

/// True while ops are being recorded.
public var isRecording: Bool { Tape.current != nil }

/// Gradient checkpointing: runs `body` on `inputs` without keeping its activations; in backward
/// it runs `body` again on a private tape (with `generator`'s state restored so dropout masks
/// repeat) and back-propagates through it. Parameters captured by `body` receive their gradients.
public func checkpoint(_ inputs: [Tensor], generator: Generator? = nil, _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
    guard Tape.current != nil else { return body(inputs) }
    let savedRNG = generator?.state
    let out = noGrad { body(inputs) }
    let detachedOut = out.detach()
    return recordOp("checkpoint", inputs: inputs, output: detachedOut) { g in
        let afterState = generator?.state
        if let savedRNG { generator?.state = savedRNG }
        let leaves = inputs.map { $0.detach().requiringGrad($0.requiresGrad) }
        let inner = Tape()
        let y = inner.record { body(leaves) }
        if y.isLeaf {
            // body did not depend on anything that needs a gradient
        } else {
            inner.backward(y, gradient: g)
        }
        if let afterState { generator?.state = afterState }
        return leaves.map { $0.requiresGrad ? ($0.grad ?? Tensor.zeros($0.shape)) : nil }
    }
}
