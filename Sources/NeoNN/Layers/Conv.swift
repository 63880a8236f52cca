import NeoTensor

/// Weight and bias of a convolution, initialised as PyTorch does (Kaiming uniform a = √5 on the
/// weight, U(±1/√fan_in) on the bias, fan_in from the weight's dim 1 and kernel).
private func makeConvParameters(_ weightShape: [Int], outChannels: Int, bias: Bool, generator: Generator,
                                weightInit: Initializer?) -> (Parameter, Parameter?) {
    let w = Parameter((weightInit ?? .torchDefault).make(weightShape, generator: generator))
    let b = bias ? Parameter(Initializer.torchBias(fanIn: Initializer.fans(weightShape).fanIn).make([outChannels], generator: generator)) : nil
    return (w, b)
}

private func checkChannels(_ name: String, _ inChannels: Int, _ outChannels: Int, _ groups: Int) {
    ensure(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
                 "\(name): groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
}

/// 1-D convolution on `[N, C, L]`; weight `[out, in/groups, k]`.
public final class Conv1d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int, padding: Int, dilation: Int, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: Generator, weightInit: Initializer? = nil) {
        checkChannels("Conv1d", inChannels, outChannels, groups)
        (weight, self.bias) = makeConvParameters([outChannels, inChannels / groups, kernelSize], outChannels: outChannels,
                                                 bias: bias, generator: generator, weightInit: weightInit)
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv1d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 2-D convolution on `[N, C, H, W]`; weight `[out, in/groups, kH, kW]`.
public final class Conv2d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: [Int], padding: [Int], dilation: [Int], groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                dilation: [Int] = [1, 1], groups: Int = 1, bias: Bool = true, generator: Generator, weightInit: Initializer? = nil) {
        ensure(kernelSize.count == 2 && stride.count == 2 && padding.count == 2 && dilation.count == 2,
                     "Conv2d: kernelSize, stride, padding and dilation need 2 numbers each")
        checkChannels("Conv2d", inChannels, outChannels, groups)
        (weight, self.bias) = makeConvParameters([outChannels, inChannels / groups] + kernelSize, outChannels: outChannels,
                                                 bias: bias, generator: generator, weightInit: weightInit)
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    /// Square kernel, same stride and padding in both dims.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            groups: Int = 1, bias: Bool = true, generator: Generator) {
        self.init(inChannels, outChannels, kernelSize: [kernelSize, kernelSize], stride: [stride, stride],
                  padding: [padding, padding], groups: groups, bias: bias, generator: generator)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 3-D convolution on `[N, C, D, H, W]`; weight `[out, in/groups, kD, kH, kW]`.
public final class Conv3d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: [Int], padding: [Int], dilation: [Int], groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0],
                dilation: [Int] = [1, 1, 1], groups: Int = 1, bias: Bool = true, generator: Generator, weightInit: Initializer? = nil) {
        ensure(kernelSize.count == 3 && stride.count == 3 && padding.count == 3 && dilation.count == 3,
                     "Conv3d: kernelSize, stride, padding and dilation need 3 numbers each")
        checkChannels("Conv3d", inChannels, outChannels, groups)
        (weight, self.bias) = makeConvParameters([outChannels, inChannels / groups] + kernelSize, outChannels: outChannels,
                                                 bias: bias, generator: generator, weightInit: weightInit)
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
    }

    /// Cubic kernel, same stride and padding in all dims.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            groups: Int = 1, bias: Bool = true, generator: Generator) {
        self.init(inChannels, outChannels, kernelSize: [kernelSize, kernelSize, kernelSize], stride: [stride, stride, stride],
                  padding: [padding, padding, padding], groups: groups, bias: bias, generator: generator)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv3d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution on `[N, C, H, W]`; weight `[in, out/groups, kH, kW]` (PyTorch
/// layout); output size (H−1)·s − 2p + d·(k−1) + outputPadding + 1.
public final class ConvTranspose2d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: [Int], padding: [Int], outputPadding: [Int], dilation: [Int], groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0],
                outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1, bias: Bool = true,
                generator: Generator, weightInit: Initializer? = nil) {
        ensure(kernelSize.count == 2 && stride.count == 2 && padding.count == 2 && outputPadding.count == 2 && dilation.count == 2,
                     "ConvTranspose2d: kernelSize, stride, padding, outputPadding and dilation need 2 numbers each")
        checkChannels("ConvTranspose2d", inChannels, outChannels, groups)
        (weight, self.bias) = makeConvParameters([inChannels, outChannels / groups] + kernelSize, outChannels: outChannels,
                                                 bias: bias, generator: generator, weightInit: weightInit)
        self.stride = stride; self.padding = padding; self.outputPadding = outputPadding
        self.dilation = dilation; self.groups = groups
    }

    /// Square kernel, same stride and padding in both dims.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, bias: Bool = true, generator: Generator) {
        self.init(inChannels, outChannels, kernelSize: [kernelSize, kernelSize], stride: [stride, stride],
                  padding: [padding, padding], outputPadding: [outputPadding, outputPadding], bias: bias, generator: generator)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
                        outputPadding: outputPadding, dilation: dilation, groups: groups)
    }
}
