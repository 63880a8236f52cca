/// Errors from reading or processing audio, each naming the file and the problem.
public struct AudioError: Error, CustomStringConvertible {
    public let file: String
    public let problem: String
    public init(file: String, _ problem: String) { self.file = file; self.problem = problem }
    public var description: String { "\(file): \(problem)" }
}
