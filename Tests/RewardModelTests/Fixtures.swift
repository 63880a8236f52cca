import Foundation
import NeoTensor
import RewardModel

/// Small synthetic clips shared by the tests.
enum Fixtures {
    static let corpusSettings: SyntheticCorpusSettings = {
        var s = SyntheticCorpusSettings()
        s.identities = 6
        s.languages = 2
        s.clipsPerPair = 1
        s.clipFrames = 120
        s.audioLayers = 3
        s.audioWidth = 8
        s.seed = 5
        return s
    }()

    static let clips = SyntheticTalker.corpus(corpusSettings)
    static let statistics = MotionStatistics.estimate(clips)

    /// A 40-frame window of clip `i` starting at frame 20, with 12 frames of context each side.
    static func window(_ i: Int = 0, start: Int = 20, length: Int = 40) -> PerformanceWindow {
        clips[i].window(start: start, length: length, margin: 12)!
    }

    static func tinyConfig(audioLayers: Int = 3, audioWidth: Int = 8) -> RewardModelConfig {
        RewardModelConfig(motionDim: 70, audioLayers: audioLayers, audioWidth: audioWidth, width: 16, depth: 1, heads: 2,
                          mlpRatio: 2, syncLags: 4, syncWidth: 4)
    }

    // Simple measures of motion `[T, D]`.

    static func std(_ m: [Float], frames t: Int, dim d: Int, dims: Range<Int>) -> Double {
        var total = 0.0
        for j in dims {
            var mean = 0.0
            for f in 0..<t { mean += Double(m[f * d + j]) }
            mean /= Double(t)
            for f in 0..<t { total += pow(Double(m[f * d + j]) - mean, 2) }
        }
        return (total / Double(t * dims.count)).squareRoot()
    }

    /// Mean squared second difference in time (high-frequency energy), each dimension in units
    /// of its standard deviation.
    static func roughness(_ m: [Float], frames t: Int, dim d: Int) -> Double {
        var s = 0.0
        for f in 1..<(t - 1) {
            for j in 0..<d {
                let v = (Double(m[(f + 1) * d + j]) - 2 * Double(m[f * d + j]) + Double(m[(f - 1) * d + j])) / Double(statistics.std[j])
                s += v * v
            }
        }
        return s / Double((t - 2) * d)
    }

    static func meanAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(a.count)
    }

    /// Frames equal to the frame before.
    static func repeatedFrames(_ m: [Float], frames t: Int, dim d: Int) -> Int {
        (1..<t).filter { f in (0..<d).allSatisfy { m[f * d + $0] == m[(f - 1) * d + $0] } }.count
    }
}
