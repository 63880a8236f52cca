import Foundation
import TOMLKit

/// A TOML value copied out of TOMLKit into plain Swift, so that recipes can be inspected,
/// overridden and rendered without touching the C++ parser's nodes again.
public indirect enum RecipeValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([RecipeValue])
    /// Key order is the order TOMLKit reports (sorted); rendering uses the schema's order.
    case table([(String, RecipeValue)])
    /// TOML dates and times; recipes never use them, so they are kept as text for messages.
    case other(String)

    public static func == (a: RecipeValue, b: RecipeValue) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.integer(x), .integer(y)): return x == y
        case let (.float(x), .float(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.bool(x), .bool(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.table(x), .table(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.other(x), .other(y)): return x == y
        default: return false
        }
    }

    /// The value as TOML source text (inline form for tables).
    public var tomlText: String {
        switch self {
        case .string(let s): return RecipeValue.quoted(s)
        case .integer(let i): return String(i)
        case .float(let d):
            if d.isNaN { return "nan" }
            if d.isInfinite { return d < 0 ? "-inf" : "inf" }
            // Swift prints the shortest text that reads back to the same Double; TOML needs a
            // fraction or an exponent to keep it a float.
            let s = "\(d)"
            return s.contains(".") || s.contains("e") ? s : s + ".0"
        case .bool(let b): return b ? "true" : "false"
        case .array(let xs): return "[" + xs.map(\.tomlText).joined(separator: ", ") + "]"
        case .table(let kv):
            return "{ " + kv.map { "\(RecipeValue.bareOrQuotedKey($0.0)) = \($0.1.tomlText)" }.joined(separator: ", ") + " }"
        case .other(let s): return s
        }
    }

    /// How a value is shown in an error message: the TOML text, prefixed by its kind where the
    /// text alone would be ambiguous.
    public var shownInMessage: String {
        switch self {
        case .string(let s): return "the string \(RecipeValue.quoted(s))"
        case .table: return "a table"
        case .array(let xs) where xs.isEmpty: return "an empty array"
        default: return tomlText
        }
    }

    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    out += String(format: "\\u%04X", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func bareOrQuotedKey(_ k: String) -> String {
        let bare = !k.isEmpty && k.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        return bare ? k : quoted(k)
    }

    subscript(key: String) -> RecipeValue? {
        guard case .table(let kv) = self else { return nil }
        return kv.first { $0.0 == key }?.1
    }
}

/// Parsing TOML text into a `RecipeValue` table.
enum RecipeTOML {
    /// Parses a whole document. Errors carry the parser's line and column.
    static func parse(_ text: String, source: String) throws(RecipeError) -> [(String, RecipeValue)] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            let p = e.source.begin
            let what = e.description.trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "\n", with: " ")
            throw RecipeError(source: source, location: "line \(p.line), column \(p.column)",
                              message: "malformed TOML: \(what)")
        } catch {
            throw RecipeError(source: source, location: "", message: "malformed TOML: \(error)")
        }
        guard case .table(let kv) = convert(table) else { return [] }
        return kv
    }

    /// Parses the right-hand side of `--set key=value` as a TOML value. Text that is not a TOML
    /// value (e.g. `run.name=baseline`) is taken as a bare string, which the field then checks.
    static func parseValue(_ text: String) -> RecipeValue {
        if let t = try? TOMLTable(string: "v = " + text), let v = t["v"] {
            return convert(v)
        }
        return .string(text)
    }

    static func convert(_ v: TOMLValueConvertible) -> RecipeValue {
        switch v.type {
        case .string: return .string(v.string ?? "")
        case .int: return .integer(v.int ?? 0)
        case .double: return .float(v.double ?? .nan)
        case .bool: return .bool(v.bool ?? false)
        case .array:
            guard let a = v.array else { return .array([]) }
            return .array(a.map { convert($0) })
        case .table:
            guard let t = v.table else { return .table([]) }
            return .table(t.keys.compactMap { k in t[k].map { (k, convert($0)) } })
        case .date, .time, .dateTime:
            return .other(v.debugDescription)
        }
    }
}

extension RecipeValue {
    /// A TOML value from its text, as `--set` reads it (text that is not TOML is a string).
    public static func parse(_ text: String) -> RecipeValue { RecipeTOML.parseValue(text) }
}
