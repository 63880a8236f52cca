import Foundation
import NeoTensor

/// Runs body(chunk) for chunk in 0..<chunks concurrently. The body is not @Sendable: kernels
/// hand disjoint ranges of raw buffers to each chunk, which the type system cannot see.
@inline(__always)
func concurrentChunks(_ chunks: Int, _ body: (Int) -> Void) {
    if chunks <= 1 { body(0); return }
    withoutActuallyEscaping(body) { escapable in
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: chunks) { c in work(c) }
    }
}

/// Splits 0..<count into up to `EngineContext.current.threads` ranges of at least
/// `minPerThread` items: body(lo, hi).
@inline(__always)
func parallelRanges(_ count: Int, minPerThread: Int, _ body: (Int, Int) -> Void) {
    let chunks = max(1, min(EngineContext.current.threads, count / max(1, minPerThread)))
    concurrentChunks(chunks) { c in body(count &* c / chunks, count &* (c &+ 1) / chunks) }
}
