import Foundation
import NeoIO

/// An opened dataset folder: manifest, consent book and shard readers (metadata only).
public final class DatasetFolder: @unchecked Sendable {
    public let folder: String
    public let manifest: DatasetManifest
    public let shards: [ShardReader]

    public init(_ folder: String) throws {
        self.folder = folder
        manifest = try DatasetManifest.read(folder: folder)
        var readers: [ShardReader] = []
        for name in manifest.shards {
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError(file: path, "shard listed in \(DatasetManifest.fileName) is missing")
            }
            readers.append(try ShardReader(path: path))
        }
        shards = readers
        for s in readers {
            for c in s.clips where c.motionDim != manifest.motionDim {
                throw DataError(file: s.path, "clip '\(c.id)' has motion width \(c.motionDim), the dataset says \(manifest.motionDim)")
            }
        }
    }

    /// Every clip of every shard, in shard then clip-id order.
    public var clips: [ClipInfo] { shards.flatMap(\.clips) }

    public var consentPath: String { (folder as NSString).appendingPathComponent(manifest.consent) }

    public func consentBook() throws -> ConsentBook { try ConsentBook.read(consentPath) }

    /// Throws one error listing every identity whose clips lack a valid consent record with the
    /// `train` scope (unknown identity, missing record id, bad signature, key not named by the
    /// dataset, missing scope).
    public func verifyConsent(for clips: [ClipInfo]? = nil, trustedKeys: Set<String>? = nil) throws {
        let book = try consentBook()
        let keys = trustedKeys ?? [manifest.consentKey]
        try book.require((clips ?? self.clips).map { ($0.identity, $0.consentId, $0.id) }, file: consentPath, trustedKeys: keys)
    }

    public func reader(for clip: ClipInfo) -> ShardReader? { shards.first { $0.path == clip.shard } }
}

extension DatasetFolder {
    /// Adds (or replaces) cached audio features in every clip: `compute(clip)` returns
    /// `2 · frames · featureDim` floats ([2T, F], two feature frames per motion frame). Each shard
    /// is rewritten to a temporary file and renamed, so an error leaves every shard either old or new.
    public static func cacheFeatures(folder: String, featureDim: Int,
                                     compute: (Clip) throws -> [Float]) throws {
        let ds = try DatasetFolder(folder)
        // Shard temporaries of an earlier run that was interrupted (its process is gone).
        for dir in Set(ds.shards.map { ($0.path as NSString).deletingLastPathComponent }) {
            AtomicFile.removeStaleTemporaries(in: dir)
        }
        for shard in ds.shards {
            let writer = try ShardWriter(path: shard.path)
            for info in shard.clips {
                var clip = try shard.read(info.id, video: true)
                let f = try compute(clip)
                guard f.count == clip.frames * ShardFormat.featuresPerFrame * featureDim else {
                    throw DataError(file: shard.path, "clip '\(info.id)': features have \(f.count) values, expected \(clip.frames * ShardFormat.featuresPerFrame) × \(featureDim)")
                }
                clip.features = f
                clip.featureDim = featureDim
                try writer.append(clip)
            }
            try writer.finish()
        }
    }
}
