/// Errors from VOCAL configuration and sampling, naming the setting and what was expected.
public struct VocalError: Error, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
}
