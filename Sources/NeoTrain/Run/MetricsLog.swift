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

    /// The step number of a `metrics.jsonl` line, if it is a complete record.
    public static func step(ofLine line: Substring) -> Int? {
        guard line.hasPrefix("{\"step\":"), line.hasSuffix("}") else { return nil }
        let digits = line.dropFirst(8).prefix { $0.isNumber }
        return Int(digits)
    }
}

/// `metrics.jsonl` of a run folder, one JSON object per optimiser step, appended with one
/// `write` per line so a killed process leaves at most a partial last line.
public final class MetricsLog {
    public let path: String
    private let fd: Int32

    /// Opens the log for a fresh run (emptying any previous file) or, with `keepingThrough`,
    /// for a run resumed from that step: lines after it (and any partial line) are dropped, so
    /// the file continues exactly as the uninterrupted run's.
    public init(path: String, keepingThrough step: Int? = nil) throws {
        self.path = path
        var kept = Data()
        if let step, let existing = FileManager.default.contents(atPath: path) {
            let text = String(decoding: existing, as: UTF8.self)
            var lines: [Substring] = text.split(separator: "\n", omittingEmptySubsequences: false)
            // The last element is what follows the final newline: empty, or a partial line.
            lines.removeLast()
            for line in lines {
                guard let s = MetricsRecord.step(ofLine: line), s <= step else { break }
                kept.append(contentsOf: Array(line.utf8))
                kept.append(0x0A)
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw TrainError("\(path): cannot open metrics log: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        try write(kept)
    }

    deinit { close(fd) }

    public func append(_ record: MetricsRecord) throws {
        try write(Data((record.jsonLine + "\n").utf8))
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
