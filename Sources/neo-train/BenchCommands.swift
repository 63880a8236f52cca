import ArgumentParser
import Foundation
import NeoTrain

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput; every figure also as a ratio over a reference from the same run.",
        subcommands: [BenchEngine.self, BenchVocal.self, BenchAudio.self, BenchRender.self, BenchPictar.self, BenchDistributed.self])
}

struct BenchEngine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "sgemm and memcpy references, then linear, attention, layer norm and conv3d forward+backward.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "One repetition per measurement (checks the command, not the machine).")
    var quick = false

    func run() throws {
        let result = EngineBenchmark.run(quick: quick)
        if json {
            print(try EngineBenchmark.json(result))
        } else {
            print(EngineBenchmark.table(result))
        }
    }
}

struct BenchVocal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocal",
        abstract: "A VOCAL training step, ours vs the same model in PyTorch (same weights, batch, threads); sampling 10 s with three-way guidance.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Tiny batch, one repetition (checks the command, not the machine).")
    var quick = false

    @Option(help: "VOCAL recipe whose model and batch are measured.")
    var recipe = "Recipes/vocal-small.toml"

    @Option(name: .customLong("torch-script"), help: "The PyTorch version of the model (default: scripts/bench_vocal_torch.py when present).")
    var torchScript: String?

    @Flag(name: .customLong("no-torch"), help: "Skip PyTorch.")
    var noTorch = false

    @Option(help: "Whisper weights, to add the feature time to the sampling figure.")
    var weights: String?

    @Option(parsing: .unconditional, help: "Threads, ours and PyTorch's.")
    var threads = 2

    @Option(parsing: .unconditional, help: "Timed training steps after a warm-up step (the median is reported).")
    var repeats = 5

    @Flag(name: .customLong("no-sampling"), help: "Skip the sampling figure (e.g. to profile the training step alone).")
    var noSampling = false

    func run() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        let script = noTorch ? nil : (torchScript ?? "scripts/bench_vocal_torch.py")
        let result = try VocalBenchmark.run(recipePath: recipe, torchScript: script, weights: weights, threads: threads,
                                            repeats: repeats, quick: quick, sampling: !noSampling)
        print(json ? try result.json() : result.table(), terminator: json ? "\n" : "")
    }
}

struct BenchAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio",
        abstract: "Seconds of audio encoded per second (log-mel + every Whisper hidden state), ours vs PyTorch on the same weights.")

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Whisper weights (default: Checkpoints/pretrained/whisper-tiny-en.safetensors).")
    var weights: String?

    @Option(help: "A speech file (default: espeak-ng speech).")
    var audio: String?

    @Option(parsing: .unconditional, help: "Seconds of speech.")
    var seconds = 60.0

    @Option(parsing: .unconditional, help: "Threads, ours and PyTorch's.")
    var threads = 2

    @Option(parsing: .unconditional, help: "Timed passes after a warm-up.")
    var repeats = 3

    @Flag(name: .customLong("no-torch"), help: "Skip PyTorch.")
    var noTorch = false

    func run() throws {
        let result = try AudioBenchCommand.run(weights: weights, audio: audio, seconds: seconds, threads: threads,
                                               repeats: repeats, torch: !noTorch)
        print(json ? result.json() : AudioBenchCommand.table(result))
    }
}

struct BenchRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Head renderer frames per second at 64, 128 and 256 px, on --threads threads vs one thread.")

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Frames rendered per size and thread count.")
    var frames = 250

    @Option(help: "Threads.")
    var threads = 2

    @Option(help: "Head model (default: Checkpoints/pretrained/head-anny.safetensors from scripts/setup.sh).")
    var asset: String?

    func run() throws {
        let r = try RenderBenchmark.run(frames: frames, threads: threads, asset: asset)
        print(json ? try r.json() : RenderBenchmark.table(r))
    }
}
