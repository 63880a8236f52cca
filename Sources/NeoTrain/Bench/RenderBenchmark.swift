import Foundation
import HeadRender
import NeoData
import NeoTensor

/// `neo-train bench render`: frames per second of the head renderer at 64, 128 and 256 px on a
/// speech-like articulation track, on `threads` threads and, as the reference measured in the
/// same run, on one thread; and the seconds one minute of 128 px video at 25 fps takes.
public enum RenderBenchmark {
    public struct Size: Codable, Sendable {
        public var size: Int
        public var frames: Int
        public var fps: Double
        public var fpsOneThread: Double
        public var speedupOverOneThread: Double
        /// Frames split over `threads` renderers of one thread each (how `data synth` uses the
        /// cores: one identity per thread).
        public var fpsFramesAcrossThreads: Double
    }

    public struct Result: Codable, Sendable, JSONReport {
        public var threads: Int
        public var sizes: [Size]
        /// Seconds to render 1500 frames (one minute at 25 fps) at 128 px on `threads` threads (the
    /// faster of the two ways of using them).
        public var secondsPerMinuteAt128: Double
        public var targetSecondsPerMinuteAt128: Double
        public var vertices: Int
        public var triangles: Int
        public var note: String
    }

    public static func run(frames: Int, threads: Int, asset: String?) throws -> Result {
        guard frames >= 1 && frames <= 5000 else { throw TrainError("--frames: expected an integer in 1…5000, got \(frames)") }
        guard threads >= 1 else { throw TrainError("--threads: expected an integer ≥ 1, got \(threads)") }
        let model = try HeadAsset.load(asset ?? HeadAsset.defaultPath)
        let rig = MeshRig(model: model)
        let a = track(frames: frames)
        let controls = (0..<frames).map { MeshRig.controls(a, $0, unitLength: rig.unitLength) }
        var sizes: [Size] = []
        for size in FaceVideo.sizes {
            func measure(_ n: Int) throws -> Double {
                let r = try HeadRenderer(model: model, identity: HeadIdentity.sample(seed: 1, model: model), size: size, threads: n)
                var frame = [UInt8](repeating: 0, count: size * size * 3)
                frame.withUnsafeMutableBufferPointer { r.render(controls[0], into: $0.baseAddress!) }  // warm-up
                let start = DispatchTime.now().uptimeNanoseconds
                frame.withUnsafeMutableBufferPointer { fb in for c in controls { r.render(c, into: fb.baseAddress!) } }
                return Double(frames) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            func measureAcross() throws -> Double {
                let renderers = try (0..<threads).map { _ in
                    try HeadRenderer(model: model, identity: HeadIdentity.sample(seed: 1, model: model), size: size, threads: 1)
                }
                let start = DispatchTime.now().uptimeNanoseconds
                DispatchQueue.concurrentPerform(iterations: threads) { k in
                    var frame = [UInt8](repeating: 0, count: size * size * 3)
                    frame.withUnsafeMutableBufferPointer { fb in
                        for i in stride(from: k, to: frames, by: threads) { renderers[k].render(controls[i], into: fb.baseAddress!) }
                    }
                }
                return Double(frames) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let many = try measure(threads), one = try measure(1), across = try measureAcross()
            sizes.append(Size(size: size, frames: frames, fps: many, fpsOneThread: one, speedupOverOneThread: many / one,
                              fpsFramesAcrossThreads: across))
        }
        let at128 = sizes.first { $0.size == 128 }!
        return Result(threads: threads, sizes: sizes, secondsPerMinuteAt128: 1500 / max(at128.fps, at128.fpsFramesAcrossThreads), targetSecondsPerMinuteAt128: 30,
                      vertices: model.vertexCount, triangles: model.faces.count / 3,
                      note: "render only (posing, rasterising, shading, 2x2 supersampling, uint8 output); no compression or I/O")
    }

    /// Talking-like articulations: syllables at ~4 Hz, blinks, brow raises, gaze and head sway.
    static func track(frames: Int) -> Articulation {
        var a = Articulation(frames: frames, jaw: [], open: [], width: [], round: [], smile: [], brow: [], aperture: [], close: [],
                             gazeX: [], gazeY: [], pitch: [], yaw: [], roll: [], scale: [], translation: [])
        for t in 0..<frames {
            let s = Double(t) / 25
            let v = Float(0.5 + 0.5 * sin(2 * .pi * 4 * s))
            a.jaw.append(0.1 + 0.6 * v); a.open.append(v < 0.15 ? -0.25 : 0.7 * v)
            a.width.append(Float(0.2 * sin(s))); a.round.append(Float(max(0, 0.4 * cos(0.7 * s))))
            a.smile.append(0.2); a.brow.append(t % 60 < 10 ? 0.7 : 0); a.aperture.append(0); a.close.append(t % 90 < 4 ? 1 : 0)
            a.gazeX.append(Float(0.4 * sin(0.5 * s))); a.gazeY.append(Float(0.2 * sin(0.3 * s)))
            a.pitch.append(Float(4 * sin(0.9 * s))); a.yaw.append(Float(15 * sin(0.4 * s))); a.roll.append(Float(2 * sin(0.6 * s)))
            a.scale.append(1); a.translation += [0, 0, 0]
        }
        return a
    }

    public static func table(_ r: Result) -> String {
        var out = "head renderer (\(r.vertices) vertices, \(r.triangles) triangles), \(r.threads) threads vs 1 thread\n"
        for s in r.sizes {
            out += String(format: "%4d px  rows across threads %7.1f fps, frames across threads %7.1f fps  (1 thread %6.1f fps, %.2f×)\n",
                          s.size, s.fps, s.fpsFramesAcrossThreads, s.fpsOneThread, s.speedupOverOneThread)
        }
        out += String(format: "1 min of 128 px video at 25 fps: %.1f s (target < %.0f s)", r.secondsPerMinuteAt128, r.targetSecondsPerMinuteAt128)
        return out
    }
}
