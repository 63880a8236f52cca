import NeoTensor

/// Base class of every layer and model.
///
/// A module's parameters and child modules are its stored properties of type `Parameter`,
/// `Module` (or subclasses), optionals of those, arrays of those (named by index) and
/// dictionaries keyed by strings (named by key, in sorted order). They are found by reflection,
/// so a subclass only declares them:
///
///     final class Block: Module {
///         let norm: LayerNorm
///         let attn: MultiHeadAttention
///     }
///
/// gives the paths `norm.weight`, `attn.qkv.weight`, … and a model holding `let blocks: [Block]`
/// gives `blocks.3.attn.qkv.weight`. The order is declaration order (base class first), so it is
/// stable from run to run. A parameter reachable by two paths (weight tying) is listed once,
/// under the first.
open class Module {
    /// True in training mode (dropout active); set for a whole tree by `train()` / `eval()`.
    public private(set) var training: Bool = true

    public init() {}

    // MARK: Tree

    /// One entry found among a module's stored properties.
    enum Member {
        case parameter(Parameter)
        case module(Module)
        case generator(Generator)
    }

    /// The parameters and child modules held directly by this module, with their local names.
    final func members() -> [(String, Member)] {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let mm = m {
            // Stop at Module itself: its own stored properties are bookkeeping.
            if mm.subjectType == Module.self { break }
            mirrors.append(mm)
            m = mm.superclassMirror
        }
        var out: [(String, Member)] = []
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard var label = child.label else { continue }
                if label.hasPrefix("$__lazy_storage_$_") { label.removeFirst("$__lazy_storage_$_".count) }
                Module.collect(label, child.value, into: &out)
            }
        }
        return out
    }

    private static func collect(_ name: String, _ value: Any, into out: inout [(String, Member)]) {
        if let p = value as? Parameter { out.append((name, .parameter(p))); return }
        if let m = value as? Module { out.append((name, .module(m))); return }
        if let g = value as? Generator { out.append((name, .generator(g))); return }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            if let some = mirror.children.first { collect(name, some.value, into: &out) }
        case .collection:
            // Skip collections of plain values (e.g. a [Float] table) without walking them.
            guard let first = mirror.children.first, mayHoldMembers(first.value) else { return }
            for (i, c) in mirror.children.enumerated() { collect("\(name).\(i)", c.value, into: &out) }
        case .dictionary:
            var entries: [(String, Any)] = []
            for c in mirror.children {
                let pair = Array(Mirror(reflecting: c.value).children)
                guard pair.count == 2 else { continue }
                entries.append(("\(pair[0].value)", pair[1].value))
            }
            guard let first = entries.first, mayHoldMembers(first.1) else { return }
            for (k, v) in entries.sorted(by: { $0.0 < $1.0 }) { collect("\(name).\(k)", v, into: &out) }
        default:
            return
        }
    }

    private static func mayHoldMembers(_ value: Any) -> Bool {
        if value is Parameter || value is Module || value is Generator { return true }
        switch Mirror(reflecting: value).displayStyle {
        case .optional, .collection, .dictionary: return true
        default: return false
        }
    }

    /// Direct children with their local names.
    public final func children() -> [(String, Module)] {
        members().compactMap { if case .module(let m) = $0.1 { return ($0.0, m) } else { return nil } }
    }

    /// Every module of the tree (this one first, path ""), depth first in declaration order.
    public final func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = []
        var seen = Set<ObjectIdentifier>()
        func walk(_ m: Module, _ path: String) {
            guard seen.insert(ObjectIdentifier(m)).inserted else { return }
            out.append((path, m))
            for (name, member) in m.members() {
                if case .module(let c) = member { walk(c, path.isEmpty ? name : "\(path).\(name)") }
            }
        }
        walk(self, "")
        return out
    }

    /// Every parameter of the tree under its dotted path, in a deterministic order (a module's
    /// own parameters and children interleaved in declaration order, depth first).
    public final func namedParameters() -> [(String, Parameter)] {
        var out: [(String, Parameter)] = []
        var seenModules = Set<ObjectIdentifier>()
        var seenParams = Set<ObjectIdentifier>()
        func walk(_ m: Module, _ path: String) {
            guard seenModules.insert(ObjectIdentifier(m)).inserted else { return }
            for (name, member) in m.members() {
                let full = path.isEmpty ? name : "\(path).\(name)"
                switch member {
                case .parameter(let p):
                    if seenParams.insert(ObjectIdentifier(p)).inserted { out.append((full, p)) }
                case .module(let c):
                    walk(c, full)
                case .generator:
                    break
                }
            }
        }
        walk(self, "")
        return out
    }

    /// The random generators held by modules of the tree (e.g. dropout's), under dotted paths,
    /// each listed once: a checkpoint saves their states so that a resumed run draws the same
    /// masks.
    public final func namedGenerators() -> [(String, Generator)] {
        var out: [(String, Generator)] = []
        var seen = Set<ObjectIdentifier>()
        for (path, m) in namedModules() {
            for (name, member) in m.members() {
                if case .generator(let g) = member, seen.insert(ObjectIdentifier(g)).inserted {
                    out.append((path.isEmpty ? name : "\(path).\(name)", g))
                }
            }
        }
        return out
    }

    /// The parameters that are not frozen, under their paths.
    public final func trainableParameters() -> [(String, Parameter)] {
        namedParameters().filter { !$0.1.isFrozen }
    }

    public final func parameters() -> [Parameter] { namedParameters().map(\.1) }

    /// Total number of scalars in all parameters.
    public final var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.count } }
    /// Number of scalars in the parameters that are not frozen.
    public final var trainableParameterCount: Int { trainableParameters().reduce(0) { $0 + $1.1.count } }

    /// The parameter at a dotted path, if any.
    public final func parameter(at path: String) -> Parameter? {
        namedParameters().first { $0.0 == path }?.1
    }

    // MARK: Modes

    /// Puts this module and every descendant in training (or, with false, evaluation) mode.
    public final func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.training = on }
    }

    /// Evaluation mode: dropout becomes the identity.
    public final func eval() { train(false) }

    /// Freezes every parameter of this subtree (or those whose path satisfies `predicate`).
    public final func freeze(where predicate: (String) -> Bool = { _ in true }) {
        for (path, p) in namedParameters() where predicate(path) { p.isFrozen = true }
    }

    /// Unfreezes every parameter of this subtree (or those whose path satisfies `predicate`).
    public final func unfreeze(where predicate: (String) -> Bool = { _ in true }) {
        for (path, p) in namedParameters() where predicate(path) { p.isFrozen = false }
    }

    /// Drops every parameter's gradient.
    public final func zeroGrad() {
        for (_, p) in namedParameters() { p.grad = nil }
    }

    // MARK: State dict

    /// Path → parameter value. The tensors are the live parameter buffers (no copy) unless
    /// `copy` is set; a checkpoint writer can store them directly.
    public final func stateDict(copy: Bool = false) -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (path, p) in namedParameters() { d[path] = copy ? p.value.clone() : p.value.detach() }
        return d
    }

    /// Copies values from `stateDict` into the parameters in place.
    ///
    /// Every problem is collected into the report: parameters with no entry (missing), entries
    /// matching no parameter (unexpected) and entries whose shape differs (mis-shaped). With
    /// `strict` any problem throws `StateDictError` before anything is written; otherwise the
    /// entries that fit are loaded and the report lists the rest.
    @discardableResult
    public final func load(stateDict: [String: Tensor], strict: Bool = true) throws -> LoadReport {
        let params = namedParameters()
        var report = LoadReport()
        var known = Set<String>()
        var toLoad: [(Parameter, Tensor)] = []
        for (path, p) in params {
            known.insert(path)
            guard let t = stateDict[path] else { report.missing.append(path); continue }
            if t.shape != p.shape {
                report.misshaped.append(.init(name: path, expected: p.shape, found: t.shape))
                continue
            }
            toLoad.append((p, t))
            report.loaded.append(path)
        }
        report.unexpected = stateDict.keys.filter { !known.contains($0) }.sorted()
        if strict && !report.isClean { throw StateDictError(report: report) }
        noGrad { for (p, t) in toLoad { p.value.copy(from: t) } }
        return report
    }
}

/// What `Module.load(stateDict:strict:)` found.
public struct LoadReport: Sendable, CustomStringConvertible {
    public struct Misshaped: Sendable, Equatable {
        public let name: String
        public let expected: [Int]
        public let found: [Int]
        public init(name: String, expected: [Int], found: [Int]) {
            self.name = name; self.expected = expected; self.found = found
        }
    }
    /// Parameters written.
    public var loaded: [String] = []
    /// Parameters of the model with no entry in the dictionary.
    public var missing: [String] = []
    /// Entries of the dictionary that match no parameter.
    public var unexpected: [String] = []
    /// Entries whose shape differs from the parameter's.
    public var misshaped: [Misshaped] = []

    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && misshaped.isEmpty }

    /// One line per problem, e.g. `missing: blocks.0.attn.qkv.weight`.
    public var problems: [String] {
        missing.map { "missing: \($0)" }
            + unexpected.map { "unexpected: \($0)" }
            + misshaped.map { "mis-shaped: \($0.name) (model has \($0.expected), dictionary has \($0.found))" }
    }

    public var description: String {
        isClean ? "loaded \(loaded.count) parameters" : "loaded \(loaded.count) parameters; " + problems.joined(separator: "; ")
    }
}

/// A strict state-dict load that found problems; nothing was written.
public struct StateDictError: Error, CustomStringConvertible {
    public let report: LoadReport
    public var description: String {
        "state dict does not match the model (\(report.problems.count) problems):\n  " + report.problems.joined(separator: "\n  ")
    }
}

/// A module with one input and one output, usable in `Sequential`.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Layers applied one after another; parameters are named `layers.0.…`, `layers.1.…`.
public final class Sequential: Module, UnaryLayer {
    public let layers: [any UnaryLayer]
    public init(_ layers: [any UnaryLayer]) { self.layers = layers }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for l in layers { h = l(h) }
        return h
    }
}
