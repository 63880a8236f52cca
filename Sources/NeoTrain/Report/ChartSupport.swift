import Foundation

/// The canvas of a chart: its size in pixels and the margins around the plot area.
public struct ChartFrame: Sendable, Equatable {
    public var width: Double
    public var height: Double
    public var left: Double
    public var right: Double
    public var top: Double
    public var bottom: Double

    public init(width: Double = 720, height: Double = 420, left: Double = 78, right: Double = 20,
                top: Double = 40, bottom: Double = 56) {
        self.width = width; self.height = height
        self.left = left; self.right = right; self.top = top; self.bottom = bottom
    }

    public var plotWidth: Double { width - left - right }
    public var plotHeight: Double { height - top - bottom }
}

/// A fixed colour cycle, so a series' colour depends only on its position.
public enum ChartPalette {
    public static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    public static func color(_ index: Int) -> String { colors[index % colors.count] }
}

/// Number formatting that never depends on the locale or the platform and never prints "-0".
public enum ChartFormat {
    /// `value` with exactly `decimals` digits after the point.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var s = String(format: "%.\(Swift.max(0, Swift.min(decimals, 17)))f", value)
        if s.hasPrefix("-") && s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { s.removeFirst() }
        return s
    }

    /// A pixel coordinate (one decimal).
    static func px(_ value: Double) -> String { fixed(value, 1) }

    /// A short general form (`%g`: six significant digits, exponent for very large or small).
    public static func general(_ value: Double) -> String {
        guard value.isFinite else { return fixed(value, 0) }
        return value == 0 ? "0" : String(format: "%g", value)
    }

    /// Text for SVG/XML content or attributes.
    public static func xml(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// Axis ticks at "nice" values (1, 2, 2.5 or 5 times a power of ten) covering a data range.
public struct NiceScale: Sendable, Equatable {
    /// The axis range: the data range widened to whole tick steps.
    public let lower: Double
    public let upper: Double
    public let step: Double
    public let ticks: [Double]
    /// Digits after the point that show every tick exactly.
    public let decimals: Int

    /// About `targetTicks` ticks spanning `minimum...maximum` (a degenerate range is widened).
    public init(minimum: Double, maximum: Double, targetTicks: Int = 6) {
        var lo = minimum, hi = maximum
        if !lo.isFinite || !hi.isFinite { lo = 0; hi = 1 }
        if hi < lo { swap(&lo, &hi) }
        if hi - lo <= Swift.max(abs(lo), abs(hi)) * 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        let step = Self.niceStep((hi - lo) / Double(Swift.max(1, targetTicks - 1)))
        let first = (lo / step * (1 + 1e-12)).rounded(.down), last = (hi / step * (1 - 1e-12)).rounded(.up)
        let kLo = Int(first), kHi = Swift.max(Int(last), kLo + 1)
        self.step = step
        self.lower = Double(kLo) * step
        self.upper = Double(kHi) * step
        self.ticks = (kLo...kHi).map { Double($0) * step }
        var d = Swift.max(0, -Int(log10(step).rounded(.down)))
        // 2.5 × 10^k needs one digit more than the power of ten.
        if abs(step / pow(10, Double(-d)) - 2.5) < 1e-9 || abs(step / pow(10, Double(-d)) - 0.25) < 1e-9 { d += 1 }
        self.decimals = d
    }

    public func label(_ tick: Double) -> String { ChartFormat.fixed(tick, decimals) }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let e = log10(raw).rounded(.down)
        let f = raw / pow(10, e)
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10
        return nice * pow(10, e)
    }
}

/// A y axis: where values go on the plot, and the ticks to draw.
struct ValueAxis {
    let logarithmic: Bool
    let lower: Double   // in axis units (log10 of the value when logarithmic)
    let upper: Double
    let ticks: [(value: Double, label: String)]

    func unit(_ v: Double) -> Double { logarithmic ? log10(v) : v }
    /// 0 at the lower end, 1 at the upper end.
    func fraction(_ v: Double) -> Double { (unit(v) - lower) / (upper - lower) }

    static func linear(_ minimum: Double, _ maximum: Double, targetTicks: Int = 6) -> ValueAxis {
        let s = NiceScale(minimum: minimum, maximum: maximum, targetTicks: targetTicks)
        return ValueAxis(logarithmic: false, lower: s.lower, upper: s.upper, ticks: s.ticks.map { ($0, s.label($0)) })
    }

    /// Positive values only. The range is the data's (padded by 3% of its log span); ticks at
    /// 1, 2, 5 × 10^k (every integer multiple under a decade's span), or linear nice ticks when
    /// those give fewer than two.
    static func logarithmic(_ minimum: Double, _ maximum: Double) -> ValueAxis {
        var lo = log10(minimum), hi = log10(maximum)
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.03
        lo -= pad; hi += pad
        let multiples: [Double] = hi - lo < 1 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : hi - lo < 3 ? [1, 2, 5] : [1]
        var ticks: [(Double, String)] = []
        for e in Int(lo.rounded(.down))...Int(hi.rounded(.up)) {
            for m in multiples {
                let v = m * pow(10, Double(e))
                let u = log10(v)
                if u >= lo - 1e-12 && u <= hi + 1e-12 { ticks.append((v, ChartFormat.general(v))) }
            }
        }
        if ticks.count < 2 {
            let s = NiceScale(minimum: pow(10, lo), maximum: pow(10, hi), targetTicks: 4)
            ticks = s.ticks.filter { $0 > 0 && log10($0) >= lo - 1e-12 && log10($0) <= hi + 1e-12 }.map { ($0, s.label($0)) }
        }
        return ValueAxis(logarithmic: true, lower: lo, upper: hi, ticks: ticks)
    }
}

/// A small SVG text builder with the common pieces every chart draws.
struct SVGCanvas {
    let frame: ChartFrame
    private(set) var text = ""

    init(frame: ChartFrame, title: String) {
        self.frame = frame
        text = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(ChartFormat.fixed(frame.width, 0))\" height=\"\(ChartFormat.fixed(frame.height, 0))\" "
            + "viewBox=\"0 0 \(ChartFormat.fixed(frame.width, 0)) \(ChartFormat.fixed(frame.height, 0))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        text += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        if !title.isEmpty {
            self.text(frame.width / 2, 24, title, anchor: "middle", extra: " font-size=\"15\"")
        }
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1) {
        text += "<line x1=\"\(ChartFormat.px(x1))\" y1=\"\(ChartFormat.px(y1))\" x2=\"\(ChartFormat.px(x2))\" y2=\"\(ChartFormat.px(y2))\" stroke=\"\(stroke)\""
            + (width == 1 ? "" : " stroke-width=\"\(ChartFormat.general(width))\"") + "/>\n"
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String? = nil) {
        text += "<rect x=\"\(ChartFormat.px(x))\" y=\"\(ChartFormat.px(y))\" width=\"\(ChartFormat.px(w))\" height=\"\(ChartFormat.px(h))\" fill=\"\(fill)\""
            + (stroke.map { " stroke=\"\($0)\"" } ?? "") + "/>\n"
    }

    mutating func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "start", extra: String = "") {
        text += "<text x=\"\(ChartFormat.px(x))\" y=\"\(ChartFormat.px(y))\""
            + (anchor == "start" ? "" : " text-anchor=\"\(anchor)\"") + extra + ">\(ChartFormat.xml(content))</text>\n"
    }

    mutating func raw(_ s: String) { text += s }

    /// Horizontal grid lines and labels of a value axis on the left of the plot area.
    mutating func valueAxis(_ axis: ValueAxis, label: String) {
        let f = frame
        for t in axis.ticks {
            let y = f.top + (1 - axis.fraction(t.value)) * f.plotHeight
            line(f.left, y, f.left + f.plotWidth, y, stroke: "#e0e0e0")
            text(f.left - 6, y + 4, t.label, anchor: "end")
        }
        if !label.isEmpty {
            let x = 16.0, y = f.top + f.plotHeight / 2
            text(x, y, label, anchor: "middle", extra: " transform=\"rotate(-90 \(ChartFormat.px(x)) \(ChartFormat.px(y)))\"")
        }
    }

    /// A legend box in the corner of the plot area where `overlap` (the amount of data under a
    /// box x, y, width, height) is least: top-right, top-left, bottom-right, bottom-left, the
    /// first on ties.
    mutating func legend(_ entries: [(name: String, color: String)],
                         overlap: (Double, Double, Double, Double) -> Double,
                         swatch: (inout SVGCanvas, Double, Double, String) -> Void) {
        guard !entries.isEmpty else { return }
        let f = frame
        // Width estimated from the text (about 7 px per character at 12 px).
        let textWidth = Double(entries.map(\.name.count).max() ?? 0) * 7
        let w = textWidth + 40, h = Double(entries.count) * 16 + 8
        let xs = [f.left + f.plotWidth - w - 8, f.left + 8], ys = [f.top + 8, f.top + f.plotHeight - h - 8]
        let corners = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[0], ys[1]), (xs[1], ys[1])]
        var best = corners[0], bestOverlap = Double.infinity
        for c in corners {
            let o = overlap(c.0, c.1, w, h)
            if o < bestOverlap { best = c; bestOverlap = o }
        }
        let (x0, y0) = best
        text += "<rect x=\"\(ChartFormat.px(x0))\" y=\"\(ChartFormat.px(y0))\" width=\"\(ChartFormat.px(w))\" height=\"\(ChartFormat.px(h))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n"
        for (i, e) in entries.enumerated() {
            let y = y0 + 16 + Double(i) * 16
            swatch(&self, x0 + 8, y - 4, e.color)
            text(x0 + 32, y, e.name)
        }
    }

    func finished() -> String { text + "</svg>\n" }
}

extension String {
    /// Writes the text to `path` (atomically), creating the parent folder.
    func writeChart(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(utf8).write(to: url, options: .atomic)
        } catch {
            throw TrainError("\(path): cannot write: \(error.localizedDescription)")
        }
    }
}
