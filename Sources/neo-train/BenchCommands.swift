import ArgumentParser
import Foundation
import NeoTrain

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput; every figure also as a ratio over a reference from the same run.",
        subcommands: [BenchEngine.self])
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
