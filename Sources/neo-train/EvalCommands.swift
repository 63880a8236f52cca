import ArgumentParser
import Foundation
import NeoIO
import NeoTrain

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate trained models on held-out identities.",
        subcommands: [EvalMotion.self])
}

struct EvalMotion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motion",
        abstract: "Motion metrics of a VOCAL checkpoint's samples vs ground truth, the mean-motion baseline and the audio-from-other-clips control.")

    @Option(help: "VOCAL training checkpoint (.h5).")
    var checkpoint: String

    @Option(help: "Dataset folder (default: the checkpoint recipe's data.path).")
    var data: String?

    @Option(help: "Held-out split: test or validation (identities as the checkpoint's recipe holds them out).")
    var split = "test"

    @Option(help: "Write the report as JSON here.")
    var out: String?

    @Flag(help: "Print JSON instead of the table.")
    var json = false

    @Option(name: .customLong("max-clips"), parsing: .unconditional, help: "Evaluate at most this many clips.")
    var maxClips: Int?

    @Option(parsing: .unconditional, help: "Sampling steps (default: the recipe's).")
    var steps: Int?

    @Option(help: ArgumentHelp("Guidance weights (default: the recipe's).", valueName: "audio=W,identity=W,reference=W"))
    var cfg: String?

    @Option(help: "ode or sde (also euler, heun).")
    var sampler: String?

    @Option(parsing: .unconditional, help: "Seed of the sampling noise.")
    var seed = 0

    @Option(name: .customLong("audio-sweep"), help: ArgumentHelp("Extra rows: the model at these audio guidance weights.", valueName: "w1,w2,…"))
    var audioSweep: String?

    @Flag(name: .customLong("no-ema"), help: "Use the raw training weights even when the checkpoint holds EMA weights.")
    var noEMA = false

    func run() throws {
        if let out {
            try OutputGuard.refuseInputs(out: out, inputs: [("--checkpoint", checkpoint)] + (data.map { [("--data", $0)] } ?? []))
        }
        var o = EvalMotionCommand.Options(checkpoint: checkpoint)
        o.data = data; o.split = split; o.out = out; o.maxClips = maxClips; o.steps = steps; o.cfg = cfg
        o.sampler = sampler; o.seed = seed; o.noEMA = noEMA
        if let audioSweep {
            o.audioSweep = try audioSweep.split(separator: ",").map { item in
                guard let v = Double(item.trimmingCharacters(in: .whitespaces)) else {
                    throw TrainError("--audio-sweep: '\(item)' is not a number")
                }
                return v
            }
        }
        let result = try EvalMotionCommand.run(o)
        print(json ? try result.json() : result.table(), terminator: json ? "\n" : "")
    }
}
