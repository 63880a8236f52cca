import NeoTensor

/// y = x·Wᵀ + b over the last dimension; W is `[out, in]` as in PyTorch.
public final class Linear: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    /// Weights default to PyTorch's initialisation (U(±1/√in) for both weight and bias).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: Generator,
                weightInit: Initializer = .torchDefault, biasInit: Initializer? = nil) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(weightInit.make([outFeatures, inFeatures], generator: generator))
        self.bias = bias ? Parameter((biasInit ?? .torchBias(fanIn: inFeatures)).make([outFeatures], generator: generator)) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        ensure(x.shape.last == inFeatures, "Linear(\(inFeatures)→\(outFeatures)): input has shape \(x.shape)")
        return linear(x, weight: weight.value, bias: bias?.value)
    }
}

/// An embedding table `[count, dim]`, initialised N(0, 1) as in PyTorch.
public final class Embedding: Module {
    public let weight: Parameter
    public let count: Int
    public let dim: Int

    public init(_ count: Int, _ dim: Int, generator: Generator, initializer: Initializer = .normal(std: 1)) {
        self.count = count
        self.dim = dim
        weight = Parameter(initializer.make([count, dim], generator: generator))
    }

    /// Rows of the table for `indices`, shaped `shape + [dim]` (default `[indices.count, dim]`).
    public func callAsFunction(_ indices: [Int], shape: [Int]? = nil) -> Tensor {
        for i in indices { ensure(i >= 0 && i < count, "Embedding(\(count)×\(dim)): index \(i) out of range") }
        let rows = embedding(weight.value, indices)
        return rows.reshape((shape ?? [indices.count]) + [dim])
    }
}
