import Foundation

/// A result that `--json` prints: pretty, with sorted keys (stable diffs between runs), and
/// non-finite numbers as the strings "inf", "-inf" and "nan" instead of an encoding error.
public protocol JSONReport: Encodable {}

extension JSONReport {
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
