import Foundation
import TOMLKit

/// The few recipe values an exporter needs that no parameter shape holds, read from the
/// checkpoint's recipe text (the trainers own the full recipe schema).
struct RecipeTable {
    let root: TOMLTable?
    let source: String

    /// An empty recipe text gives no values (the defaults apply).
    init(text: String, source: String) throws {
        self.source = source
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { root = nil; return }
        do { root = try TOMLTable(string: text) } catch {
            throw ExportError("\(source): the recipe stored in the checkpoint is not valid TOML: \(error)")
        }
    }

    private func value(_ section: String, _ key: String) -> TOMLValueConvertible? {
        root?[section]?.table?[key]
    }

    func int(_ section: String, _ key: String) throws -> Int? {
        guard let v = value(section, key) else { return nil }
        guard let i = v.int else { throw ExportError("\(source): recipe [\(section)] \(key): expected an integer") }
        return i
    }

    func double(_ section: String, _ key: String) throws -> Double? {
        guard let v = value(section, key) else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        throw ExportError("\(source): recipe [\(section)] \(key): expected a number")
    }

    func bool(_ section: String, _ key: String) throws -> Bool? {
        guard let v = value(section, key) else { return nil }
        guard let b = v.bool else { throw ExportError("\(source): recipe [\(section)] \(key): expected true or false") }
        return b
    }
}
