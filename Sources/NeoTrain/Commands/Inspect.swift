import Foundation
import NeoIO

/// `neo-train inspect CHECKPOINT`: what a checkpoint holds, without loading its tensors.
public enum InspectCommand {
    /// The report: header (step, model kind, format, metric, metadata), every group with its
    /// datasets' shapes and types, and the recipe text. With `verify`, every dataset is read
    /// and checked against its checksum first.
    public static func describe(path: String, includeRecipe: Bool = true, verify: Bool = false) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainError("\(path): checkpoint file not found")
        }
        let info = try Checkpoint.info(of: path)
        var out = ""
        func line(_ key: String, _ value: String) { out += key.padding(toLength: 12, withPad: " ", startingAt: 0) + value + "\n" }
        line("checkpoint", path)
        line("format", "\(Checkpoint.formatName) version \(info.formatVersion)")
        line("step", String(info.step))
        line("model kind", info.modelKind.isEmpty ? "(none)" : info.modelKind)
        if let d = info.createdAt { line("created", ISO8601DateFormatter().string(from: d)) }
        if let m = info.metric { line("metric", "\(m)") }
        line("parameters", "\(info.parameterCount) in /model")
        for key in info.metadata.keys.sorted() { line("metadata", "\(key) = \(info.metadata[key]!)") }
        if verify {
            _ = try Checkpoint.read(from: path)
            line("checksums", "all \(info.datasets.count) datasets verified")
        }

        out += "groups:\n"
        let width = min(60, info.datasets.map(\.path.count).max() ?? 0)
        for group in info.groups {
            let members = info.datasets.filter { ($0.path as NSString).deletingLastPathComponent == group }
            let total = members.reduce(0) { $0 + $1.count }
            out += "  \(group)  (\(members.count) dataset\(members.count == 1 ? "" : "s"), \(total) element\(total == 1 ? "" : "s"))\n"
            for d in members {
                let shape = "[" + d.shape.map(String.init).joined(separator: ", ") + "]"
                out += "    " + d.path.padding(toLength: max(width, d.path.count), withPad: " ", startingAt: 0)
                    + "  " + shape + "  \(d.elementType)" + (d.filterIDs.isEmpty ? "" : "  filters \(d.filterIDs)") + "\n"
            }
        }
        if includeRecipe {
            out += "recipe:\n"
            out += info.recipe.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
            if !out.hasSuffix("\n") { out += "\n" }
        }
        return out
    }
}
