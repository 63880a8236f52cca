import Foundation

/// A tmpfs of a given size mounted for a test, so a full disk is real: the kernel answers
/// ENOSPC to the process's own writes. Mounting needs root (or CAP_SYS_ADMIN); where that is
/// not available, `mount` returns nil and the test skips with the reason.
public final class SmallDisk {
    public let path: String

    /// Mounts a tmpfs of `bytes` bytes at a fresh folder; nil (with the reason) when mounting
    /// is not permitted here.
    public static func mount(bytes: Int, tag: String) -> (disk: SmallDisk?, reason: String) {
        let dir = PythonCrossCheck.temporaryDirectory("disk-\(tag)").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", dir]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return (nil, "cannot run mount: \(error)") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: dir)
            return (nil, "mounting a \(bytes)-byte tmpfs is not permitted here (needs root)")
        }
        return (SmallDisk(path: dir), "")
    }

    private init(path: String) { self.path = path }

    /// Free bytes on the disk.
    public var free: Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return 0 }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Fills the disk with a file until only about `leaving` bytes are free.
    public func fill(leaving: Int) throws {
        let n = max(0, free - leaving)
        let fd = open(path + "/filler", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 7, count: 64 << 10)
        var left = n
        while left > 0 {
            let w = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, min(left, chunk.count)) }
            if w <= 0 { break }
            left -= w
        }
    }

    deinit {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/umount")
        p.arguments = ["-l", path]
        try? p.run()
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: path)
    }
}
