import Foundation

/// One line of `metrics.jsonl`: the step, then deterministic values (loss, lr, grad_norm, eval
/// losses …) in insertion order, then wall-clock values (`it_s`, `elapsed_s`) last. Everything
/// before the wall-clock fields is bit-identical between an uninterrupted run and a resumed one.
public struct MetricsRecord: Sendable, Equatable {
    public let step: Int
    /// Key and JSON text of each value, in order.
    public private(set) var fields: [(String, String)] = []
    public private(set) var timing: [(String, String)] = []

    public init(step: Int) { self.step = step }

    public static func == (a: MetricsRecord, b: MetricsRecord) -> Bool {
        a.step == b.step && a.fields.elementsEqual(b.fields, by: ==) && a.timing.elementsEqual(b.timing, by: ==)
    }

    /// Floats are written in the shortest form that reads back to the same `Float`; NaN and
    /// infinities, which JSON cannot hold, are written as null.
    public mutating func set(_ key: String, _ value: Float) { fields.append((key, Self.json(value))) }
    public mutating func set(_ key: String, _ value: Double) { fields.append((key, Self.json(value))) }
    public mutating func set(_ key: String, _ value: Int) { fields.append((key, String(value))) }
    public mutating func setTiming(_ key: String, _ value: Double) {
        timing.append((key, Self.json((value * 1000).rounded() / 1000)))
    }

    public var jsonLine: String {
        let all = [("step", String(step))] + fields + timing
        return "{" + all.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func json(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }
    static func json(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

    /// Wall-clock keys, which differ from run to run.
    public static let timingKeys: Set<String> = ["it_s", "elapsed_s"]

    /// The numeric values of a `metrics.jsonl` line written by `jsonLine` (step excluded, nulls
    /// skipped), in order, as float32; nil if the line is not a complete record.
    public static func scalars(ofLine line: Substring) -> (step: Int, values: [(String, Float)])? {
        guard let step = step(ofLine: line) else { return nil }
        var values: [(String, Float)] = []
        // Keys are plain identifiers and values are numbers or null, so commas split the fields.
        for field in line.dropFirst().dropLast().split(separator: ",").dropFirst() {
            guard let colon = field.firstIndex(of: ":"), field.hasPrefix("\""), field[..<colon].hasSuffix("\"") else { continue }
            let key = String(field[field.index(after: field.startIndex)..<field.index(before: colon)])
            if let v = Float(field[field.index(after: colon)...]) { values.append((key, v)) }
        }
        return (step, values)
    }

    /// The step number of a `metrics.jsonl` line, if it is a complete record.
    public static func step(ofLine line: Substring) -> Int? {
        guard line.hasPrefix("{\"step\":"), line.hasSuffix("}") else { return nil }
        let digits = line.dropFirst(8).prefix { $0.isNumber }
        return Int(digits)
    }
}

/// `metrics.jsonl` of a run folder, one JSON object per optimiser step, appended with one
/// `write` per line so a killed process leaves at most a partial last line.
///
/// Every record also goes, as TensorBoard scalars (tag = key, every numeric field including
/// the wall-clock ones), to an event file in the `tensorboard/` folder beside the log. That
/// folder always mirrors the log: opening the log removes the folder's event files and writes a
/// new one holding the records kept (for a resumed run, those through the checkpoint's step,
/// stamped with the time of the resume), so TensorBoard never shows the steps a resume dropped
/// next to the ones that replace them.
public final class MetricsLog {
    public let path: String
    private let fd: Int32
    private let tensorBoard: TensorBoardWriter?

    /// The TensorBoard folder of a metrics file: `tensorboard/` beside it.
    public static func tensorBoardDirectory(forMetrics path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().path + "/tensorboard"
    }

    /// Opens the log for a fresh run (emptying any previous file) or, with `keepingThrough`,
    /// for a run resumed from that step: lines after it (and any partial line) are dropped, so
    /// the file continues exactly as the uninterrupted run's. With `tensorBoard` false no event
    /// files are written or touched.
    public init(path: String, keepingThrough step: Int? = nil, tensorBoard: Bool = true) throws {
        self.path = path
        var kept = Data()
        var keptLines: [Substring] = []
        if let step, let existing = FileManager.default.contents(atPath: path) {
            let text = String(decoding: existing, as: UTF8.self)
            var lines: [Substring] = text.split(separator: "\n", omittingEmptySubsequences: false)
            // The last element is what follows the final newline: empty, or a partial line.
            lines.removeLast()
            for line in lines {
                guard let s = MetricsRecord.step(ofLine: line), s <= step else { break }
                kept.append(contentsOf: Array(line.utf8))
                kept.append(0x0A)
                keptLines.append(line)
            }
        }
        // The event files first, so a failure there leaves the metrics file untouched.
        if tensorBoard {
            let folder = Self.tensorBoardDirectory(forMetrics: path)
            let old = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for name in old where name.contains("tfevents") {
                do { try FileManager.default.removeItem(atPath: folder + "/" + name) } catch {
                    throw TrainError("\(folder)/\(name): cannot remove old TensorBoard events: \(error.localizedDescription)")
                }
            }
            let writer = try TensorBoardWriter(directory: folder)
            for line in keptLines {
                if let (step, values) = MetricsRecord.scalars(ofLine: line) { try writer.addScalars(values, step: step) }
            }
            self.tensorBoard = writer
        } else {
            self.tensorBoard = nil
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw TrainError("\(path): cannot open metrics log: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        try write(kept)
    }

    deinit { close(fd) }

    /// Appends the record's line, then its scalars to the TensorBoard event file.
    public func append(_ record: MetricsRecord) throws {
        let line = record.jsonLine
        try write(Data((line + "\n").utf8))
        if let tensorBoard, let (step, values) = MetricsRecord.scalars(ofLine: Substring(line)) {
            try tensorBoard.addScalars(values, step: step)
        }
    }

    private func write(_ data: Data) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                guard n > 0 else {
                    throw TrainError("\(path): cannot write metrics: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }

    /// The lines of a metrics file, without the wall-clock fields (for comparing runs).
    public static func deterministicLines(path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            let s = String(line)
            let cuts = MetricsRecord.timingKeys.compactMap { s.range(of: ",\"\($0)\":")?.lowerBound }
            guard let cut = cuts.min() else { return s }
            return String(s[..<cut]) + "}"
        }
    }
}

/// A failure of the training machinery, shown to the user as its one-line description.
public struct TrainError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
