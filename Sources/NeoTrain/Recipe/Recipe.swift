import NeoTensor
import Foundation

/// The sections a model kind brings to a recipe. Its section named `model` describes the
/// `[model]` keys besides `kind`; a section with a standard name (`data`, …) replaces the
/// standard one; other sections (`[vocal]`, …) are added.
public struct RecipeKindSchema: Sendable {
    public let name: String
    public let summary: String
    public let sections: [SectionSchema]
    public init(name: String, summary: String, sections: [SectionSchema]) {
        self.name = name
        self.summary = summary
        self.sections = sections
    }
}

/// A decoded recipe: typed sections in a fixed order, the model kind, and where it came from.
///
/// Load with `Recipe.load(path:overrides:kinds:)` (sections chosen by `model.kind`) or
/// `Recipe.load(path:overrides:sections:)` (a fixed list, for commands without model kinds).
/// Read sections with `recipe[OptimSection.self]` or the shortcuts `run`, `optim`, `train`.
public struct Recipe: Sendable {
    /// The recipe file (or another description of where the text came from).
    public let source: String
    /// The `--set key=value` arguments, in the order given.
    public let overrides: [String]
    /// `model.kind` when the recipe was decoded against model kinds.
    public let modelKind: String?
    /// Every section of the schema, in rendering order, with the values in force.
    public let sections: [(schema: SectionSchema, value: any RecipeSection)]

    /// The section of type `S`, or nil when this recipe's schema has no such section.
    public subscript<S: RecipeSection>(_ type: S.Type) -> S? {
        sections.first { $0.schema.name == S.name }?.value as? S
    }

    /// The section of type `S`; a recipe decoded without it is a programming error.
    public func section<S: RecipeSection>(_ type: S.Type) -> S {
        guard let s = self[type] else {
            ensureFailed("recipe from \(source) has no [\(S.name)] section of type \(S.self)")
        }
        return s
    }

    public var run: RunSection { section(RunSection.self) }
    public var optim: OptimSection { section(OptimSection.self) }
    public var train: TrainSection { section(TrainSection.self) }

    /// The effective value at `section.key` (after defaults and overrides).
    public func value(at keyPath: String) -> RecipeValue? {
        let parts = keyPath.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        if parts == ["model", "kind"], let k = modelKind { return .string(k) }
        guard let s = sections.first(where: { $0.schema.name == parts[0] }) else { return nil }
        return s.schema.encode(s.value).first { $0.0 == parts[1] }?.1
    }

    /// Every `section.key` with its effective value, in rendering order.
    public var flattened: [(String, RecipeValue)] {
        var out: [(String, RecipeValue)] = []
        for (schema, value) in sections {
            if schema.name == "model", let k = modelKind { out.append(("model.kind", .string(k))) }
            for (k, v) in schema.encode(value) { out.append(("\(schema.name).\(k)", v)) }
        }
        return out
    }

    /// The effective recipe as TOML: every key of every section with the value in force
    /// (defaults included), so the text alone reproduces the run. This is what the run folder
    /// and every checkpoint store; it decodes back to an equal recipe.
    public var text: String {
        var out = "# Effective recipe (every key, defaults included), decoded from \(source)"
        if !overrides.isEmpty {
            out += "\n# with " + overrides.map { "--set \($0)" }.joined(separator: " ")
        }
        out += "\n"
        for (schema, value) in sections {
            out += "\n[\(schema.name)]\n"
            if schema.name == "model", let k = modelKind { out += "kind = \(RecipeValue.quoted(k))\n" }
            for (k, v) in schema.encode(value) { out += "\(RecipeValue.bareOrQuotedKey(k)) = \(v.tomlText)\n" }
        }
        return out
    }

    /// Keys whose effective values differ between two recipes (`train.steps: 20 → 40`).
    public func differences(from other: Recipe) -> [String] {
        let mine = Dictionary(flattened, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.flattened, uniquingKeysWith: { a, _ in a })
        var out: [String] = []
        for (k, v) in other.flattened where mine[k] != v {
            out.append("\(k): \(v.tomlText) → \(mine[k]?.tomlText ?? "(absent)")")
        }
        for (k, v) in flattened where theirs[k] == nil { out.append("\(k): (absent) → \(v.tomlText)") }
        return out
    }

    // MARK: Loading

    /// Reads and decodes a recipe file whose `[model] kind` picks its sections among `kinds`.
    public static func load(path: String, overrides: [String] = [], kinds: [RecipeKindSchema]) throws(RecipeError) -> Recipe {
        try decode(text: readFile(path), source: path, overrides: overrides, mode: .kinds(kinds))
    }

    /// Reads and decodes a recipe file against a fixed list of sections.
    public static func load(path: String, overrides: [String] = [], sections: [SectionSchema]) throws(RecipeError) -> Recipe {
        try decode(text: readFile(path), source: path, overrides: overrides, mode: .fixed(sections))
    }

    /// Decodes recipe text; `source` names it in errors (a file path, `checkpoint …`).
    public static func parse(text: String, source: String, overrides: [String] = [],
                             kinds: [RecipeKindSchema]) throws(RecipeError) -> Recipe {
        try decode(text: text, source: source, overrides: overrides, mode: .kinds(kinds))
    }

    public static func parse(text: String, source: String, overrides: [String] = [],
                             sections: [SectionSchema]) throws(RecipeError) -> Recipe {
        try decode(text: text, source: source, overrides: overrides, mode: .fixed(sections))
    }

    /// The sections every pretraining recipe has, in rendering order; a kind's `model` section
    /// goes after `run`.
    public static let standardSections: [SectionSchema] = [
        SectionSchema(RunSection.self), SectionSchema(DataSection.self),
        SectionSchema(OptimSection.self), SectionSchema(TrainSection.self),
    ]

    enum Mode {
        case kinds([RecipeKindSchema])
        case fixed([SectionSchema])
    }

    static func readFile(_ path: String) throws(RecipeError) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw RecipeError(source: path, location: "", message: "recipe file not found")
        }
        guard !isDir.boolValue else {
            throw RecipeError(source: path, location: "", message: "is a folder, expected a recipe file (.toml)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecipeError(source: path, location: "", message: "cannot read recipe file (permission denied?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RecipeError(source: path, location: "", message: "recipe is not UTF-8 text")
        }
        return text
    }

    /// One parsed `--set section.key=value`.
    struct Override {
        let argument: String
        let section: String
        let key: String
        let value: RecipeValue
        var keyPath: String { "\(section).\(key)" }
    }

    static func parseOverride(_ arg: String) throws(RecipeError) -> Override {
        let source = "--set \(arg)"
        guard let eq = arg.firstIndex(of: "=") else {
            throw RecipeError(source: source, location: "", message: "expected section.key=value")
        }
        let path = arg[..<eq].trimmingCharacters(in: .whitespaces)
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw RecipeError(source: source, location: path.isEmpty ? "" : path,
                              message: "expected a key path of the form section.key (e.g. optim.lr)")
        }
        let text = arg[arg.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else {
            throw RecipeError(source: source, location: path, message: "expected a value after '='")
        }
        return Override(argument: arg, section: parts[0], key: parts[1], value: RecipeTOML.parseValue(text))
    }

    static func decode(text: String, source: String, overrides rawOverrides: [String], mode: Mode) throws(RecipeError) -> Recipe {
        var document = try RecipeTOML.parse(text, source: source)
        var overrides: [Override] = []
        for arg in rawOverrides {
            let o = try parseOverride(arg)
            overrides.append(o)
        }

        // Top-level keys must all be tables (sections).
        for (key, value) in document {
            guard case .table = value else {
                throw RecipeError(source: source, location: key,
                                  message: "expected a section ([\(key)] table), got \(value.shownInMessage); keys belong inside a section such as [optim]")
            }
        }
        for o in overrides { set(o, in: &document) }

        // Errors about a key an override set are reported against that override.
        func attribute(_ e: RecipeError) -> RecipeError {
            for o in overrides.reversed() where e.location == o.keyPath || e.location == "[\(o.section)]" {
                return RecipeError(source: "--set \(o.argument)", location: e.location, message: e.message)
            }
            return e
        }

        do throws(RecipeError) {
            var schemas: [SectionSchema]
            var kind: String? = nil
            switch mode {
            case .fixed(let list):
                schemas = list
            case .kinds(let kinds):
                let names = kinds.map { RecipeValue.quoted($0.name) }.joined(separator: ", ")
                guard let model = document.first(where: { $0.0 == "model" })?.1, let kindValue = model["kind"] else {
                    throw RecipeError(source: source, location: "model.kind",
                                      message: "missing required key (expected one of \(names))")
                }
                guard case .string(let k) = kindValue, let chosen = kinds.first(where: { $0.name == k }) else {
                    throw RecipeError(source: source, location: "model.kind",
                                      message: "expected one of \(names), got \(kindValue.shownInMessage)")
                }
                kind = k
                schemas = standardSections
                for s in chosen.sections {
                    if let i = schemas.firstIndex(where: { $0.name == s.name }) {
                        schemas[i] = s
                    } else if s.name == "model" {
                        schemas.insert(s, at: 1)
                    } else {
                        schemas.append(s)
                    }
                }
                if !schemas.contains(where: { $0.name == "model" }) {
                    schemas.insert(SectionSchema(EmptyModelSection.self), at: 1)
                }
            }

            for (name, _) in document where !schemas.contains(where: { $0.name == name }) {
                throw RecipeError(source: source, location: "[\(name)]",
                                  message: "unknown section (known sections: \(schemas.map(\.name).joined(separator: ", ")))")
            }
            var decoded: [(schema: SectionSchema, value: any RecipeSection)] = []
            for schema in schemas {
                var table: [(String, RecipeValue)] = []
                if case .table(let kv)? = document.first(where: { $0.0 == schema.name })?.1 { table = kv }
                if schema.name == "model" && kind != nil { table.removeAll { $0.0 == "kind" } }
                var value = try schema.decode(table, source)
                if var run = value as? RunSection, run.name.isEmpty {
                    run.name = defaultRunName(source)
                    value = run
                }
                decoded.append((schema, value))
            }
            return Recipe(source: source, overrides: rawOverrides, modelKind: kind, sections: decoded)
        } catch {
            throw attribute(error)
        }
    }

    static func set(_ o: Override, in document: inout [(String, RecipeValue)]) {
        if let i = document.firstIndex(where: { $0.0 == o.section }), case .table(var kv) = document[i].1 {
            if let j = kv.firstIndex(where: { $0.0 == o.key }) { kv[j].1 = o.value } else { kv.append((o.key, o.value)) }
            document[i].1 = .table(kv)
        } else {
            document.removeAll { $0.0 == o.section }
            document.append((o.section, .table([(o.key, o.value)])))
        }
    }

    static func defaultRunName(_ source: String) -> String {
        let name = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        return name.isEmpty ? "run" : name
    }
}

/// `[model]` for a kind that has no keys besides `kind`.
struct EmptyModelSection: RecipeSection {
    static let name = "model"
    init() {}
    static var fields: [RecipeField<Self>] { [] }
}
