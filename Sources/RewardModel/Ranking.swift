/// Rank statistics used by the offline evaluation.
public enum Ranking {
    /// Ranks 1…n with ties given their average rank.
    public static func averageRanks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] || (x[$0] == x[$1] && $0 < $1) }
        var ranks = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = r }
            i = j + 1
        }
        return ranks
    }

    /// Pearson correlation; nil when either side is constant or there are fewer than 2 values.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "Ranking.pearson: \(x.count) and \(y.count) values")
        guard x.count >= 2 else { return nil }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices {
            let a = x[i] - mx, b = y[i] - my
            sxy += a * b; sxx += a * a; syy += b * b
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman's ρ: the Pearson correlation of the average ranks. nil when a side is constant.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        pearson(averageRanks(x), averageRanks(y))
    }

    /// Area under the ROC curve for telling `positives` (which should score higher) from
    /// `negatives`: the probability that a random positive outscores a random negative, ties
    /// counting one half (the Mann–Whitney U statistic over |P|·|N|).
    public static func auroc(positives: [Double], negatives: [Double]) -> Double {
        precondition(!positives.isEmpty && !negatives.isEmpty, "Ranking.auroc: needs positives and negatives")
        let ranks = averageRanks(positives + negatives)
        let rankSum = ranks[0..<positives.count].reduce(0, +)
        let np = Double(positives.count), nn = Double(negatives.count)
        return (rankSum - np * (np + 1) / 2) / (np * nn)
    }

    /// Fraction of pairs where `preferred[i] > rejected[i]`, ties counting one half.
    public static func pairwiseAccuracy(preferred: [Double], rejected: [Double]) -> Double {
        precondition(preferred.count == rejected.count && !preferred.isEmpty, "Ranking.pairwiseAccuracy: \(preferred.count) and \(rejected.count) scores")
        var hits = 0.0
        for i in preferred.indices {
            if preferred[i] > rejected[i] { hits += 1 } else if preferred[i] == rejected[i] { hits += 0.5 }
        }
        return hits / Double(preferred.count)
    }
}
