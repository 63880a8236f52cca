import Foundation

/// The lock of a run folder (`run.lock`), held for as long as a run writes into the folder, so
/// two runs never write checkpoints and `metrics.jsonl` into the same place.
///
/// It is an advisory `flock` on the file, which the kernel drops when the holder exits in any
/// way (SIGKILL included), so a lock can never outlive its process. The file also records the
/// holder's process id: a second run names it when refused, and a run that finds the file left
/// by a process that no longer holds the lock says it is taking the stale lock over.
public final class RunLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock of `folder` or throws naming the process holding it. `note` receives
    /// the line about a stale lock taken over.
    public init(folder: String, note: (String) -> Void = { _ in }) throws {
        path = folder + "/run.lock"
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw TrainError("\(path): cannot open the run folder's lock: \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let holder = Self.holder(fd)
                close(fd)
                throw TrainError("\(folder): another run is using this run folder\(holder.map { " (process \($0))" } ?? ""); wait for it to finish or choose another --run-dir")
            }
            // The previous holder may have removed the file between our open and flock; then we
            // hold a lock on a file no one else can find: start over on the current one.
            var mine = stat(), named = stat()
            guard fstat(fd, &mine) == 0, stat(path, &named) == 0, mine.st_ino == named.st_ino, mine.st_dev == named.st_dev else {
                close(fd)
                continue
            }
            if let previous = Self.holder(fd), previous != getpid() {
                note("taking over the stale lock of process \(previous) (no longer running) in \(folder)")
            }
            let text = "\(getpid())\n"
            _ = ftruncate(fd, 0)
            _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
            self.fd = fd
            return
        }
    }

    /// Releases the lock and removes the file.
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    deinit { release() }

    /// The process id written in the lock file, if any.
    private static func holder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count - 1, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
