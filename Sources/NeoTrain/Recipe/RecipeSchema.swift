import KineticGRPO
import Vocal

/// One TOML table of a recipe (`[optim]`, `[train]`, …) as a typed Swift struct. A section lists
/// its keys once, as `fields`; decoding, defaults, unknown-key errors, range checks and
/// rendering all come from that list, so a new section is a struct plus its field list:
///
/// ```swift
/// public struct RewardSection: RecipeSection {
///     public static let name = "reward"
///     public var margin = 0.5
///     public var heads = 4
///     public init() {}
///     public static var fields: [RecipeField<Self>] {[
///         .number("margin", \.margin, .nonNegative, "hinge margin"),
///         .integer("heads", \.heads, .atLeast(1), "scoring heads"),
///     ]}
/// }
/// ```
public protocol RecipeSection: Sendable {
    /// The TOML table name.
    static var name: String { get }
    /// One line shown by documentation and `unknown section` errors.
    static var summary: String { get }
    static var fields: [RecipeField<Self>] { get }
    /// The defaults.
    init()
    /// Checks that involve several keys of this section. Throw `FieldProblem`s through
    /// `RecipeSectionCheck` to name the key.
    func check() throws(RecipeSectionCheck)
}

extension RecipeSection {
    public static var summary: String { "" }
    public func check() throws(RecipeSectionCheck) {}
}

/// A problem found by `RecipeSection.check()`: the key (within the section) and the message.
public struct RecipeSectionCheck: Error, Sendable {
    public let key: String
    public let message: String
    public init(key: String, _ message: String) { self.key = key; self.message = message }
}

extension RecipeSectionCheck {
    /// A VOCAL setting's error, under the key it carries.
    public init(_ e: VocalError) { self.init(key: e.key ?? "", e.message) }
    /// A GRPO setting's error, under the key it carries.
    public init(_ e: GRPOError) { self.init(key: e.key ?? "", e.message) }
}

/// A numeric range check with the words used in error messages.
public struct NumberRule: Sendable {
    public let describe: String
    public let accepts: @Sendable (Double) -> Bool

    public init(_ describe: String, _ accepts: @escaping @Sendable (Double) -> Bool) {
        self.describe = describe
        self.accepts = accepts
    }

    public static let any = NumberRule("a number") { $0.isFinite }
    public static let positive = NumberRule("a positive number") { $0.isFinite && $0 > 0 }
    public static let nonNegative = NumberRule("a number ≥ 0") { $0.isFinite && $0 >= 0 }
    /// [0, 1): decay rates, momenta, betas.
    public static let unitHalfOpen = NumberRule("a number in [0, 1)") { $0 >= 0 && $0 < 1 }
    /// [0, 1]: probabilities, ratios.
    public static let unitClosed = NumberRule("a number in [0, 1]") { $0 >= 0 && $0 <= 1 }
    public static func range(_ r: ClosedRange<Double>) -> NumberRule {
        NumberRule("a number in [\(r.lowerBound), \(r.upperBound)]") { r.contains($0) }
    }
}

/// An integer range check with the words used in error messages.
public struct IntegerRule: Sendable {
    public let describe: String
    public let accepts: @Sendable (Int) -> Bool

    public init(_ describe: String, _ accepts: @escaping @Sendable (Int) -> Bool) {
        self.describe = describe
        self.accepts = accepts
    }

    public static let any = IntegerRule("an integer") { _ in true }
    public static func atLeast(_ n: Int) -> IntegerRule {
        IntegerRule(n == 0 ? "an integer ≥ 0" : "an integer ≥ \(n)") { $0 >= n }
    }
    public static func range(_ r: ClosedRange<Int>) -> IntegerRule {
        IntegerRule("an integer in [\(r.lowerBound), \(r.upperBound)]") { r.contains($0) }
    }
}

/// One key of a section: how to read it from TOML into the struct, how to write it back, and
/// whether the recipe must give it.
public struct RecipeField<Section>: Sendable {
    public let key: String
    public let doc: String
    public let required: Bool
    /// What the key accepts, in the words of error messages (`a positive number`).
    public let expected: String
    let read: @Sendable (inout Section, RecipeValue) throws(FieldProblem) -> Void
    let write: @Sendable (Section) -> RecipeValue

    public init(key: String, doc: String, required: Bool = false, expected: String,
                read: @escaping @Sendable (inout Section, RecipeValue) throws(FieldProblem) -> Void,
                write: @escaping @Sendable (Section) -> RecipeValue) {
        self.key = key
        self.doc = doc
        self.required = required
        self.expected = expected
        self.read = read
        self.write = write
    }

    /// A floating-point key (TOML integers are accepted too: `lr = 1`).
    public static func number(_ key: String, _ path: WritableKeyPath<Section, Double> & Sendable,
                              _ rule: NumberRule = .any, _ doc: String = "", required: Bool = false) -> Self {
        Self(key: key, doc: doc, required: required, expected: rule.describe,
             read: { s, v throws(FieldProblem) in
                 let d = try readNumber(v, rule)
                 s[keyPath: path] = d
             },
             write: { .float($0[keyPath: path]) })
    }

    /// A floating-point key bound to a `Float` setting; rendered with the float's shortest
    /// digits (`0.15`, not the double nearest to the float).
    public static func number(_ key: String, _ path: WritableKeyPath<Section, Float> & Sendable,
                              _ rule: NumberRule = .any, _ doc: String = "", required: Bool = false) -> Self {
        Self(key: key, doc: doc, required: required, expected: rule.describe,
             read: { s, v throws(FieldProblem) in
                 let d = try readNumber(v, rule)
                 s[keyPath: path] = Float(d)
             },
             write: { s in
                 let f = s[keyPath: path]
                 return .float(Double("\(f)") ?? Double(f))
             })
    }

    public static func integer(_ key: String, _ path: WritableKeyPath<Section, Int> & Sendable,
                               _ rule: IntegerRule = .any, _ doc: String = "", required: Bool = false) -> Self {
        Self(key: key, doc: doc, required: required, expected: rule.describe,
             read: { s, v throws(FieldProblem) in
                 guard case .integer(let i) = v, rule.accepts(i) else {
                     throw FieldProblem(expected: rule.describe, got: v)
                 }
                 s[keyPath: path] = i
             },
             write: { .integer($0[keyPath: path]) })
    }

    public static func flag(_ key: String, _ path: WritableKeyPath<Section, Bool> & Sendable,
                            _ doc: String = "", required: Bool = false) -> Self {
        Self(key: key, doc: doc, required: required, expected: "true or false",
             read: { s, v throws(FieldProblem) in
                 guard case .bool(let b) = v else { throw FieldProblem(expected: "true or false", got: v) }
                 s[keyPath: path] = b
             },
             write: { .bool($0[keyPath: path]) })
    }

    public static func text(_ key: String, _ path: WritableKeyPath<Section, String> & Sendable,
                            nonEmpty: Bool = false, _ doc: String = "", required: Bool = false) -> Self {
        let expected = nonEmpty ? "a non-empty string" : "a string"
        return Self(key: key, doc: doc, required: required, expected: expected,
                    read: { s, v throws(FieldProblem) in
                        guard case .string(let t) = v, !(nonEmpty && t.isEmpty) else {
                            throw FieldProblem(expected: expected, got: v)
                        }
                        s[keyPath: path] = t
                    },
                    write: { .string($0[keyPath: path]) })
    }

    /// A string from a fixed set, stored as a `String`-backed enum.
    public static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ path: WritableKeyPath<Section, E> & Sendable, _ doc: String = "", required: Bool = false
    ) -> Self where E.RawValue == String {
        let expected = "one of " + E.allCases.map { RecipeValue.quoted($0.rawValue) }.joined(separator: ", ")
        return Self(key: key, doc: doc, required: required, expected: expected,
                    read: { s, v throws(FieldProblem) in
                        guard case .string(let t) = v, let e = E(rawValue: t) else {
                            throw FieldProblem(expected: expected, got: v)
                        }
                        s[keyPath: path] = e
                    },
                    write: { .string($0[keyPath: path].rawValue) })
    }

    /// An array of numbers, of exactly `count` elements when given.
    public static func numbers(_ key: String, _ path: WritableKeyPath<Section, [Double]> & Sendable,
                               count: Int? = nil, _ rule: NumberRule = .any, _ doc: String = "",
                               required: Bool = false) -> Self {
        let expected = "an array of " + (count.map { "\($0) " } ?? "") + "numbers, each " + rule.describe
        return Self(key: key, doc: doc, required: required, expected: expected,
                    read: { s, v throws(FieldProblem) in
                        guard case .array(let xs) = v, count == nil || xs.count == count else {
                            throw FieldProblem(expected: expected, got: v)
                        }
                        var out: [Double] = []
                        for x in xs {
                            guard let d = try? readNumber(x, rule) else { throw FieldProblem(expected: expected, got: v) }
                            out.append(d)
                        }
                        s[keyPath: path] = out
                    },
                    write: { .array($0[keyPath: path].map { .float($0) }) })
    }

    /// An array of integers (e.g. layer widths), non-empty.
    public static func integers(_ key: String, _ path: WritableKeyPath<Section, [Int]> & Sendable,
                                _ rule: IntegerRule = .any, _ doc: String = "", required: Bool = false) -> Self {
        let expected = "a non-empty array of integers, each " + rule.describe
        return Self(key: key, doc: doc, required: required, expected: expected,
                    read: { s, v throws(FieldProblem) in
                        guard case .array(let xs) = v, !xs.isEmpty else { throw FieldProblem(expected: expected, got: v) }
                        var out: [Int] = []
                        for x in xs {
                            guard case .integer(let i) = x, rule.accepts(i) else {
                                throw FieldProblem(expected: expected, got: v)
                            }
                            out.append(i)
                        }
                        s[keyPath: path] = out
                    },
                    write: { .array($0[keyPath: path].map { .integer($0) }) })
    }
}

private func readNumber(_ v: RecipeValue, _ rule: NumberRule) throws(FieldProblem) -> Double {
    let d: Double
    switch v {
    case .float(let x): d = x
    case .integer(let i): d = Double(i)
    default: throw FieldProblem(expected: rule.describe, got: v)
    }
    guard rule.accepts(d) else { throw FieldProblem(expected: rule.describe, got: v) }
    return d
}

/// A section type with its field list, erased so that a recipe can hold sections of many types.
public struct SectionSchema: Sendable {
    public let name: String
    public let summary: String
    public let keys: [String]
    let decode: @Sendable (_ table: [(String, RecipeValue)], _ source: String) throws(RecipeError) -> any RecipeSection
    let encode: @Sendable (any RecipeSection) -> [(String, RecipeValue)]
    let documentation: @Sendable () -> [(key: String, expected: String, defaultValue: String, required: Bool, doc: String)]

    public init<S: RecipeSection>(_ type: S.Type) {
        name = S.name
        summary = S.summary
        keys = S.fields.map(\.key)
        decode = { table, source throws(RecipeError) in
            var section = S()
            let fields = S.fields
            for (key, value) in table {
                guard let field = fields.first(where: { $0.key == key }) else {
                    throw RecipeError(source: source, location: "\(S.name).\(key)",
                                      message: "unknown key (known keys in [\(S.name)]: \(fields.map(\.key).joined(separator: ", ")))")
                }
                do throws(FieldProblem) {
                    try field.read(&section, value)
                } catch {
                    throw RecipeError(source: source, location: "\(S.name).\(key)", message: error.message)
                }
            }
            for field in fields where field.required && !table.contains(where: { $0.0 == field.key }) {
                throw RecipeError(source: source, location: "\(S.name).\(field.key)",
                                  message: "missing required key (expected \(field.expected))")
            }
            do throws(RecipeSectionCheck) {
                try section.check()
            } catch {
                throw RecipeError(source: source, location: "\(S.name).\(error.key)", message: error.message)
            }
            return section
        }
        encode = { section in
            guard let s = section as? S else { return [] }
            return S.fields.map { ($0.key, $0.write(s)) }
        }
        documentation = {
            let d = S()
            return S.fields.map { (key: $0.key, expected: $0.expected, defaultValue: $0.write(d).tomlText,
                                   required: $0.required, doc: $0.doc) }
        }
    }

    /// Whether `key` names a field of this section.
    public func has(_ key: String) -> Bool { keys.contains(key) }
}
