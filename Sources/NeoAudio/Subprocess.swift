import Foundation

/// Running the outside tools the project calls (python3 for the reference benchmarks, espeak-ng,
/// sox, ffmpeg): one place for finding them and for running one to completion.
public enum Subprocess {
    /// The exit status reported when the executable cannot be started (the shell's "not found").
    public static let cannotStart: Int32 = 127

    /// Full path of an executable on PATH, or nil.
    public static func find(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs `exe` with `args` to completion: its exit status (`cannotStart` when it could not
    /// be started) and its stdout and stderr together.
    public static func run(_ exe: String, _ args: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (cannotStart, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
