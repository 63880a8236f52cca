import Foundation

/// The progress line of a long job: `step 120/1000  loss 0.4132  lr 3.00e-04  52.1 it/s  ETA 0:00:17`.
/// On a terminal it is redrawn in place every step; otherwise a plain line is printed every
/// `every` steps and at the last one.
public final class ProgressLine {
    public let total: Int
    public let every: Int
    public let isTerminal: Bool
    private var lastLength = 0

    public init(total: Int, every: Int, isTerminal: Bool = isatty(STDOUT_FILENO) == 1) {
        self.total = total
        self.every = max(1, every)
        self.isTerminal = isTerminal
    }

    /// `extra` is appended as is (e.g. `eval 0.0123`).
    public func update(step: Int, loss: Float, lr: Double, itPerSecond: Double, extra: String = "") {
        let remaining = Double(total - step) / max(itPerSecond, 1e-9)
        var line = "step \(step)/\(total)  loss \(Self.format(loss))  lr \(String(format: "%.2e", lr))  "
            + String(format: "%.1f it/s", itPerSecond) + "  ETA " + Self.duration(remaining)
        if !extra.isEmpty { line += "  " + extra }
        if isTerminal {
            let pad = max(0, lastLength - line.count)
            lastLength = line.count
            Self.write("\r" + line + String(repeating: " ", count: pad))
        } else if step % every == 0 || step == total || !extra.isEmpty {
            Self.write(line + "\n")
        }
    }

    /// Ends the redrawn line so following output starts on a fresh one.
    public func finish() {
        if isTerminal && lastLength > 0 { Self.write("\n") }
        lastLength = 0
    }

    static func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }

    static func format(_ v: Float) -> String {
        guard v.isFinite else { return "\(v)" }
        return abs(v) >= 1e-3 && abs(v) < 1e4 ? String(format: "%.4f", v) : String(format: "%.3e", v)
    }

    /// `h:mm:ss`, or `--` when unknown.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e8 else { return "--" }
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
