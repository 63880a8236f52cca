import XCTest
import Foundation
import TOMLKit
import NeoTensor
import NeoNN
import NeoTestSupport
import Pictar

/// Recipes/pictar-{tiny,small,base}.toml hold exactly the fields of PictarConfig (key
/// `image_size` ↔ field `imageSize`) with the values of the presets, so a trainer binding the
/// keys by key path builds the same models; every preset is a valid configuration; parameter
/// counts as documented in docs/pictar.md.
final class PictarRecipeTests: XCTestCase {
    /// Field name of a recipe key: underscores dropped, compared case-insensitively.
    func fold(_ key: String) -> String { key.replacingOccurrences(of: "_", with: "").lowercased() }

    func testRecipesMatchThePresets() throws {
        for (name, preset) in [("tiny", PictarConfig.tiny), ("small", .small), ("base", .base)] {
            XCTAssertEqual(preset.problems(), [], name)
            let url = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/pictar-\(name).toml")
            let doc = try TOMLTable(string: try String(contentsOf: url, encoding: .utf8))
            var recipe: [String: Double] = [:]
            for section in ["model", "loss"] {
                let table = try XCTUnwrap(doc[section]?.table, "pictar-\(name): no [\(section)]")
                for (key, value) in table where key != "kind" {
                    let number = try XCTUnwrap(value.int.map(Double.init) ?? value.double, "pictar-\(name): \(section).\(key) is not a number")
                    XCTAssertNil(recipe.updateValue(number, forKey: fold(key)), "pictar-\(name): \(key) given twice")
                }
            }
            let fields = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(preset)) as? [String: Any])
            XCTAssertEqual(Set(recipe.keys), Set(fields.keys.map { fold($0) }), "pictar-\(name): recipe keys vs PictarConfig fields")
            for (field, value) in fields {
                let expected = try XCTUnwrap((value as? NSNumber)?.doubleValue, field)
                XCTAssertEqual(recipe[fold(field)], expected, "pictar-\(name): \(field)")
            }
        }
    }

    func testParameterCounts() {
        let counts = [PictarConfig.tiny, .small, .base].map { c in
            (PictarGenerator(c, generator: Generator(seed: 1)).parameterCount, Discriminator(c, generator: Generator(seed: 2)).parameterCount)
        }
        print("Pictar parameters (generator, discriminator): tiny \(counts[0]), small \(counts[1]), base \(counts[2])")
        XCTAssertEqual(counts[0].0, 183_544); XCTAssertEqual(counts[0].1, 2_697)
        XCTAssertEqual(counts[1].0, 2_088_170); XCTAssertEqual(counts[1].1, 167_457)
        XCTAssertEqual(counts[2].0, 16_847_062); XCTAssertEqual(counts[2].1, 2_763_841)
    }
}

/// A configuration a model cannot be built from is reported key by key before any model is built.
final class PictarConfigTests: XCTestCase {
    func testProblemsNameTheKeys() {
        var c = PictarConfig.tiny
        c.imageSize = 60
        XCTAssertEqual(c.problems(), ["image_size 60 must be a positive multiple of 16 (4 · 2^down_blocks)"])
        c = .tiny
        c.warpLevels = 4
        XCTAssertEqual(c.problems(), ["the volume side 16 must be divisible by warp_downsample · 2^warp_levels = 2 · 16"])
        c = .tiny
        c.volumeDepth = 0; c.poseBinDegrees = 0
        XCTAssertEqual(c.problems(), ["volume_depth must be at least 1, got 0", "pose_bin_degrees must be positive, got 0.0"])
        XCTAssertEqual(PictarConfig.tiny.motionWidth, 70)
        XCTAssertEqual(PictarConfig.small.volumeSize, 32)
    }
}
