import Foundation

/// Figures of one group of clips (all, one emotion, one identity).
public struct GroupStats: Codable, Sendable, Equatable {
    public var group: String
    public var clips: Int
    public var minutes: Double
    /// Mean over clips of the Pearson correlation between lip opening and the audio RMS envelope
    /// (both per 40 ms frame).
    public var lipEnergyCorrelation: Double
    /// Mean over clips of the lag (frames) that maximises that correlation; positive: the lips move first.
    public var lipLeadFrames: Double
    /// From the `blink` label (closure crossing 0.5); nil when the clips have no such label.
    public var blinksPerMinute: Double?
    /// From the `accent` label; nil when absent.
    public var accentsPerMinute: Double?
    /// Head pose in degrees: mean and standard deviation of pitch, standard deviations of yaw and roll.
    public var pitchMean: Double
    public var pitchStd: Double
    public var yawStd: Double
    public var rollStd: Double
    /// Mean absolute pose change, degrees per second.
    public var headSpeed: Double
    /// Standard deviation of the lip opening.
    public var lipOpeningStd: Double
    /// Mean brow height (keypoints 1–4, y) and mouth-corner height (19, 20, y): the synthetic
    /// performer's expression roles.
    public var browHeight: Double
    public var mouthCornerHeight: Double
}

/// `neo-train data stats DIR`: per emotion and identity, how motion depends on speech.
public struct DatasetStats: Codable, Sendable {
    public var folder: String
    public var clips: Int
    public var identities: Int
    public var minutes: Double
    public var overall: GroupStats
    public var byEmotion: [GroupStats]
    public var byIdentity: [GroupStats]

    /// Reads every clip of the dataset folder and computes the figures.
    public static func compute(folder: String) throws -> DatasetStats {
        let ds = try DatasetFolder(folder)
        var perClip: [(info: ClipInfo, m: ClipMeasures)] = []
        for shard in ds.shards {
            for info in shard.clips {
                let clip = try shard.read(info.id)
                perClip.append((info, ClipMeasures(clip)))
            }
        }
        func group(_ name: String, _ items: [ClipMeasures]) -> GroupStats { ClipMeasures.aggregate(name, items) }
        let all = perClip.map(\.m)
        let emotions = Set(perClip.map(\.info.emotion))
        let ordered = Emotion.allCases.map(\.rawValue).filter { emotions.contains($0) } + emotions.subtracting(Emotion.allCases.map(\.rawValue)).sorted()
        let byEmotion = ordered.map { e in group("emotion=\(e)", perClip.filter { $0.info.emotion == e }.map(\.m)) }
        let ids = Set(perClip.map(\.info.identity)).sorted()
        let byIdentity = ids.map { i in group("identity=\(i)", perClip.filter { $0.info.identity == i }.map(\.m)) }
        return DatasetStats(folder: folder, clips: perClip.count, identities: ids.count,
                            minutes: all.reduce(0) { $0 + $1.seconds } / 60, overall: group("all", all),
                            byEmotion: byEmotion, byIdentity: byIdentity)
    }

    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }

    /// A fixed-width text table.
    public func table() -> String {
        func f(_ v: Double, _ d: Int) -> String { String(format: "%.\(d)f", v) }
        func o(_ v: Double?, _ d: Int) -> String { v.map { f($0, d) } ?? "-" }
        let header = ["group", "clips", "min", "r(lip,energy)", "lead fr", "blinks/min", "accents/min",
                      "pitch mean", "pitch sd", "yaw sd", "roll sd", "head deg/s", "lip sd", "brow", "corner"]
        var rows: [[String]] = []
        for g in [overall] + byEmotion + byIdentity {
            rows.append([g.group, "\(g.clips)", f(g.minutes, 2), f(g.lipEnergyCorrelation, 3), f(g.lipLeadFrames, 2),
                         o(g.blinksPerMinute, 1), o(g.accentsPerMinute, 1), f(g.pitchMean, 2), f(g.pitchStd, 2),
                         f(g.yawStd, 2), f(g.rollStd, 2), f(g.headSpeed, 2), f(g.lipOpeningStd * 1000, 2),
                         f(g.browHeight * 1000, 2), f(g.mouthCornerHeight * 1000, 2)])
        }
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ")
        }
        var out = "dataset \(folder): \(clips) clips, \(identities) identities, \(f(minutes, 2)) minutes\n"
        out += "(lip sd, brow and corner in 1/1000 face units; pose in degrees; lead: frames the lips move before the sound)\n"
        out += line(header) + "\n"
        out += line(header.enumerated().map { String(repeating: "-", count: widths[$0.offset]) }) + "\n"
        for (i, r) in rows.enumerated() {
            if i == 1 || i == 1 + byEmotion.count { out += "\n" }
            out += line(r) + "\n"
        }
        return out
    }
}

/// Per-clip measurements behind the statistics.
public struct ClipMeasures: Sendable {
    public private(set) var seconds = 0.0
    /// Pearson r of lip opening with the RMS envelope, and the lag (frames) maximising it
    /// (positive: lips first).
    public private(set) var correlation = 0.0
    public private(set) var lead = 0.0
    /// Counts from the `blink` and `accent` labels (nil without them).
    public private(set) var blinks: Int?
    public private(set) var accents: Int?
    public private(set) var frames = 0
    /// Sums over frames for pooled moments: pose (degrees), lip opening, brow and corner height;
    /// `speedSum` sums |Δpose|·fps over frame transitions.
    public private(set) var pitchSum = 0.0, pitchSq = 0.0, yawSum = 0.0, yawSq = 0.0, rollSum = 0.0, rollSq = 0.0
    public private(set) var lipSum = 0.0, lipSq = 0.0, browSum = 0.0, cornerSum = 0.0, speedSum = 0.0

    public init(_ clip: Clip) {
        let T = clip.frames, D = clip.motionDim
        frames = T
        seconds = clip.duration
        let energy = SpeechAnalysis.frameEnergy(clip.audio, frames: T).map(Double.init)
        var lip = [Double](repeating: 0, count: T)
        let hasPose = D >= FaceKeypoint.dimension
        clip.motion.withUnsafeBufferPointer { m in
            for t in 0..<T {
                let fr = m.baseAddress! + t * D
                lip[t] = D >= 63 ? Double(FaceKeypoint.lipOpening(fr)) : 0
                lipSum += lip[t]; lipSq += lip[t] * lip[t]
                if D >= 63 {
                    browSum += Double(fr[4] + fr[7] + fr[10] + fr[13]) / 4
                    cornerSum += Double(fr[19 * 3 + 1] + fr[20 * 3 + 1]) / 2
                }
                if hasPose {
                    let p = Double(fr[67]), y = Double(fr[68]), r = Double(fr[69])
                    pitchSum += p; pitchSq += p * p; yawSum += y; yawSq += y * y; rollSum += r; rollSq += r * r
                    if t > 0 {
                        let q = fr - D
                        speedSum += (abs(p - Double(q[67])) + abs(y - Double(q[68])) + abs(r - Double(q[69]))) * Double(clip.fps)
                    }
                }
            }
        }
        correlation = ClipMeasures.pearson(lip, energy, lag: 0)
        var best = -2.0, bestLag = 0
        for lag in -5...5 {
            let c = ClipMeasures.pearson(lip, energy, lag: lag)
            if c > best { best = c; bestLag = lag }
        }
        lead = Double(bestLag)
        if let b = clip.labels["blink"]?.floatValues {
            var n = 0
            for t in 1..<max(1, b.count) where b[t] >= 0.5 && b[t - 1] < 0.5 { n += 1 }
            if let first = b.first, first >= 0.5 { n += 1 }
            blinks = n
        }
        if let a = clip.labels["accent"]?.floatValues { accents = a.filter { $0 > 0 }.count }
    }

    /// Pearson correlation of x[t] with y[t + lag] over the overlapping frames.
    public static func pearson(_ x: [Double], _ y: [Double], lag: Int) -> Double {
        let n = x.count
        let lo = max(0, -lag), hi = min(n, n - lag)
        guard hi - lo > 2 else { return 0 }
        var sx = 0.0, sy = 0.0
        for t in lo..<hi { sx += x[t]; sy += y[t + lag] }
        let mx = sx / Double(hi - lo), my = sy / Double(hi - lo)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for t in lo..<hi {
            let a = x[t] - mx, b = y[t + lag] - my
            sxy += a * b; sxx += a * a; syy += b * b
        }
        guard sxx > 0, syy > 0 else { return 0 }
        return sxy / (sxx * syy).squareRoot()
    }

    static func aggregate(_ name: String, _ items: [ClipMeasures]) -> GroupStats {
        let n = Double(max(1, items.count))
        let frames = Double(max(1, items.reduce(0) { $0 + $1.frames }))
        let minutes = items.reduce(0) { $0 + $1.seconds } / 60
        func sum(_ k: KeyPath<ClipMeasures, Double>) -> Double { items.reduce(0) { $0 + $1[keyPath: k] } }
        func sd(_ s: KeyPath<ClipMeasures, Double>, _ q: KeyPath<ClipMeasures, Double>) -> Double {
            let m = sum(s) / frames
            return max(0, sum(q) / frames - m * m).squareRoot()
        }
        let blinkItems = items.compactMap(\.blinks), accentItems = items.compactMap(\.accents)
        let transitions = Double(max(1, items.reduce(0) { $0 + max(0, $1.frames - 1) }))
        return GroupStats(
            group: name, clips: items.count, minutes: minutes,
            lipEnergyCorrelation: items.reduce(0) { $0 + $1.correlation } / n,
            lipLeadFrames: items.reduce(0) { $0 + $1.lead } / n,
            blinksPerMinute: blinkItems.count == items.count && minutes > 0 ? Double(blinkItems.reduce(0, +)) / minutes : nil,
            accentsPerMinute: accentItems.count == items.count && minutes > 0 ? Double(accentItems.reduce(0, +)) / minutes : nil,
            pitchMean: sum(\.pitchSum) / frames, pitchStd: sd(\.pitchSum, \.pitchSq),
            yawStd: sd(\.yawSum, \.yawSq), rollStd: sd(\.rollSum, \.rollSq),
            headSpeed: sum(\.speedSum) / transitions, lipOpeningStd: sd(\.lipSum, \.lipSq),
            browHeight: sum(\.browSum) / frames, mouthCornerHeight: sum(\.cornerSum) / frames)
    }
}
