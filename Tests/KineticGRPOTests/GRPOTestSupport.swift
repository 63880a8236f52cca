import KineticGRPO
import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// A tiny VOCAL shape: every feature on, a forward costs well under a millisecond.
func tinyConfig(latentDim: Int = 4) -> VocalConfig {
    var c = VocalConfig()
    c.latentDim = latentDim
    c.width = 16
    c.depth = 1
    c.heads = 2
    c.mlpRatio = 2
    c.windowFrames = 6
    c.prefixFrames = 2
    c.emotionCount = 2
    c.identityDim = 4
    c.audioLayers = 2
    c.audioWidth = 6
    c.timestepDim = 8
    return c
}

/// A model whose zero-initialised parameters (adaLN gates, output layer) got small random
/// values, so its velocity depends on every input (a fresh VOCAL predicts v = 0).
func tinyPolicy(_ config: VocalConfig = tinyConfig(), seed: UInt64 = 1) -> VocalModel {
    let model = try! VocalModel(config: config, generator: Generator(seed: seed))
    let g = Generator(seed: seed &+ 1000)
    noGrad {
        for (_, p) in model.namedParameters() where p.value.toArray().allSatisfy({ $0 == 0 }) {
            p.assign(Tensor.normal(p.shape, std: 0.2, generator: g))
        }
    }
    return model
}

/// A copy of `model` with the same weights.
func copyOf(_ model: VocalModel) -> VocalModel {
    let other = try! VocalModel(config: model.config, generator: Generator(seed: 99))
    _ = try! other.load(stateDict: model.stateDict(copy: true), strict: true)
    return other
}

/// Clip `index` of a synthetic pool: audio features, identity clip, emotion and reference.
func tinyClip(_ config: VocalConfig, index: Int, frames: Int = 6) -> GRPOClip {
    let s = UInt64(500 + 10 * index)
    let conditions = VocalConditions(
        audio: randn([1, config.audioLayers, 2 * frames, config.audioWidth], seed: s),
        identity: randn([1, 3, config.latentDim], seed: s + 1),
        emotion: [index % config.emotionCount],
        reference: randn([1, config.latentDim], seed: s + 2))
    return GRPOClip(index: index, conditions: conditions)
}

func tinySettings(groupSize: Int = 4, steps: Int = 6, window: Range<Int> = 1..<4, kind: SDEKind = .flow,
                  noise: Double = 0.7) -> GRPOSettings {
    var s = GRPOSettings()
    s.groupSize = groupSize
    s.clipsPerIteration = 2
    s.steps = steps
    s.shift = 2
    s.noiseLevel = noise
    s.sdeKind = kind
    s.windowStart = window.lowerBound
    s.windowSize = window.count
    s.replayBatch = groupSize
    return s
}

func bitPatterns(_ t: Tensor) -> [UInt32] { t.contiguous().toArray().map(\.bitPattern) }
