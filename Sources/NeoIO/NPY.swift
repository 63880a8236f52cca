import Foundation
import NeoTensor

/// Errors reading or writing files, each naming the file and what was wrong.
public struct NeoIOError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}

/// NumPy `.npy` files (format 1.0/2.0/3.0): float32 and float64 read, float32 written,
/// little-endian, C order.
public enum NPY {
    /// Reads a `.npy` into a Float32 tensor (float64 and float16 files are converted).
    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NeoIOError(path, "cannot read file (missing or unreadable)")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String = "<memory>") throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw NeoIOError(path, "not a .npy file (bad magic)")
        }
        let major = bytes[6]
        var headerLen: Int
        var start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw NeoIOError(path, "truncated .npy header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        } else {
            throw NeoIOError(path, "unsupported .npy version \(major)")
        }
        guard bytes.count >= start + headerLen else { throw NeoIOError(path, "truncated .npy header") }
        let header = String(decoding: bytes[start..<(start + headerLen)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr"), let q1 = descr.firstIndex(of: "'") else {
            throw NeoIOError(path, "no dtype in .npy header")
        }
        let rest = descr[descr.index(after: q1)...]
        guard let q2 = rest.firstIndex(of: "'") else { throw NeoIOError(path, "bad dtype in .npy header") }
        let dtype = String(rest[..<q2])
        if let fo = field("fortran_order"), fo.hasPrefix("True") {
            throw NeoIOError(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        guard let sh = field("shape"), let open = sh.firstIndex(of: "("), let close = sh.firstIndex(of: ")") else {
            throw NeoIOError(path, "no shape in .npy header")
        }
        let dims = sh[sh.index(after: open)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw NeoIOError(path, "bad dimension '\(d)' in .npy shape") }
            shape.append(v)
        }
        let n = Tensor.count(shape)
        let body = start + headerLen
        let itemSize: Int
        switch dtype {
        case "<f4", "=f4": itemSize = 4
        case "<f8", "=f8": itemSize = 8
        case "<f2", "=f2": itemSize = 2
        default: throw NeoIOError(path, "dtype '\(dtype)' is not supported (expected little-endian float32, float64 or float16)")
        }
        guard bytes.count - body >= n * itemSize else {
            throw NeoIOError(path, "truncated: shape \(shape) needs \(n * itemSize) bytes of data, file has \(bytes.count - body)")
        }
        let t = Tensor.empty(shape)
        let out = t.data
        bytes.withUnsafeBytes { raw in
            let p = raw.baseAddress! + body
            switch itemSize {
            case 4: for i in 0..<n { out[i] = p.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
            case 8: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            default: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: i * 2, as: Float16Bits.self).float) }
            }
        }
        return t
    }

    /// Encodes a tensor as a float32 `.npy` (format 1.0).
    public static func encode(_ t: Tensor) -> Data {
        let shapeText = t.shape.isEmpty ? "()" : (t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let hl = header.utf8.count
        data.append(contentsOf: [UInt8(hl & 0xff), UInt8(hl >> 8)])
        data.append(contentsOf: Array(header.utf8))
        let values = t.toArray()
        values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: values.count * 4)) }
        return data
    }

    /// Writes a float32 `.npy` atomically (temporary file, then rename).
    public static func write(_ t: Tensor, to path: String) throws {
        try AtomicFile.write(encode(t), to: path)
    }
}

/// IEEE half-precision bits, decoded without relying on the platform's Float16 support.
public struct Float16Bits {
    public var bits: UInt16
    public var float: Float {
        let sign = UInt32(bits >> 15) << 31
        let exp = Int((bits >> 10) & 0x1f)
        let mant = UInt32(bits & 0x3ff)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }
}

/// Whole-file writes that never leave a half-written file at the destination: the bytes go to a
/// temporary file in the same folder, are fsynced, and replace the destination by rename.
public enum AtomicFile {
    /// The temporary name beside `path` (`.NAME.tmp-PID`), registered with
    /// `PendingTemporaries` so an interrupt removes it; `commit` or `discard` forgets it.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        PendingTemporaries.shared.add(tmp)
        return tmp
    }

    /// Removes an unfinished temporary file and forgets it.
    public static func discard(_ tmp: String) {
        unlink(tmp)
        PendingTemporaries.shared.remove(tmp)
    }

    public static func write(_ data: Data, to path: String) throws {
        let tmp = temporaryPath(for: path)
        do {
            try data.withUnsafeBytes { try writeWhole($0, to: tmp) }
        } catch let e as NeoIOError {
            PendingTemporaries.shared.remove(tmp)
            throw NeoIOError(path, e.problem)
        }
        try commit(temporary: tmp, to: path)
    }

    /// Writes `bytes` to `path` (created or truncated) and fsyncs it. Any failure (a full disk,
    /// a file-size limit) removes the partial file and throws one line with the system's reason.
    public static func writeWhole(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw NeoIOError(path, "cannot create the file: \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0
        var off = 0
        while off < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = n < 0 ? errno : ENOSPC; break }
            off += n
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        guard failure == 0 else {
            unlink(path)
            throw NeoIOError(path, "write failed: \(String(cString: strerror(failure)))")
        }
    }

    /// Renames a finished, closed temporary file over `path` and fsyncs the folder.
    public static func commit(temporary tmp: String, to path: String) throws {
        let fd = open(tmp, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(tmp, path) == 0 else {
            let msg = String(cString: strerror(errno))
            discard(tmp)
            throw NeoIOError(path, "cannot rename into place: \(msg)")
        }
        PendingTemporaries.shared.remove(tmp)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
