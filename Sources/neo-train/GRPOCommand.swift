import ArgumentParser
import Foundation
import NeoTrain

struct GRPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Kinetic-GRPO: reinforcement learning of a VOCAL checkpoint against a reward.",
        subcommands: [GRPOTrain.self, GRPORandomPolicy.self],
        defaultSubcommand: GRPOTrain.self)
}

struct GRPOTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run (or resume) the GRPO recipe (the default: `neo-train grpo RECIPE`).")

    @OptionGroup var options: RecipeRunOptions

    @Option(name: .customLong("dump-rollout"),
            help: ArgumentHelp("Write every recorded quantity of the first iteration run to this HDF5 file (docs/grpo-rollout-dump.md).",
                               valueName: "FILE.h5"))
    var dumpRollout: String?

    func run() throws {
        let outcome = try GRPOCommand.run(recipePath: options.recipe, overrides: options.overrides.values, runDirectory: options.runDirectory,
                                          resume: options.resume, dumpRollout: dumpRollout)
        try outcome.finish(unit: "iteration")
    }
}

struct GRPORandomPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "random-policy",
        abstract: "Write a randomly initialised VOCAL checkpoint (smoke runs and measurements, not quality).")

    @Argument(help: "Output checkpoint (.h5).")
    var output: String

    @Option(help: ArgumentHelp("Take the shape from a VOCAL recipe's [model] table.", valueName: "RECIPE"))
    var like: String?

    @Option(help: "Latent numbers per frame (default 70).") var latentDim: Int?
    @Option(help: "Token width of both streams (default 128).") var width: Int?
    @Option(help: "MMDiT blocks (default 4).") var depth: Int?
    @Option(help: "Attention heads (default 4).") var heads: Int?
    @Option(help: "MLP hidden width as a multiple of the width (default 4).") var mlpRatio: Double?
    @Option(help: "Frames per window (default 50).") var windowFrames: Int?
    @Option(help: "Previous-window prefix frames (default 10).") var prefixFrames: Int?
    @Option(help: "Audio encoder hidden states per feature frame (default 5).") var audioLayers: Int?
    @Option(help: "Width of the audio hidden states (default 384).") var audioWidth: Int?
    @Option(help: "Seed of the initialisation.") var seed = 0
    @Option(help: "Std of random values given to the zero-initialised parameters (0: keep zeros, v = 0).")
    var perturb: Float = 0

    func run() throws {
        var shape: [String: Double] = [:]
        for (key, value) in [("latent_dim", latentDim), ("width", width), ("depth", depth), ("heads", heads),
                             ("window_frames", windowFrames), ("prefix_frames", prefixFrames),
                             ("audio_layers", audioLayers), ("audio_width", audioWidth)] {
            if let value { shape[key] = Double(value) }
        }
        if let mlpRatio { shape["mlp_ratio"] = mlpRatio }
        try VocalCheckpoint.writeRandom(to: output, like: like, shape: shape, seed: seed, perturb: perturb)
        print("wrote \(output)")
    }
}
