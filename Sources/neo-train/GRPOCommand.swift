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

    @Argument(help: "GRPO recipe (TOML), e.g. Recipes/grpo-small.toml.")
    var recipe: String

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a recipe key; the value is TOML (repeatable).", valueName: "section.key=value"))
    var overrides: [String] = []

    @Option(name: .customLong("run-dir"), help: "Run folder (default: run.output_dir/run.name).")
    var runDirectory: String?

    @Flag(help: "Continue from the run folder's latest valid checkpoint.")
    var resume = false

    @Option(name: .customLong("dump-rollout"),
            help: ArgumentHelp("Write every recorded quantity of the first iteration run to this HDF5 file (docs/grpo-rollout-dump.md).",
                               valueName: "FILE.h5"))
    var dumpRollout: String?

    func run() throws {
        let outcome = try GRPOCommand.run(recipePath: recipe, overrides: overrides, runDirectory: runDirectory,
                                          resume: resume, dumpRollout: dumpRollout)
        print(outcome.summary.replacingOccurrences(of: " at step ", with: " at iteration "))
        if outcome.exitStatus != 0 { throw ExitCode(outcome.exitStatus) }
    }
}

struct GRPORandomPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "random-policy",
        abstract: "Write a randomly initialised VOCAL checkpoint (smoke runs and measurements, not quality).")

    @Argument(help: "Output checkpoint (.h5).")
    var output: String

    @Option(help: "Latent numbers per frame.") var latentDim = 70
    @Option(help: "Token width of both streams.") var width = 128
    @Option(help: "MMDiT blocks.") var depth = 4
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Frames per window.") var windowFrames = 50
    @Option(help: "Previous-window prefix frames.") var prefixFrames = 10
    @Option(help: "Audio encoder hidden states per feature frame.") var audioLayers = 5
    @Option(help: "Width of the audio hidden states.") var audioWidth = 384
    @Option(help: "Seed of the initialisation.") var seed = 0
    @Option(help: "Std of random values given to the zero-initialised parameters (0: keep zeros, v = 0).")
    var perturb: Float = 0

    func run() throws {
        try VocalCheckpoint.writeRandom(to: output, latentDim: latentDim, width: width, depth: depth, heads: heads,
                                        windowFrames: windowFrames, prefixFrames: prefixFrames, audioLayers: audioLayers,
                                        audioWidth: audioWidth, seed: seed, perturb: perturb)
        print("wrote \(output)")
    }
}
