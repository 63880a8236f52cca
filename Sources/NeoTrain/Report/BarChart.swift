import Foundation

/// A grouped bar chart: along x one group per label (e.g. a model), in each group one bar per
/// series (e.g. "before" and "after"), as deterministic SVG. Bars rise from zero (down for
/// negative values); a non-finite value leaves its bar out.
public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One value per group.
        public var values: [Double]
        public init(name: String, values: [Double]) { self.name = name; self.values = values }
    }

    public var title: String
    public var yLabel: String
    public var groups: [String]
    public var frame: ChartFrame
    /// Digits after the point of the value printed above each bar; nil prints none.
    public var valuePrecision: Int?
    public private(set) var series: [Series] = []

    public init(title: String, yLabel: String = "", groups: [String], frame: ChartFrame = ChartFrame(),
                valuePrecision: Int? = 3) {
        self.title = title; self.yLabel = yLabel; self.groups = groups
        self.frame = frame; self.valuePrecision = valuePrecision
    }

    /// A series with one value per group (missing trailing values count as absent).
    public mutating func add(_ name: String, _ values: [Double]) {
        series.append(Series(name: name, values: values))
    }

    func value(_ s: Int, _ g: Int) -> Double? {
        let v = g < series[s].values.count ? series[s].values[g] : .nan
        return v.isFinite ? v : nil
    }

    /// The x extent of bar `s` in group `g`: (left edge, width).
    public func barPosition(series s: Int, group g: Int) -> (x: Double, width: Double) {
        let f = frame
        let groupWidth = f.plotWidth / Double(Swift.max(1, groups.count))
        let barWidth = groupWidth * 0.8 / Double(Swift.max(1, series.count))
        return (f.left + Double(g) * groupWidth + groupWidth * 0.1 + Double(s) * barWidth, barWidth)
    }

    public func svg() -> String {
        let f = frame
        var canvas = SVGCanvas(frame: f, title: title)
        var values: [Double] = [0]
        for s in series.indices { for g in groups.indices { if let v = value(s, g) { values.append(v) } } }
        // Headroom above the tallest bar for its printed value.
        let lo = values.min()!, hi = values.max()!
        let span = Swift.max(hi - lo, 1e-12)
        let axis = ValueAxis.linear(lo < 0 ? lo - span * 0.08 : lo, hi > 0 ? hi + span * 0.08 : hi)
        func py(_ y: Double) -> Double { f.top + (1 - axis.fraction(y)) * f.plotHeight }

        canvas.valueAxis(axis, label: yLabel)
        let groupWidth = f.plotWidth / Double(Swift.max(1, groups.count))
        for (g, name) in groups.enumerated() {
            canvas.text(f.left + (Double(g) + 0.5) * groupWidth, f.top + f.plotHeight + 19, name, anchor: "middle")
        }
        for s in series.indices {
            for g in groups.indices {
                guard let v = value(s, g) else { continue }
                let (x, w) = barPosition(series: s, group: g)
                let top = py(Swift.max(v, 0)), bottom = py(Swift.min(v, 0))
                canvas.rect(x, top, w, bottom - top, fill: ChartPalette.color(s))
                if let p = valuePrecision {
                    let ty = v >= 0 ? top - 4 : bottom + 13
                    canvas.text(x + w / 2, ty, ChartFormat.fixed(v, p), anchor: "middle", extra: " font-size=\"10\"")
                }
            }
        }
        if axis.lower < 0 && axis.upper > 0 { canvas.line(f.left, py(0), f.left + f.plotWidth, py(0), stroke: "#444") }
        canvas.rect(f.left, f.top, f.plotWidth, f.plotHeight, fill: "none", stroke: "#444")
        // The legend goes where it covers the least bar area (value labels counted as 14 px).
        var boxes: [(x: Double, y: Double, w: Double, h: Double)] = []
        for s in series.indices {
            for g in groups.indices {
                guard let v = value(s, g) else { continue }
                let (x, w) = barPosition(series: s, group: g)
                let top = py(Swift.max(v, 0)) - 14, bottom = py(Swift.min(v, 0)) + 14
                boxes.append((x, top, w, bottom - top))
            }
        }
        let entries = series.enumerated().map { ($0.element.name, ChartPalette.color($0.offset)) }
        canvas.legend(entries, overlap: { x, y, w, h in
            boxes.reduce(0.0) { area, b in
                area + Swift.max(0, Swift.min(x + w, b.x + b.w) - Swift.max(x, b.x)) * Swift.max(0, Swift.min(y + h, b.y + b.h) - Swift.max(y, b.y))
            }
        }) { c, x, y, color in
            c.rect(x, y - 5, 18, 10, fill: color)
        }
        return canvas.finished()
    }

    /// Writes `svg()` to `path` (atomically, creating the folder).
    public func write(to path: String) throws { try svg().writeChart(to: path) }
}
