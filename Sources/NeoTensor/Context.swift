import Foundation
import CBLAS

/// Engine-wide resources of one training job: the buffer pool and the thread budget.
/// There is no global mutable state; the current context is a task-local value.
public final class EngineContext: @unchecked Sendable {
    public let pool: BufferPool
    /// Worker threads our own kernels split work over (BLAS uses the same number).
    public let threads: Int

    public init(pool: BufferPool = BufferPool(), threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.pool = pool
        self.threads = max(1, threads)
    }

    /// The process's default context; creating it sets BLAS to the same thread count.
    static func makeDefault() -> EngineContext {
        let c = EngineContext()
        openblas_set_num_threads(Int32(c.threads))
        return c
    }

    @TaskLocal public static var current: EngineContext = EngineContext.makeDefault()

    /// Runs `body` with this context current and BLAS at this context's thread count.
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        try EngineContext.$current.withValue(self) {
            // Set after entering: the first touch of `current` creates the default context,
            // which sets BLAS threads too.
            let previous = openblas_get_num_threads()
            openblas_set_num_threads(Int32(threads))
            defer { openblas_set_num_threads(previous) }
            return try body()
        }
    }
}

/// Runs body(chunk) for chunk in 0..<chunks on the concurrent queue. The body is not @Sendable:
/// kernels hand disjoint ranges of raw buffers to each chunk, which the type system cannot see.
@inline(__always)
func concurrentChunks(_ chunks: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { escapable in
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: chunks) { c in work(c) }
    }
}

/// Splits 0..<count into one contiguous range per thread: body(lo, hi).
@inline(__always)
func parallelRanges(_ count: Int, minPerThread: Int = 1 << 14, _ body: (Int, Int) -> Void) {
    let threads = EngineContext.current.threads
    let chunks = Swift.min(threads, count / Swift.max(1, minPerThread))
    if chunks <= 1 { body(0, count); return }
    concurrentChunks(chunks) { c in body(count &* c / chunks, count &* (c &+ 1) / chunks) }
}

/// Splits `count` independent work items over the context's threads. Work items must not call
/// multi-threaded BLAS; use `parallelBLAS` for that.
@inline(__always)
func parallelFor(_ count: Int, minPerThread: Int = 1, _ body: (Int) -> Void) {
    let threads = EngineContext.current.threads
    if count <= 1 || threads <= 1 || count < 2 * minPerThread {
        for i in 0..<count { body(i) }
        return
    }
    let chunks = Swift.min(threads, count / Swift.max(1, minPerThread))
    concurrentChunks(chunks) { c in
        let lo = count &* c / chunks, hi = count &* (c &+ 1) / chunks
        for i in lo..<hi { body(i) }
    }
}

/// Runs many independent BLAS calls split over our threads with BLAS itself at one thread,
/// so the two levels of threading never nest.
func parallelBLAS(_ count: Int, _ body: (Int) -> Void) {
    let threads = EngineContext.current.threads
    if count <= 1 || threads <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(threads)) }
    let chunks = Swift.min(threads, count)
    concurrentChunks(chunks) { c in
        let lo = count &* c / chunks, hi = count &* (c &+ 1) / chunks
        for i in lo..<hi { body(i) }
    }
}
