import Foundation
import XCTest
import NeoTrain

/// The report's SVG charts and Markdown tables: byte-identical output, known coordinates,
/// missing data, size of long series, table layout.
final class ReportChartTests: XCTestCase {
    func polylines(_ svg: String) -> [String] {
        svg.components(separatedBy: "points=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func noisyCurve(_ n: Int, seed: UInt64) -> [(x: Double, y: Double)] {
        var s = seed
        return (0..<n).map { i in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let noise = Double(s >> 11) / Double(1 << 53)
            return (Double(i + 1), 2 * exp(-Double(i) / 400) + 0.05 + 0.03 * noise)
        }
    }

    func testLineChartIsByteIdenticalForIdenticalInput() {
        func make() -> String {
            var c = LineChart(title: "loss & <eval>", xLabel: "step", yLabel: "loss", logY: true)
            c.add("loss", noisyCurve(3000, seed: 1))
            c.add("eval_loss", steps: [(250, 0.9), (500, 0.4), (750, 0.31)])
            return c.svg()
        }
        let a = make(), b = make()
        XCTAssertEqual(a, b)
        XCTAssertTrue(a.contains("loss &amp; &lt;eval&gt;"), "title is XML-escaped")
        XCTAssertFalse(a.contains("nan") || a.contains("inf"))
        var bars = BarChart(title: "jitter", groups: ["vocal-small", "tuned"])
        bars.add("before", [0.5, 0.25]); bars.add("after", [0.4, 0.125])
        XCTAssertEqual(bars.svg(), bars.svg())
    }

    /// Points (0,0), (5,5), (10,10) on the default 720×420 frame: nice axes 0…10 on both, so the
    /// plot area's corners are the line's ends.
    func testKnownPointsGiveExpectedPolyline() {
        var c = LineChart(title: "t", xLabel: "x", yLabel: "y")
        c.add("line", [(0, 0), (5, 5), (10, 10)])
        let f = c.frame
        XCTAssertEqual([f.left, f.top, f.plotWidth, f.plotHeight], [78, 40, 622, 324])
        let svg = c.svg()
        XCTAssertEqual(polylines(svg), ["78.0,364.0 389.0,202.0 700.0,40.0"])
        XCTAssertEqual(count("<circle", in: svg), 3)
        // Tick labels of the nice 0…10 axes (step 2).
        for label in [">0<", ">2<", ">4<", ">6<", ">8<", ">10<"] { XCTAssertEqual(count(label, in: svg), 2, label) }

        // Log y: 1, 10, 100 at x = 0, 1, 2 lie on a straight line through the middle point.
        var l = LineChart(title: "log", logY: true)
        l.add("p", [(0, 1), (1, 10), (2, 100)])
        let coords = polylines(l.svg())[0].split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(coords.count, 3)
        XCTAssertEqual(coords[1][1], (coords[0][1] + coords[2][1]) / 2, accuracy: 0.1)
        XCTAssertTrue(l.svg().contains(">100<") && l.svg().contains(">1<"))
    }

    func testMissingValuesBreakTheLineAndEmptyChartsDoNotTrap() {
        var c = LineChart(title: "gaps")
        c.add("a", [(1, 1), (2, .nan), (3, 3), (4, 4), (5, .infinity), (6, 2)])
        c.add("empty", [])
        c.add("all-nan", [(1, .nan), (2, .nan)])
        let svg = c.svg()
        XCTAssertEqual(polylines(svg).count, 1, "only the (3,3)-(4,4) run has two points")
        XCTAssertEqual(count("<circle", in: svg), 4, "few points: a dot on each drawable point")
        XCTAssertTrue(svg.contains(">empty<") && svg.contains(">all-nan<"), "every series is in the legend")
        XCTAssertFalse(svg.contains("nan,") || svg.contains(",nan"))

        var none = LineChart(title: "nothing", logY: true)
        none.add("neg", [(1, -1), (2, 0)])   // nothing positive on a log axis
        XCTAssertTrue(none.svg().contains("no data"))
        XCTAssertTrue(LineChart(title: "nothing at all").svg().hasSuffix("</svg>\n"))

        var flat = LineChart(title: "constant")
        flat.add("c", [(7, 2), (7, 2)])   // zero x and y ranges
        XCTAssertEqual(polylines(flat.svg()).count, 1)
        XCTAssertFalse(flat.svg().contains("nan"))

        var bars = BarChart(title: "b", groups: ["m1", "m2", "m3"])
        bars.add("before", [1, .nan])      // m2 NaN, m3 absent
        bars.add("after", [])
        XCTAssertEqual(count("fill=\"#1f77b4\"", in: bars.svg()), 2, "one bar plus its legend swatch")
        XCTAssertEqual(BarChart(title: "none", groups: []).svg(), BarChart(title: "none", groups: []).svg())
    }

    func testLongSeriesAreDecimatedKeepingExtremesAndStaySmall() {
        var c = LineChart(title: "long", xLabel: "step", logY: true)
        var spiky = noisyCurve(5000, seed: 7)
        spiky[3333].y = 50   // a single spike must survive decimation
        c.add("loss", spiky)
        c.add("loss2", noisyCurve(5000, seed: 8))
        c.add("loss3", noisyCurve(5000, seed: 9))
        let svg = c.svg()
        XCTAssertLessThan(svg.utf8.count, 200_000)
        let lines = polylines(svg)
        XCTAssertEqual(lines.count, 3)
        for line in lines { XCTAssertLessThanOrEqual(line.split(separator: " ").count, c.maxPointsPerSeries) }
        // The spike is the chart's maximum, so it sits on the plot's top edge region (y ≈ top).
        let ys = lines[0].split(separator: " ").map { Double($0.split(separator: ",")[1])! }
        XCTAssertEqual(ys.min()!, c.frame.top, accuracy: c.frame.plotHeight * 0.05)
    }

    func testNiceScale() {
        let a = NiceScale(minimum: 0.13, maximum: 0.87)
        XCTAssertEqual(a.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(a.ticks.map(a.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let b = NiceScale(minimum: -3, maximum: 1234)
        XCTAssertEqual(b.ticks.map(b.label), ["-250", "0", "250", "500", "750", "1000", "1250"])
        let c = NiceScale(minimum: 0, maximum: 1.1)
        XCTAssertEqual(c.ticks.map(c.label), ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"])
        let d = NiceScale(minimum: 5, maximum: 5)
        XCTAssertTrue(d.lower < 5 && d.upper > 5)
    }

    /// Two groups × two series; values 1, 2 / 3, NaN on an axis 0…4 (3 plus headroom, nice step 1).
    func testBarChartGeometry() {
        var c = BarChart(title: "lip-sync", yLabel: "offset", groups: ["base", "tuned"], valuePrecision: 2)
        c.add("before", [1, 2])
        c.add("after", [3, .nan])
        let svg = c.svg()
        let f = c.frame
        func rect(_ s: Int, _ g: Int, _ v: Double) -> String {
            let (x, w) = c.barPosition(series: s, group: g)
            let h = v / 4 * f.plotHeight
            return "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", f.top + f.plotHeight - h))\" width=\"\(String(format: "%.1f", w))\" height=\"\(String(format: "%.1f", h))\""
        }
        XCTAssertTrue(svg.contains(rect(0, 0, 1)), svg)
        XCTAssertTrue(svg.contains(rect(0, 1, 2)))
        XCTAssertTrue(svg.contains(rect(1, 0, 3)))
        XCTAssertEqual(c.barPosition(series: 1, group: 0).x, c.barPosition(series: 0, group: 0).x + c.barPosition(series: 0, group: 0).width)
        for label in [">1.00<", ">2.00<", ">3.00<", ">base<", ">tuned<", ">before<", ">after<"] { XCTAssertTrue(svg.contains(label), label) }
        XCTAssertEqual(count("<rect", in: svg), 1 + 1 + 3 + 1 + 2, "background, frame, 3 bars, legend box, 2 swatches")

        // Negative values hang below a zero line.
        var n = BarChart(title: "delta", groups: ["a"])
        n.add("d", [-2])
        XCTAssertTrue(n.svg().contains(">-2.000<"))
    }

    func testMarkdownTableLayout() {
        var t = MarkdownTable(header: ["model", "lip-sync", "jitter", "steps"], precision: 3)
        t.addRow(["vocal-small", 0.12345, .number(1.5, precision: 1), 3000])
        t.addRow(["tuned | GRPO", .value(Double?.none), -0.0001, 40])
        XCTAssertEqual(t.markdown, """
            | model         | lip-sync | jitter | steps |
            | ------------- | -------: | -----: | ----: |
            | vocal-small   |    0.123 |    1.5 |  3000 |
            | tuned \\| GRPO |        — |  0.000 |    40 |

            """)
        var empty = MarkdownTable(header: ["a", "b"])
        XCTAssertEqual(empty.markdown, "| a   | b   |\n| --- | --- |\n")
        empty.addRow([.missing, "x"])
        XCTAssertEqual(empty.markdown, "| a   | b   |\n| --- | --- |\n| —   | x   |\n", "a column of gaps only stays left-aligned")
    }

    /// `neo-train plot`'s Curves still writes CSV and SVG through the chart code.
    func testCurvesWriteCSVAndSVG() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curves-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = (1...30).map { s in "{\"step\":\(s),\"loss\":\(1.0 / Double(s))" + (s % 10 == 0 ? ",\"eval_loss\":\(2.0 / Double(s))" : "") + ",\"it_s\":3.5}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let written = try Curves.write(run: dir, out: dir + "/out", keys: ["loss", "eval_loss"], title: "toy")
        XCTAssertEqual(written, [dir + "/out/curves.csv", dir + "/out/curves.svg"])
        let csv = try String(contentsOfFile: written[0], encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("step,loss,eval_loss\n1,1.0,\n"), csv)
        XCTAssertTrue(csv.contains("\n10,0.1,0.2\n"))
        let svg = try String(contentsOfFile: written[1], encoding: .utf8)
        XCTAssertEqual(polylines(svg).count, 2)
        XCTAssertEqual(polylines(svg)[1].split(separator: " ").count, 3)
    }
}
