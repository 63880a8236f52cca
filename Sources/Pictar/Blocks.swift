import NeoTensor
import NeoNN

/// Leaky ReLU with slope 0.2, the decoders' and discriminators' usual choice.
func leakyReLU(_ x: Tensor) -> Tensor { leakyReLU(x, slope: 0.2) }

/// 3×3 conv (stride 1 or 2, padding 1) → instance norm → ReLU. The conv has no bias: the
/// norm would remove it (its gradient is zero).
final class ConvNormReLU2d: Module {
    let conv: Conv2d
    init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: Generator) {
        conv = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, generator: generator)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { instanceNorm(conv(x)).relu() }
}

/// 3-D conv (no bias, as above) → instance norm → ReLU; `stride` [1, 2, 2] halves H and W only.
final class ConvNormReLU3d: Module {
    let conv: Conv3d
    init(_ inChannels: Int, _ outChannels: Int, stride: [Int] = [1, 1, 1], generator: Generator) {
        conv = Conv3d(inChannels, outChannels, kernelSize: [3, 3, 3], stride: stride, padding: [1, 1, 1], bias: false, generator: generator)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { instanceNorm(conv(x)).relu() }
}

/// Pre-activation 3-D residual block: x + conv(relu(norm(conv(relu(norm(x)))))) (the first conv
/// without bias: the norm after it would remove it).
final class ResBlock3d: Module {
    let conv1: Conv3d, conv2: Conv3d
    init(_ channels: Int, generator: Generator) {
        conv1 = Conv3d(channels, channels, kernelSize: 3, padding: 1, bias: false, generator: generator)
        conv2 = Conv3d(channels, channels, kernelSize: 3, padding: 1, generator: generator)
    }
    func callAsFunction(_ x: Tensor) -> Tensor {
        x + conv2(instanceNorm(conv1(instanceNorm(x).relu())).relu())
    }
}

/// Spatially adaptive normalisation: the parameter-free instance norm of x, scaled by 1 + γ and
/// shifted by β, where γ and β are predicted per pixel from a conditioning map of x's size.
final class SPADE: Module {
    let shared: Conv2d
    let gammaBeta: Conv2d
    let channels: Int
    init(_ channels: Int, condition: Int, hidden: Int, generator: Generator) {
        self.channels = channels
        shared = Conv2d(condition, hidden, kernelSize: 3, padding: 1, generator: generator)
        // γ and β from one conv with 2·channels outputs (one GEMM instead of two).
        gammaBeta = Conv2d(hidden, 2 * channels, kernelSize: 3, padding: 1, generator: generator)
    }
    func callAsFunction(_ x: Tensor, condition: Tensor) -> Tensor {
        let gb = gammaBeta(shared(condition).relu()).split([channels, channels], dim: 1)
        return instanceNorm(x) * (gb[0] + 1) + gb[1]
    }
}

/// SPADE residual block: x + conv(lrelu(SPADE(conv(lrelu(SPADE(x)))))), channels unchanged (the
/// inner conv without bias: the second SPADE's norm would remove it).
final class SPADEResBlock: Module {
    let norm0: SPADE, conv0: Conv2d, norm1: SPADE, conv1: Conv2d
    init(_ channels: Int, condition: Int, hidden: Int, generator: Generator) {
        norm0 = SPADE(channels, condition: condition, hidden: hidden, generator: generator)
        conv0 = Conv2d(channels, channels, kernelSize: 3, padding: 1, bias: false, generator: generator)
        norm1 = SPADE(channels, condition: condition, hidden: hidden, generator: generator)
        conv1 = Conv2d(channels, channels, kernelSize: 3, padding: 1, generator: generator)
    }
    func callAsFunction(_ x: Tensor, condition: Tensor) -> Tensor {
        let dx = conv0(leakyReLU(norm0(x, condition: condition)))
        return x + conv1(leakyReLU(norm1(dx, condition: condition)))
    }
}

/// A small 3-D U-Net: `levels` stride-(1, 2, 2) encoder blocks, then as many nearest (1, 2, 2)
/// upsamplings each followed by a conv block and a skip concatenation. D is never reduced (the
/// volume is shallow). Output: `outChannels` channels at the input's size.
final class Hourglass3d: Module {
    let down: [ConvNormReLU3d]
    let up: [ConvNormReLU3d]
    let outChannels: Int

    init(inChannels: Int, channels: Int, levels: Int, generator: Generator) {
        // Channels of level i's output (level 0 is the input resolution's first block).
        let widths = (0..<levels).map { channels << Swift.min($0, 3) }
        var downs: [ConvNormReLU3d] = []
        var c = inChannels
        for w in widths {
            downs.append(ConvNormReLU3d(c, w, stride: [1, 2, 2], generator: generator))
            c = w
        }
        // Decoder: level i goes from the deeper features (with their skip) to widths[i − 1]
        // (channels at the top).
        var ups: [ConvNormReLU3d] = []
        for i in stride(from: levels - 1, through: 0, by: -1) {
            let target = i > 0 ? widths[i - 1] : channels
            ups.append(ConvNormReLU3d(c, target, generator: generator))
            c = i > 0 ? target + widths[i - 1] : target
        }
        down = downs; up = ups
        outChannels = levels > 0 ? channels : inChannels
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var skips: [Tensor] = []
        var h = x
        for block in down { h = block(h); skips.append(h) }
        skips.removeLast()
        for block in up {
            h = block(upsampleNearest(h, factors: [1, 2, 2]))
            if let s = skips.popLast() { h = Tensor.concat([h, s], dim: 1) }
        }
        return h
    }
}
