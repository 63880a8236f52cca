import Foundation
import Governance
import NeoTestSupport
import XCTest

/// The installed face models, the two public-domain gallery photos, throwaway governance folders
/// and the image edits the refusal tests need.
enum Fixture {
    static var models: FaceModelFiles {
        FaceModelFiles(directory: PythonCrossCheck.repoRoot.appendingPathComponent(FaceModelFiles.defaultDirectory).path)
    }
    static var galleryFolder: String { (models.directory as NSString).appendingPathComponent("gallery") }
    static var collins: String { (galleryFolder as NSString).appendingPathComponent("eileen-collins.png") }
    static var hopper: String { (galleryFolder as NSString).appendingPathComponent("grace-hopper.jpg") }

    /// Skips unless scripts/setup.sh installed the models and the gallery photos.
    static func requireModels() throws {
        if let m = models.missing { throw XCTSkip("\(m) missing (scripts/setup.sh installs the face models)") }
        for p in [collins, hopper] where !FileManager.default.fileExists(atPath: p) {
            throw XCTSkip("\(p) missing (scripts/setup.sh copies the public-domain gallery photos)")
        }
    }

    static func temporaryFolder() throws -> URL { PythonCrossCheck.temporaryDirectory("governance") }

    /// A fresh authority in `dir` whose gallery protects `protected` (photo, name) pairs.
    static func authority(_ dir: String, protecting protected: [(String, String)] = []) throws {
        _ = try ConsentTool.keygen(directory: dir)
        for (photo, name) in protected { try ConsentTool.protect(directory: dir, keyPath: nil, photo: photo, name: name, models: models) }
    }

    /// Signs a record for `photo` and returns its path.
    @discardableResult
    static func sign(_ dir: String, photo: String, subject: String, scopes: [ConsentScope] = [.render],
                     birthDate: String = "1950-01-01", expires: String = "2099-01-01T00:00:00Z", now: Date = Date(),
                     out: String) throws -> ConsentRecordV2 {
        try ConsentTool.sign(directory: dir, keyPath: nil, photo: photo, subject: subject, scopes: scopes, birthDate: birthDate,
                             expires: expires, output: out, models: models, now: now)
    }
}

extension RGBImage {
    func flippedHorizontally() -> RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { out[(y * width + x) * 3 + c] = pixels[(y * width + (width - 1 - x)) * 3 + c] }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    func scaledBrightness(_ factor: Float) -> RGBImage {
        RGBImage(width: width, height: height, pixels: pixels.map { UInt8(min(255, (Float($0) * factor).rounded())) })
    }

    /// `self` and `other` side by side on black, top-aligned.
    func besides(_ other: RGBImage) -> RGBImage {
        let w = width + other.width, h = max(height, other.height)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for (img, x0) in [(self, 0), (other, width)] {
            for y in 0..<img.height {
                for x in 0..<img.width {
                    for c in 0..<3 { out[(y * w + x0 + x) * 3 + c] = img.pixels[(y * img.width + x) * 3 + c] }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
