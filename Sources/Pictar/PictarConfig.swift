/// Shape and loss weights of a Pictar renderer. Each field names the recipe key it is read from
/// (section `[model]`; the `weight_*` and prior settings in `[loss]`). Defaults are the `small`
/// size (128 px, trainable on a two-core CPU).
public struct PictarConfig: Sendable, Equatable, Codable {
    // MARK: Sizes

    /// `image_size`: side of the square RGB images (a multiple of 2^down_blocks · 4).
    public var imageSize = 128
    /// `encoder_channels`: channels of the appearance encoder's first 2-D conv; each down block
    /// doubles them (up to 8×).
    public var encoderChannels = 32
    /// `down_blocks`: stride-2 blocks of the appearance encoder; the volume is
    /// image_size / 2^down_blocks on a side, and the decoder upsamples as many times.
    public var downBlocks = 2
    /// `volume_channels`: feature channels C of the 3-D appearance volume.
    public var volumeChannels = 16
    /// `volume_depth`: depth D of the 3-D appearance volume.
    public var volumeDepth = 8
    /// `volume_blocks`: 3-D residual blocks applied to the lifted volume.
    public var volumeBlocks = 2
    /// `motion_channels`: channels of the motion encoder's first conv (doubling per stage, up to 8×).
    public var motionChannels = 32
    /// `keypoints`: implicit 3-D keypoints K (21 in VOCAL's 70-number motion layout).
    public var keypoints = 21
    /// `pose_bins`: bins of the pose classifier per angle; bin i is centred on
    /// (i + 0.5 − pose_bins / 2) · pose_bin_degrees.
    public var poseBins = 66
    /// `pose_bin_degrees`: width of one pose bin in degrees.
    public var poseBinDegrees = 3.0
    /// `keypoint_variance`: variance of the Gaussian heat maps around each keypoint, in the
    /// normalised [−1, 1] volume coordinates.
    public var keypointVariance = 0.01
    /// `warp_compressed`: channels the volume is compressed to before the per-keypoint warps
    /// feed the hourglass.
    public var warpCompressed = 4
    /// `warp_channels`: channels of the warping hourglass's first level (doubling per level).
    public var warpChannels = 16
    /// `warp_levels`: down/up levels of the 3-D hourglass (each halves H and W, not D).
    public var warpLevels = 2
    /// `warp_downsample`: how many times coarser (in H and W) than the volume the flow predictor
    /// runs; its displacement is upsampled trilinearly (1 = the volume's own grid).
    public var warpDownsample = 2
    /// `decoder_channels`: channels of the decoder's SPADE residual blocks.
    public var decoderChannels = 48
    /// `spade_blocks`: SPADE residual blocks of the decoder.
    public var spadeBlocks = 2
    /// `spade_hidden`: hidden channels of each SPADE modulation branch.
    public var spadeHidden = 16
    /// `disc_channels`: channels of the PatchGAN discriminator's first layer (doubling per layer).
    public var discChannels = 32
    /// `disc_layers`: stride-2 layers of the discriminator.
    public var discLayers = 3

    // MARK: Losses

    /// `weight_l1`: L1 between the rendered and the driving frame.
    public var weightL1 = 10.0
    /// `weight_ssim`: 1 − multi-scale SSIM.
    public var weightSSIM = 1.0
    /// `ssim_scales`: scales of the multi-scale SSIM (each halves the image).
    public var ssimScales = 3
    /// `weight_gradient`: L1 between the images' horizontal and vertical differences.
    public var weightGradient = 5.0
    /// `weight_gan`: hinge adversarial loss of the generator (0 turns the discriminator off).
    public var weightGAN = 1.0
    /// `weight_feature_matching`: L1 between discriminator features of real and rendered frames.
    public var weightFeatureMatching = 10.0
    /// `weight_equivariance`: keypoints of a randomly transformed frame, mapped back, against the
    /// frame's keypoints.
    public var weightEquivariance = 10.0
    /// `weight_separation`: keypoint-separation prior (pairs closer than separation_distance).
    public var weightSeparation = 10.0
    /// `separation_distance`: squared distance below which two keypoints are pushed apart.
    public var separationDistance = 0.1
    /// `weight_deformation`: deformation prior, L1 of the expression offsets δ.
    public var weightDeformation = 5.0
    /// `weight_motion`: motion loss against ground-truth motion where the batch has it.
    public var weightMotion = 1.0
    /// `equivariance_shift`, `equivariance_rotation`, `equivariance_scale`: ranges of the random
    /// 2-D similarity transform of the equivariance loss (normalised units, degrees, ±fraction).
    public var equivarianceShift = 0.1
    public var equivarianceRotation = 10.0
    public var equivarianceScale = 0.1

    public init() {}

    /// 64 px, for tests: builds and trains a step in well under a second.
    public static var tiny: PictarConfig {
        var c = PictarConfig()
        c.imageSize = 64; c.encoderChannels = 8; c.downBlocks = 2; c.volumeChannels = 4; c.volumeDepth = 4
        c.volumeBlocks = 1; c.motionChannels = 8; c.warpChannels = 8; c.warpLevels = 2; c.warpCompressed = 2
        c.decoderChannels = 16; c.spadeBlocks = 1; c.spadeHidden = 8; c.discChannels = 8; c.discLayers = 2
        c.ssimScales = 2
        return c
    }

    /// 128 px on a CPU (the defaults).
    public static var small: PictarConfig { PictarConfig() }

    /// 256 px, for a user with real data and more compute.
    public static var base: PictarConfig {
        var c = PictarConfig()
        c.imageSize = 256; c.encoderChannels = 64; c.downBlocks = 3; c.volumeChannels = 32; c.volumeDepth = 16
        c.volumeBlocks = 4; c.motionChannels = 64; c.warpChannels = 64; c.warpLevels = 3; c.warpCompressed = 4; c.warpDownsample = 1
        c.decoderChannels = 128; c.spadeBlocks = 4; c.spadeHidden = 64; c.discChannels = 64; c.discLayers = 4
        return c
    }

    /// Numbers per motion frame: 3·keypoints expression offsets, scale, translation (3), pitch,
    /// yaw and roll (70 for 21 keypoints).
    public var motionWidth: Int { 3 * keypoints + 7 }
    /// Side of the volume (and of the decoder's first feature map).
    public var volumeSize: Int { imageSize >> downBlocks }

    /// Problems with this configuration, one line each (empty when it is usable).
    public func problems() -> [String] {
        var out: [String] = []
        func positive(_ v: Int, _ key: String) { if v < 1 { out.append("\(key) must be at least 1, got \(v)") } }
        positive(encoderChannels, "encoder_channels"); positive(volumeChannels, "volume_channels")
        positive(volumeDepth, "volume_depth"); positive(motionChannels, "motion_channels")
        positive(keypoints, "keypoints"); positive(poseBins, "pose_bins"); positive(warpCompressed, "warp_compressed")
        positive(warpChannels, "warp_channels"); positive(decoderChannels, "decoder_channels")
        positive(spadeHidden, "spade_hidden"); positive(discChannels, "disc_channels"); positive(ssimScales, "ssim_scales")
        if downBlocks < 1 { out.append("down_blocks must be at least 1, got \(downBlocks)") }
        if volumeBlocks < 0 || spadeBlocks < 0 || warpLevels < 0 || discLayers < 1 {
            out.append("volume_blocks, spade_blocks and warp_levels must be ≥ 0 and disc_layers ≥ 1")
        }
        let unit = (1 << Swift.max(downBlocks, 0)) * 4
        if imageSize < unit || imageSize % unit != 0 {
            out.append("image_size \(imageSize) must be a positive multiple of \(unit) (4 · 2^down_blocks)")
        } else if warpDownsample < 1 || volumeSize % (warpDownsample << Swift.max(warpLevels, 0)) != 0 {
            out.append("the volume side \(volumeSize) must be divisible by warp_downsample · 2^warp_levels = \(warpDownsample) · \(1 << Swift.max(warpLevels, 0))")
        }
        if !(poseBinDegrees > 0) { out.append("pose_bin_degrees must be positive, got \(poseBinDegrees)") }
        if !(keypointVariance > 0) { out.append("keypoint_variance must be positive, got \(keypointVariance)") }
        return out
    }
}
