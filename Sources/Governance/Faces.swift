import CDlibShim
import Foundation

/// A governance failure that is not a gate decision (missing model, unreadable file, bad key):
/// one line naming what was wrong and where.
public struct GovernanceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ where_: String, _ message: String) { description = "\(where_): \(message)" }
}

/// An 8-bit RGB image, row-major, three bytes a pixel.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "RGBImage: pixel count does not match size")
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// Decodes a PNG, JPEG or BMP file (dlib's decoders over Debian's libpng and libjpeg).
    public static func load(_ path: String) throws -> RGBImage {
        guard FileManager.default.isReadableFile(atPath: path) else { throw GovernanceError(path, "image missing or unreadable") }
        var buffer: UnsafeMutablePointer<UInt8>?
        var w: Int32 = 0, h: Int32 = 0
        var err = [CChar](repeating: 0, count: 512)
        guard neo_image_load(path, &buffer, &w, &h, &err, err.count) == 0, let buffer else {
            throw GovernanceError(path, "cannot decode image: \(cMessage(err))")
        }
        defer { neo_image_free(buffer) }
        let n = Int(w) * Int(h) * 3
        return RGBImage(width: Int(w), height: Int(h), pixels: Array(UnsafeBufferPointer(start: buffer, count: n)))
    }

    /// Encodes as PNG (`jpegQuality` nil) or JPEG, through a temporary file and rename.
    public func save(_ path: String, jpegQuality: Int? = nil) throws {
        let url = URL(fileURLWithPath: path)
        // Keep the extension: dlib picks nothing from it, but readers of the temporary file might.
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid()).\(url.pathExtension)").path
        var err = [CChar](repeating: 0, count: 512)
        let status = pixels.withUnsafeBufferPointer { p in
            neo_image_save(tmp, p.baseAddress, Int32(width), Int32(height), Int32(jpegQuality ?? 0), &err, err.count)
        }
        guard status == 0 else {
            unlink(tmp)
            throw GovernanceError(path, "cannot write image: \(cMessage(err))")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw GovernanceError(path, "cannot write image: \(String(cString: strerror(errno)))")
        }
    }
}

/// One detected face: its box in image pixels and the detector's confidence.
public struct FaceBox: Sendable, Equatable {
    public var left, top, right, bottom: Float
    public var confidence: Float
}

/// Where the governance models live under `Checkpoints/pretrained/` (scripts/setup.sh puts them there).
public struct FaceModelFiles: Sendable {
    public static let defaultDirectory = "Checkpoints/pretrained/faces"
    public var directory: String
    public init(directory: String = FaceModelFiles.defaultDirectory) { self.directory = directory }

    public var detector: String { path("mmod_human_face_detector.dat") }
    public var landmarks: String { path("shape_predictor_5_face_landmarks.dat") }
    public var recognizer: String { path("dlib_face_recognition_resnet_model_v1.dat") }
    public var age: String { path("age-v1.onnx") }
    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The first model file that is missing, if any.
    public var missing: String? {
        [detector, landmarks, recognizer, age].first { !FileManager.default.isReadableFile(atPath: $0) }
    }
}

/// dlib's face pipeline: MMOD CNN detection → 5-point landmarks → aligned chip → 128-D embedding.
/// dlib's networks keep per-call state, so one lock serialises every call on an instance.
public final class FaceAnalyzer: @unchecked Sendable {
    /// Side of the aligned chip the identity network reads, and dlib's padding for it.
    public static let identityChipSize = 150
    public static let identityChipPadding = 0.25
    public static let embeddingSize = 128

    private let models: OpaquePointer
    private let lock = NSLock()
    /// Image doublings before detection: 0 finds faces from about 80 px across.
    public let upsample: Int

    public init(files: FaceModelFiles = FaceModelFiles(), upsample: Int = 0) throws {
        for p in [files.detector, files.landmarks, files.recognizer] where !FileManager.default.isReadableFile(atPath: p) {
            throw GovernanceError(p, "face model missing (scripts/setup.sh installs it)")
        }
        var err = [CChar](repeating: 0, count: 1024)
        guard let m = neo_face_models_load(files.detector, files.landmarks, files.recognizer, &err, err.count) else {
            throw GovernanceError(files.directory, "cannot load face models: \(cMessage(err))")
        }
        models = m
        self.upsample = upsample
    }

    deinit { neo_face_models_free(models) }

    public func detect(_ image: RGBImage) throws -> [FaceBox] {
        lock.lock(); defer { lock.unlock() }
        var err = [CChar](repeating: 0, count: 512)
        var boxes = [neo_face_box](repeating: neo_face_box(), count: 64)
        let n = image.pixels.withUnsafeBufferPointer { p in
            neo_face_detect(models, p.baseAddress, Int32(image.width), Int32(image.height), Int32(upsample),
                            &boxes, Int32(boxes.count), &err, err.count)
        }
        guard n >= 0 else { throw GovernanceError("face detector", cMessage(err)) }
        return boxes.prefix(min(Int(n), boxes.count)).map {
            FaceBox(left: $0.left, top: $0.top, right: $0.right, bottom: $0.bottom, confidence: $0.confidence)
        }
    }

    /// The five landmarks (x, y pairs: eye corners and the base of the nose) of the face in `box`.
    public func landmarks(_ image: RGBImage, box: FaceBox) throws -> [Float] {
        lock.lock(); defer { lock.unlock() }
        var err = [CChar](repeating: 0, count: 512)
        var points = [Float](repeating: 0, count: 10)
        var b = neo_face_box(left: box.left, top: box.top, right: box.right, bottom: box.bottom, confidence: box.confidence)
        let status = image.pixels.withUnsafeBufferPointer { p in
            neo_face_landmarks(models, p.baseAddress, Int32(image.width), Int32(image.height), &b, &points, &err, err.count)
        }
        guard status == 0 else { throw GovernanceError("landmark model", cMessage(err)) }
        return points
    }

    /// The face aligned by its landmarks into a size×size chip.
    public static func chip(_ image: RGBImage, landmarks: [Float], size: Int, padding: Double) throws -> RGBImage {
        precondition(landmarks.count == 10, "chip: five landmarks expected")
        var err = [CChar](repeating: 0, count: 512)
        var out = [UInt8](repeating: 0, count: size * size * 3)
        let status = image.pixels.withUnsafeBufferPointer { p in
            neo_face_chip(p.baseAddress, Int32(image.width), Int32(image.height), landmarks, Int32(size), padding,
                          &out, &err, err.count)
        }
        guard status == 0 else { throw GovernanceError("face alignment", cMessage(err)) }
        return RGBImage(width: size, height: size, pixels: out)
    }

    /// The 128-D identity embedding of an aligned 150×150 chip (padding 0.25).
    public func embedding(chip: RGBImage) throws -> [Float] {
        precondition(chip.width == Self.identityChipSize && chip.height == Self.identityChipSize, "embedding: 150×150 chip expected")
        lock.lock(); defer { lock.unlock() }
        var err = [CChar](repeating: 0, count: 512)
        var out = [Float](repeating: 0, count: Self.embeddingSize)
        let status = chip.pixels.withUnsafeBufferPointer { p in neo_face_embed(models, p.baseAddress, &out, &err, err.count) }
        guard status == 0 else { throw GovernanceError("identity model", cMessage(err)) }
        return out
    }

    /// Landmarks, the identity chip and its embedding for one detected face.
    public func describe(_ image: RGBImage, box: FaceBox) throws -> FaceDescription {
        let points = try landmarks(image, box: box)
        let chip = try Self.chip(image, landmarks: points, size: Self.identityChipSize, padding: Self.identityChipPadding)
        return FaceDescription(box: box, landmarks: points, chip: chip, embedding: try embedding(chip: chip))
    }

    /// Euclidean distance between two embeddings; dlib calls two faces the same person below 0.6.
    public static func distance(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "distance: embeddings of different sizes")
        var s: Float = 0
        for i in 0..<a.count { let d = a[i] - b[i]; s += d * d }
        return s.squareRoot()
    }
}

public struct FaceDescription: Sendable {
    public var box: FaceBox
    public var landmarks: [Float]
    public var chip: RGBImage
    public var embedding: [Float]
}

/// The NUL-terminated message the shim wrote into `buffer`.
func cMessage(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The face and age models, loaded once per model folder and shared by every gate and command
/// of the process (loading them takes seconds; each instance serialises its own calls).
public enum FaceModelCache {
    nonisolated(unsafe) private static var loaded: [String: (FaceAnalyzer, AgeModel)] = [:]
    private static let lock = NSLock()

    public static func models(_ files: FaceModelFiles) throws -> (FaceAnalyzer, AgeModel) {
        lock.lock(); defer { lock.unlock() }
        if let m = loaded[files.directory] { return m }
        let m = (try FaceAnalyzer(files: files), try AgeModel(path: files.age))
        loaded[files.directory] = m
        return m
    }
}
