/// Errors from Kinetic-GRPO settings and inputs, naming the setting and what was expected.
public struct GRPOError: Error, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
}
