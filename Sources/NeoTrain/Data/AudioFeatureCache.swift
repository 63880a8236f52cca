import Foundation
import NeoAudio
import NeoData
import NeoIO
import NeoTensor

/// Whisper hidden states for clips and files: the pretrained encoder converted by the setup
/// step, features per clip in the shard layout `[2T, L·W]` (two 50 fps feature frames per
/// 25 fps motion frame, each the L hidden states of width W one after another).
public enum AudioFeatureCache {
    /// Where `scripts/setup.sh` puts the converted Whisper tiny.en encoder (relative to the
    /// repository, which is the working directory of every documented command).
    public static var defaultWeights: String { WhisperWeights.defaultCheckpoint }

    /// The feature extractor for `weights` (default: `defaultWeights`), with an error that
    /// tells the user how to produce the file when it is missing.
    public static func extractor(weights: String?) throws -> FeatureExtractor {
        let path = weights ?? defaultWeights
        guard FileManager.default.fileExists(atPath: path) else {
            if weights == nil {
                throw TrainError("\(path): Whisper encoder weights not found; run `bash scripts/setup.sh` once (it converts the bundled Whisper tiny.en into Checkpoints/pretrained/), or pass --weights FILE")
            }
            throw TrainError("\(path): Whisper encoder weights not found (--weights)")
        }
        return try FeatureExtractor(weights: path)
    }

    /// Hidden states of 16 kHz samples for exactly `frames` motion frames, as `[2·frames, L·W]`
    /// floats (layer-major within a feature frame). The samples are cut or zero-padded to
    /// 640·frames first, so the encoder sees whole motion frames.
    public static func clipFeatures(_ extractor: FeatureExtractor, samples: [Float], frames: Int, source: String) throws
        -> (values: [Float], layers: Int, width: Int) {
        let spf = ShardFormat.samplesPerFrame
        var s = Array(samples.prefix(frames * spf))
        if s.count < frames * spf { s += [Float](repeating: 0, count: frames * spf - s.count) }
        let hidden = try extractor.features(samples: s, source: source).hiddenStates  // [L, F, W]
        let layers = hidden.shape[0], got = hidden.shape[1], width = hidden.shape[2]
        let want = ShardFormat.featuresPerFrame * frames
        guard got >= want - 1 else {
            throw TrainError("\(source): the encoder gave \(got) feature frames for \(frames) motion frames (expected \(want))")
        }
        // [L, F, W] → [F, L, W]; a missing last frame (odd window) repeats the one before.
        let src = hidden.contiguous().toArray()
        var out = [Float](repeating: 0, count: want * layers * width)
        out.withUnsafeMutableBufferPointer { dst in
            src.withUnsafeBufferPointer { h in
                for f in 0..<want {
                    let sf = Swift.min(f, got - 1)
                    for l in 0..<layers {
                        let from = h.baseAddress! + (l * got + sf) * width
                        (dst.baseAddress! + (f * layers + l) * width).update(from: from, count: width)
                    }
                }
            }
        }
        return (out, layers, width)
    }

    /// Features of an audio file of any length, as the model reads them: `[1, L, 2T, W]` with
    /// T = whole motion frames of the audio (25 fps), plus the 16 kHz samples.
    public static func modelInput(audioFile: String, extractor: FeatureExtractor) throws -> (features: Tensor, samples: [Float], frames: Int) {
        let audio = try AudioDecoder.load(audioFile)
        let frames = audio.samples.count / ShardFormat.samplesPerFrame
        guard frames >= 1 else {
            throw TrainError("\(audioFile): shorter than one motion frame (\(audio.samples.count) samples at 16 kHz)")
        }
        let (values, layers, width) = try clipFeatures(extractor, samples: audio.samples, frames: frames, source: audioFile)
        let t = Tensor(values, shape: [1, 2 * frames, layers, width]).permute([0, 2, 1, 3]).contiguous()
        return (t, Array(audio.samples.prefix(frames * ShardFormat.samplesPerFrame)), frames)
    }

    /// What `cacheDataset` did.
    public struct Report: Sendable {
        public var clips: Int
        public var seconds: Double
        public var layers: Int
        public var width: Int
        public var skipped: Bool
        public var elapsed: Double
    }

    /// `neo-train data features --dataset DIR`: computes every clip's hidden states and writes
    /// them into its shard (each shard rewritten to a temporary file and renamed, so an error
    /// leaves every shard old or new). When every clip already holds features of the encoder's
    /// width and `force` is off, nothing is recomputed.
    public static func cacheDataset(folder: String, weights: String?, force: Bool = false,
                                    progress: ((String) -> Void)? = nil) throws -> Report {
        let dataset = try DatasetFolder(folder)
        let extractor = try extractor(weights: weights)
        let layers = extractor.encoder.config.layers + 1, width = extractor.encoder.config.width
        let clips = dataset.clips
        let seconds = clips.reduce(0.0) { $0 + Double($1.frames) / Double(ShardFormat.fps) }
        if !force && !clips.isEmpty && clips.allSatisfy({ $0.featureDim == layers * width && $0.featureFrames == 2 * $0.frames }) {
            return Report(clips: clips.count, seconds: seconds, layers: layers, width: width, skipped: true, elapsed: 0)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var done = 0
        try DatasetFolder.cacheFeatures(folder: folder, featureDim: layers * width) { clip in
            let (values, _, _) = try clipFeatures(extractor, samples: clip.audio, frames: clip.frames, source: "\(folder): clip '\(clip.id)'")
            done += 1
            progress?("features: \(done)/\(clips.count) clips")
            return values
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Report(clips: clips.count, seconds: seconds, layers: layers, width: width, skipped: false, elapsed: elapsed)
    }
}
