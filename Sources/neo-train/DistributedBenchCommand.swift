import ArgumentParser
import Foundation
import NeoTrain

struct BenchDistributed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed",
        abstract: "All-reduce bandwidth and a VOCAL step at 1 and 2 processes (mpirun), and projected scaling of vocal-base to 8/32/128 processes.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "VOCAL recipe whose step is measured at 1 and 2 processes.")
    var recipe = "Recipes/vocal-small.toml"

    @Option(help: "Global batch (windows) of that step; a multiple of 2.")
    var batch = 8

    @Option(name: .customLong("base-recipe"), help: "The recipe whose scaling is projected.")
    var baseRecipe = "Recipes/vocal-base.toml"

    @Option(name: .customLong("base-windows"), help: "Windows per rank in the projection's step.")
    var baseWindows = 4

    @Option(help: "Timed repetitions after a warm-up (the median is reported).")
    var repeats = 5

    @Option(name: .customLong("allreduce-mib"), help: "MiB reduced in the all-reduce measurement.")
    var allreduceMiB = 64

    @Flag(help: .hidden)
    var worker = false

    func run() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard batch >= 2, batch % 2 == 0 else { throw ValidationError("--batch must be an even number ≥ 2, got \(batch)") }
        guard baseWindows >= 1, allreduceMiB >= 1 else { throw ValidationError("--base-windows and --allreduce-mib must be at least 1") }
        if worker {
            if let w = try DistributedBenchmark.worker(recipePath: recipe, batch: batch, repeats: repeats, allReduceBytes: allreduceMiB << 20) {
                let e = JSONEncoder()
                e.outputFormatting = .sortedKeys
                print(DistributedBenchmark.workerPrefix + String(decoding: try e.encode(w), as: UTF8.self))
            }
            return
        }
        let exe = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let result = try DistributedBenchmark.run(executable: exe, recipePath: recipe, batch: batch, baseRecipePath: baseRecipe,
                                                  baseWindowsPerRank: baseWindows, repeats: repeats, allReduceBytes: allreduceMiB << 20)
        print(json ? try result.json() : result.table(), terminator: json ? "\n" : "")
    }
}
