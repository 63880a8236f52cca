import Foundation

/// An append-only writer of one TensorBoard event file, `events.out.tfevents.<unix-seconds>.<host>`,
/// so that `tensorboard --logdir` shows a run's scalars without TensorFlow.
///
/// The file is a sequence of records: the data length as UInt64 little-endian, the masked
/// CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data. Each record's data is a
/// serialized `tensorflow.Event` protobuf; the first one carries `file_version = "brain.Event:2"`.
/// Every record goes to the file with its own `write`, so the file can be read while it grows and
/// a killed process leaves at most a partial last record (which readers skip).
public final class TensorBoardWriter {
    /// The event file's path.
    public let path: String
    private let fd: Int32

    /// Creates `directory` if needed and a new event file in it. `wallTime` (seconds since 1970)
    /// names the file and stamps its version record; the default is now.
    public init(directory: String, wallTime: Double? = nil, hostname: String? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainError("\(directory): cannot create TensorBoard folder: \(error.localizedDescription)")
        }
        let time = wallTime ?? Date().timeIntervalSince1970
        let host = Self.fileNameSafe(hostname ?? Self.localHostName())
        let base = directory + "/events.out.tfevents.\(Int(time)).\(host)"
        // Two writers started in the same second get distinct files instead of sharing one.
        var candidate = base
        var fd: Int32 = -1
        for attempt in 0..<1000 {
            candidate = attempt == 0 ? base : base + ".\(attempt)"
            fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw TrainError("\(candidate): cannot create TensorBoard event file: \(String(cString: strerror(errno)))")
        }
        self.path = candidate
        self.fd = fd
        var version = ProtoEncoder()
        version.double(1, time)
        version.int64(2, 0)
        version.string(3, "brain.Event:2")
        try write(Self.record(version.bytes))
    }

    deinit { close(fd) }

    /// One event holding the given scalars at `step`; tags as given, values as float32.
    public func addScalars(_ scalars: [(String, Float)], step: Int, wallTime: Double? = nil) throws {
        guard !scalars.isEmpty else { return }
        try write(Self.record(Self.scalarEvent(scalars, step: step, wallTime: wallTime ?? Date().timeIntervalSince1970)))
    }

    public func addScalar(_ tag: String, _ value: Float, step: Int, wallTime: Double? = nil) throws {
        try addScalars([(tag, value)], step: step, wallTime: wallTime)
    }

    /// The serialized `Event { wall_time, step, summary { value { tag, simple_value } … } }`.
    public static func scalarEvent(_ scalars: [(String, Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtoEncoder()
        for (tag, value) in scalars {
            var v = ProtoEncoder()
            v.string(1, tag)
            v.float(2, value)
            summary.message(1, v.bytes)
        }
        var event = ProtoEncoder()
        event.double(1, wallTime)
        event.int64(2, Int64(step))
        event.message(5, summary.bytes)
        return event.bytes
    }

    /// The framed record: length, masked CRC of the length, data, masked CRC of the data.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += length
        withUnsafeBytes(of: maskedCRC32C(length).littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: maskedCRC32C(data).littleEndian) { out += $0 }
        return out
    }

    /// The CRC of a record field as TensorFlow stores it: rotated right by 15 bits plus a constant,
    /// so that a CRC over data that itself holds CRCs stays well-distributed.
    public static func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup per byte.
    public static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        crc32cTable.withUnsafeBufferPointer { table in
            for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crc32cTable: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// gethostname(2) directly: Foundation's `hostName` may wait on a DNS lookup.
    private static func localHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func fileNameSafe(_ host: String) -> String {
        let cleaned = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" ? $0 : "_" })
        return cleaned.isEmpty ? "localhost" : cleaned
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                guard n > 0 else {
                    throw TrainError("\(path): cannot write TensorBoard event: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }
}

/// The few protobuf wire forms an `Event` needs: varint, fixed64, fixed32, length-delimited.
struct ProtoEncoder {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func int64(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    mutating func message(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ value: String) { message(field, Array(value.utf8)) }
}
