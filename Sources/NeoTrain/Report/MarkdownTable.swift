import Foundation
import NeoTensor

/// A GitHub-flavoured Markdown table. Numbers are printed with a fixed number of digits after
/// the point (the table's `precision` unless the cell gives its own) and columns holding only
/// numbers are right-aligned; cells are padded so the source lines up too.
public struct MarkdownTable: Sendable {
    public enum Cell: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
        case text(String)
        case number(Double, precision: Int? = nil)
        case integer(Int)
        /// An empty measurement, printed as "—".
        case missing

        public init(stringLiteral value: String) { self = .text(value) }
        public init(integerLiteral value: Int) { self = .integer(value) }
        public init(floatLiteral value: Double) { self = .number(value) }

        /// A number, or `.missing` for nil.
        public static func value(_ v: Double?, precision: Int? = nil) -> Cell { v.map { .number($0, precision: precision) } ?? .missing }
        public static func value(_ v: Float?, precision: Int? = nil) -> Cell { value(v.map(Double.init), precision: precision) }

        var isNumeric: Bool {
            switch self {
            case .text: return false
            case .number, .integer, .missing: return true
            }
        }
    }

    public var header: [String]
    public var precision: Int
    public private(set) var rows: [[Cell]] = []

    public init(header: [String], precision: Int = 3) {
        self.header = header
        self.precision = precision
    }

    /// One row; it must have one cell per header column.
    public mutating func addRow(_ cells: [Cell]) {
        ensure(cells.count == header.count, "MarkdownTable row has \(cells.count) cells for \(header.count) columns")
        rows.append(cells)
    }

    func render(_ cell: Cell) -> String {
        switch cell {
        case .text(let s):
            return s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
        case .number(let v, let p):
            return ChartFormat.fixed(v, p ?? precision)
        case .integer(let i):
            return String(i)
        case .missing:
            return "—"
        }
    }

    public var markdown: String {
        let cols = header.count
        let texts = rows.map { $0.map(render) }
        let head = header.map { render(.text($0)) }
        // Right-aligned: a column with at least one number and nothing but numbers or gaps.
        let right = (0..<cols).map { c in
            rows.contains { if case .missing = $0[c] { return false } else { return $0[c].isNumeric } }
                && rows.allSatisfy { $0[c].isNumeric }
        }
        let widths = (0..<cols).map { c in Swift.max(3, ([head[c]] + texts.map { $0[c] }).map(\.count).max() ?? 0) }
        func pad(_ s: String, _ c: Int) -> String {
            let fill = String(repeating: " ", count: widths[c] - s.count)
            return right[c] ? fill + s : s + fill
        }
        func line(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |\n" }
        var out = line((0..<cols).map { pad(head[$0], $0) })
        out += line((0..<cols).map { right[$0] ? String(repeating: "-", count: widths[$0] - 1) + ":" : String(repeating: "-", count: widths[$0]) })
        for row in texts { out += line((0..<cols).map { pad(row[$0], $0) }) }
        return out
    }
}
