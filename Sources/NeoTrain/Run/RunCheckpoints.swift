import Foundation
import NeoIO
import NeoNN
import NeoTensor

/// The checkpoints of a run folder, stored by NeoIO's `CheckpointManager` (atomic writes,
/// keep-last-N plus `best.h5`, checksums), translated to and from `TrainingSnapshot`.
public struct RunCheckpoints: Sendable {
    public let manager: CheckpointManager

    public init(directory: String, keepLast: Int) throws {
        manager = try CheckpointManager(directory: directory, keepLast: keepLast)
    }

    /// Whether the folder holds any checkpoint (good or not).
    public func hasAny() -> Bool {
        !manager.stepFiles().isEmpty || FileManager.default.fileExists(atPath: manager.bestPath)
    }

    /// The newest checkpoint that reads back with valid checksums (corrupt newer ones are
    /// skipped with a warning on stderr).
    public func latestValid() throws -> TrainingSnapshot? {
        guard let (path, c) = manager.latestValid() else { return nil }
        return try Self.snapshot(from: c, path: path)
    }

    /// The metric of `best.h5`, if any.
    public func bestMetric() -> Float? {
        (try? Checkpoint.info(of: manager.bestPath))?.metric.map { Float($0) }
    }

    /// Writes the checkpoint of `s.step`; `rank` (lower is better) competes for `best.h5`.
    /// Returns the written path.
    @discardableResult
    public func save(_ s: TrainingSnapshot, rank: Double?, debug: DebugHooks = DebugHooks()) throws -> String {
        let c = Self.checkpoint(from: s)
        if debug.dieWritingCheckpointAtStep == s.step { try dieMidWrite(c) }
        return try manager.save(c, metric: rank).path
    }

    /// The debugging crash of `DebugHooks.dieWritingCheckpointAtStep`: leaves the first half of
    /// the checkpoint's bytes in the temporary file the real write of this step uses, as a crash
    /// in the middle of the write would, then dies with SIGKILL.
    private func dieMidWrite(_ c: Checkpoint) throws -> Never {
        let target = manager.path(step: c.step)
        let scratch = manager.directory + "/.debug-full-\(getpid()).h5"
        try c.write(to: scratch)
        let bytes = FileManager.default.contents(atPath: scratch) ?? Data()
        unlink(scratch)
        let tmp = AtomicFile.temporaryPath(for: target)
        _ = FileManager.default.createFile(atPath: tmp, contents: bytes.prefix(bytes.count / 2))
        FileHandle.standardError.write(Data("debug: killing the process in the middle of writing \(tmp)\n".utf8))
        kill(getpid(), SIGKILL)
        while true { pause() }
    }

    // MARK: Translation

    /// Checkpoint metadata keys used by the trainer.
    enum Key {
        static let optimizerKind = "optimizer.kind"
        static let optimizerStep = "step"
        static let emaUpdates = "ema.updates"
        static let hasEMA = "ema.enabled"
        static let metrics = "metrics"
        /// Further optimisers: their kind under `optimizer.<name>.kind`, their moments and
        /// scalars prefixed `<name>:`.
        static func extraKind(_ name: String) -> String { "optimizer.\(name).kind" }
        static let extraSeparator: Character = ":"
    }

    static func store(_ o: OptimizerState, prefix: String, into moments: inout [String: [String: Tensor]],
                      scalars: inout [String: Double]) {
        for (key, t) in o.tensors {
            guard let dot = key.firstIndex(of: ".") else { continue }
            moments[prefix + String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = t
        }
        for (k, v) in o.scalars { scalars[prefix + k] = v }
        scalars[prefix + Key.optimizerStep] = Double(o.step)
    }

    static func load(kind: String, prefix: String, from c: Checkpoint, defaultStep: Int) -> OptimizerState {
        var scalars: [String: Double] = [:]
        for (k, v) in c.optimizer.scalars where k.hasPrefix(prefix) && (prefix.isEmpty ? !k.contains(Key.extraSeparator) : true) {
            scalars[String(k.dropFirst(prefix.count))] = v
        }
        let step = scalars.removeValue(forKey: Key.optimizerStep) ?? Double(defaultStep)
        var tensors: [String: Tensor] = [:]
        for (slot, byPath) in c.optimizer.moments where slot.hasPrefix(prefix) && (prefix.isEmpty ? !slot.contains(Key.extraSeparator) : true) {
            for (p, t) in byPath { tensors["\(slot.dropFirst(prefix.count)).\(p)"] = t }
        }
        return OptimizerState(kind: kind, step: Int(step), scalars: scalars, tensors: tensors)
    }

    static func checkpoint(from s: TrainingSnapshot) -> Checkpoint {
        var c = Checkpoint(step: s.step, modelKind: s.modelKind, recipe: s.recipeText)
        c.model = s.model
        var moments: [String: [String: Tensor]] = [:], scalars: [String: Double] = [:]
        if let o = s.optimizer {
            store(o, prefix: "", into: &moments, scalars: &scalars)
            c.metadata[Key.optimizerKind] = o.kind
        }
        for (name, o) in s.extraOptimizers {
            store(o, prefix: name + String(Key.extraSeparator), into: &moments, scalars: &scalars)
            c.metadata[Key.extraKind(name)] = o.kind
        }
        if s.optimizer != nil || !s.extraOptimizers.isEmpty {
            c.optimizer = Checkpoint.OptimizerState(moments: moments, scalars: scalars)
        }
        if let ema = s.ema {
            c.ema = ema
            c.metadata[Key.hasEMA] = "true"
            c.metadata[Key.emaUpdates] = String(s.emaUpdates)
        }
        c.rng = s.rngStates
        c.loader = s.loaderPosition.mapValues { Int64($0) }
        if !s.metrics.isEmpty {
            c.metadata[Key.metrics] = s.metrics.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        }
        c.metadata["neo-train.created-by"] = "Trainer"
        for (k, v) in s.metadata { c.metadata[k] = v }
        return c
    }

    static func snapshot(from c: Checkpoint, path: String) throws -> TrainingSnapshot {
        var s = TrainingSnapshot(step: c.step, modelKind: c.modelKind, recipeText: c.recipe)
        s.path = path
        s.model = c.model
        if let kind = c.metadata[Key.optimizerKind] {
            s.optimizer = load(kind: kind, prefix: "", from: c, defaultStep: c.step)
        }
        for (key, kind) in c.metadata where key.hasPrefix("optimizer.") && key.hasSuffix(".kind") && key != Key.optimizerKind {
            let name = String(key.dropFirst("optimizer.".count).dropLast(".kind".count))
            s.extraOptimizers[name] = load(kind: kind, prefix: name + String(Key.extraSeparator), from: c, defaultStep: c.step)
        }
        if c.metadata[Key.hasEMA] == "true" {
            s.ema = c.ema
            guard let u = c.metadata[Key.emaUpdates].flatMap(Int.init) else {
                throw TrainError("\(path): EMA update count missing from the checkpoint metadata")
            }
            s.emaUpdates = u
        }
        s.rngStates = c.rng
        s.loaderPosition = c.loader.mapValues { Int($0) }
        if let m = c.metadata[Key.metrics] {
            s.metrics = m.split(separator: ",").compactMap { kv in
                let parts = kv.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let v = Float(parts[1]) else { return nil }
                return (String(parts[0]), v)
            }
        }
        return s
    }
}

extension RunFolder {
    /// The run's checkpoints (in `checkpoints/`).
    public func checkpoints(keepLast: Int) throws -> RunCheckpoints {
        try RunCheckpoints(directory: checkpointsPath, keepLast: keepLast)
    }
}
