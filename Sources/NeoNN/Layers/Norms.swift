import NeoTensor

/// Layer normalisation over the last dimension: (x − mean)/√(var + eps), then ·weight + bias
/// when `affine` (weight 1, bias 0 initially; `bias: false` keeps only the weight).
public final class LayerNorm: Module, UnaryLayer {
    public let weight: Parameter?
    public let bias: Parameter?
    public let dim: Int
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true, bias: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(Tensor.ones([dim])) : nil
        self.bias = affine && bias ? Parameter(Tensor.zeros([dim])) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        ensure(x.shape.last == dim, "LayerNorm(\(dim)): input has shape \(x.shape)")
        return layerNorm(x, weight: weight?.value, bias: bias?.value, eps: eps)
    }
}

/// RMS normalisation over the last dimension: x/√(mean(x²) + eps) · weight (weight 1 initially;
/// none when not `affine`).
public final class RMSNorm: Module, UnaryLayer {
    public let weight: Parameter?
    public let dim: Int
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-6, affine: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(Tensor.ones([dim])) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        ensure(x.shape.last == dim, "RMSNorm(\(dim)): input has shape \(x.shape)")
        return rmsNorm(x, weight: weight?.value, eps: eps)
    }
}
