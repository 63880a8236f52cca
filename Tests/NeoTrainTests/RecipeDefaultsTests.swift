import Foundation
import KineticGRPO
import NeoTrain
import RewardModel
import Vocal
import XCTest

/// Issue 19 Done-when 2: every recipe key's default lives in one place. Sections bound to a
/// domain configuration take its defaults, so a recipe that leaves a key out decodes to the
/// configuration type's own default; the walk below covers every key of every model kind.
final class RecipeDefaultsTests: XCTestCase {
    /// A recipe of each kind with only the keys it requires.
    static let minimal: [(name: String, text: String, sections: [SectionSchema]?)] = [
        ("toy-regression", "[model]\nkind = \"toy-regression\"\n", nil),
        ("reward", "[model]\nkind = \"reward\"\n", nil),
        ("vocal", "[model]\nkind = \"vocal\"\n", nil),
        ("grpo", "[policy]\ncheckpoint = \"policy.h5\"\n", Recipe.grpoSections),
    ]

    func parse(_ text: String, sections: [SectionSchema]?, overrides: [String] = []) throws -> Recipe {
        if let sections { return try Recipe.parse(text: text, source: "minimal.toml", overrides: overrides, sections: sections) }
        return try Recipe.parse(text: text, source: "minimal.toml", overrides: overrides, kinds: ModelKind.builtIn.map(\.schema))
    }

    /// Absent keys decode to the configuration types' defaults.
    func testAbsentKeysDecodeToTheConfigurationDefaults() throws {
        let vocal = try parse(Self.minimal[2].text, sections: nil)
        XCTAssertEqual(vocal.section(VocalModelSection.self).config, VocalConfig())
        XCTAssertEqual(VocalKind.config(vocal), VocalConfig())
        XCTAssertEqual(vocal.section(VocalSection.self).flowMatching, FlowMatchingSettings())
        XCTAssertEqual(vocal.section(VocalSection.self).sampling, SamplingSettings())
        let reward = try parse(Self.minimal[1].text, sections: nil)
        XCTAssertEqual(reward.section(RewardModelSection.self).config, RewardModelConfig())
        XCTAssertEqual(reward.section(RewardSection.self).degradation, DegradationSettings())
        let grpo = try parse(Self.minimal[3].text, sections: Recipe.grpoSections)
        XCTAssertEqual(grpo.section(GRPOSection.self).settings, GRPOSettings())
        XCTAssertEqual(grpo.section(GRPORewardSection.self).head, RewardHead.overall)
    }

    /// Every key of every kind: present in the decoded recipe, and writing its value back as an
    /// override changes nothing (the rendered default is the default).
    func testEveryKeyOfEveryKindRoundTripsItsDefault() throws {
        var walked = 0
        for kind in Self.minimal {
            let base = try parse(kind.text, sections: kind.sections)
            for (key, value) in base.flattened where key != "model.kind" {
                let again = try parse(kind.text, sections: kind.sections, overrides: ["\(key)=\(value.tomlText)"])
                XCTAssertEqual(again.differences(from: base), [], "\(kind.name): \(key) = \(value.tomlText)")
                walked += 1
            }
        }
        XCTAssertGreaterThan(walked, 150, "the walk saw too few keys")
    }
}
