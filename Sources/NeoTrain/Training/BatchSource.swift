import NeoNN
import NeoTensor

/// Where the training batches come from. The position is a handful of integers (epoch, index,
/// …) that a checkpoint stores; restoring it makes `next()` return the same batches again, which
/// is what makes a resumed run equal an uninterrupted one.
public protocol BatchSource: AnyObject {
    associatedtype Batch
    /// The next training batch; advances the position.
    func next() throws -> Batch
    /// Where the source stands now.
    var position: [String: Int] { get }
    /// Goes back (or forward) to a position read from `position`.
    func restore(position: [String: Int]) throws
    /// Names what `batch` (the one `next()` just returned) was made of — clips and frames —
    /// for the message about a non-finite loss; nil: the driver names the loader position.
    func describe(_ batch: Batch) -> String?
}

extension BatchSource {
    public func describe(_ batch: Batch) -> String? { nil }
}

/// What a model kind hands the trainer: the model, the batches, the loss, and optionally an
/// evaluation and the random generators its loss draws from (dropout, noise, …), whose states
/// are checkpointed.
public protocol TrainingTask: AnyObject {
    associatedtype Source: BatchSource
    var model: Module { get }
    var source: Source { get }
    /// A scalar loss for one micro-batch, recorded on the current tape.
    func loss(_ batch: Source.Batch) throws -> Tensor
    /// The loss of this process's part of `batch` (data parallelism: `BatchShard`), drawing
    /// from the task's generators exactly as `loss(batch)` does for the whole batch, so every
    /// rank's generators stay equal to a single process's. Default: only the whole batch.
    func loss(_ batch: Source.Batch, shard: BatchShard) throws -> Tensor
    /// Held-out metrics (lower is better for the first one), computed without gradients in
    /// evaluation mode; called every `train.eval_every` steps. Default: none.
    func evaluate() throws -> [(String, Float)]
    /// Generators whose states are saved and restored with checkpoints, by name.
    var generators: [String: Generator] { get }
}

extension TrainingTask {
    public func evaluate() throws -> [(String, Float)] { [] }
    public var generators: [String: Generator] { [:] }

    public func loss(_ batch: Source.Batch, shard: BatchShard) throws -> Tensor {
        guard shard.isWhole else {
            throw TrainError("this model kind cannot split its batches over \(shard.count) processes yet; run it as one process")
        }
        return try loss(batch)
    }
}

extension Generator {
    /// A generator for one purpose of a run (`"model-init"`, `"data"`, `"dropout"` …): the run
    /// seed and the purpose's name fix its stream, so purposes never share random numbers.
    public static func stream(seed: Int, _ purpose: String) -> Generator {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in purpose.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Generator(seed: UInt64(truncatingIfNeeded: seed)).derived(h)
    }
}
