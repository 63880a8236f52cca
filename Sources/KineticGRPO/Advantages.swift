/// Group-relative advantages of one clip's candidates.
public struct GroupAdvantages: Sendable, Equatable {
    /// A_j = clip((r_j − mean)/(std + 1e-4), −c, c); all zero for a dropped group.
    public let values: [Float]
    /// Mean and population standard deviation of the group's rewards.
    public let mean: Double
    public let std: Double
    /// The rewards have no spread (all equal): the group carries no signal and is not trained.
    public let dropped: Bool

    /// Advantages of `rewards` (one group) with the clip range [−clip, clip]; statistics in Double.
    public init(rewards: [Float], clip: Double = 5, epsilon: Double = 1e-4) {
        let n = Double(rewards.count)
        let mean = rewards.isEmpty ? 0 : rewards.reduce(0.0) { $0 + Double($1) } / n
        let variance = rewards.isEmpty ? 0 : rewards.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let std = variance.squareRoot()
        self.mean = mean
        self.std = std
        let spread = (rewards.max() ?? 0) - (rewards.min() ?? 0)
        dropped = rewards.count < 2 || !(spread > 0)
        values = dropped ? Array(repeating: 0, count: rewards.count)
            : rewards.map { Float(Swift.min(clip, Swift.max(-clip, (Double($0) - mean) / (std + epsilon)))) }
    }
}
