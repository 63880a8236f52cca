import Foundation
import NeoAudio
import NeoIO
import NeoTensor

/// One row of an import manifest.
public struct ManifestEntry: Sendable, Equatable, Codable {
    public var clip: String
    public var identity: String
    public var emotion: String
    public var language: String
    /// Consent record id; empty means the clip has none.
    public var consent: String
    /// Optional file names (relative to the audio / motion folders); default: the clip id with
    /// any audio extension, and `<clip>.npy`.
    public var audio: String?
    public var motion: String?
}

/// What `importClips` wrote.
public struct ImportReport: Sendable {
    public var folder: String
    public var clips: Int
    public var seconds: Double
    public var shards: [String]
}

/// Imports clips given as audio files plus `.npy` float32 [T, D] motion at 25 fps and a CSV or
/// JSON manifest, into a dataset folder.
public enum DataImporter {
    public static let requiredColumns = ["clip", "identity", "emotion", "language", "consent"]

    /// Reads a manifest: CSV with a header row (columns clip, identity, emotion, language,
    /// consent; optional audio, motion) or JSON (an array of such objects, or {"clips": [...]}).
    public static func readManifest(_ path: String) throws -> [ManifestEntry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "manifest missing or unreadable")
        }
        let text = String(decoding: data, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var rows: [[String: String]] = []
        var lineOf: [Int] = []
        if trimmed.hasPrefix("[") || trimmed.hasPrefix("{") {
            let json: Any
            do { json = try JSONSerialization.jsonObject(with: data) } catch {
                throw DataError(file: path, "not valid JSON: " + jsonProblem(error, in: data))
            }
            let list: [Any]
            if let a = json as? [Any] { list = a } else if let o = json as? [String: Any], let a = o["clips"] as? [Any] { list = a } else {
                throw DataError(file: path, "JSON manifest must be an array of clip objects or {\"clips\": [...]}")
            }
            for (i, item) in list.enumerated() {
                guard let o = item as? [String: Any] else { throw DataError(file: path, "entry \(i + 1) is not an object") }
                var row: [String: String] = [:]
                for (k, v) in o {
                    if let s = v as? String { row[k] = s } else if let n = v as? NSNumber { row[k] = n.stringValue } else if v is NSNull { row[k] = "" } else {
                        throw DataError(file: path, "entry \(i + 1): field '\(k)' must be a string")
                    }
                }
                rows.append(row); lineOf.append(i + 1)
            }
        } else {
            let records = try CSV.parse(text, file: path)
            guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
                throw DataError(file: path, "empty manifest")
            }
            for r in records.dropFirst() where !(r.fields.count == 1 && r.fields[0].trimmingCharacters(in: .whitespaces).isEmpty) {
                guard r.fields.count == header.count else {
                    throw DataError(file: path, "line \(r.line): \(r.fields.count) fields, the header has \(header.count)")
                }
                var row: [String: String] = [:]
                for (k, v) in zip(header, r.fields) { row[k] = v.trimmingCharacters(in: .whitespaces) }
                rows.append(row); lineOf.append(r.line)
            }
        }
        var entries: [ManifestEntry] = []
        var seen: [String: Int] = [:]
        for (row, line) in zip(rows, lineOf) {
            let whereText = path.hasSuffix(".json") || trimmed.hasPrefix("[") || trimmed.hasPrefix("{") ? "entry \(line)" : "line \(line)"
            for c in requiredColumns where row[c] == nil {
                throw DataError(file: path, "\(whereText): column '\(c)' missing (needed: \(requiredColumns.joined(separator: ", ")))")
            }
            let e = ManifestEntry(clip: row["clip"]!, identity: row["identity"]!, emotion: row["emotion"]!, language: row["language"]!,
                                  consent: row["consent"]!, audio: row["audio"].flatMap { $0.isEmpty ? nil : $0 },
                                  motion: row["motion"].flatMap { $0.isEmpty ? nil : $0 })
            guard ShardFormat.validClipID(e.clip) else {
                throw DataError(file: path, "\(whereText): clip id '\(e.clip)' may use letters, digits, '-', '_' and '.' only")
            }
            guard !e.identity.isEmpty else { throw DataError(file: path, "\(whereText): clip '\(e.clip)' has no identity") }
            guard Emotion(rawValue: e.emotion) != nil else {
                throw DataError(file: path, "\(whereText): clip '\(e.clip)': unknown emotion '\(e.emotion)' (one of: \(Emotion.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let first = seen[e.clip] { throw DataError(file: path, "\(whereText): clip '\(e.clip)' already listed at \(first)") }
            seen[e.clip] = line
            entries.append(e)
        }
        guard !entries.isEmpty else { throw DataError(file: path, "manifest lists no clips") }
        return entries
    }

    /// A JSON parse error as "line L, column C: what" (the parser reports a byte offset).
    static func jsonProblem(_ error: Error, in data: Data) -> String {
        let debug = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
        guard let r = debug.range(of: #"character \d+"#, options: .regularExpression),
              let offset = Int(debug[r].dropFirst("character ".count)) else { return debug }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        let what = debug.replacingOccurrences(of: #" around character \d+\.?"#, with: "", options: .regularExpression)
        return "line \(line), column \(column): \(what)"
    }

    /// Imports every clip of `manifest` into the dataset folder `out`. Checks first, writes
    /// after: the manifest, every clip's consent (a valid signed record with the `train` scope
    /// whose id the clip names), every file's presence, each motion's shape ([T, motionDim]) and
    /// frame rate (T against the audio duration × 25, within `frameTolerance` frames or 1%).
    /// Everything is written under a temporary folder renamed at the end, so an error leaves
    /// nothing at `out`.
    public static func importClips(audioDir: String, motionDir: String, manifest: String, consent: String, out: String,
                                   motionDim: Int = FaceKeypoint.dimension, consentKey: String? = nil,
                                   frameTolerance: Int = 2, clipsPerShard: Int = 64) throws -> ImportReport {
        let entries = try readManifest(manifest)
        let (book, keyID) = try checkConsent(entries, consent: consent, consentKey: consentKey)

        // Every file must exist before anything is decoded.
        var files: [(audio: String, motion: String)] = []
        var missing: [String] = []
        for e in entries {
            let a = e.audio.map { (audioDir as NSString).appendingPathComponent($0) } ?? findAudio(clip: e.clip, in: audioDir)
            let m = (motionDir as NSString).appendingPathComponent(e.motion ?? "\(e.clip).npy")
            if a == nil || !FileManager.default.fileExists(atPath: a!) {
                missing.append("clip '\(e.clip)': audio file \(a ?? "\(audioDir)/\(e.clip).<wav|flac|ogg|mp3|…>") not found")
            }
            if !FileManager.default.fileExists(atPath: m) { missing.append("clip '\(e.clip)': motion file \(m) not found") }
            files.append((a ?? "", m))
        }
        guard missing.isEmpty else {
            throw DataError(file: manifest, "missing files:\n  " + missing.prefix(20).joined(separator: "\n  ") + (missing.count > 20 ? "\n  … (\(missing.count) in all)" : ""))
        }

        let staging = try StagedFolder.begin(out)
        do {
            var shardNames: [String] = []
            var writer: ShardWriter?
            var inShard = 0
            var seconds = 0.0
            for (e, f) in zip(entries, files) {
                let clip = try loadClip(e, audioPath: f.audio, motionPath: f.motion, motionDim: motionDim, frameTolerance: frameTolerance)
                if writer == nil {
                    let name = "shard-" + String(repeating: "0", count: max(0, 5 - String(shardNames.count).count)) + "\(shardNames.count).h5"
                    shardNames.append(name)
                    writer = try ShardWriter(path: (staging as NSString).appendingPathComponent(name))
                }
                try writer!.append(clip)
                seconds += clip.duration
                inShard += 1
                if inShard == clipsPerShard { try writer!.finish(); writer = nil; inShard = 0 }
            }
            if let w = writer { try w.finish() }
            let used = Set(entries.map(\.identity))
            let kept = ConsentBook(keys: book.keys.filter { $0.id == keyID }, records: book.records.filter { used.contains($0.identity) })
            try kept.write(to: (staging as NSString).appendingPathComponent(ConsentBook.fileName))
            let ds = DatasetManifest(motionDim: motionDim, shards: shardNames, consentKey: keyID, source: [
                "kind": "imported", "manifest": (manifest as NSString).lastPathComponent,
            ])
            try AtomicWrite.data(try ds.encoded(), to: (staging as NSString).appendingPathComponent(DatasetManifest.fileName))
            try StagedFolder.commit(staging, to: out)
            return ImportReport(folder: out, clips: entries.count, seconds: seconds, shards: shardNames)
        } catch {
            StagedFolder.abandon(staging)
            throw error
        }
    }

    /// Reads the consent file and checks that every entry names a valid signed record with the
    /// `train` scope under the signing key (`consentKey`, or the file's only key).
    public static func checkConsent(_ entries: [ManifestEntry], consent: String, consentKey: String?) throws -> (ConsentBook, String) {
        let book = try ConsentBook.read(consent)
        let keyID: String
        if let consentKey {
            guard book.keys.contains(where: { $0.id == consentKey }) else {
                throw DataError(file: consent, "key '\(consentKey)' is not in the consent file (keys: \(book.keys.map(\.id).joined(separator: ", ")))")
            }
            keyID = consentKey
        } else {
            guard book.keys.count == 1 else {
                throw DataError(file: consent, "the consent file has \(book.keys.count) keys; name the one that signs these records")
            }
            keyID = book.keys[0].id
        }
        try book.require(entries.map { ($0.identity, $0.consent, $0.clip) }, file: consent, trustedKeys: [keyID])
        return (book, keyID)
    }

    /// The audio file named after the clip, whatever its extension.
    static func findAudio(clip: String, in dir: String) -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        let audioExtensions: Set<String> = ["wav", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif", "aifc", "caf", "au", "w64"]
        let matches = names.filter { n in
            let u = n as NSString
            return u.deletingPathExtension == clip && audioExtensions.contains(u.pathExtension.lowercased())
        }.sorted()
        return matches.first.map { (dir as NSString).appendingPathComponent($0) }
    }

    /// Decodes and checks one clip.
    static func loadClip(_ e: ManifestEntry, audioPath: String, motionPath: String, motionDim: Int, frameTolerance: Int) throws -> Clip {
        let decoded: DecodedAudio
        do { decoded = try AudioDecoder.load(audioPath) } catch { throw DataError(file: audioPath, "clip '\(e.clip)': \(error)") }
        let motion: Tensor
        do { motion = try NPY.read(motionPath) } catch { throw DataError(file: motionPath, "clip '\(e.clip)': \(error)") }
        guard motion.rank == 2 else {
            throw DataError(file: motionPath, "clip '\(e.clip)': motion must be a 2-D array [frames, \(motionDim)], got shape \(motion.shape)")
        }
        guard motion.shape[1] == motionDim else {
            throw DataError(file: motionPath, "clip '\(e.clip)': motion has \(motion.shape[1]) numbers per frame, expected \(motionDim)")
        }
        let T = motion.shape[0]
        guard T > 0 else { throw DataError(file: motionPath, "clip '\(e.clip)': motion has no frames") }
        let values = motion.toArray()
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw DataError(file: motionPath, "clip '\(e.clip)': non-finite motion value at frame \(bad / motionDim), index \(bad % motionDim)")
        }
        let duration = Double(decoded.samples.count) / Double(ShardFormat.sampleRate)
        let expected = duration * Double(ShardFormat.fps)
        let tolerance = max(Double(frameTolerance), 0.01 * expected)
        guard abs(Double(T) - expected) <= tolerance else {
            let implied = String(format: "%.1f", Double(T) / duration)
            throw DataError(file: motionPath, "clip '\(e.clip)': \(T) motion frames for \(String(format: "%.2f", duration)) s of audio (\((audioPath as NSString).lastPathComponent)) implies \(implied) fps; motion must be 25 fps (\(Int(expected.rounded())) frames, tolerance \(Int(tolerance.rounded())))")
        }
        var audio = decoded.samples
        let want = T * ShardFormat.samplesPerFrame
        if audio.count > want { audio.removeLast(audio.count - want) } else { audio.append(contentsOf: repeatElement(0, count: want - audio.count)) }
        return Clip(id: e.clip, identity: e.identity, emotion: e.emotion, language: e.language, consentId: e.consent,
                    audio: audio, motion: values, motionDim: motionDim,
                    extra: ["source": "imported", "audio_file": (audioPath as NSString).lastPathComponent,
                            "motion_file": (motionPath as NSString).lastPathComponent])
    }
}

/// A small RFC 4180 CSV reader: quoted fields, doubled quotes, commas and newlines inside quotes.
enum CSV {
    struct Record { var fields: [String]; var line: Int }

    static func parse(_ text: String, file: String) throws -> [Record] {
        var records: [Record] = []
        var field = "", fields: [String] = []
        var inQuotes = false, atFieldStart = true
        var line = 1, recordLine = 1
        var chars = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? { if let p = pending { pending = nil; return p }; return chars.next() }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                inQuotes = true; atFieldStart = false
            case ",":
                fields.append(field); field = ""; atFieldStart = true
            case "\n", "\r\n", "\r":
                fields.append(field); field = ""; atFieldStart = true
                records.append(Record(fields: fields, line: recordLine)); fields = []
                line += 1; recordLine = line
            default:
                field.append(c); atFieldStart = false
            }
        }
        if inQuotes { throw DataError(file: file, "line \(recordLine): unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty { fields.append(field); records.append(Record(fields: fields, line: recordLine)) }
        return records
    }
}
