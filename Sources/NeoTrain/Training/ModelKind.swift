import NeoNN
import NeoTensor

/// A kind of model that `neo-train pretrain` can train, selected by a recipe's `[model] kind`.
///
/// A model kind is its recipe sections plus a function that builds a `TrainingTask` (model,
/// batch source, loss, evaluation) from a decoded recipe; the generic `Trainer` does the rest.
/// To add one, write the task and its sections and append a `ModelKind` to `ModelKind.builtIn`:
///
/// ```swift
/// ModelKind(name: "vocal", summary: "speech → performance model",
///           sections: [SectionSchema(VocalModelSection.self), SectionSchema(VocalDataSection.self)]) { recipe in
///     try VocalTask(recipe: recipe)
/// }
/// ```
public struct ModelKind: Sendable {
    public let schema: RecipeKindSchema
    /// Trains (or resumes) the run described by the recipe in the run folder.
    public let pretrain: @Sendable (_ recipe: Recipe, _ folder: RunFolder, _ resume: Bool, _ debug: DebugHooks) throws -> TrainingOutcome

    public var name: String { schema.name }

    /// A kind trained by the generic loop: `makeTask` builds the task from the recipe.
    public init(name: String, summary: String, sections: [SectionSchema],
                makeTask: @escaping @Sendable (Recipe) throws -> any TrainingTask) {
        schema = RecipeKindSchema(name: name, summary: summary, sections: sections)
        pretrain = { recipe, folder, resume, debug in
            try trainGeneric(makeTask(recipe), recipe: recipe, folder: folder, resume: resume, debug: debug)
        }
    }

    /// A kind with its own loop.
    public init(name: String, summary: String, sections: [SectionSchema],
                pretrain: @escaping @Sendable (Recipe, RunFolder, Bool, DebugHooks) throws -> TrainingOutcome) {
        schema = RecipeKindSchema(name: name, summary: summary, sections: sections)
        self.pretrain = pretrain
    }

    /// Every kind `neo-train pretrain` knows.
    public static let builtIn: [ModelKind] = [
        ToyRegression.kind,
        RewardTraining.kind,
        VocalKind.kind,
    ]
}

/// Opens the task's concrete type for the generic trainer.
private func trainGeneric<T: TrainingTask>(_ task: T, recipe: Recipe, folder: RunFolder, resume: Bool,
                                           debug: DebugHooks) throws -> TrainingOutcome {
    try Trainer(task: task, recipe: recipe, runFolder: folder, debug: debug).run(resume: resume)
}
