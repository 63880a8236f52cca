import Foundation
import HeadRender
import NeoTensor

/// Rendering of performances into frames, shared by `data synth --video`, the loader's
/// on-the-fly mode, the preview command and the render benchmark.
public enum FaceVideo {
    /// Frame sides the renderer is tuned and benchmarked for.
    public static let sizes = [64, 128, 256]

    /// The rendered look of identity `index` of a synthesis `seed`.
    public static func identity(index: Int, seed: UInt64, model: HeadModel) -> HeadIdentity {
        HeadIdentity.sample(seed: Generator(seed: seed).derived(0x4EAD_1D, UInt64(index)).seed, model: model)
    }

    /// Renders every frame of `a` with `renderer`, with each frame's keypoint projections and the camera.
    public static func render(_ a: Articulation, renderer: HeadRenderer, rig: MeshRig) -> ClipVideo {
        let S = renderer.size, bytes = S * S * 3
        var frames = [UInt8](repeating: 0, count: a.frames * bytes)
        var keypoints: [Float] = []
        keypoints.reserveCapacity(a.frames * 42)
        frames.withUnsafeMutableBufferPointer { fb in
            for t in 0..<a.frames {
                renderer.render(MeshRig.controls(a, t, unitLength: rig.unitLength), into: fb.baseAddress! + t * bytes)
                keypoints += renderer.keypoints()
            }
        }
        let id = renderer.identity
        return ClipVideo(size: S, frames: frames, keypoints: keypoints,
                         camera: [id.fieldOfView, id.cameraDistance, id.frameOffset.x, id.frameOffset.y])
    }
}
