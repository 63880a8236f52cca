/// `[run]`: naming, seeding and where the run folder goes.
public struct RunSection: RecipeSection {
    public static let name = "run"
    public static let summary = "run name, seed and output folder"
    /// Empty in the file means: the recipe file's name without `.toml`.
    public var name = ""
    public var seed = 0
    /// The run folder is `output_dir/name` unless `--run-dir` says otherwise.
    public var outputDir = "runs"
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .text("name", \.name, "run name; default: the recipe file's name"),
        .integer("seed", \.seed, .atLeast(0), "seed of every random stream of the run"),
        .text("output_dir", \.outputDir, nonEmpty: true, "folder that receives the run folder"),
    ]}
}

/// `[data]`: where the training data lives. Model kinds with more data settings replace this
/// section with their own (keeping `path`).
public struct DataSection: RecipeSection {
    public static let name = "data"
    public static let summary = "training data"
    public var path = ""
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .text("path", \.path, "dataset folder or file (unused by synthetic tasks)"),
    ]}
}

public enum OptimizerKind: String, CaseIterable, Sendable {
    case adamw, sgd
}

public enum ScheduleKind: String, CaseIterable, Sendable {
    case constant, cosine, linear
}

/// `[optim]`: optimiser, learning-rate schedule and clipping.
public struct OptimSection: RecipeSection {
    public static let name = "optim"
    public static let summary = "optimiser, learning-rate schedule, clipping"
    public var optimizer = OptimizerKind.adamw
    public var lr = 3e-4
    public var betas = [0.9, 0.999]
    public var eps = 1e-8
    public var momentum = 0.9
    public var weightDecay = 0.0
    public var warmup = 0
    public var schedule = ScheduleKind.cosine
    public var minLRRatio = 0.0
    public var clip = 1.0
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .choice("optimizer", \.optimizer, "adamw (decoupled weight decay) or sgd (with momentum)"),
        .number("lr", \.lr, .positive, "peak learning rate"),
        .numbers("betas", \.betas, count: 2, .unitHalfOpen, "AdamW moment decay rates"),
        .number("eps", \.eps, .positive, "AdamW denominator epsilon"),
        .number("momentum", \.momentum, .unitHalfOpen, "SGD momentum"),
        .number("weight_decay", \.weightDecay, .nonNegative, "decoupled weight decay"),
        .integer("warmup", \.warmup, .atLeast(0), "linear warm-up steps from 0 to lr"),
        .choice("schedule", \.schedule, "after warm-up: constant, cosine or linear decay to min_lr_ratio·lr"),
        .number("min_lr_ratio", \.minLRRatio, .unitClosed, "final learning rate as a fraction of lr"),
        .number("clip", \.clip, .nonNegative, "global gradient-norm clip; 0 turns clipping off"),
    ]}
}

/// `[train]`: the loop's length and rhythm.
public struct TrainSection: RecipeSection {
    public static let name = "train"
    public static let summary = "steps, batch, accumulation, evaluation, checkpoints, EMA"
    public var steps = 1000
    public var batch = 32
    public var accumulation = 1
    public var evalEvery = 0
    public var checkpointEvery = 0
    public var keepLast = 3
    public var ema = 0.0
    public var logEvery = 10
    /// Recompute each block in backward instead of keeping its activations (model kinds with
    /// blocks: vocal). Less memory, more time, the same numbers.
    public var gradientCheckpointing = false
    public init() {}
    public static var fields: [RecipeField<Self>] {[
        .integer("steps", \.steps, .atLeast(1), "optimiser steps"),
        .integer("batch", \.batch, .atLeast(1), "examples per micro-batch"),
        .integer("accumulation", \.accumulation, .atLeast(1), "micro-batches summed into one step"),
        .integer("eval_every", \.evalEvery, .atLeast(0), "evaluate every N steps; 0 never"),
        .integer("checkpoint_every", \.checkpointEvery, .atLeast(0), "checkpoint every N steps; 0 only at the end"),
        .integer("keep_last", \.keepLast, .atLeast(1), "checkpoints kept (plus the best)"),
        .number("ema", \.ema, .unitHalfOpen, "EMA decay of the parameters; 0 turns EMA off"),
        .integer("log_every", \.logEvery, .atLeast(1), "plain progress line every N steps when not on a terminal"),
        .flag("gradient_checkpointing", \.gradientCheckpointing, "recompute each block in backward (less memory, same numbers); kinds without blocks ignore it"),
    ]}
}
