import Foundation

/// Append-only audit log of gate decisions: one JSON object a line. Each line carries `prev`, the
/// hash of the line before it (64 zeros on the first), and ends with `hash`, SHA-256 of the line's
/// text before `,"hash":`. A changed, removed or reordered line breaks the chain at that line.
/// The chain cannot show lines cut from the end; keep a copy of the latest hash elsewhere for that.
public struct AuditLog: Sendable {
    public static let fileName = "audit.log"
    public static let genesis = String(repeating: "0", count: 64)
    public let path: String

    public init(path: String) { self.path = path }

    /// One gate decision.
    public struct Entry: Codable, Sendable, Equatable {
        public var seq: Int
        public var time: String
        public var decision: String
        public var reason: String
        public var scope: String
        public var inputs: [String]
        public var consent: String?
        public var output: String?
        public var prev: String

        /// A decision to append; `append` fills in `seq` and `prev`.
        public init(time: String, decision: String, reason: String, scope: String, inputs: [String],
                    consent: String?, output: String?) {
            self.seq = 0; self.time = time; self.decision = decision; self.reason = reason; self.scope = scope
            self.inputs = inputs; self.consent = consent; self.output = output; self.prev = ""
        }
    }

    /// Appends `entry` (its `seq` and `prev` are filled in) under an exclusive lock, so concurrent
    /// gates in several processes still form one chain.
    public func append(_ entry: Entry) throws {
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw GovernanceError(path, "cannot open audit log: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw GovernanceError(path, "cannot lock audit log: \(String(cString: strerror(errno)))") }
        defer { flock(fd, LOCK_UN) }
        let existing = readAll(fd)
        // A torn last line (a crash mid-write) stays as it is and fails verification visibly.
        let lines = existing.split(separator: 0x0A, omittingEmptySubsequences: true)
        var e = entry
        e.seq = lines.count + 1
        e.prev = lines.last.map { Self.lineHash(Data($0)) ?? sha256Hex(Data($0)) } ?? Self.genesis
        let line = try Self.render(e)
        var bytes = Data()
        if let last = existing.last, last != 0x0A { bytes.append(0x0A) }
        bytes.append(line)
        bytes.append(0x0A)
        guard lseek(fd, 0, SEEK_END) >= 0 else { throw GovernanceError(path, "cannot seek audit log") }
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else { throw GovernanceError(path, "cannot write audit log: \(String(cString: strerror(errno)))") }
    }

    /// The JSON line for `e`, with its own hash appended.
    static func render(_ e: Entry) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = try enc.encode(e)
        body.removeLast()  // the closing brace; the hash goes before it
        let h = sha256Hex(body)
        body.append(contentsOf: Array(",\"hash\":\"\(h)\"}".utf8))
        return body
    }

    /// The hash a well-formed line declares and that matches its text, or nil.
    public static func lineHash(_ line: Data) -> String? {
        let marker = Data(",\"hash\":\"".utf8)
        guard line.count > marker.count + 66, line.last == UInt8(ascii: "}"),
              let r = line.range(of: marker, options: .backwards) else { return nil }
        let body = line[line.startIndex..<r.lowerBound]
        let declared = String(decoding: line[r.upperBound..<(line.endIndex - 2)], as: UTF8.self)
        guard line[line.endIndex - 2] == UInt8(ascii: "\""), declared == sha256Hex(Data(body)) else { return nil }
        return declared
    }

    /// Verifies the whole chain: nil when intact, else the first broken line (1-based) and why.
    public func verify() throws -> (line: Int, reason: String)? {
        guard let data = FileManager.default.contents(atPath: path) else { throw GovernanceError(path, "audit log missing or unreadable") }
        var prev = Self.genesis
        var n = 0
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            n += 1
            let line = Data(raw)
            if line.isEmpty {
                if n == data.split(separator: 0x0A, omittingEmptySubsequences: false).count { break }  // final newline
                return (n, "empty line")
            }
            guard let h = Self.lineHash(line) else { return (n, "line's hash does not match its text (line changed)") }
            guard let e = try? JSONDecoder().decode(Entry.self, from: line) else { return (n, "not a valid audit entry") }
            guard e.prev == prev else { return (n, "prev hash does not match the line before it (a line was removed, reordered or changed)") }
            guard e.seq == n else { return (n, "sequence number \(e.seq), expected \(n)") }
            prev = h
        }
        return nil
    }

    /// Decoded entries (no verification).
    public func entries() throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try data.split(separator: 0x0A).map { try JSONDecoder().decode(Entry.self, from: Data($0)) }
    }

    private func readAll(_ fd: Int32) -> Data {
        var out = Data()
        guard lseek(fd, 0, SEEK_SET) >= 0 else { return out }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }
}
