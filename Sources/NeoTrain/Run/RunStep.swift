import NeoNN
import NeoTensor

/// One unit of work that `TrainingRun` repeats: an optimiser step of pretraining (its
/// micro-batches, backward, clipping, update, EMA), or an iteration of GRPO (a rollout and its
/// updates). The driver owns everything around it — the run folder and its lock, the recipe
/// snapshot, resume, stop signals, the progress line, `metrics.jsonl` and TensorBoard, the
/// checkpoint cadence and the best-checkpoint rule — so a new trainer is only a step.
///
/// A checkpoint holds exactly what the step names: `model`, every optimiser in `optimizers`
/// (the first one is the main optimiser; a GAN's discriminator optimiser is a second entry),
/// `ema`, every generator in `generators`, and `position`. Restoring those makes the remaining
/// steps repeat an uninterrupted run bit for bit.
public protocol RunStep: AnyObject {
    /// Parameters stored as the checkpoint's model (for a GAN: generator and discriminator as
    /// one module with two children).
    var model: Module { get }
    /// Optimisers by name, in a fixed order; the first is stored as the checkpoint's optimiser,
    /// later ones under their names.
    var optimizers: [(name: String, optimizer: any Optimizer)] { get }
    var ema: EMA? { get }
    /// Generators whose states the checkpoint keeps, by name.
    var generators: [String: Generator] { get }
    /// Where the data stands (a handful of integers) after the steps done so far.
    var position: [String: Int] { get }
    /// Goes back to `position`, read from the checkpoint of step `step`.
    func restore(position: [String: Int], step: Int) throws
    /// Runs step `index` (0-based; `index + 1` steps are done after it). Throws on a
    /// non-finite loss, naming the batch.
    func run(step index: Int, context: StepContext) throws -> StepSummary
    /// Held-out metrics, computed by the driver in evaluation mode without a tape (and again
    /// with the EMA weights, suffixed `_ema`). Default: none.
    func evaluate() throws -> [(String, Float)]
    /// The value `best.h5` minimises among a step's evaluation metrics; nil: not ranked.
    /// Default: the first metric (a loss or an error).
    func rank(_ metrics: [(String, Float)]) -> Double?
    /// Metadata every checkpoint of this step carries besides the driver's own.
    var checkpointMetadata: [String: String] { get }
}

extension RunStep {
    public func evaluate() throws -> [(String, Float)] { [] }
    public func rank(_ metrics: [(String, Float)]) -> Double? { metrics.first.map { Double($0.1) } }
    public var checkpointMetadata: [String: String] { [:] }
    public var generators: [String: Generator] { [:] }
}

/// What a step reports to the driver.
public struct StepSummary {
    /// The loss shown on the progress line.
    public var loss: Float
    public var learningRate: Double
    /// The step's `metrics.jsonl` record with its deterministic values in order; the driver
    /// adds the evaluation and the wall-clock values.
    public var record: MetricsRecord
    /// The step's own wall-clock values (rollout seconds, peak memory …), written after the
    /// driver's `it_s` and `elapsed_s`.
    public var timings: [(String, Double)] = []
    /// Text put first on the progress line's tail (e.g. `reward 0.41  kl 0.002`).
    public var progress = ""

    public init(loss: Float, learningRate: Double, record: MetricsRecord) {
        self.loss = loss
        self.learningRate = learningRate
        self.record = record
    }
}

/// Where a step's gradients meet those of other processes. A data-parallel runner (MPI)
/// replaces the single-process reducer with an all-reduce that averages each gradient over the
/// ranks; steps call it after backward and before clipping, so every rank clips and steps on the
/// same averaged gradient. `docs/architecture.md` describes the seam.
public protocol GradientReducer: AnyObject {
    /// Replaces each parameter's gradient by its mean over the participating processes.
    func reduce(_ parameters: [Parameter]) throws
    /// The mean of each value over the processes (a step's loss, for the log).
    func average(_ values: [Double]) -> [Double]
}

extension GradientReducer {
    public func average(_ values: [Double]) -> [Double] { values }
}

/// One process: the gradients are already the mean over the whole batch.
public final class SingleProcessReducer: GradientReducer {
    public init() {}
    public func reduce(_ parameters: [Parameter]) throws {}
}

/// What the driver hands a step.
public struct StepContext {
    public let reducer: GradientReducer
    /// The newest checkpoint written or resumed from, for error messages.
    public let lastCheckpoint: String?
    public let debug: DebugHooks
    /// This process's part of every batch (data parallelism; one process: the whole batch).
    public var shard: BatchShard = .whole
}
