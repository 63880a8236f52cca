import NeoNN
import NeoTensor
import NeoTestSupport
import Vocal
import XCTest

/// A small configuration for tests: every feature on, sizes tiny.
func testConfig(depth: Int = 2) -> VocalConfig {
    var c = VocalConfig()
    c.latentDim = 8
    c.width = 32
    c.depth = depth
    c.heads = 4
    c.mlpRatio = 2
    c.windowFrames = 6
    c.prefixFrames = 3
    c.emotionCount = 6
    c.identityDim = 8
    c.audioLayers = 3
    c.audioWidth = 12
    c.timestepDim = 16
    return c
}

func makeModel(_ config: VocalConfig = testConfig(), seed: UInt64 = 1) -> VocalModel {
    try! VocalModel(config: config, generator: Generator(seed: seed))
}

/// Conditions with every input present: B samples, N frames, identity clip of R frames.
func makeConditions(_ config: VocalConfig, batch b: Int = 2, frames n: Int = 6, referenceFrames r: Int = 5,
                    prefix k: Int? = nil, seed: UInt64 = 100) -> VocalConditions {
    let kk = k ?? config.prefixFrames
    let d = config.latentDim
    return VocalConditions(
        audio: randn([b, config.audioLayers, 2 * n, config.audioWidth], seed: seed),
        identity: randn([b, r, d], seed: seed + 1),
        emotion: (0..<b).map { $0 % config.emotionCount },
        reference: randn([b, d], seed: seed + 2),
        prefix: kk > 0 ? randn([b, kk, d], seed: seed + 3) : nil)
}

/// Gives the zero-initialised parameters (adaLN modulations, output layer) small random values,
/// so that every block and the output depend on everything (at initialisation the zero gates
/// make each block the identity and the zero output layer predicts 0 whatever the inputs).
func nudgeZeroInitialised(_ model: Module, seed: UInt64 = 9, std: Float = 0.1) {
    let g = Generator(seed: seed)
    noGrad {
        for (_, p) in model.namedParameters() where p.value.toArray().allSatisfy({ $0 == 0 }) {
            p.assign(Tensor.normal(p.shape, std: std, generator: g))
        }
    }
}

func bits(_ t: Tensor) -> [UInt32] { t.contiguous().toArray().map(\.bitPattern) }
