import Foundation
import NeoTensor
import NeoNN

/// Render speed of a Pictar generator with the source volume cached: what `neo-train render`
/// does per frame (keypoint transform, warp, decode), one frame at a time.
public struct PictarRenderTiming: Sendable, Codable {
    public var imageSize: Int
    public var threads: Int
    public var frames: Int
    /// Milliseconds per frame, median over the timed frames.
    public var medianMilliseconds: Double
    /// Frames per second from the median frame time.
    public var framesPerSecond: Double
    /// Milliseconds to lift the source (appearance and motion encoders), done once per photo.
    public var prepareMilliseconds: Double
}

extension PictarGenerator {
    /// Times rendering `frames` frames (after `warmup` untimed ones) from one cached source
    /// photo, on `threads` threads, driving with random plausible motions.
    public func measureRender(frames: Int = 20, warmup: Int = 3, threads: Int = 2, seed: UInt64 = 1) -> PictarRenderTiming {
        let c = config
        let g = Generator(seed: seed)
        let photo = Tensor.uniform([1, 3, c.imageSize, c.imageSize], generator: g)
        var motions: [Tensor] = []
        for _ in 0..<(frames + warmup) {
            var v = (0..<(3 * c.keypoints)).map { _ in Float(g.nextNormal() * 0.02) }
            v.append(1)
            v += [0, 0, 0].map { _ in Float(g.nextNormal() * 0.03) }
            v += [0, 0, 0].map { _ in Float((g.nextUniform() * 2 - 1) * 15) }
            motions.append(Tensor(v, shape: [1, c.motionWidth]))
        }
        return EngineContext(threads: threads).run {
            noGrad {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let source = prepare(source: photo)
                let prepareMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                var times: [Double] = []
                for (i, m) in motions.enumerated() {
                    let s = DispatchTime.now().uptimeNanoseconds
                    let frame = render(source, motion: m)
                    _ = frame.data.pointee  // the frame is complete
                    if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6) }
                }
                times.sort()
                let median = times.isEmpty ? 0 : times[times.count / 2]
                return PictarRenderTiming(imageSize: c.imageSize, threads: threads, frames: times.count,
                                          medianMilliseconds: median, framesPerSecond: median > 0 ? 1000 / median : 0,
                                          prepareMilliseconds: prepareMs)
            }
        }
    }
}
