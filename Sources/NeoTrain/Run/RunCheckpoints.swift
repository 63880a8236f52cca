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

    /// Writes the checkpoint of `s.step`; its first metric (if any) competes for `best.h5`.
    /// Returns the written path.
    @discardableResult
    public func save(_ s: TrainingSnapshot, debug: DebugHooks = DebugHooks()) throws -> String {
        let c = Self.checkpoint(from: s)
        if debug.dieWritingCheckpointAtStep == s.step { try dieMidWrite(c) }
        return try manager.save(c, metric: s.metrics.first.map { Double($0.1) }).path
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
    }

    static func checkpoint(from s: TrainingSnapshot) -> Checkpoint {
        var c = Checkpoint(step: s.step, modelKind: s.modelKind, recipe: s.recipeText)
        c.model = s.model
        if let o = s.optimizer {
            var moments: [String: [String: Tensor]] = [:]
            for (key, t) in o.tensors {
                guard let dot = key.firstIndex(of: ".") else { continue }
                moments[String(key[..<dot]), default: [:]][String(key[key.index(after: dot)...])] = t
            }
            var scalars = o.scalars
            scalars[Key.optimizerStep] = Double(o.step)
            c.optimizer = Checkpoint.OptimizerState(moments: moments, scalars: scalars)
            c.metadata[Key.optimizerKind] = o.kind
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
        return c
    }

    static func snapshot(from c: Checkpoint, path: String) throws -> TrainingSnapshot {
        var s = TrainingSnapshot(step: c.step, modelKind: c.modelKind, recipeText: c.recipe)
        s.path = path
        s.model = c.model
        if let kind = c.metadata[Key.optimizerKind] {
            var scalars = c.optimizer.scalars
            let step = scalars.removeValue(forKey: Key.optimizerStep) ?? Double(c.step)
            var tensors: [String: Tensor] = [:]
            for (slot, byPath) in c.optimizer.moments {
                for (p, t) in byPath { tensors["\(slot).\(p)"] = t }
            }
            s.optimizer = OptimizerState(kind: kind, step: Int(step), scalars: scalars, tensors: tensors)
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
