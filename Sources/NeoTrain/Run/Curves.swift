import Foundation

/// Training curves from a run's `metrics.jsonl`: a CSV of chosen keys by step and an SVG line
/// plot (written by the framework itself, no plotting library).
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

    /// A line plot of the series against the step, log-scaled y when `logY`.
    public static func svg(_ series: [String: [(Int, Double)]], keys: [String], title: String, logY: Bool = true,
                           width: Double = 720, height: Double = 420) -> String {
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        let left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let pts = keys.flatMap { series[$0] ?? [] }.filter { !logY || $0.1 > 0 }
        guard !pts.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\"/>\n" }
        func ty(_ v: Double) -> Double { logY ? log10(v) : v }
        let x0 = Double(pts.map(\.0).min()!), x1 = Double(Swift.max(pts.map(\.0).max()!, pts.map(\.0).min()! + 1))
        var y0 = pts.map { ty($0.1) }.min()!, y1 = pts.map { ty($0.1) }.max()!
        if y1 - y0 < 1e-9 { y0 -= 0.5; y1 += 0.5 }
        if logY { y0 = floor(y0 * 4) / 4; y1 = ceil(y1 * 4) / 4 }
        let pw = width - left - right, ph = height - top - bottom
        func px(_ s: Double) -> Double { left + (s - x0) / (x1 - x0) * pw }
        func py(_ v: Double) -> Double { top + (1 - (ty(v) - y0) / (y1 - y0)) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>\n"
        // Axes and ticks.
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#444\"/>\n"
        for i in 0...5 {
            let step = x0 + (x1 - x0) * Double(i) / 5
            s += "<text x=\"\(f(px(step)))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(Int(step.rounded()))</text>\n"
        }
        var ticks: [Double] = []
        if logY {
            for e in stride(from: floor(y0), through: ceil(y1), by: 1) {
                for m in [1.0, 2.0, 5.0] { ticks.append(m * pow(10, e)) }
            }
        } else {
            for i in 0...4 { ticks.append(y0 + (y1 - y0) * Double(i) / 4) }
        }
        for v in ticks where ty(v) >= y0 - 1e-9 && ty(v) <= y1 + 1e-9 {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + pw))\" y1=\"\(f(py(v)))\" y2=\"\(f(py(v)))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\">\(String(format: "%g", v))</text>\n"
        }
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\">step</text>\n"
        for (i, k) in keys.enumerated() {
            let data = (series[k] ?? []).filter { !logY || $0.1 > 0 }
            guard !data.isEmpty else { continue }
            let color = colors[i % colors.count]
            let path = data.map { "\(f(px(Double($0.0)))),\(f(py($0.1)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(data.count > 200 ? 1 : 2)\" points=\"\(path)\"/>\n"
            if data.count <= 40 {
                for p in data { s += "<circle cx=\"\(f(px(Double(p.0))))\" cy=\"\(f(py(p.1)))\" r=\"2.5\" fill=\"\(color)\"/>\n" }
            }
            let ly = top + 16 + Double(i) * 16
            s += "<line x1=\"\(f(left + pw - 150))\" x2=\"\(f(left + pw - 130))\" y1=\"\(f(ly - 4))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(f(left + pw - 124))\" y=\"\(f(ly))\">\(k)</text>\n"
        }
        return s + "</svg>\n"
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
