import Foundation
import NeoIO

/// The checkpoints of a run folder (wip: storage through NeoIO's CheckpointManager).
public final class RunCheckpoints {
    public let directory: String
    public let keepLast: Int
    init(directory: String, keepLast: Int) { self.directory = directory; self.keepLast = keepLast }
    public func hasAny() throws -> Bool { false }
    public func latestValid() throws -> TrainingSnapshot? { nil }
    public func bestMetric() throws -> Float? { nil }
    public func save(_ s: TrainingSnapshot, best: inout Float?, debug: DebugHooks) throws -> String { "" }
}

extension RunFolder {
    public func checkpoints(keepLast: Int) throws -> RunCheckpoints {
        RunCheckpoints(directory: checkpointsPath, keepLast: keepLast)
    }
}
