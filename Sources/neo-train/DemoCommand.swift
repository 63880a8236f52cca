import ArgumentParser
import Foundation
import NeoTrain

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job on its small built-in default (the README's first command).")

    @Option(help: "Folder for the demo's runs and report.")
    var output = "runs/demo"

    func run() throws {
        let outcome = try DemoCommand.run(output: output)
        if outcome != 0 { throw ExitCode(outcome) }
    }
}
