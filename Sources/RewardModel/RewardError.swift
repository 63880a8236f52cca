/// Errors from reward-model inputs and checkpoints, naming the input and what was expected.
public struct RewardError: Error, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
}
