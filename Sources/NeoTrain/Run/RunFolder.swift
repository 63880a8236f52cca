import Foundation
import NeoIO

/// A run folder:
///
///     runs/<name>/
///       recipe.toml       the effective recipe (every key, defaults included, overrides applied)
///       metrics.jsonl     one JSON object per optimiser step
///       tensorboard/      the same metrics as TensorBoard event files (`tensorboard --logdir`)
///       checkpoints/      step-XXXXXXXX.h5 checkpoints (the last `keep_last`, plus the best)
///       run.lock          held while a run writes here (`RunLock`)
public struct RunFolder: Sendable {
    public let path: String

    /// Creates the folder (and its parents) if needed.
    public init(path: String) throws {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: checkpointsPath, withIntermediateDirectories: true)
        } catch {
            throw TrainError("\(path): cannot create run folder: \(error.localizedDescription)")
        }
    }

    public var recipePath: String { path + "/recipe.toml" }
    public var metricsPath: String { path + "/metrics.jsonl" }
    public var checkpointsPath: String { path + "/checkpoints" }

    /// Writes the effective recipe (atomically).
    public func writeRecipe(_ text: String) throws {
        try AtomicFile.write(Data(text.utf8), to: recipePath)
    }

    /// A line of information for the person running the job (stdout).
    public func note(_ message: String) {
        FileHandle.standardOutput.write(Data((message + "\n").utf8))
    }

    /// A line about something the person should look at (stderr), prefixed `warning: `.
    public func warn(_ message: String) {
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }
}

/// Aids for testing crash safety, read from the environment; all off by default.
///
/// - `NEO_TRAIN_DEBUG_STEP_DELAY_MS=N`: sleep N ms after every step, so a test can kill the
///   process mid-run at a known point.
/// - `NEO_TRAIN_DEBUG_DIE_WRITING_CHECKPOINT=S`: when writing the checkpoint of step S, write
///   half the file into the temporary file the checkpoint writer uses, then kill the process
///   with SIGKILL — the state a crash or power loss leaves in the middle of a checkpoint write.
public struct DebugHooks: Sendable {
    public var stepDelay: Double = 0
    public var dieWritingCheckpointAtStep: Int? = nil

    public init() {}

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> DebugHooks {
        var d = DebugHooks()
        if let ms = env["NEO_TRAIN_DEBUG_STEP_DELAY_MS"].flatMap(Double.init), ms > 0 { d.stepDelay = ms / 1000 }
        if let s = env["NEO_TRAIN_DEBUG_DIE_WRITING_CHECKPOINT"].flatMap(Int.init) { d.dieWritingCheckpointAtStep = s }
        return d
    }
}
