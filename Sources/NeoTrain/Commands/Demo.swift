import Foundation
import NeoIO

/// `neo-train demo`: the main job end to end on a small built-in default. Today: the engine
/// benchmark, then the toy regression recipe trained to the end (resuming an interrupted demo).
public enum DemoCommand {
    public static func run(output: String) throws -> Int32 {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        print("== 1/2 engine benchmark")
        let bench = EngineBenchmark.run()
        print(EngineBenchmark.table(bench))
        try AtomicFile.write(Data((EngineBenchmark.json(bench) + "\n").utf8), to: output + "/engine-bench.json")

        print("== 2/2 toy regression training (Recipes/toy-regression.toml)")
        let runDir = output + "/toy-regression"
        let resume = FileManager.default.fileExists(atPath: runDir + "/recipe.toml")
        let outcome = try PretrainCommand.run(recipePath: "Recipes/toy-regression.toml", overrides: [],
                                              runDirectory: runDir, resume: resume)
        print(outcome.summary)
        if outcome.exitStatus != 0 { return outcome.exitStatus }
        print("demo finished: results in \(output)")
        return 0
    }
}

