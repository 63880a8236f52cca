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
        HeadIdentity.sample(seed: headSeed(index: index, seed: seed), model: model)
    }

    /// The seed of identity `index`'s rendered look in a synthesis with `seed`.
    public static func headSeed(index: Int, seed: UInt64) -> UInt64 { Generator(seed: seed).derived(0x4EAD_1D, UInt64(index)).seed }

    /// Renders a stored clip again from its face units and pose (the motion's slots 63…69) at
    /// `size`: the on-the-fly path, which gives the stored frames back byte for byte at the
    /// stored size.
    public static func rerender(_ clip: Clip, model: HeadModel, size: Int) throws -> ClipVideo {
        guard let v = clip.video, let seed = v.headSeed, v.faceUnits.count == clip.frames * HeadModel.unitNames.count else {
            throw DataError(file: clip.id, "clip has no face units and head seed to render from (only rendered clips do)")
        }
        let renderer = try HeadRenderer(model: model, identity: HeadIdentity.sample(seed: seed, model: model), size: size, threads: 1)
        let rig = MeshRig(model: model)
        let U = HeadModel.unitNames.count, D = clip.motionDim, K = FaceKeypoint.self
        var frames = [UInt8](repeating: 0, count: clip.frames * size * size * 3)
        var keypoints: [Float] = []
        frames.withUnsafeMutableBufferPointer { fb in
            for t in 0..<clip.frames {
                let m = t * D
                let c = FaceControls(units: Array(v.faceUnits[t * U ..< (t + 1) * U]), pitch: clip.motion[m + K.rotationIndex],
                                     yaw: clip.motion[m + K.rotationIndex + 1], roll: clip.motion[m + K.rotationIndex + 2],
                                     translation: SIMD3(clip.motion[m + K.translationIndex], clip.motion[m + K.translationIndex + 1],
                                                        clip.motion[m + K.translationIndex + 2]) * rig.unitLength,
                                     scale: clip.motion[m + K.scaleIndex])
                renderer.render(c, into: fb.baseAddress! + t * size * size * 3)
                keypoints += renderer.keypoints()
            }
        }
        return ClipVideo(size: size, frames: frames, keypoints: keypoints, camera: v.camera, faceUnits: v.faceUnits, headSeed: seed)
    }

    /// Renders every frame of `a` with `renderer`, with each frame's keypoint projections and the camera.
    public static func render(_ a: Articulation, renderer: HeadRenderer, rig: MeshRig) -> ClipVideo {
        let S = renderer.size, bytes = S * S * 3
        var frames = [UInt8](repeating: 0, count: a.frames * bytes)
        var keypoints: [Float] = [], units: [Float] = []
        keypoints.reserveCapacity(a.frames * 42)
        frames.withUnsafeMutableBufferPointer { fb in
            for t in 0..<a.frames {
                let c = MeshRig.controls(a, t, unitLength: rig.unitLength)
                renderer.render(c, into: fb.baseAddress! + t * bytes)
                keypoints += renderer.keypoints()
                units += c.units
            }
        }
        let id = renderer.identity
        return ClipVideo(size: S, frames: frames, keypoints: keypoints,
                         camera: [id.fieldOfView, id.cameraDistance, id.frameOffset.x, id.frameOffset.y], faceUnits: units, headSeed: id.seed)
    }
}
