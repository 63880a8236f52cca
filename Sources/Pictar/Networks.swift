import NeoTensor
import NeoNN

/// Normalised (x, y, z) coordinates of every voxel centre of a D×H×W volume [D, H, W, 3], the
/// grid `gridSample3d(alignCorners: false)` maps back onto the volume itself.
public func identityGrid3d(depth: Int, height: Int, width: Int) -> Tensor {
    var v = [Float](repeating: 0, count: depth * height * width * 3)
    var i = 0
    for d in 0..<depth {
        for h in 0..<height {
            for w in 0..<width {
                v[i] = Float(2 * w + 1) / Float(width) - 1
                v[i + 1] = Float(2 * h + 1) / Float(height) - 1
                v[i + 2] = Float(2 * d + 1) / Float(depth) - 1
                i += 3
            }
        }
    }
    return Tensor(v, shape: [depth, height, width, 3])
}

/// Appearance encoder F (the 3-D lift): image [N, 3, S, S] → a 3×3 conv block, `down_blocks`
/// stride-2 conv blocks, a 1×1 conv to C·D channels, reshaped to a volume [N, C, D, S', S']
/// (S' = S / 2^down_blocks), then 3-D residual blocks.
public final class AppearanceEncoder: Module {
    let stem: ConvNormReLU2d
    let down: [ConvNormReLU2d]
    let lift: Conv2d
    let blocks: [ResBlock3d]
    let volumeChannels: Int, volumeDepth: Int

    public init(_ config: PictarConfig, generator: Generator) {
        stem = ConvNormReLU2d(3, config.encoderChannels, generator: generator)
        var c = config.encoderChannels
        var down: [ConvNormReLU2d] = []
        for i in 0..<config.downBlocks {
            let w = config.encoderChannels << Swift.min(i + 1, 3)
            down.append(ConvNormReLU2d(c, w, stride: 2, generator: generator))
            c = w
        }
        self.down = down
        volumeChannels = config.volumeChannels; volumeDepth = config.volumeDepth
        lift = Conv2d(c, config.volumeChannels * config.volumeDepth, kernelSize: 1, generator: generator)
        blocks = (0..<config.volumeBlocks).map { _ in ResBlock3d(config.volumeChannels, generator: generator) }
    }

    public func callAsFunction(_ image: Tensor) -> Tensor {
        var h = stem(image)
        for b in down { h = b(h) }
        h = lift(h)
        var v = h.reshape([h.shape[0], volumeChannels, volumeDepth, h.shape[2], h.shape[3]])
        for b in blocks { v = b(v) }
        return v
    }
}

/// What the warping network produces for one batch.
public struct WarpResult {
    /// The appearance volume resampled along the dense flow [N, C, D, H, W].
    public let volume: Tensor
    /// Occlusion map in (0, 1) [N, 1, H, W]: where the decoder may trust the warped features.
    public let occlusion: Tensor
    /// Dense flow [N, D, H, W, 3]: for every output voxel the (x, y, z) it samples.
    public let flow: Tensor
    /// Soft assignment of every voxel of the predictor grid to the identity flow (channel 0) and
    /// the K keypoint flows [N, K+1, D, h, w].
    public let masks: Tensor
}

/// Warping network W (the motion deformation). Each keypoint k gives a flow that moves the
/// driving keypoint onto the source keypoint (p ↦ p − x_d,k + x_s,k); with the identity flow these
/// are K + 1 candidate flows. Differences of Gaussian heat maps around the driving and source
/// keypoints, together with the (compressed) volume warped by every candidate flow, feed a small
/// 3-D hourglass; its output gives a softmax over the candidates per voxel (the dense flow is the
/// mixture) and, flattened over depth, the occlusion map. The volume is then resampled with
/// trilinear grid sampling.
///
/// The predictor runs on a grid `warp_downsample` times coarser in H and W than the volume (the
/// CPU cost of the hourglass falls by its square); the mixture's displacement
/// Σ_k m_k·(x_s,k − x_d,k) is then upsampled trilinearly to the volume and added to the identity.
public final class WarpingNetwork: Module {
    let compress: Conv3d
    let hourglass: Hourglass3d
    /// Logits of the K + 1 flow masks. Zeroing it makes the masks uniform (tests use that).
    public let maskHead: Conv3d
    let occlusionHead: Conv2d
    let keypoints: Int, compressed: Int, depth: Int, size: Int, coarse: Int
    let variance: Float
    /// [1, 1, D·h·w, 3] coordinates of the predictor grid's voxel centres (constant).
    let coarseGrid: Tensor
    /// [1, D, H, W, 3] coordinates of the volume's voxel centres (constant).
    let fullGrid: Tensor

    public init(_ config: PictarConfig, generator: Generator) {
        keypoints = config.keypoints; compressed = config.warpCompressed
        depth = config.volumeDepth; size = config.volumeSize; coarse = config.volumeSize / config.warpDownsample
        variance = Float(config.keypointVariance)
        compress = Conv3d(config.volumeChannels, config.warpCompressed, kernelSize: 1, generator: generator)
        let inChannels = (config.keypoints + 1) * (config.warpCompressed + 1)
        hourglass = Hourglass3d(inChannels: inChannels, channels: config.warpChannels, levels: config.warpLevels, generator: generator)
        maskHead = Conv3d(hourglass.outChannels, config.keypoints + 1, kernelSize: 3, padding: 1, generator: generator)
        occlusionHead = Conv2d(hourglass.outChannels * config.volumeDepth, 1, kernelSize: 3, padding: 1, generator: generator)
        coarseGrid = identityGrid3d(depth: depth, height: coarse, width: coarse).reshape([1, 1, depth * coarse * coarse, 3])
        fullGrid = identityGrid3d(depth: depth, height: size, width: size).unsqueeze(0)
    }

    /// Gaussian heat maps exp(−|p − x_k|² / (2·variance)) of keypoints [N, K, 3] on the
    /// predictor grid → [N, K, D·h·w].
    func heatmaps(_ kp: Tensor) -> Tensor {
        let d = coarseGrid - kp.unsqueeze(2)
        return (d.square().sum(axes: [-1]) * (-0.5 / variance)).exp()
    }

    /// Warps `volume` [N, C, D, H, W] from the source keypoints to the driving keypoints (both [N, K, 3]).
    public func callAsFunction(_ volume: Tensor, source: Tensor, driving: Tensor) -> WarpResult {
        let n = volume.shape[0], k = keypoints, voxels = depth * coarse * coarse
        ensure(volume.rank == 5 && Array(volume.shape[2...]) == [depth, size, size],
               "WarpingNetwork: volume must be [N, C, \(depth), \(size), \(size)], got \(volume.shape)")
        ensure(source.shape == [n, k, 3] && driving.shape == [n, k, 3],
               "WarpingNetwork: keypoints must be [\(n), \(k), 3], got \(source.shape) and \(driving.shape)")
        let spatial = [depth, coarse, coarse]
        // Shifts of the K + 1 candidate flows [N, K+1, 3]: none for the identity, x_s − x_d per keypoint.
        let shifts = Tensor.concat([Tensor.zeros([n, 1, 3]), source - driving], dim: 1)
        let candidates = coarseGrid + shifts.unsqueeze(2)
        // Heat-map differences [N, K+1, D, h, w] with a zero map for the identity flow.
        let heat = Tensor.concat([Tensor.zeros([n, 1, voxels]), heatmaps(driving) - heatmaps(source)], dim: 1)
            .reshape([n, k + 1] + spatial)
        // The compressed volume warped by every candidate flow [N, (K+1)·compressed, D, h, w]:
        // one sampling pass whose output depth holds the K + 1 candidates one after another
        // (no copy of the volume per candidate).
        let deformed = gridSample3d(compress(volume), grid: candidates.reshape([n, (k + 1) * depth, coarse, coarse, 3]),
                                    alignCorners: false, padding: .zeros)
            .reshape([n, compressed, k + 1] + spatial).transpose(1, 2).reshape([n, (k + 1) * compressed] + spatial)
        let features = hourglass(Tensor.concat([heat, deformed], dim: 1))
        let masks = maskHead(features).softmax(dim: 1)
        // Displacement of the mixture [N, voxels, 3] = masksᵀ · shifts (one small GEMM per sample).
        var displacement = masks.reshape([n, k + 1, voxels]).transpose(1, 2).matmul(shifts).reshape([n] + spatial + [3])
        var occlusionLogits = occlusionHead(features.reshape([n, features.shape[1] * depth, coarse, coarse]))
        if coarse != size {
            // Trilinear upsampling: sample the coarse field at the volume's voxel centres.
            displacement = gridSample3d(displacement.permute([0, 4, 1, 2, 3]), grid: fullGrid.expand([n, depth, size, size, 3]),
                                        alignCorners: false, padding: .border).permute([0, 2, 3, 4, 1])
            occlusionLogits = upsampleNearest(occlusionLogits, factors: [size / coarse, size / coarse])
        }
        let flow = fullGrid + displacement
        let warped = gridSample3d(volume, grid: flow, alignCorners: false, padding: .zeros)
        return WarpResult(volume: warped, occlusion: occlusionLogits.sigmoid(), flow: flow, masks: masks)
    }
}

/// Decoder G (the translation): the warped volume flattened over depth to [N, C·D, H, W], a 3×3
/// conv, times the occlusion map; SPADE residual blocks conditioned on those features; then per
/// down block a 3×3 conv to 4× channels and a pixel shuffle (×2, channels halved); a 3×3 conv to
/// RGB through a sigmoid: [N, 3, S, S] in [0, 1].
public final class Decoder: Module {
    let input: Conv2d
    let blocks: [SPADEResBlock]
    let up: [Conv2d]
    let output: Conv2d

    public init(_ config: PictarConfig, generator: Generator) {
        let c = config.decoderChannels
        input = Conv2d(config.volumeChannels * config.volumeDepth, c, kernelSize: 3, padding: 1, generator: generator)
        blocks = (0..<config.spadeBlocks).map { _ in SPADEResBlock(c, condition: c, hidden: config.spadeHidden, generator: generator) }
        var ups: [Conv2d] = []
        var w = c
        for _ in 0..<config.downBlocks {
            let next = Swift.max(w / 2, 8)
            ups.append(Conv2d(w, 4 * next, kernelSize: 3, padding: 1, generator: generator))
            w = next
        }
        up = ups
        output = Conv2d(w, 3, kernelSize: 3, padding: 1, generator: generator)
    }

    public func callAsFunction(_ warp: WarpResult) -> Tensor {
        let v = warp.volume
        let features = input(v.reshape([v.shape[0], v.shape[1] * v.shape[2], v.shape[3], v.shape[4]])) * warp.occlusion
        var h = features
        for b in blocks { h = b(h, condition: features) }
        for conv in up { h = leakyReLU(pixelShuffle(conv(h), factor: 2)) }
        return output(h).sigmoid()
    }
}

/// PatchGAN discriminator: `disc_layers` 4×4 stride-2 convs (instance norm after the first) with
/// leaky ReLU, then a 4×4 conv to one logit per patch. Returns every layer's features (for
/// feature matching) and the logit map.
public final class Discriminator: Module {
    let layers: [Conv2d]
    public let head: Conv2d

    public init(_ config: PictarConfig, generator: Generator) {
        var layers: [Conv2d] = []
        var c = 3
        for i in 0..<config.discLayers {
            let w = config.discChannels << Swift.min(i, 3)
            // Layers followed by instance norm need no bias.
            layers.append(Conv2d(c, w, kernelSize: 4, stride: 2, padding: 1, bias: i == 0, generator: generator))
            c = w
        }
        self.layers = layers
        head = Conv2d(c, 1, kernelSize: 4, stride: 1, padding: 1, generator: generator)
    }

    public func callAsFunction(_ image: Tensor) -> (features: [Tensor], logits: Tensor) {
        var features: [Tensor] = []
        var h = image
        for (i, conv) in layers.enumerated() {
            h = conv(h)
            h = leakyReLU(i == 0 ? h : instanceNorm(h))
            features.append(h)
        }
        return (features, head(h))
    }
}
