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
        name: "vocal", summary: "the VOCAL audio-to-motion MMDiT, trained by flow matching", sections: sections
    ) { recipe in
        try VocalTask(recipe: recipe)
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

    public func next() throws -> VocalBatch { try data.vocalBatch(loader.next()) }

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
        let config = VocalKind.config(recipe)
        try config.validate()
        settings = v.flowMatching
        try settings.validate()
        try v.sampling.validate()
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

    public func evaluate() throws -> [(String, Float)] {
        [("eval_loss", Float(flowMatchingValidationLoss(model: vocal.vocal, batches: validation.map(vocal.normalized),
                                                        settings: settings, seed: validationSeed)))]
    }
}
