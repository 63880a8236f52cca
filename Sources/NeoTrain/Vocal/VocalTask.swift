import Foundation
import NeoData
import NeoNN
import NeoTensor
import Vocal

/// The `vocal` model kind: the VOCAL MMDiT trained by flow matching on a dataset folder with
/// cached audio features (`neo-train pretrain Recipes/vocal-small.toml`).
public enum VocalKind {
    public static let sections: [SectionSchema] = [
        SectionSchema(VocalModelSection.self), SectionSchema(VocalDataSection.self), SectionSchema(VocalSection.self),
    ]

    public static let kind = ModelKind(
        name: "vocal", summary: "the VOCAL audio-to-motion MMDiT, trained by flow matching", sections: sections,
        memory: memory
    ) { recipe in
        try VocalTask(recipe: recipe)
    }

    /// Parameters of the blocks (with gradients, moments, EMA) and the activations a
    /// micro-batch of windows keeps for backward (motion, prefix and audio tokens).
    @Sendable public static func memory(_ recipe: Recipe) -> [MemoryRequest] {
        let c = config(recipe)
        let parameters = MemoryBudget.transformerParameters(width: c.width, depth: c.depth, mlpHidden: c.mlpHidden)
        let tokens = c.windowFrames + c.prefixFrames + 2 * c.windowFrames + 3
        let perWindow = MemoryBudget.transformerActivations(tokens: tokens, width: c.width, depth: c.depth, heads: c.heads,
                                                            mlpHidden: c.mlpHidden, checkpointing: c.gradientCheckpointing)
            + 4 * Double(2 * c.windowFrames * c.audioLayers * c.audioWidth)
        return [
            MemoryRequest(key: "model.width", bytes: 4 * parameters * MemoryBudget.floatsPerParameter(recipe),
                          what: "about \(Int(parameters)) parameters with their gradients and optimiser state"),
            MemoryRequest(key: "train.batch", bytes: Double(recipe.train.batch) * perWindow,
                          what: "the activations of a batch of \(recipe.train.batch) windows"),
        ]
    }

    /// The model configuration a recipe describes (`[model]`, plus `train.gradient_checkpointing`).
    public static func config(_ recipe: Recipe) -> VocalConfig {
        var c = recipe.section(VocalModelSection.self).config
        c.gradientCheckpointing = recipe.train.gradientCheckpointing
        return c
    }
}

/// Training windows from the train split of a dataset folder. The position is the loader's
/// (epoch, batch); restoring it makes `next()` return the same batches again.
public final class VocalBatchSource: BatchSource {
    public let data: VocalDataset
    public let loader: DatasetLoader

    public init(data: VocalDataset, batch: Int, seed: Int) throws {
        self.data = data
        loader = try data.loader(.train, batch: batch, seed: seed, prefetch: 2)
    }

    deinit { loader.stop() }

    public func next() throws -> VocalBatch {
        let b = try loader.next()
        last = zip(b.clipIDs, b.startFrames).map { "'\($0)' frames \($1)..<\($1 + data.config.windowFrames)" }
        lastPosition = b.position
        return try data.vocalBatch(b)
    }

    /// The windows of the batch `next()` returned last, and its loader position.
    private var last: [String] = []
    private var lastPosition = LoaderPosition(epoch: 0, batch: 0)

    public func describe(_ batch: VocalBatch) -> String? {
        "the batch of epoch \(lastPosition.epoch), batch \(lastPosition.batch) (clips " + last.joined(separator: ", ") + ")"
    }

    public var position: [String: Int] {
        let p = loader.position
        return ["epoch": p.epoch, "batch": p.batch]
    }

    public func restore(position: [String: Int]) throws {
        guard let e = position["epoch"], let b = position["batch"], e >= 0, b >= 0 else {
            throw TrainError("checkpoint: loader position \(position) is not an (epoch, batch) pair")
        }
        loader.seek(to: LoaderPosition(epoch: e, batch: b))
    }
}

/// The flow-matching task: loss on training windows with logit-normal timesteps and condition
/// dropout (`[vocal]`), validation loss on the windows of held-out identities with every
/// condition kept and fixed draws (`flowMatchingValidationLoss`). Motion is standardised with
/// the training split's statistics (`NormalizedVocal`).
public final class VocalTask: TrainingTask {
    public let vocal: NormalizedVocal
    public let source: VocalBatchSource
    public let settings: FlowMatchingSettings
    public let validation: [VocalBatch]
    let flow: Generator
    let validationSeed: UInt64

    public var model: Module { vocal }
    public var generators: [String: Generator] { ["flow-matching": flow] }

    public init(recipe: Recipe) throws {
        let d = recipe.section(VocalDataSection.self), v = recipe.section(VocalSection.self)
        // The recipe's sections validated the configuration and the settings when decoding.
        let config = VocalKind.config(recipe)
        settings = v.flowMatching
        let seed = recipe.run.seed
        let data = try VocalDataset(folder: d.path, config: config, data: d)
        source = try VocalBatchSource(data: data, batch: recipe.train.batch, seed: seed)
        validation = try data.fixedBatches(.validation, count: d.validationBatches, batch: recipe.train.batch, seed: seed)
        let stats = try data.motionStatistics(.train, relative: v.relativeMotion)
        vocal = try NormalizedVocal(config: config, relative: v.relativeMotion, generator: Generator.stream(seed: seed, "model-init"),
                                    statistics: stats)
        flow = Generator.stream(seed: seed, "flow-matching")
        validationSeed = UInt64(seed) &+ 0x5EED
        let train = data.identities(.train), held = data.identities(.validation)
        FileHandle.standardOutput.write(Data(("vocal: \(vocal.trainableParameterCount) parameters; \(source.loader.clips.count) training clips of \(train.count) identities (\(source.loader.windowsPerEpoch) windows, \(source.loader.batchesPerEpoch) batches per epoch); validation on \(held.joined(separator: ", ")) (\(validation.count) batches)\n").utf8))
    }

    public func loss(_ batch: VocalBatch) throws -> Tensor {
        flowMatchingLoss(model: vocal.vocal, batch: vocal.normalized(batch), settings: settings, generator: flow)
    }

    /// The draws of the whole batch come from `flow` on every rank (so the generator advances
    /// as in one process); this rank's samples and their draws are cut out of them.
    public func loss(_ batch: VocalBatch, shard: BatchShard) throws -> Tensor {
        guard !shard.isWhole else { return try loss(batch) }
        let r = try shard.range(batch: batch.batch)
        let draw = FlowMatchingDraw.draw(shape: batch.motion.shape, settings: settings, generator: flow)
        let part = FlowMatchingDraw(t: Array(draw.t[r]), keep: Array(draw.keep[r]), noise: draw.noise.rows(r))
        return flowMatchingLoss(model: vocal.vocal, batch: vocal.normalized(batch.rows(r)), draw: part)
    }

    public func evaluate() throws -> [(String, Float)] {
        [("eval_loss", Float(flowMatchingValidationLoss(model: vocal.vocal, batches: validation.map(vocal.normalized),
                                                        settings: settings, seed: validationSeed)))]
    }
}

extension VocalBatch {
    /// Samples `r` of the batch (every tensor and label cut along the batch dimension).
    func rows(_ r: Range<Int>) -> VocalBatch {
        let c = conditions
        return VocalBatch(motion: motion.rows(r), conditions: VocalConditions(
            audio: c.audio.rows(r), identity: c.identity?.rows(r), emotion: c.emotion.map { Array($0[r]) },
            reference: c.reference?.rows(r), prefix: c.prefix?.rows(r), prefixMask: c.prefixMask?.rows(r)))
    }
}
