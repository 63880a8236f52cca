import Foundation
import NeoTensor

/// What the offline evaluation measures and how.
public struct EvaluationSettings: Sendable, Equatable, Codable {
    /// Strengths called low, medium and high.
    public var low: Float = 0.25
    public var medium: Float = 0.5
    public var high: Float = 0.75
    /// Strengths over which Spearman(score, strength) is computed (0 is the ground truth).
    public var monotonicityStrengths: [Float] = [0, 0.25, 0.5, 0.75, 1]
    public var degradations: [Degradation] = Degradation.allCases
    public var degradation = DegradationSettings()
    /// Seed of the degradations' random draws.
    public var seed = 0
    /// Windows per forward pass.
    public var batchSize = 64
    public init() {}

    var levels: [Float] { [low, medium, high] }
}

/// A named set of held-out windows (e.g. held-out identities).
public struct EvaluationSubset: Sendable {
    public var name: String
    public var windows: [PerformanceWindow]
    public init(name: String, windows: [PerformanceWindow]) {
        self.name = name
        self.windows = windows
    }
}

/// The offline evaluation report (layout documented in docs/reward-report.md). Every number is
/// rounded to 6 decimals; the same model, data and settings give the same report byte for byte.
public struct RewardReport: Codable, Equatable, Sendable {
    public var format = "neo-train/reward-report"
    public var version = 1
    public var checkpoint: String
    public var step: Int
    public var data: String
    public var model: ModelInfo
    public var settings: Settings
    public var subsets: [SubsetReport]

    public struct ModelInfo: Codable, Equatable, Sendable {
        public var parameters: Int
        public var width: Int
        public var depth: Int
        public var audioLayerWeights: [Double]
    }

    public struct Settings: Codable, Equatable, Sendable {
        public var windowFrames: Int
        public var levels: Levels
        public var monotonicityStrengths: [Double]
        public var seed: Int
        public var degradation: DegradationSettings
    }

    public struct Levels: Codable, Equatable, Sendable {
        public var low: Double
        public var medium: Double
        public var high: Double
    }

    /// One number per score head.
    public struct Heads: Codable, Equatable, Sendable {
        public var overall: Double
        public var naturalness: Double
        public var expressionRange: Double
        public var audioAlignment: Double

        init(_ v: [Double]) {
            overall = v[0]; naturalness = v[1]; expressionRange = v[2]; audioAlignment = v[3]
        }
        public var values: [Double] { [overall, naturalness, expressionRange, audioAlignment] }
    }

    public struct DegradationReport: Codable, Equatable, Sendable {
        public var name: String
        /// The aspect head whose pairs this degradation trains.
        public var aspect: String
        /// Overall head: fraction of windows whose ground truth outscores the degraded copy.
        public var accuracy: Levels
        /// Overall head: AUROC of ground truth against the degraded copies at all three levels.
        public var auroc: Double
        /// Overall head: mean over windows of Spearman's ρ between strength and −score over
        /// `monotonicity_strengths` (1: the score falls with every step of strength).
        public var spearman: Double
        /// The same ρ over all windows' (strength, −score) pairs pooled.
        public var spearmanPooled: Double
        /// Each head's pairwise accuracy at medium strength.
        public var headAccuracy: Heads
        /// Each head's mean score drop at medium strength over the spread (standard deviation)
        /// of that head's scores in the subset: how strongly the head reacts.
        public var headEffect: Heads
        /// The aspect head with the largest effect.
        public var mostSensitiveAspect: String
    }

    public struct AspectReport: Codable, Equatable, Sendable {
        public var aspect: String
        /// The degradations whose pairs train this head.
        public var degradations: [String]
        /// This head's pairwise accuracy at medium strength, mean and minimum over them.
        public var accuracy: Double
        public var minimumAccuracy: Double
        /// Own degradations for which another aspect head reacts more strongly.
        public var notMostSensitiveFor: [String]
    }

    public struct SubsetReport: Codable, Equatable, Sendable {
        public var name: String
        public var clips: Int
        public var windows: Int
        public var identities: [String]
        public var languages: [String]
        /// Overall head: ground truth against every degraded copy at the three levels.
        public var auroc: Double
        public var minimumMediumAccuracy: Double
        public var minimumSpearman: Double
        public var degradations: [DegradationReport]
        public var aspects: [AspectReport]
    }

    /// Pretty-printed JSON with sorted keys and snake_case names.
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        var d = try e.encode(self)
        d.append(0x0A)
        return d
    }

    public static func decode(_ data: Data) throws -> RewardReport {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(RewardReport.self, from: data)
    }

    /// The printed table: one block per subset, one row per degradation.
    public func table() -> String {
        func f(_ x: Double, _ width: Int = 6) -> String {
            let s = String(format: "%.3f", x)
            return String(repeating: " ", count: max(0, width - s.count)) + s
        }
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        var out = "reward evaluation of \(checkpoint) (step \(step)) on \(data)\n"
        out += "strengths low/medium/high = \(settings.levels.low)/\(settings.levels.medium)/\(settings.levels.high); "
        out += "Spearman over \(settings.monotonicityStrengths); window \(settings.windowFrames) frames\n"
        for s in subsets {
            out += "\n\(s.name): \(s.windows) windows from \(s.clips) clips; identities \(s.identities.joined(separator: " ")); languages \(s.languages.joined(separator: " "))\n"
            out += pad("degradation", 23) + pad("aspect", 17) + "   low    med   high  AUROC  Spear" + "   nat    exp    ali  most sensitive\n"
            for d in s.degradations {
                out += pad(d.name, 23) + pad(d.aspect, 17)
                out += f(d.accuracy.low) + " " + f(d.accuracy.medium) + " " + f(d.accuracy.high) + " " + f(d.auroc) + " " + f(d.spearman)
                out += " " + f(d.headAccuracy.naturalness) + " " + f(d.headAccuracy.expressionRange) + " " + f(d.headAccuracy.audioAlignment)
                out += "  " + d.mostSensitiveAspect + (d.mostSensitiveAspect == d.aspect ? "" : "  (!)") + "\n"
            }
            out += "AUROC real vs degraded \(f(s.auroc, 0)); min accuracy at medium \(f(s.minimumMediumAccuracy, 0)); min Spearman \(f(s.minimumSpearman, 0))\n"
            for a in s.aspects {
                out += "  \(pad(a.aspect, 17)) on own degradations: accuracy \(f(a.accuracy, 0)) (min \(f(a.minimumAccuracy, 0)))"
                out += a.notMostSensitiveFor.isEmpty ? "; most sensitive head for all\n" : "; not the most sensitive for \(a.notMostSensitiveFor.joined(separator: ", "))\n"
            }
        }
        out += "\n(accuracy columns: overall head, ground truth vs degraded; nat/exp/ali: aspect heads' accuracy at medium)\n"
        return out
    }
}

public enum RewardEvaluation {
    /// Scores every window of each subset as it is and degraded by every degradation at every
    /// strength of `settings`, then summarises (see `RewardReport`). Deterministic: window i's
    /// draws for degradation k come from a generator derived from (seed, i, k), the same at every
    /// strength; the donor of swapped audio is the window half the subset away (the next one of
    /// another clip from there).
    public static func evaluate(model: RewardTransformer, subsets: [EvaluationSubset], settings: EvaluationSettings,
                                checkpoint: String, step: Int, data: String) throws -> RewardReport {
        let nonEmpty = subsets.filter { !$0.windows.isEmpty }
        guard !nonEmpty.isEmpty else {
            throw RewardError("evaluation data holds no windows in any held-out subset (\(subsets.map(\.name).joined(separator: ", ")))")
        }
        let statistics = model.statistics
        let frames = nonEmpty[0].windows[0].frames
        var reports: [RewardReport.SubsetReport] = []
        for subset in nonEmpty {
            for w in subset.windows {
                guard w.motionDim == model.config.motionDim else {
                    throw RewardError("clip \(w.clipID): motion has \(w.motionDim) numbers per frame; the reward model expects \(model.config.motionDim)")
                }
                guard w.audioLayers == model.config.audioLayers, w.audioWidth == model.config.audioWidth else {
                    throw RewardError("clip \(w.clipID): audio features have \(w.audioLayers) layers of width \(w.audioWidth); the reward model expects \(model.config.audioLayers) of width \(model.config.audioWidth)")
                }
            }
            reports.append(evaluate(model: model, subset: subset, statistics: statistics, settings: settings))
        }
        let r6 = { (x: Float) in round6(Double(x)) }
        return RewardReport(
            checkpoint: checkpoint, step: step, data: data,
            model: .init(parameters: model.trainableParameterCount, width: model.config.width, depth: model.config.depth,
                         audioLayerWeights: model.layerWeights.map(r6)),
            settings: .init(windowFrames: frames, levels: .init(low: r6(settings.low), medium: r6(settings.medium), high: r6(settings.high)),
                            monotonicityStrengths: settings.monotonicityStrengths.map(r6), seed: settings.seed,
                            degradation: settings.degradation),
            subsets: reports)
    }

    static func round6(_ x: Double) -> Double { x.isFinite ? (x * 1e6).rounded() / 1e6 : 0 }

    static func evaluate(model: RewardTransformer, subset: EvaluationSubset, statistics: MotionStatistics,
                         settings: EvaluationSettings) -> RewardReport.SubsetReport {
        let windows = subset.windows
        let n = windows.count
        let strengths = Array(Set(settings.levels + settings.monotonicityStrengths.filter { $0 > 0 })).sorted()
        let donors = (0..<n).map { i -> Int in
            var j = (i + n / 2) % n
            for _ in 0..<n where windows[j].clipID == windows[i].clipID { j = (j + 1) % n }
            return j
        }
        // Every window to score: the originals, then per degradation and strength the copies.
        var batch = windows.map { $0.with(motion: $0.motion) }
        for (k, deg) in settings.degradations.enumerated() {
            for s in strengths {
                for i in 0..<n {
                    let g = Generator(seed: UInt64(settings.seed)).derived(UInt64(i), UInt64(k))
                    batch.append(deg.apply(to: windows[i], strength: s, generator: g, statistics: statistics,
                                           settings: settings.degradation, donor: windows[donors[i]]))
                }
            }
        }
        let scores = model.score(batch, batchSize: settings.batchSize).map { $0.map(Double.init) }
        func scoresOf(_ k: Int, _ s: Float) -> ArraySlice<[Double]> {
            let base = n + (k * strengths.count + strengths.firstIndex(of: s)!) * n
            return scores[base..<(base + n)]
        }
        func scoreAt(_ k: Int, _ s: Float, _ i: Int) -> [Double] { scoresOf(k, s).dropFirst(i).first! }
        let real = Array(scores[0..<n])
        // Spread of each head over everything scored here.
        let spread = (0..<4).map { h -> Double in
            let v = scores.map { $0[h] }
            let m = v.reduce(0, +) / Double(v.count)
            return max((v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot(), 1e-12)
        }

        var degradationReports: [RewardReport.DegradationReport] = []
        var allDegraded: [Double] = []
        for (k, deg) in settings.degradations.enumerated() {
            let acc = settings.levels.map { s in
                Ranking.pairwiseAccuracy(preferred: real.map { $0[0] }, rejected: scoresOf(k, s).map { $0[0] })
            }
            let degradedAtLevels = settings.levels.flatMap { s in scoresOf(k, s).map { $0[0] } }
            allDegraded += degradedAtLevels
            let auroc = Ranking.auroc(positives: real.map { $0[0] }, negatives: degradedAtLevels)
            var perWindow: [Double] = []
            var pooledX: [Double] = [], pooledY: [Double] = []
            for i in 0..<n {
                var x: [Double] = [], y: [Double] = []
                for s in settings.monotonicityStrengths {
                    x.append(Double(s))
                    y.append(-(s == 0 ? real[i][0] : scoreAt(k, s, i)[0]))
                }
                perWindow.append(Ranking.spearman(x, y) ?? 0)
                pooledX += x; pooledY += y
            }
            let medium = Array(scoresOf(k, settings.medium))
            let headAcc = (0..<4).map { h in
                Ranking.pairwiseAccuracy(preferred: real.map { $0[h] }, rejected: medium.map { $0[h] })
            }
            let headEffect = (0..<4).map { h -> Double in
                var drop = 0.0
                for i in 0..<n { drop += real[i][h] - medium[i][h] }
                return drop / Double(n) / spread[h]
            }
            let best = Aspect.allCases.max { headEffect[$0.column] < headEffect[$1.column] }!
            degradationReports.append(.init(
                name: deg.rawValue, aspect: deg.aspect.rawValue,
                accuracy: .init(low: round6(acc[0]), medium: round6(acc[1]), high: round6(acc[2])),
                auroc: round6(auroc),
                spearman: round6(perWindow.reduce(0, +) / Double(n)),
                spearmanPooled: round6(Ranking.spearman(pooledX, pooledY) ?? 0),
                headAccuracy: .init(headAcc.map(round6)), headEffect: .init(headEffect.map(round6)),
                mostSensitiveAspect: best.rawValue))
        }
        let aspectReports = Aspect.allCases.compactMap { a -> RewardReport.AspectReport? in
            let own = degradationReports.filter { $0.aspect == a.rawValue }
            guard !own.isEmpty else { return nil }
            let accs = own.map { $0.headAccuracy.values[a.column] }
            return .init(aspect: a.rawValue, degradations: own.map(\.name),
                         accuracy: round6(accs.reduce(0, +) / Double(accs.count)), minimumAccuracy: accs.min()!,
                         notMostSensitiveFor: own.filter { $0.mostSensitiveAspect != a.rawValue }.map(\.name))
        }
        return .init(name: subset.name, clips: Set(windows.map(\.clipID)).count, windows: n,
                     identities: Array(Set(windows.map(\.identity))).sorted(),
                     languages: Array(Set(windows.map(\.language))).sorted(),
                     auroc: round6(Ranking.auroc(positives: real.map { $0[0] }, negatives: allDegraded)),
                     minimumMediumAccuracy: degradationReports.map(\.accuracy.medium).min() ?? 0,
                     minimumSpearman: degradationReports.map(\.spearman).min() ?? 0,
                     degradations: degradationReports, aspects: aspectReports)
    }
}
