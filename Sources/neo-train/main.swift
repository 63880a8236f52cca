import ArgumentParser
import Foundation
import NeoTrain

/// Argument parsing only; the work is done by NeoTrain. Every failure reaches the user as one
/// line on stderr and a non-zero exit status.
struct NeoTrainCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neo-train",
        abstract: "Train talking-head models on the CPU.",
        subcommands: [Pretrain.self, GRPO.self, DataGroup.self, Sample.self, Eval.self, Inspect.self, Plot.self, Bench.self, Demo.self, Reward.self, Export.self]
    )
}

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from a recipe (the recipe's [model] kind picks the model).")

    @OptionGroup var options: RecipeRunOptions

    func run() throws {
        let outcome = try PretrainCommand.run(recipePath: options.recipe, overrides: options.overrides.values,
                                              runDirectory: options.runDirectory, resume: options.resume)
        try outcome.finish()
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a checkpoint's groups, dataset shapes, step, model kind and recipe.")

    @Argument(help: "Checkpoint file (.h5).")
    var checkpoint: String

    @Flag(help: "Leave out the recipe text.")
    var noRecipe = false

    @Flag(help: "Read every dataset and check its checksum.")
    var verify = false

    func run() throws {
        print(try InspectCommand.describe(path: checkpoint, includeRecipe: !noRecipe, verify: verify), terminator: "")
    }
}

do {
    var command = try NeoTrainCLI.parseAsRoot()
    try command.run()
} catch let exit as ExitCode {
    Foundation.exit(exit.rawValue)
} catch {
    if let message = CommandLineError.message(for: error) {
        FileHandle.standardError.write(Data("neo-train: error: \(message)\n".utf8))
        Foundation.exit(1)
    }
    NeoTrainCLI.exit(withError: error)
}
