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

/// Σ f(lo, hi) over the ranges of `parallelRanges`, each range's partial sum computed by one
/// thread (Double partials, added in range order so the result does not depend on timing).
func parallelSum(_ count: Int, minPerThread: Int = 1 << 15, _ partial: (Int, Int) -> Double) -> Double {
    let threads = EngineContext.current.threads
    let chunks = Swift.min(threads, count / Swift.max(1, minPerThread))
    if chunks <= 1 { return partial(0, count) }
    let sums = UnsafeMutablePointer<Double>.allocate(capacity: chunks)
    defer { sums.deallocate() }
    withoutActuallyEscaping(partial) { escapable in
        nonisolated(unsafe) let work = escapable
        nonisolated(unsafe) let out = sums
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            out[c] = work(count &* c / chunks, count &* (c &+ 1) / chunks)
        }
    }
    var total = 0.0
    for c in 0..<chunks { total += sums[c] }
    return total
}
