import Foundation

/// Memory a recipe asks for, by the recipe key that drives it, estimated before anything is
/// allocated. The estimates count the large buffers (parameters with their gradients,
/// optimiser moments and EMA; activations kept for backward; held-out sets) and leave out the
/// small ones, so they are lower bounds: a run they refuse cannot fit.
public struct MemoryRequest: Sendable, Equatable {
    /// The recipe key whose value sets the size (`train.batch`, `model.hidden` …).
    public var key: String
    public var bytes: Double
    /// What the bytes are for.
    public var what: String

    public init(key: String, bytes: Double, what: String) {
        self.key = key
        self.bytes = bytes
        self.what = what
    }
}

public enum MemoryBudget {
    /// Bytes the machine can give a new process without swapping: `MemAvailable` of
    /// `/proc/meminfo`, else the physical memory.
    public static func available() -> Double {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            return kb * 1024
        }
        return Double(ProcessInfo.processInfo.physicalMemory)
    }

    /// Throws one line naming the key of the largest request and the estimate when the
    /// requests together exceed `available`.
    public static func check(_ requests: [MemoryRequest], available: Double = available(), source: String) throws {
        let total = requests.reduce(0) { $0 + $1.bytes }
        guard total > available, let largest = requests.max(by: { $0.bytes < $1.bytes }) else { return }
        throw TrainError("\(source): \(largest.key): the run needs about \(format(total)) of memory (\(format(largest.bytes)) for \(largest.what)), more than the \(format(available)) this machine has available; lower \(largest.key)")
    }

    /// `12.3 GiB`, `512.0 MiB`, `14.5 KiB`.
    public static func format(_ bytes: Double) -> String {
        if bytes >= Double(1 << 30) { return String(format: "%.1f GiB", bytes / Double(1 << 30)) }
        if bytes >= Double(1 << 20) { return String(format: "%.1f MiB", bytes / Double(1 << 20)) }
        return String(format: "%.1f KiB", bytes / 1024)
    }

    /// Floats a parameter costs in training: itself, its gradient, the optimiser's moments and
    /// the EMA shadow.
    public static func floatsPerParameter(_ recipe: Recipe) -> Double {
        let moments: Double = recipe.optim.optimizer == .adamw ? 2 : (recipe.optim.momentum > 0 ? 1 : 0)
        return 2 + moments + (recipe.train.ema > 0 ? 1 : 0)
    }

    /// Parameters of a transformer of `depth` blocks over two token streams of width `width`
    /// (attention, MLP of hidden width `mlpHidden`, adaptive-norm modulation).
    public static func transformerParameters(width: Int, depth: Int, mlpHidden: Int) -> Double {
        let c = Double(width), h = Double(mlpHidden)
        return Double(depth) * (2 * (4 * c * c + 2 * c * h) + 12 * c * c)
    }

    /// Activations one sample keeps for backward in such a transformer over `tokens` tokens:
    /// per block the stream tensors, the MLP hidden layer and the attention weights, doubled
    /// for their gradients; one block's worth with gradient checkpointing.
    public static func transformerActivations(tokens: Int, width: Int, depth: Int, heads: Int, mlpHidden: Int,
                                              checkpointing: Bool) -> Double {
        let t = Double(tokens)
        let perBlock = t * (12 * Double(width) + 2 * Double(mlpHidden)) + Double(heads) * t * t
        return 2 * 4 * perBlock * Double(checkpointing ? 1 : depth)
    }
}
