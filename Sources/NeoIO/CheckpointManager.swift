import Foundation

/// The checkpoints of one run folder: `step-00000040.h5` files (the last `keepLast` are kept) and
/// `best.h5` (the checkpoint with the lowest metric so far). Every file is written atomically, so
/// a crash leaves at most a temporary `.step-….h5.tmp-PID` beside the good files; those are
/// ignored when looking for checkpoints and removed once their process is gone.
public struct CheckpointManager: Sendable {
    public let directory: String
    public let keepLast: Int
    public let compression: HDF5Compression

    public static let bestFileName = "best.h5"

    /// What one `save` did.
    public struct SaveResult: Sendable, Equatable {
        public var path: String
        /// True when this checkpoint became `best.h5`.
        public var isBest: Bool
        /// Step files removed by the keep-last rule (or as left over from an abandoned later run).
        public var removed: [String]
    }

    /// Creates the folder if needed. `keepLast` ≥ 1.
    public init(directory: String, keepLast: Int = 3, compression: HDF5Compression = .none) throws {
        guard keepLast >= 1 else { throw NeoIOError(directory, "keepLast must be at least 1, got \(keepLast)") }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw NeoIOError(directory, "cannot create the checkpoint folder: \(error.localizedDescription)")
        }
        self.directory = directory
        self.keepLast = keepLast
        self.compression = compression
    }

    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".h5"
    }

    /// The step of a `step-NNNNNNNN.h5` name, or nil for any other name.
    public static func step(ofFileName name: String) -> Int? {
        guard name.hasPrefix("step-"), name.hasSuffix(".h5") else { return nil }
        let digits = name.dropFirst(5).dropLast(3)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    public func path(step: Int) -> String { (directory as NSString).appendingPathComponent(Self.fileName(step: step)) }
    public var bestPath: String { (directory as NSString).appendingPathComponent(Self.bestFileName) }

    /// Step checkpoints in the folder, oldest step first.
    public func stepFiles() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { n in Self.step(ofFileName: n).map { ($0, (directory as NSString).appendingPathComponent(n)) } }
            .sorted { $0.step < $1.step }
    }

    /// Writes `step-NNNNNNNN.h5` for `checkpoint.step` (with `metric` recorded when given),
    /// updates `best.h5` when the metric is lower than the best so far, then removes step files
    /// beyond the last `keepLast` and any step file newer than this one (left from a run that was
    /// resumed from an earlier checkpoint).
    @discardableResult
    public func save(_ checkpoint: Checkpoint, metric: Double? = nil) throws -> SaveResult {
        removeTemporaries()
        var c = checkpoint
        if let metric { c.metric = metric }
        let target = path(step: c.step)
        try c.write(to: target, compression: compression)

        var isBest = false
        if let m = c.metric, !m.isNaN {
            let current = Checkpoint.storedMetric(of: bestPath)
            if current == nil || m < current! {
                try installBest(from: target)
                isBest = true
            }
        }

        var removed: [String] = []
        let files = stepFiles()
        for f in files where f.step > c.step {
            unlink(f.path)
            removed.append(f.path)
        }
        let kept = files.filter { $0.step <= c.step }
        for f in kept.dropLast(keepLast) {
            unlink(f.path)
            removed.append(f.path)
        }
        return SaveResult(path: target, isBest: isBest, removed: removed)
    }

    /// Makes `best.h5` an independent copy of the finished step file (a byte copy, not a second
    /// serialisation), fsynced and renamed into place like every other write.
    private func installBest(from source: String) throws {
        let tmp = AtomicFile.temporaryPath(for: bestPath)
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: source)) } catch {
            PendingTemporaries.shared.remove(tmp)
            throw NeoIOError(bestPath, "cannot read \(source) to copy it: \(error.localizedDescription)")
        }
        do { try bytes.withUnsafeBytes { try AtomicFile.writeWhole($0, to: tmp) } } catch let e as NeoIOError {
            PendingTemporaries.shared.remove(tmp)
            throw NeoIOError(bestPath, e.problem)
        }
        try AtomicFile.commit(temporary: tmp, to: bestPath)
    }

    /// The newest step checkpoint that opens and passes its checksums, read in full. A newer file
    /// that fails is reported through `warn` and skipped; when no step file is good, `best.h5` is
    /// tried last. Temporary leftovers are never candidates (and dead ones are removed).
    public func latestValid(warn: (String) -> Void = CheckpointManager.warnOnStandardError) -> (path: String, checkpoint: Checkpoint)? {
        removeTemporaries()
        var candidates = stepFiles().reversed().map(\.path)
        if FileManager.default.fileExists(atPath: bestPath) { candidates.append(bestPath) }
        for p in candidates {
            do {
                return (p, try Checkpoint.read(from: p))
            } catch {
                warn("skipping checkpoint \(p): \(error)")
            }
        }
        return nil
    }

    /// The best checkpoint, if there is one (errors propagate: it is named explicitly).
    public func best() throws -> Checkpoint? {
        FileManager.default.fileExists(atPath: bestPath) ? try Checkpoint.read(from: bestPath) : nil
    }

    /// Removes temporary files (`.NAME.tmp-PID`) whose writing process no longer exists; returns
    /// what it removed. Files of this process and of live processes are left alone.
    @discardableResult
    public func removeTemporaries() -> [String] { AtomicFile.removeStaleTemporaries(in: directory) }

    /// The default warning sink: one line on standard error.
    public static func warnOnStandardError(_ message: String) {
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }
}
