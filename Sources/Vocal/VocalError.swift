/// Errors from VOCAL configuration and sampling, naming the setting and what was expected.
/// A setting's error carries its recipe section and key, so the recipe layer reports it under
/// the key without reading the message.
public struct VocalError: Error, CustomStringConvertible {
    /// Recipe section and key of the setting at fault (`model`, `heads`), when a setting is.
    public let section: String?
    public let key: String?
    /// What is wrong, without the key.
    public let message: String

    public init(_ problem: String) {
        section = nil
        key = nil
        message = problem
    }

    public init(section: String, key: String, _ message: String) {
        self.section = section
        self.key = key
        self.message = message
    }

    public var problem: String { key.map { "[\(section ?? "")] \($0): \(message)" } ?? message }
    public var description: String { problem }
}
