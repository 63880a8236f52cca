import ArgumentParser
import Foundation
import NeoTrain

struct BenchPictar: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pictar",
        abstract: "Pictar rendering fps with the volume cached; a training step, ours vs the same model in PyTorch (same weights, batch, threads).")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Batch 1, one repetition (checks the command, not the machine).")
    var quick = false

    @Option(help: "Model size: tiny (64 px), small (128 px) or base (256 px).")
    var size = "small"

    @Option(name: .customLong("torch-script"), help: "The PyTorch version of the model (default: scripts/bench_pictar_torch.py).")
    var torchScript: String?

    @Flag(name: .customLong("no-torch"), help: "Skip PyTorch.")
    var noTorch = false

    @Option(help: "Threads, ours and PyTorch's.")
    var threads = 2

    @Option(help: "Training batch (source/driving pairs).")
    var batch = 4

    @Option(help: "Timed training steps after a warm-up step (the median is reported).")
    var repeats = 5

    @Option(name: .customLong("render-frames"), help: "Timed rendered frames (the median is reported).")
    var renderFrames = 30

    func run() throws {
        let script = noTorch ? nil : (torchScript ?? "scripts/bench_pictar_torch.py")
        let result = try PictarBenchmark.run(size: size, torchScript: script, threads: threads, batch: batch,
                                             repeats: repeats, renderFrames: renderFrames, quick: quick)
        print(json ? try result.json() : result.table(), terminator: json ? "\n" : "")
    }
}
