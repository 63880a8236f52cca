import XCTest
import NeoTrain

final class RecipeTests: XCTestCase {
    // Only the toy kind, so the expected messages do not change as model kinds are added.
    let kinds = ModelKind.builtIn.filter { $0.name == "toy-regression" }.map(\.schema)

    func parse(_ text: String, _ overrides: [String] = []) throws -> Recipe {
        try Recipe.parse(text: text, source: "t.toml", overrides: overrides, kinds: kinds)
    }

    /// The error a recipe gives, as its one-line description.
    func failure(_ text: String, _ overrides: [String] = []) -> String {
        do {
            _ = try parse(text, overrides)
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }

    let minimal = "[model]\nkind = \"toy-regression\"\n"

    func testDefaultsAndValues() throws {
        let r = try parse(minimal + "[optim]\nlr = 1\nbetas = [0.8, 0.95]\nschedule = \"linear\"\n[train]\nsteps = 7\n")
        XCTAssertEqual(r.modelKind, "toy-regression")
        XCTAssertEqual(r.optim.lr, 1.0)          // a TOML integer is accepted for a number
        XCTAssertEqual(r.optim.betas, [0.8, 0.95])
        XCTAssertEqual(r.optim.schedule, .linear)
        XCTAssertEqual(r.optim.eps, OptimSection().eps)   // default
        XCTAssertEqual(r.train.steps, 7)
        XCTAssertEqual(r.run.name, "t")                    // default: the file's name
        XCTAssertEqual(r.section(ToyRegression.ModelSection.self).hidden, [32, 32])
    }

    func testEffectiveTextRoundTripsAndListsEveryKey() throws {
        let r = try parse(minimal + "[optim]\nlr = 1.25e-4\n", ["train.ema=0.999", "run.name=\"x y\"", "model.hidden=[3, 5]"])
        let again = try Recipe.parse(text: r.text, source: "again.toml", kinds: kinds)
        XCTAssertEqual(again.differences(from: r), [])
        XCTAssertEqual(again.flattened.count, r.flattened.count)
        XCTAssertEqual(again.optim.lr, 1.25e-4)
        XCTAssertEqual(again.train.ema, 0.999)
        XCTAssertEqual(again.run.name, "x y")
        // Every key of every section is written, defaults included.
        for (schema, _) in r.sections {
            for key in schema.keys { XCTAssertTrue(r.text.contains("\n\(key) = "), "\(schema.name).\(key) missing") }
        }
        XCTAssertTrue(r.text.contains("--set train.ema=0.999"))
    }

    func testOverridesReplaceAddAndMayBeBareStrings() throws {
        let r = try parse(minimal + "[optim]\nlr = 0.5\n", ["optim.lr=2e-3", "train.steps=12", "run.name=baseline",
                                                             "optim.lr=3e-3"])
        XCTAssertEqual(r.optim.lr, 3e-3)   // the last override wins
        XCTAssertEqual(r.train.steps, 12)
        XCTAssertEqual(r.run.name, "baseline")
        XCTAssertEqual(r.value(at: "train.steps"), .integer(12))
        XCTAssertEqual(r.value(at: "model.kind"), .string("toy-regression"))
    }

    func testErrorsNameFileKeyAndExpectation() {
        XCTAssertEqual(failure(minimal + "[optim]\nlr = -1\n"), "t.toml: optim.lr: expected a positive number, got -1")
        XCTAssertEqual(failure(minimal + "[optim]\nlr = \"fast\"\n"),
                       "t.toml: optim.lr: expected a positive number, got the string \"fast\"")
        XCTAssertEqual(failure(minimal + "[train]\nsteps = 2.5\n"), "t.toml: train.steps: expected an integer ≥ 1, got 2.5")
        XCTAssertEqual(failure(minimal + "[train]\nstep = 2\n"),
                       "t.toml: train.step: unknown key (known keys in [train]: steps, batch, accumulation, eval_every, checkpoint_every, keep_last, ema, log_every, gradient_checkpointing)")
        XCTAssertEqual(failure(minimal + "[optim]\nschedule = \"cosin\"\n"),
                       "t.toml: optim.schedule: expected one of \"constant\", \"cosine\", \"linear\", got the string \"cosin\"")
        XCTAssertEqual(failure(minimal + "[optim]\nbetas = [0.9]\n"),
                       "t.toml: optim.betas: expected an array of 2 numbers, each a number in [0, 1), got [0.9]")
        XCTAssertEqual(failure(minimal + "[train]\nema = 1.0\n"), "t.toml: train.ema: expected a number in [0, 1), got 1.0")
        XCTAssertEqual(failure(minimal + "[train]\nema = true\n"), "t.toml: train.ema: expected a number in [0, 1), got true")
        XCTAssertEqual(failure(minimal + "[trian]\nsteps = 1\n"),
                       "t.toml: [trian]: unknown section (known sections: run, model, data, optim, train)")
        XCTAssertEqual(failure("[train]\nsteps = 1\n"),
                       "t.toml: model.kind: missing required key (expected one of \"toy-regression\")")
        XCTAssertEqual(failure("[model]\nkind = \"vocals\"\n"),
                       "t.toml: model.kind: expected one of \"toy-regression\", got the string \"vocals\"")
        XCTAssertEqual(failure("steps = 1\n" + minimal),
                       "t.toml: steps: expected a section ([steps] table), got 1; keys belong inside a section such as [optim]")
        XCTAssertEqual(failure(minimal + "[train]\nsteps = [1, 2\n"),
                       failure(minimal + "[train]\nsteps = [1, 2\n"))
        XCTAssertTrue(failure(minimal + "[train]\nsteps = [1, 2\n").hasPrefix("t.toml: line 4, column "))
    }

    func testOverrideErrorsNameTheOverride() {
        XCTAssertEqual(failure(minimal, ["optim.lr=-1"]), "--set optim.lr=-1: optim.lr: expected a positive number, got -1")
        XCTAssertEqual(failure(minimal, ["optim.learning_rate=1"]).prefix(56),
                       "--set optim.learning_rate=1: optim.learning_rate: unknow")
        XCTAssertEqual(failure(minimal, ["optimizer.lr=1"]),
                       "--set optimizer.lr=1: [optimizer]: unknown section (known sections: run, model, data, optim, train)")
        XCTAssertEqual(failure(minimal, ["lr=1"]), "--set lr=1: lr: expected a key path of the form section.key (e.g. optim.lr)")
        XCTAssertEqual(failure(minimal, ["optim.lr"]), "--set optim.lr: expected section.key=value")
        XCTAssertEqual(failure(minimal, ["optim.lr="]), "--set optim.lr=: optim.lr: expected a value after '='")
        XCTAssertEqual(failure(minimal, ["train.steps=many"]),
                       "--set train.steps=many: train.steps: expected an integer ≥ 1, got the string \"many\"")
        // An error in the file is still reported against the file when overrides are present.
        XCTAssertEqual(failure(minimal + "[optim]\nlr = 0\n", ["train.steps=3"]),
                       "t.toml: optim.lr: expected a positive number, got 0")
    }

    func testMissingFile() {
        XCTAssertThrowsError(try Recipe.load(path: "/nonexistent/r.toml", kinds: kinds)) { e in
            XCTAssertEqual("\(e)", "/nonexistent/r.toml: recipe file not found")
        }
    }

    func testFixedSectionsSchema() throws {
        struct Extra: RecipeSection {
            static let name = "grpo"
            var group = 8
            var kl = 0.04
            init() {}
            static var fields: [RecipeField<Self>] {[
                .integer("group", \.group, .atLeast(2), "candidates per prompt", required: true),
                .number("kl", \.kl, .nonNegative),
            ]}
            func check() throws(RecipeSectionCheck) {
                if kl > 1 && group < 4 { throw RecipeSectionCheck(key: "kl", "expected ≤ 1 when group < 4") }
            }
        }
        let sections = [SectionSchema(RunSection.self), SectionSchema(Extra.self)]
        let r = try Recipe.parse(text: "[grpo]\ngroup = 4\n", source: "g.toml", sections: sections)
        XCTAssertEqual(r.section(Extra.self).group, 4)
        XCTAssertNil(r.modelKind)
        XCTAssertNil(r[OptimSection.self])
        XCTAssertThrowsError(try Recipe.parse(text: "[grpo]\nkl = 0.1\n", source: "g.toml", sections: sections)) {
            XCTAssertEqual("\($0)", "g.toml: grpo.group: missing required key (expected an integer ≥ 2)")
        }
        XCTAssertThrowsError(try Recipe.parse(text: "[grpo]\ngroup = 2\nkl = 3\n", source: "g.toml", sections: sections)) {
            XCTAssertEqual("\($0)", "g.toml: grpo.kl: expected ≤ 1 when group < 4")
        }
    }

    func testValueRendering() {
        XCTAssertEqual(RecipeValue.float(3).tomlText, "3.0")
        XCTAssertEqual(RecipeValue.float(1e-8).tomlText, "1e-08")
        XCTAssertEqual(RecipeValue.float(.infinity).tomlText, "inf")
        XCTAssertEqual(RecipeValue.string("a\"b\\c\n").tomlText, "\"a\\\"b\\\\c\\n\"")
        for v: RecipeValue in [.float(0.1), .float(1e-8), .float(-2.5e300), .string("a\"b\\c\n\u{1}é"), .integer(-7),
                               .array([.integer(1), .float(2)]), .bool(true)] {
            XCTAssertEqual(RecipeValue.parse(v.tomlText), v, v.tomlText)
        }
    }
}
