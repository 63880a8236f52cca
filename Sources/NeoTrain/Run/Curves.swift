import Foundation

/// Training curves from a run's `metrics.jsonl`: a CSV of chosen keys by step and an SVG line
/// plot (written by the framework itself with `LineChart`, no plotting library).
public enum Curves {
    /// Per key, the (step, value) points present in the file (steps without the key skipped).
    public static func read(metrics path: String, keys: [String]) throws -> [String: [(Int, Double)]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainError("\(path): metrics file not found") }
        var out: [String: [(Int, Double)]] = [:]
        for k in keys { out[k] = [] }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = obj["step"] as? Int else { continue }
            for k in keys { if let v = obj[k] as? Double, v.isFinite { out[k]!.append((step, v)) } }
        }
        return out
    }

    /// `step,key1,key2,…` with empty cells where a step lacks a key.
    public static func csv(_ series: [String: [(Int, Double)]], keys: [String]) -> String {
        var byStep: [Int: [String: Double]] = [:]
        for k in keys { for (s, v) in series[k] ?? [] { byStep[s, default: [:]][k] = v } }
        var out = "step," + keys.joined(separator: ",") + "\n"
        for s in byStep.keys.sorted() {
            out += "\(s)," + keys.map { byStep[s]![$0].map { "\($0)" } ?? "" }.joined(separator: ",") + "\n"
        }
        return out
    }

    /// A line plot of the series against the step, log-scaled y when `logY` (a `LineChart`).
    public static func svg(_ series: [String: [(Int, Double)]], keys: [String], title: String, logY: Bool = true,
                           width: Double = 720, height: Double = 420) -> String {
        var chart = LineChart(title: title, xLabel: "step", logY: logY, frame: ChartFrame(width: width, height: height))
        for k in keys { chart.add(k, steps: series[k] ?? []) }
        return chart.svg()
    }

    /// Writes `curves.csv` and `curves.svg` for a run folder's metrics into `out`.
    @discardableResult
    public static func write(run: String, out: String, keys: [String] = ["loss", "eval_loss", "eval_loss_ema"],
                             title: String? = nil) throws -> [String] {
        let series = try read(metrics: run + "/metrics.jsonl", keys: keys)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let csvPath = out + "/curves.csv", svgPath = out + "/curves.svg"
        try Data(csv(series, keys: keys).utf8).write(to: URL(fileURLWithPath: csvPath))
        let name = title ?? "\(URL(fileURLWithPath: run).lastPathComponent): flow-matching loss"
        try Data(svg(series, keys: keys, title: name).utf8).write(to: URL(fileURLWithPath: svgPath))
        return [csvPath, svgPath]
    }
}
