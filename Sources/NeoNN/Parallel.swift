import Foundation
import NeoTensor

/// Splits 0..<count into contiguous ranges, one per thread of the current engine context, when
/// the work is large enough to pay for the threads: body(lo, hi). Ranges are disjoint, so a body
/// writing only its own range of raw buffers is race-free.
func parallelRanges(_ count: Int, minPerThread: Int = 1 << 15, _ body: (Int, Int) -> Void) {
    let threads = EngineContext.current.threads
    let chunks = Swift.min(threads, count / Swift.max(1, minPerThread))
    if chunks <= 1 { body(0, count); return }
    withoutActuallyEscaping(body) { escapable in
        nonisolated(unsafe) let work = escapable
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            work(count &* c / chunks, count &* (c &+ 1) / chunks)
        }
    }
}

/// A contiguous tensor with `t`'s values, outside autodiff (t itself when already contiguous).
@inline(__always)
func contiguousValues(_ t: Tensor) -> Tensor {
    t.isContiguous ? t : noGrad { t.detach().contiguous() }
}
