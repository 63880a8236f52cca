import Foundation
import XCTest

/// Starts programs under Open MPI's `mpirun` for the tests (skipped with the reason when
/// `mpirun` is not installed; `scripts/setup.sh` installs it).
enum MPILaunch {
    static var mpirun: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin"] {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func requireMPIRun() throws -> String {
        guard let m = mpirun else { throw XCTSkip("mpirun not found (Debian openmpi-bin, installed by scripts/setup.sh)") }
        return m
    }

    /// The built executable `name` next to the test bundle.
    static func product(_ name: String) -> URL { Bundle.main.bundleURL.appendingPathComponent(name) }

    /// Arguments that let `mpirun` start `processes` ranks on a small machine as any user: root
    /// allowed, more ranks than cores allowed, shared memory between ranks without ptrace
    /// (which containers often forbid), waiting ranks yielding their core.
    static func arguments(processes: Int) -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "\(processes)",
         "--mca", "btl_vader_single_copy_mechanism", "none", "--mca", "mpi_yield_when_idle", "1"]
    }

    struct Result {
        let status: Int32
        let output: String
        let seconds: Double
    }

    /// Runs `exe args` under `mpirun -np processes`, with `environment` added (exported to every rank).
    static func run(processes: Int, _ exe: String, _ args: [String], environment: [String: String] = [:],
                    onStart: ((Process) -> Void)? = nil) throws -> Result {
        let mpirun = try requireMPIRun()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        var exports: [String] = []
        for k in environment.keys.sorted() { exports += ["-x", k] }
        p.arguments = arguments(processes: processes) + exports + [exe] + args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        return try collect(p, onStart: onStart)
    }

    /// Runs `exe args` as a plain process (no MPI launcher).
    static func runSingle(_ exe: String, _ args: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for v in ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"] { env[v] = nil }
        for (k, v) in environment { env[k] = v }
        p.environment = env
        return try collect(p, onStart: nil)
    }

    private static func collect(_ p: Process, onStart: ((Process) -> Void)?) throws -> Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("neo-mpi-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let h = try FileHandle(forWritingTo: out)
        defer { try? FileManager.default.removeItem(at: out) }
        p.standardOutput = h
        p.standardError = h
        let t0 = Date()
        try p.run()
        onStart?(p)
        p.waitUntilExit()
        try h.close()
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        return Result(status: p.terminationStatus, output: text, seconds: Date().timeIntervalSince(t0))
    }
}
