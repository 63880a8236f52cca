import ArgumentParser
import NeoTrain

/// The options every training command shares: the recipe, `--set` overrides, the run folder
/// and `--resume`.
struct RecipeRunOptions: ParsableArguments {
    @Argument(help: "Recipe file (TOML), e.g. Recipes/toy-regression.toml.")
    var recipe: String

    @OptionGroup var overrides: RecipeOverrides

    @Option(name: .customLong("run-dir"), help: "Run folder (default: run.output_dir/run.name).")
    var runDirectory: String?

    @Flag(help: "Continue from the run folder's latest valid checkpoint.")
    var resume = false
}

/// `--set section.key=value`, repeatable.
struct RecipeOverrides: ParsableArguments {
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a recipe key; the value is TOML (repeatable).", valueName: "section.key=value"))
    var values: [String] = []
}

extension TrainingOutcome {
    /// Tells the user how the run ended (`unit`: what one step is called) and exits with the
    /// outcome's status when it is not 0 (128 + the signal that stopped it).
    func finish(unit: String = "step") throws {
        print(unit == "step" ? summary : summary.replacingOccurrences(of: " at step ", with: " at \(unit) "))
        if exitStatus != 0 { throw ExitCode(exitStatus) }
    }
}
