import NeoTensor

extension Communicator {
    /// Replaces each tensor's values by their mean over all processes (bucketed, in place).
    /// Every rank passes tensors of the same shapes in the same order.
    public func allReduceAverage(_ tensors: [Tensor]) {
        guard usesMPI, size > 1 else { return }
        for t in tensors {
            precondition(t.isContiguous, "allReduceAverage: a tensor of shape \(t.shape) is not contiguous")
        }
        allReduceAverage(tensors.map { UnsafeMutableBufferPointer(start: $0.data, count: $0.count) })
    }

    /// Copies rank `root`'s values of each tensor into the others' (same shapes, same order).
    public func broadcast(_ tensors: [Tensor], root: Int = 0) {
        guard usesMPI, size > 1 else { return }
        for t in tensors {
            precondition(t.isContiguous, "broadcast: a tensor of shape \(t.shape) is not contiguous")
            broadcast(t.data, count: t.count, root: root)
        }
    }
}
