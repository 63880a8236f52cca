/// Errors from Kinetic-GRPO settings and inputs, naming the setting and what was expected. An
/// error about a setting carries its `[grpo]` key, so the recipe layer reports it under the key
/// without reading the message.
public struct GRPOError: Error, CustomStringConvertible {
    /// The `[grpo]` key of the setting at fault, when a setting is.
    public let key: String?
    /// What is wrong, without the key.
    public let message: String

    public init(_ problem: String) {
        key = nil
        message = problem
    }

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var problem: String { key.map { "[grpo] \($0): \(message)" } ?? message }
    public var description: String { problem }
}
