import Foundation

/// Errors from dataset shards, manifests and importers, each naming the file and the problem.
public struct DataError: Error, CustomStringConvertible, LocalizedError {
    public let file: String
    public let problem: String
    public init(file: String, _ problem: String) { self.file = file; self.problem = problem }
    public var description: String { "\(file): \(problem)" }
    public var errorDescription: String? { description }
}
