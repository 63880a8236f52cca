import ArgumentParser
import Foundation
import NeoTrain

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job on its small built-in default (the README's first command).",
        discussion: """
            Synthetic corpus → Whisper features → VOCAL pretraining → reward-model training and \
            evaluation → Kinetic-GRPO → base vs tuned on held-out identities → report. Run it \
            again after an interruption and it resumes where it stopped.
            """)

    @Option(help: "Run folder: corpus, every stage's checkpoints and metrics.")
    var output = "runs/demo"

    @Option(help: "Report folder (default: Experiments/<name of the run folder>).")
    var report: String?

    @Option(help: "standard (the full demo) or quick (tiny models, about a minute).")
    var plan = "standard"

    @Option(parsing: .unconditional, help: "Seed of the corpus and of every stage.")
    var seed: Int?

    @Option(parsing: .unconditional, help: "Threads for corpus synthesis.")
    var threads = 2

    @Option(help: "Whisper encoder weights (default: Checkpoints/pretrained/whisper-tiny-en.safetensors, made by scripts/setup.sh).")
    var weights: String?

    func run() throws {
        guard var chosen = DemoPlan.named(plan) else {
            throw ValidationError("--plan: expected standard or quick, got '\(plan)'")
        }
        if let seed {
            guard seed >= 0 else { throw ValidationError("--seed: expected an integer ≥ 0, got \(seed)") }
            chosen.seed = seed
        }
        guard threads >= 1 else { throw ValidationError("--threads: expected an integer ≥ 1, got \(threads)") }
        var o = DemoPipeline.Options()
        o.output = output
        o.reportDirectory = report
        o.plan = chosen
        o.threads = threads
        o.whisperWeights = weights
        let status = try DemoPipeline.run(o)
        if status != 0 { throw ExitCode(status) }
    }
}
