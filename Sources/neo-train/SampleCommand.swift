import ArgumentParser
import Foundation
import NeoIO
import NeoTrain

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Speech → motion latents (float32 [frames, D] .npy at 25 fps) with a VOCAL checkpoint.")

    @Option(help: "VOCAL training checkpoint (.h5); its EMA weights are used when present.")
    var checkpoint: String

    @Option(help: "Speech audio file (any format libsndfile reads).")
    var audio: String

    @Option(help: "Reference motion of the speaker: .npy float32 [frames, D].")
    var identity: String?

    @Option(help: "Emotion: neutral, happy, serious, surprised, explaining or laughing.")
    var emotion: String?

    @Option(help: ArgumentHelp("Guidance weights (default: the recipe's [vocal] cfg_*).", valueName: "audio=W,identity=W,reference=W"))
    var cfg: String?

    @Option(parsing: .unconditional, help: "Sampling steps, 1…1000 (default: the recipe's sample_steps).")
    var steps: Int?

    @Option(help: "ode or sde (also euler, heun); default: the recipe's sampler.")
    var sampler: String?

    @Option(name: .customLong("noise-level"), parsing: .unconditional, help: "Noise level a of the SDE sampler.")
    var noiseLevel: Double?

    @Option(parsing: .unconditional, help: "Seed of the sampling noise.")
    var seed = 0

    @Option(help: "Output .npy file.")
    var out: String

    @Option(help: "Whisper encoder weights (default: Checkpoints/pretrained/whisper-tiny-en.safetensors).")
    var weights: String?

    @Flag(name: .customLong("no-ema"), help: "Use the raw training weights even when the checkpoint holds EMA weights.")
    var noEMA = false

    func run() throws {
        try OutputGuard.refuseInputs(out: out, inputs: [("--checkpoint", checkpoint), ("--audio", audio)]
                                     + [("--identity", identity), ("--weights", weights)].compactMap { o, p in p.map { (o, $0) } })
        InterruptCleanup.install()
        var o = SampleCommand.Options(checkpoint: checkpoint, audio: audio, out: out)
        o.identity = identity; o.emotion = emotion; o.cfg = cfg; o.steps = steps; o.sampler = sampler
        o.noiseLevel = noiseLevel; o.seed = seed; o.weights = weights; o.noEMA = noEMA
        print(try SampleCommand.run(o))
    }
}
