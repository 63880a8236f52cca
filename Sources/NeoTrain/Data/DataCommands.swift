import Foundation
import NeoAudio
import NeoData

/// `neo-train data …`: the dataset commands. Each returns the text to print; failures are
/// thrown with one-line descriptions.
public enum DataCommand {
    /// `data synth`: the synthetic performer corpus.
    public static func synth(identities: Int, minutes: Double, seed: Int, out: String, threads: Int = 2, video: Int? = nil) throws -> String {
        guard (1...maximumIdentities).contains(identities) else {
            throw TrainError("--identities: expected an integer in 1…\(maximumIdentities), got \(identities)")
        }
        guard minutes > 0 && minutes <= maximumMinutes else {
            throw TrainError("--minutes: expected a number in (0, \(Int(maximumMinutes))] (at most \(Int(maximumMinutes / 60)) hours of speech), got \(minutes)")
        }
        guard seed >= 0 else { throw TrainError("--seed: expected an integer ≥ 0, got \(seed)") }
        guard (1...maximumThreads).contains(threads) else {
            throw TrainError("--threads: expected an integer in 1…\(maximumThreads), got \(threads)")
        }
        // Frames: 25 per second of uint8 RGB, counted at a 20× zstd ratio (more than rendered
        // heads reach), so the estimate stays below what the corpus really takes.
        let videoBytesPerMinute = video.map { 25.0 * 60 * Double($0 * $0 * 3) / 20 } ?? 0
        try checkFreeSpace(bytes: minutes * (synthBytesPerMinute + videoBytesPerMinute), for: out,
                           what: String(format: "%g min of speech", minutes) + (video.map { " with \($0) px video" } ?? ""))
        let start = DispatchTime.now().uptimeNanoseconds
        let report = try SyntheticPerformer.synthesize(identities: identities, minutes: minutes, seed: UInt64(seed), out: out,
                                                       threads: threads, videoSize: video) { line in
            FileHandle.standardOutput.write(Data(("  " + line + "\n").utf8))
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return String(format: "wrote %@: %d clips, %.1f min of speech, %d identities, %d shards in %.1f s",
                      report.folder, report.clips, report.seconds / 60, report.identities.count, report.shards.count, elapsed)
            + " (motion from the \(report.rig) rig" + (video.map { ", \($0) px video" } ?? "") + ")"
    }

    /// Bounds of `data synth`: far above any corpus a CPU trains on, far below what fills a disk
    /// by accident.
    public static let maximumMinutes = 6000.0
    public static let maximumIdentities = 10_000
    public static let maximumThreads = 256
    /// Bytes a minute of synthetic speech takes in the shards (16 kHz float32 audio compressed
    /// by zstd, plus motion and labels), measured on `data synth` output and rounded down, so
    /// the free-space check never refuses a corpus that fits.
    static let synthBytesPerMinute = 2.0e6

    /// Refuses to start when the disk holding `out` has less free space than `bytes`.
    static func checkFreeSpace(bytes: Double, for out: String, what: String) throws {
        var folder = URL(fileURLWithPath: out).standardizedFileURL.deletingLastPathComponent().path
        while !FileManager.default.fileExists(atPath: folder) && folder != "/" {
            folder = (folder as NSString).deletingLastPathComponent
        }
        var s = statvfs()
        guard statvfs(folder, &s) == 0 else { return }
        let free = Double(s.f_bavail) * Double(s.f_frsize)
        if bytes > free {
            throw TrainError(String(format: "%@: %@ needs about %.1f MB, but the disk holding %@ has %.1f MB free", out, what, bytes / 1e6, folder, free / 1e6))
        }
    }

    /// `data stats DIR [--json]`.
    public static func stats(folder: String, json: Bool) throws -> String {
        let stats = try DatasetStats.compute(folder: folder)
        return json ? try stats.json() : stats.table()
    }

    /// `data import --audio DIR --motion DIR --manifest FILE [--consent FILE] --out DIR`. The
    /// consent file defaults to `consent.json` beside the manifest.
    public static func importClips(audio: String, motion: String, manifest: String, consent: String?, out: String) throws -> String {
        let consentPath = consent ?? ((manifest as NSString).deletingLastPathComponent as NSString).appendingPathComponent(ConsentBook.fileName)
        if consent == nil && !FileManager.default.fileExists(atPath: consentPath) {
            throw TrainError("\(consentPath): no consent file beside the manifest; pass --consent FILE (signed records, docs/dataset-format.md)")
        }
        let report = try DataImporter.importClips(audioDir: audio, motionDir: motion, manifest: manifest, consent: consentPath, out: out)
        return String(format: "imported %d clips (%.1f min) into %@ (%d shards)", report.clips, report.seconds / 60, report.folder, report.shards.count)
    }

    /// `data features --audio FILE --out FILE.h5`: log-mel and every hidden state of one file.
    public static func features(audio: String, out: String, weights: String?) throws -> String {
        let extractor = try AudioFeatureCache.extractor(weights: weights)
        let f = try extractor.extract(audio: audio, to: out)
        return "wrote \(out): log_mel \(f.logMel.shape), hidden_states \(f.hiddenStates.shape) for \(String(format: "%.2f", f.duration)) s of audio"
    }

    /// `data features --dataset DIR`: caches the hidden states of every clip in its shard.
    public static func features(dataset: String, weights: String?, force: Bool) throws -> String {
        var last = DispatchTime.now().uptimeNanoseconds
        let r = try AudioFeatureCache.cacheDataset(folder: dataset, weights: weights, force: force) { line in
            let now = DispatchTime.now().uptimeNanoseconds
            if now - last > 2_000_000_000 { last = now; FileHandle.standardOutput.write(Data(("  " + line + "\n").utf8)) }
        }
        if r.skipped {
            return "\(dataset): every clip already holds features of \(r.layers) layers × \(r.width) (pass --force to recompute)"
        }
        return String(format: "%@: cached %d layers × %d features for %d clips (%.1f min of audio) in %.1f s (%.0f× real time)",
                      dataset, r.layers, r.width, r.clips, r.seconds / 60, r.elapsed, r.seconds / max(r.elapsed, 1e-9))
    }
}
