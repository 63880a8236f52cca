import Foundation

/// A line chart of named series of (x, y) points, written as SVG by the framework itself.
///
/// The output depends only on the input (no timestamps, fixed number formatting), so the same
/// data gives the same bytes. Points with a non-finite x or y (and, with `logY`, y ≤ 0) are
/// skipped and break the line there. A series longer than `maxPointsPerSeries` is decimated:
/// its points are cut into equal runs and each run keeps its lowest and highest point, so spikes
/// survive and the file stays small.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { self.name = name; self.points = points }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY: Bool
    public var frame: ChartFrame
    public var maxPointsPerSeries: Int
    /// Series with at most this many points drawn get a dot on each point.
    public var markersUpTo: Int
    public private(set) var series: [Series] = []

    public init(title: String, xLabel: String = "", yLabel: String = "", logY: Bool = false,
                frame: ChartFrame = ChartFrame(), maxPointsPerSeries: Int = 1200, markersUpTo: Int = 40) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logY = logY
        self.frame = frame; self.maxPointsPerSeries = maxPointsPerSeries; self.markersUpTo = markersUpTo
    }

    public mutating func add(_ name: String, _ points: [(x: Double, y: Double)]) {
        series.append(Series(name: name, points: points))
    }

    /// Integer x values (steps, iterations), e.g. from `Curves.read`.
    public mutating func add(_ name: String, steps points: [(Int, Double)]) {
        add(name, points.map { (Double($0.0), $0.1) })
    }

    /// y values at x = 1, 2, 3, …
    public mutating func add(_ name: String, values: [Double]) {
        add(name, values.enumerated().map { (Double($0.offset + 1), $0.element) })
    }

    func usable(_ p: (x: Double, y: Double)) -> Bool { p.x.isFinite && p.y.isFinite && (!logY || p.y > 0) }

    /// The points drawn for a series: decimated when long, with `nil` marking a break.
    func drawnPoints(_ s: Series) -> [(x: Double, y: Double)?] {
        let pts = s.points
        guard pts.count > maxPointsPerSeries, maxPointsPerSeries >= 2 else { return pts.map { usable($0) ? $0 : nil } }
        let buckets = maxPointsPerSeries / 2
        var out: [(x: Double, y: Double)?] = []
        for b in 0..<buckets {
            let lo = b * pts.count / buckets, hi = (b + 1) * pts.count / buckets
            var iMin: Int? = nil, iMax: Int? = nil, iGap: Int? = nil
            for i in lo..<hi {
                if !usable(pts[i]) { if iGap == nil { iGap = i }; continue }
                if iMin == nil || pts[i].y < pts[iMin!].y { iMin = i }
                if iMax == nil || pts[i].y > pts[iMax!].y { iMax = i }
            }
            for i in Set([iMin, iMax, iGap].compactMap { $0 }).sorted() { out.append(usable(pts[i]) ? pts[i] : nil) }
        }
        return out
    }

    public func svg() -> String {
        let f = frame
        var canvas = SVGCanvas(frame: f, title: title)
        let drawn = series.map(drawnPoints)
        let all = drawn.flatMap { $0.compactMap { $0 } }
        guard !all.isEmpty else {
            canvas.rect(f.left, f.top, f.plotWidth, f.plotHeight, fill: "none", stroke: "#444")
            canvas.text(f.left + f.plotWidth / 2, f.top + f.plotHeight / 2, "no data", anchor: "middle", extra: " fill=\"#888\"")
            return canvas.finished()
        }
        let xScale = NiceScale(minimum: all.map(\.x).min()!, maximum: all.map(\.x).max()!, targetTicks: 7)
        let yMin = all.map(\.y).min()!, yMax = all.map(\.y).max()!
        let yAxis = logY ? ValueAxis.logarithmic(yMin, yMax) : ValueAxis.linear(yMin, yMax)
        func px(_ x: Double) -> Double { f.left + (x - xScale.lower) / (xScale.upper - xScale.lower) * f.plotWidth }
        func py(_ y: Double) -> Double { f.top + (1 - yAxis.fraction(y)) * f.plotHeight }

        canvas.valueAxis(yAxis, label: yLabel)
        for t in xScale.ticks {
            canvas.line(px(t), f.top + f.plotHeight, px(t), f.top + f.plotHeight + 5, stroke: "#444")
            canvas.text(px(t), f.top + f.plotHeight + 19, xScale.label(t), anchor: "middle")
        }
        if !xLabel.isEmpty { canvas.text(f.left + f.plotWidth / 2, f.height - 12, xLabel, anchor: "middle") }
        canvas.rect(f.left, f.top, f.plotWidth, f.plotHeight, fill: "none", stroke: "#444")

        for (i, points) in drawn.enumerated() {
            let color = ChartPalette.color(i)
            var segments: [[(x: Double, y: Double)]] = [[]]
            for p in points {
                if let p { segments[segments.count - 1].append(p) } else if !segments.last!.isEmpty { segments.append([]) }
            }
            let count = points.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
            let strokeWidth = count > 200 ? "1.2" : "2"
            for seg in segments where seg.count >= 2 {
                let coords = seg.map { ChartFormat.px(px($0.x)) + "," + ChartFormat.px(py($0.y)) }.joined(separator: " ")
                canvas.raw("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(strokeWidth)\" stroke-linejoin=\"round\" points=\"\(coords)\"/>\n")
            }
            // Dots where points are few, and always for a point standing alone between breaks.
            for seg in segments where count <= markersUpTo || seg.count == 1 {
                for p in seg {
                    canvas.raw("<circle cx=\"\(ChartFormat.px(px(p.x)))\" cy=\"\(ChartFormat.px(py(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>\n")
                }
            }
        }
        // The legend goes where it hides the fewest drawn points (and segment midpoints).
        var occupied: [(Double, Double)] = []
        for points in drawn {
            var previous: (x: Double, y: Double)? = nil
            for p in points {
                if let p {
                    occupied.append((px(p.x), py(p.y)))
                    if let q = previous { occupied.append(((px(p.x) + px(q.x)) / 2, (py(p.y) + py(q.y)) / 2)) }
                }
                previous = p
            }
        }
        let entries = series.enumerated().map { ($0.element.name, ChartPalette.color($0.offset)) }
        canvas.legend(entries, overlap: { x, y, w, h in
            Double(occupied.reduce(0) { $0 + ($1.0 >= x && $1.0 <= x + w && $1.1 >= y && $1.1 <= y + h ? 1 : 0) })
        }) { c, x, y, color in
            c.line(x, y, x + 18, y, stroke: color, width: 2)
        }
        return canvas.finished()
    }

    /// Writes `svg()` to `path` (atomically, creating the folder).
    public func write(to path: String) throws { try svg().writeChart(to: path) }
}
