import NeoNN
import NeoTensor

/// A kind of model that `neo-train pretrain` can train, selected by a recipe's `[model] kind`.
///
/// A model kind is its recipe sections, an estimate of the memory a recipe asks for, and a
/// function that builds a `TrainingTask` (model, batch source, loss, evaluation) from a decoded
/// recipe; `TrainingRun` with a `PretrainStep` does the rest. To add one, write the task and
/// its sections and append a `ModelKind` to `ModelKind.builtIn`:
///
/// ```swift
/// ModelKind(name: "vocal", summary: "speech → performance model",
///           sections: [SectionSchema(VocalModelSection.self), SectionSchema(VocalDataSection.self)],
///           memory: VocalKind.memory) { recipe in
///     try VocalTask(recipe: recipe)
/// }
/// ```
public struct ModelKind: Sendable {
    public let schema: RecipeKindSchema
    /// The large allocations the recipe implies, checked against the machine before anything
    /// is built (`MemoryBudget`).
    public let memory: @Sendable (Recipe) -> [MemoryRequest]
    /// Trains (or resumes) the run described by the recipe with the driver `run`.
    public let pretrain: @Sendable (_ recipe: Recipe, _ run: TrainingRun) throws -> TrainingOutcome

    public var name: String { schema.name }

    /// A kind trained by the generic step: `makeTask` builds the task from the recipe.
    public init(name: String, summary: String, sections: [SectionSchema],
                memory: @escaping @Sendable (Recipe) -> [MemoryRequest],
                makeTask: @escaping @Sendable (Recipe) throws -> any TrainingTask) {
        schema = RecipeKindSchema(name: name, summary: summary, sections: sections)
        self.memory = memory
        pretrain = { recipe, run in try trainGeneric(makeTask(recipe), recipe: recipe, run: run) }
    }

    /// Every kind `neo-train pretrain` knows.
    public static let builtIn: [ModelKind] = [
        ToyRegression.kind,
        RewardTraining.kind,
        VocalKind.kind,
    ]
}

/// Opens the task's concrete type for the generic step.
private func trainGeneric<T: TrainingTask>(_ task: T, recipe: Recipe, run: TrainingRun) throws -> TrainingOutcome {
    try run.run(PretrainStep(task: task, recipe: recipe))
}
