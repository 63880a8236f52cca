import Dispatch
import Foundation

/// Refuses an output that is one of the command's inputs: the same file reached by the same
/// name, another spelling, a symbolic link or a hard link. The files are compared by device
/// and inode (what `stat` reports after following links), so no spelling of a path escapes.
public enum OutputGuard {
    /// Throws when `out` (given as `outOption`) resolves to an existing file among `inputs`
    /// (each with the option that named it). An output that does not exist yet is no input.
    public static func refuseInputs(out: String, outOption: String = "--out", inputs: [(option: String, path: String)]) throws {
        guard let o = identity(of: out) else { return }
        for input in inputs {
            guard let i = identity(of: input.path), i == o else { continue }
            let same = input.path == out ? "" : " (\(input.path))"
            throw NeoIOError(out, "\(outOption) is the input given as \(input.option)\(same); writing it would destroy the input, so choose another output")
        }
    }

    /// Device and inode of the file `path` names (links followed), nil when it does not exist.
    static func identity(of path: String) -> [UInt64]? {
        var s = stat()
        guard !path.isEmpty, stat(path, &s) == 0 else { return nil }
        return [UInt64(s.st_dev), UInt64(s.st_ino)]
    }
}

/// Temporary files and folders this process is writing (`AtomicFile` temporaries, staged
/// dataset folders), so that an interrupted command can remove them before it exits.
public final class PendingTemporaries: @unchecked Sendable {
    /// The process's registry: temporaries are per process by nature (their names carry the pid).
    public static let shared = PendingTemporaries()
    private let lock = NSLock()
    private var paths: Set<String> = []

    public func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    public func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }
    public var current: [String] { lock.withLock { paths.sorted() } }

    /// Deletes every registered path (a folder with its contents) and forgets them; returns
    /// how many were removed. A folder another thread is still writing into is retried a few
    /// times, since a file created between listing and removal makes the removal fail.
    @discardableResult
    public func deleteAll() -> Int {
        let list = lock.withLock { () -> [String] in let l = paths.sorted(); paths.removeAll(); return l }
        var removed = 0
        for p in list {
            for attempt in 0..<5 {
                guard FileManager.default.fileExists(atPath: p) else { break }
                if (try? FileManager.default.removeItem(atPath: p)) != nil { removed += 1; break }
                if attempt < 4 { usleep(20_000) }
            }
        }
        return removed
    }
}

/// SIGINT and SIGTERM for commands without a checkpoint to finish (the data commands, sample,
/// export): the registered temporaries are removed, one line says so, and the process exits
/// with 128 + the signal number, as a shell reports an interrupted command.
public enum InterruptCleanup {
    /// The dispatch sources, kept alive for the life of the process.
    private final class Sources: @unchecked Sendable {
        let list: [DispatchSourceSignal]
        init(_ list: [DispatchSourceSignal]) { self.list = list }
    }

    private static let installed: Sources = {
        let queue = DispatchQueue(label: "neo-train.interrupt-cleanup")
        return Sources([SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                let n = PendingTemporaries.shared.deleteAll()
                let name = sig == SIGINT ? "interrupted" : "terminated"
                FileHandle.standardError.write(Data("neo-train: \(name); removed \(n) temporary file\(n == 1 ? "" : "s"), nothing else was written\n".utf8))
                _exit(128 + sig)
            }
            source.resume()
            return source
        })
    }()

    /// Starts listening (once per process; later calls do nothing).
    public static func install() { _ = installed }
}

extension AtomicFile {
    /// Removes the temporaries of dead processes from `folder`: hidden names ending in
    /// `.tmp-PID` (files written through `AtomicFile`) or `.partial-PID` (staged folders) whose
    /// process no longer exists. Those of this process and of live ones stay. Returns the
    /// removed paths.
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var removed: [String] = []
        for n in names where n.hasPrefix(".") {
            guard let pid = ownerPID(of: n), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            let p = (folder as NSString).appendingPathComponent(n)
            if (try? FileManager.default.removeItem(atPath: p)) != nil { removed.append(p) }
        }
        return removed
    }

    /// The pid a temporary's name ends in (`….tmp-PID`, `….partial-PID`), nil for other names.
    static func ownerPID(of name: String) -> Int32? {
        for marker in [".tmp-", ".partial-"] {
            if let r = name.range(of: marker, options: .backwards), let pid = Int32(name[r.upperBound...]), pid > 0 { return pid }
        }
        return nil
    }
}
