import NeoNN
import NeoTensor

/// A small built-in task that exercises the training machinery without real data: an MLP
/// learns a fixed random function (a one-hidden-layer tanh network drawn from the run seed)
/// from synthetic batches. Batch i is drawn from a generator derived from (seed, i), so the
/// source's position is just the number of batches drawn.
public enum ToyRegression {
    public static let kind = ModelKind(
        name: "toy-regression",
        summary: "an MLP fitting a fixed random function from synthetic batches (exercises the loop)",
        sections: [SectionSchema(ModelSection.self), SectionSchema(DataSection.self)],
        memory: memory
    ) { recipe in
        try Job(recipe: recipe)
    }

    /// Parameters (with gradients, moments, EMA), the activations and gradients a micro-batch
    /// keeps, and the held-out set with its forward pass.
    @Sendable public static func memory(_ recipe: Recipe) -> [MemoryRequest] {
        let m = recipe.section(ModelSection.self), d = recipe.section(DataSection.self)
        let widths = [m.inputDim] + m.hidden + [m.outputDim]
        let weights = zip(widths, widths.dropFirst()).reduce(0.0) { $0 + Double($1.0 * $1.1 + $1.1) }
        let hidden = Double(m.hidden.reduce(0, +))
        let perExample = Double(m.inputDim) + 4 * hidden + 3 * Double(m.outputDim) + Double(d.targetHidden)
        return [
            MemoryRequest(key: "model.hidden", bytes: 4 * weights * MemoryBudget.floatsPerParameter(recipe),
                          what: "\(Int(weights)) parameters with their gradients and optimiser state"),
            MemoryRequest(key: "train.batch", bytes: 4 * Double(recipe.train.batch) * perExample,
                          what: "the activations of a batch of \(recipe.train.batch)"),
            MemoryRequest(key: "data.eval_examples", bytes: 4 * Double(d.evalExamples) * (perExample - 2 * hidden),
                          what: "\(d.evalExamples) held-out examples"),
        ]
    }

    public enum Activation: String, CaseIterable, Sendable { case tanh, relu }

    /// `[model]` of `kind = "toy-regression"`.
    public struct ModelSection: RecipeSection {
        public static let name = "model"
        public var inputDim = 8
        public var hidden = [32, 32]
        public var outputDim = 1
        public var activation = Activation.tanh
        public init() {}
        public static var fields: [RecipeField<Self>] {[
            .integer("input_dim", \.inputDim, .range(1...4096), "input features"),
            .integers("hidden", \.hidden, .range(1...65536), "hidden layer widths"),
            .integer("output_dim", \.outputDim, .range(1...4096), "outputs"),
            .choice("activation", \.activation, "activation between layers"),
        ]}
    }

    /// `[data]` of the toy task: the synthetic target and its noise.
    public struct DataSection: RecipeSection {
        public static let name = "data"
        public var targetHidden = 16
        public var noise = 0.01
        public var evalExamples = 256
        public init() {}
        public static var fields: [RecipeField<Self>] {[
            .integer("target_hidden", \.targetHidden, .range(1...65536), "hidden width of the random target network"),
            .number("noise", \.noise, .nonNegative, "standard deviation of the noise added to targets"),
            .integer("eval_examples", \.evalExamples, .range(1...1_000_000), "held-out examples for evaluation"),
        ]}
    }

    public final class MLP: Module {
        public let layers: [Linear]
        let activation: Activation

        public init(_ widths: [Int], activation: Activation, generator: Generator) {
            layers = zip(widths, widths.dropFirst()).map { Linear($0, $1, generator: generator) }
            self.activation = activation
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            var h = x
            for (i, layer) in layers.enumerated() {
                h = layer(h)
                if i < layers.count - 1 { h = activation == .tanh ? h.tanh() : h.relu() }
            }
            return h
        }
    }

    /// The fixed random function y = W₂·tanh(W₁x + b₁) the model learns.
    struct Target {
        let w1: Tensor, b1: Tensor, w2: Tensor

        init(inputDim: Int, hidden: Int, outputDim: Int, generator: Generator) {
            w1 = Tensor.normal([hidden, inputDim], mean: 0, std: Float(1 / Double(inputDim).squareRoot()), generator: generator)
            b1 = Tensor.normal([hidden], mean: 0, std: 0.5, generator: generator)
            w2 = Tensor.normal([outputDim, hidden], mean: 0, std: Float(1 / Double(hidden).squareRoot()), generator: generator)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            noGrad { (x.matmul(w1.mT) + b1).tanh().matmul(w2.mT) }
        }

        /// `count` inputs ~ N(0, 1) and their noisy targets, drawn from `generator`.
        func examples(_ count: Int, inputDim: Int, noise: Float, generator: Generator) -> (Tensor, Tensor) {
            let x = Tensor.normal([count, inputDim], mean: 0, std: 1, generator: generator)
            var y = self(x)
            if noise > 0 { y = y + Tensor.normal(y.shape, mean: 0, std: noise, generator: generator) }
            return (x, y)
        }
    }

    /// Synthetic batches; batch i comes from the data stream derived with i.
    public final class Source: BatchSource {
        let target: Target
        let batch: Int
        let inputDim: Int
        let noise: Float
        let stream: Generator
        public private(set) var drawn = 0

        init(target: Target, batch: Int, inputDim: Int, noise: Float, stream: Generator) {
            self.target = target
            self.batch = batch
            self.inputDim = inputDim
            self.noise = noise
            self.stream = stream
        }

        public func next() throws -> (Tensor, Tensor) {
            let g = stream.derived(UInt64(drawn))
            drawn += 1
            return target.examples(batch, inputDim: inputDim, noise: noise, generator: g)
        }

        public var position: [String: Int] { ["batches": drawn] }

        public func restore(position: [String: Int]) throws {
            guard let n = position["batches"], n >= 0 else {
                throw TrainError("toy-regression: loader position \(position) has no valid 'batches' entry")
            }
            drawn = n
        }
    }

    public final class Job: TrainingTask {
        public let model: Module
        public let source: Source
        let mlp: MLP
        let evalSet: (Tensor, Tensor)

        public init(recipe: Recipe) throws {
            let m = recipe.section(ModelSection.self)
            let d = recipe.section(DataSection.self)
            let seed = recipe.run.seed
            let target = Target(inputDim: m.inputDim, hidden: d.targetHidden, outputDim: m.outputDim,
                                generator: Generator.stream(seed: seed, "toy-target"))
            mlp = MLP([m.inputDim] + m.hidden + [m.outputDim], activation: m.activation,
                      generator: Generator.stream(seed: seed, "model-init"))
            model = mlp
            source = Source(target: target, batch: recipe.train.batch, inputDim: m.inputDim, noise: Float(d.noise),
                            stream: Generator.stream(seed: seed, "toy-data"))
            evalSet = target.examples(d.evalExamples, inputDim: m.inputDim, noise: 0,
                                      generator: Generator.stream(seed: seed, "toy-eval"))
        }

        public func loss(_ batch: (Tensor, Tensor)) throws -> Tensor {
            (mlp(batch.0) - batch.1).square().mean()
        }

        public func loss(_ batch: (Tensor, Tensor), shard: BatchShard) throws -> Tensor {
            guard !shard.isWhole else { return try loss(batch) }
            let r = try shard.range(batch: batch.0.shape[0])
            return try loss((batch.0.slice(dim: 0, start: r.lowerBound, end: r.upperBound).contiguous(),
                             batch.1.slice(dim: 0, start: r.lowerBound, end: r.upperBound).contiguous()))
        }

        public func evaluate() throws -> [(String, Float)] {
            [("eval_loss", (mlp(evalSet.0) - evalSet.1).square().mean().item)]
        }
    }
}
