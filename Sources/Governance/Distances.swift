import Foundation

/// Identity-embedding distances over every pair of faces in a folder tree laid out as
/// ROOT/<identity>/<image>: the evidence behind the gate's match thresholds.
public struct DistanceSurvey: Sendable {
    public struct Sample: Sendable {
        public var identity: String
        public var file: String
        /// Faces the detector found; only images with exactly one are paired.
        public var faces: Int
        public var embedding: [Float]? = nil
        /// The age model's estimate (years) for the one face.
        public var estimatedAge: Float? = nil
    }
    public struct Pair: Sendable {
        public var a: Int, b: Int
        public var same: Bool
        public var distance: Float
    }
    /// Error rates at one threshold: a same-identity pair above it is a false refusal, a
    /// different-identity pair at or below it a false accept.
    public struct Rates: Codable, Sendable {
        public var threshold: Float
        public var samePairs: Int
        public var differentPairs: Int
        public var falseRefusals: Int
        public var falseAccepts: Int
        public var falseRefusalRate: Double
        public var falseAcceptRate: Double
    }

    public var samples: [Sample]
    public var pairs: [Pair]

    public static func run(root: String, analyzer: FaceAnalyzer, age: AgeModel) throws -> DistanceSurvey {
        let fm = FileManager.default
        guard let identities = try? fm.contentsOfDirectory(atPath: root).sorted() else {
            throw GovernanceError(root, "not a readable folder")
        }
        var samples: [Sample] = []
        for identity in identities where !identity.hasPrefix(".") {
            let dir = (root as NSString).appendingPathComponent(identity)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { continue }
            for name in (try? fm.contentsOfDirectory(atPath: dir).sorted()) ?? [] {
                let ext = (name as NSString).pathExtension.lowercased()
                guard ["png", "jpg", "jpeg", "bmp"].contains(ext) else { continue }
                let path = (dir as NSString).appendingPathComponent(name)
                let image = try RGBImage.load(path)
                let boxes = try analyzer.detect(image)
                var sample = Sample(identity: identity, file: "\(identity)/\(name)", faces: boxes.count)
                if boxes.count == 1 {
                    let face = try analyzer.describe(image, box: boxes[0])
                    sample.embedding = face.embedding
                    let chip = try FaceAnalyzer.chip(image, landmarks: face.landmarks, size: AgeModel.inputSize, padding: AgeModel.chipPadding)
                    sample.estimatedAge = try age.estimate(chip: chip)
                }
                samples.append(sample)
            }
        }
        var pairs: [Pair] = []
        for i in 0..<samples.count {
            guard let ei = samples[i].embedding else { continue }
            for j in (i + 1)..<samples.count {
                guard let ej = samples[j].embedding else { continue }
                pairs.append(Pair(a: i, b: j, same: samples[i].identity == samples[j].identity, distance: FaceAnalyzer.distance(ei, ej)))
            }
        }
        return DistanceSurvey(samples: samples, pairs: pairs)
    }

    public func rates(threshold: Float) -> Rates {
        let same = pairs.filter(\.same), diff = pairs.filter { !$0.same }
        let fr = same.filter { $0.distance > threshold }.count
        let fa = diff.filter { $0.distance <= threshold }.count
        return Rates(threshold: threshold, samePairs: same.count, differentPairs: diff.count, falseRefusals: fr, falseAccepts: fa,
                     falseRefusalRate: same.isEmpty ? 0 : Double(fr) / Double(same.count),
                     falseAcceptRate: diff.isEmpty ? 0 : Double(fa) / Double(diff.count))
    }

    /// One row per pair: file_a, file_b, same_identity, distance.
    public var pairsCSV: String {
        var s = "file_a,file_b,same_identity,distance\n"
        for p in pairs { s += "\(samples[p.a].file),\(samples[p.b].file),\(p.same ? 1 : 0),\(String(format: "%.5f", Double(p.distance)))\n" }
        return s
    }

    /// Pair counts per distance bin of width `bin`: bin_start, same_identity, different_identity.
    public func histogramCSV(bin: Float = 0.02) -> String {
        var same: [Int: Int] = [:], diff: [Int: Int] = [:]
        for p in pairs {
            let k = Int(p.distance / bin)
            if p.same { same[k, default: 0] += 1 } else { diff[k, default: 0] += 1 }
        }
        let top = (same.keys.max() ?? 0) > (diff.keys.max() ?? 0) ? (same.keys.max() ?? 0) : (diff.keys.max() ?? 0)
        var s = "bin_start,same_identity,different_identity\n"
        for k in 0...top { s += String(format: "%.2f", Double(Float(k) * bin)) + ",\(same[k] ?? 0),\(diff[k] ?? 0)\n" }
        return s
    }

    /// The `count` closest different-identity pairs and the `count` farthest same-identity pairs:
    /// the pairs a threshold gets wrong first.
    public func extremesCSV(count: Int = 25) -> String {
        let closeDifferent = pairs.filter { !$0.same }.sorted { $0.distance < $1.distance }.prefix(count)
        let farSame = pairs.filter(\.same).sorted { $0.distance > $1.distance }.prefix(count)
        var s = "kind,file_a,file_b,distance\n"
        for (kind, list) in [("closest_different", Array(closeDifferent)), ("farthest_same", Array(farSame))] {
            for p in list { s += "\(kind),\(samples[p.a].file),\(samples[p.b].file),\(String(format: "%.5f", Double(p.distance)))\n" }
        }
        return s
    }

    /// One row per image: file, faces found, estimated age of the one face.
    public var samplesCSV: String {
        "file,faces,estimated_age\n" + samples.map { s in
            "\(s.file),\(s.faces),\(s.estimatedAge.map { String(format: "%.2f", Double($0)) } ?? "")\n"
        }.joined()
    }
}
