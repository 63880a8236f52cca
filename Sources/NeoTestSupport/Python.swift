import Foundation
import NeoAudio

/// Runs the project's Python cross-check scripts (Tests/crosscheck/*.py). Returns nil when
/// python3 or a required module is missing, so the caller can skip; otherwise the exit status
/// and combined output.
public enum PythonCrossCheck {
    /// Repository root, found from this source file's location.
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func python() -> String? {
        // The python3 on PATH is the one setup.sh installed packages into.
        if let p = Subprocess.find("python3") { return p }
        for p in ["/usr/local/bin/python3", "/usr/bin/python3"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }

    /// True when python3 can import every module in `modules`.
    public static func available(_ modules: [String]) -> Bool {
        guard let py = python() else { return false }
        let r = run(py, ["-c", modules.map { "import \($0)" }.joined(separator: "; ")])
        return r.status == 0
    }

    /// Runs `Tests/crosscheck/<script>` with arguments.
    public static func runScript(_ script: String, _ args: [String]) -> (status: Int32, output: String) {
        guard let py = python() else { return (Subprocess.cannotStart, "python3 not found") }
        return run(py, [repoRoot.appendingPathComponent("Tests/crosscheck/\(script)").path] + args)
    }

    /// Runs any executable to completion (`Subprocess.run`).
    public static func run(_ exe: String, _ args: [String]) -> (status: Int32, output: String) {
        Subprocess.run(exe, args)
    }

    /// A fresh temporary folder.
    public static func temporaryDirectory(_ tag: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("neo-\(tag)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}
