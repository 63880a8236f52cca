import Foundation

/// `neo-train pretrain RECIPE [--set k=v]... [--run-dir DIR] [--resume]`.
public enum PretrainCommand {
    /// Decodes the recipe, checks its memory request, prepares the run folder and trains with
    /// the recipe's model kind. Messages go to stdout; failures are thrown as errors with
    /// one-line descriptions.
    public static func run(recipePath: String, overrides: [String], runDirectory: String?, resume: Bool,
                           kinds: [ModelKind] = ModelKind.builtIn,
                           debug: DebugHooks = .fromEnvironment()) throws -> TrainingOutcome {
        try DataParallel.run {
            try train(recipePath: recipePath, overrides: overrides, runDirectory: runDirectory, resume: resume, kinds: kinds, debug: debug)
        }
    }

    static func train(recipePath: String, overrides: [String], runDirectory: String?, resume: Bool, kinds: [ModelKind],
                      debug: DebugHooks) throws -> TrainingOutcome {
        let schemas = kinds.map(\.schema)
        let recipe = try Recipe.load(path: recipePath, overrides: overrides, kinds: schemas)
        guard let kind = kinds.first(where: { $0.name == recipe.modelKind }) else {
            throw TrainError("\(recipePath): model.kind: no trainer for \(recipe.modelKind ?? "(none)")")
        }
        try MemoryBudget.check(kind.memory(recipe), source: recipe.source)
        let folder = try RunFolder(path: runDirectory ?? recipe.run.outputDir + "/" + recipe.run.name)
        let run = try TrainingRun(folder: folder, recipeText: recipe.text, modelKind: recipe.modelKind ?? "",
                                  options: RunOptions(train: recipe.train, debug: debug), resume: resume) { previous in
            (try? Recipe.parse(text: previous, source: folder.recipePath, kinds: schemas)).map(recipe.differences(from:))
        }
        if let warning = recipe.optim.warmupWarning(totalSteps: recipe.train.steps, stepsKey: "train.steps") { folder.warn(warning) }
        folder.note("\(recipe.modelKind ?? "model") run in \(folder.path) (\(recipe.train.steps) steps)")
        return try kind.pretrain(recipe, run)
    }
}

extension TrainingOutcome {
    /// The process exit status for this outcome: 0 when finished, 128 + signal when stopped by one.
    public var exitStatus: Int32 {
        switch ending {
        case .finished: return 0
        case .interrupted(let sig): return 128 + sig
        }
    }

    /// What to tell the user at the end.
    public var summary: String {
        let loss = lastLoss.map { " (loss \(ProgressLine.format($0)))" } ?? ""
        switch ending {
        case .finished:
            return "finished at step \(step)\(loss); checkpoint \(checkpointPath ?? "(none)")"
        case .interrupted(let sig):
            let name = sig == SIGINT ? "interrupted" : sig == SIGTERM ? "terminated" : "stopped by signal \(sig)"
            return "\(name) at step \(step)\(loss); checkpoint \(checkpointPath ?? "(none)"); continue with --resume"
        }
    }
}
