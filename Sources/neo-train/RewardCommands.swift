import ArgumentParser
import Foundation
import NeoTrain

struct Reward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train, evaluate and apply the reward model.",
        subcommands: [RewardTrain.self, RewardEval.self, RewardScore.self, RewardSynth.self])
}

struct RewardTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a reward model from a recipe ([model] kind = \"reward\").")

    @OptionGroup var options: RecipeRunOptions

    func run() throws {
        let outcome = try RewardCommands.train(recipePath: options.recipe, overrides: options.overrides.values, runDirectory: options.runDirectory, resume: options.resume)
        try outcome.finish()
    }
}

struct RewardEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Offline evaluation on held-out identities and languages: pairwise accuracy per degradation and strength, AUROC, Spearman, aspect heads.")

    @Option(help: "Reward checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "A clip folder (NAME.motion.npy + NAME.audio.npy, clips.json), a dataset folder (dataset.json, shards with cached features), or 'synthetic'; default: the data of the checkpoint's recipe.")
    var data: String?

    @Option(help: "Where to write the JSON report (layout: docs/reward-report.md).")
    var out: String?

    @Flag(help: "Treat every clip of --data as held out (one subset, all_clips).")
    var allHeldOut = false

    @Option(help: "Seed of the degradations' draws (default: the recipe's reward.eval_seed).")
    var seed: Int?

    func run() throws {
        let report = try RewardCommands.evaluate(checkpoint: checkpoint, data: data, out: out, allHeldOut: allHeldOut, seed: seed)
        print(report.table(), terminator: "")
        if let out { print("report written to \(out)") }
    }
}

struct RewardScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score", abstract: "Score one clip: overall, naturalness, expression range, audio alignment.")

    @Option(help: "Reward checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "The clip's audio: a sound file (Whisper hidden states are computed), or its features (.npy [layers, frames, width] at 50 fps, or a .h5 of `neo-train data features`).")
    var audio: String?

    @Option(help: "The clip's motion (.npy, [frames, motion_dim] at 25 fps).")
    var motion: String

    @Option(help: "Whisper encoder weights for a sound file (default: Checkpoints/pretrained/whisper-tiny-en.safetensors from scripts/setup.sh).")
    var weights: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let s = try RewardCommands.score(checkpoint: checkpoint, audio: audio, motion: motion, weights: weights)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            e.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try e.encode(s), as: UTF8.self))
        } else {
            print(String(format: "overall %.4f  naturalness %.4f  expression_range %.4f  audio_alignment %.4f  (%d frames, mean of %d windows)",
                         s.overall, s.naturalness, s.expressionRange, s.audioAlignment, s.frames, s.windows))
        }
    }
}

struct RewardSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth", abstract: "Write a reward recipe's synthetic corpus as a clip folder (.npy files and clips.json).")

    @Argument(help: "Reward recipe whose [data] synthetic_* keys and [model] audio shape describe the corpus.")
    var recipe: String

    @OptionGroup var overrides: RecipeOverrides

    @Option(help: "Output folder.")
    var out: String

    func run() throws {
        let n = try RewardCommands.writeSynthetic(recipePath: recipe, overrides: overrides.values, out: out)
        print("wrote \(n) clips to \(out)")
    }
}
