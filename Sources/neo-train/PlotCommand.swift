import ArgumentParser
import Foundation
import NeoTrain

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a run's training curves (metrics.jsonl) as curves.csv and curves.svg.")

    @Argument(help: "Run folder (holds metrics.jsonl).")
    var folder: String

    @Option(help: "Output folder (default: the run folder).")
    var out: String?

    @Option(help: "Comma-separated metrics keys.")
    var keys = "loss,eval_loss,eval_loss_ema"

    @Option(help: "Plot title.")
    var title: String?

    func run() throws {
        let written = try Curves.write(run: folder, out: out ?? folder, keys: keys.split(separator: ",").map(String.init), title: title)
        print("wrote " + written.joined(separator: ", "))
    }
}
