import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into a request that the training loop polls between steps, so the
/// current step finishes and a checkpoint is written before the process exits. The signals are
/// received by dispatch sources (not a C signal handler), and the request is a locked value
/// owned by this object rather than global state. A second signal exits at once.
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []
    private let signals: [Int32]

    /// Starts listening for `signals` (default SIGINT and SIGTERM) until `stop()` or deinit.
    public init(signals: [Int32] = [SIGINT, SIGTERM]) {
        self.signals = signals
        let queue = DispatchQueue(label: "neo-train.signals")
        for sig in signals {
            // Ignore the default action so only the dispatch source sees the signal.
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [weak self] in self?.deliver(sig) }
            source.resume()
            sources.append(source)
        }
    }

    deinit { stop() }

    private func deliver(_ sig: Int32) {
        let first: Bool = lock.withLock {
            if received == nil { received = sig; return true }
            return false
        }
        if first {
            let name = sig == SIGINT ? "interrupt" : sig == SIGTERM ? "termination request" : "signal \(sig)"
            FileHandle.standardError.write(Data("\n\(name): finishing the current step, then writing a checkpoint (send again to quit at once)\n".utf8))
        } else {
            FileHandle.standardError.write(Data("second signal: exiting without a checkpoint\n".utf8))
            _exit(128 + sig)
        }
    }

    /// The first signal received, if any.
    public var requested: Int32? { lock.withLock { received } }

    /// Stops listening and restores the default actions.
    public func stop() {
        for s in sources { s.cancel() }
        sources.removeAll()
        for sig in signals { Foundation.signal(sig, SIG_DFL) }
    }
}
