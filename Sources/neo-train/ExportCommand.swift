import ArgumentParser
import NeoIO
import NeoExport
import NeoTrain

extension ExportFormat: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model for inference tools: an ONNX graph or a safetensors file.",
        discussion: "Inputs, outputs and tensor names: docs/export.md.")

    @Option(help: "Checkpoint file (.h5).")
    var checkpoint: String

    @Option(help: "onnx (the model's graph) or safetensors (every parameter, recipe in the metadata).")
    var format: ExportFormat

    @Option(help: "Output file; written under a temporary name and renamed, so a failure leaves none.")
    var out: String

    @Flag(help: "ONNX: use the EMA weights. safetensors: add the EMA weights under 'ema.'.")
    var ema = false

    func run() throws {
        try OutputGuard.refuseInputs(out: out, inputs: [("--checkpoint", checkpoint)])
        InterruptCleanup.install()
        let summary = try CheckpointExport.run(checkpoint: checkpoint, format: format, out: out, ema: ema,
                                               knownKinds: ModelKind.builtIn.map(\.name))
        print(summary)
    }
}
