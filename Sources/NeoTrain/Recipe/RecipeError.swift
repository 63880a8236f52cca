/// A recipe problem, shown to the user as one line: `FILE: KEY.PATH: what was expected, got what`.
/// `source` is the recipe file, or `--set key=value` for an override.
public struct RecipeError: Error, CustomStringConvertible, Equatable, Sendable {
    public let source: String
    /// The dotted key path (`optim.lr`), `[section]`, or a `line L, column C` position; empty
    /// when the problem concerns the whole file.
    public let location: String
    public let message: String

    public init(source: String, location: String, message: String) {
        self.source = source
        self.location = location
        self.message = message
    }

    public var description: String {
        location.isEmpty ? "\(source): \(message)" : "\(source): \(location): \(message)"
    }
}

/// What a field rejected: what it expected and the value it got. The recipe decoder adds the
/// file and key path.
public struct FieldProblem: Error, Sendable {
    public let message: String
    public init(expected: String, got: RecipeValue) {
        message = "expected \(expected), got \(got.shownInMessage)"
    }
    public init(_ message: String) { self.message = message }
}
