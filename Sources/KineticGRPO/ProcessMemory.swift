import Foundation

/// Resident memory of this process, read from `/proc/self/status` (Linux; nil elsewhere).
public enum ProcessMemory {
    public struct Reading: Sendable, Equatable {
        /// VmRSS: resident now.
        public var resident: Int
        /// VmHWM: the peak resident size since the process started or since `resetPeak()`.
        public var peak: Int
    }

    /// VmRSS and VmHWM in bytes.
    public static func read() -> Reading? {
        guard let text = readProcFile("/proc/self/status") else { return nil }
        var rss: Int?, hwm: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { rss = kilobytes(line) }
            if line.hasPrefix("VmHWM:") { hwm = kilobytes(line) }
        }
        guard let rss, let hwm else { return nil }
        return Reading(resident: rss * 1024, peak: hwm * 1024)
    }

    /// Resets VmHWM to the current resident size (writes "5" to `/proc/self/clear_refs`), so a
    /// later `read()` gives the peak of what ran in between. Returns false where unsupported.
    @discardableResult
    public static func resetPeak() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Foundation.write(fd, "5", 1) == 1
    }

    static func kilobytes(_ line: Substring) -> Int? {
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
    }

    /// procfs files report size 0, so read until EOF.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
