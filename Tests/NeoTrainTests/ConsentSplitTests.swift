import Crypto
import Foundation
import NeoData
import NeoIO
import NeoTestSupport
import XCTest
import NeoTrain

/// Reward training checks consent for every split (issue 21, item 7): the held-out identity's
/// clips are scored at every evaluation, so a removed record stops training as it stops
/// `reward eval`; and the trusted signing key can be fixed by the recipe or the command line,
/// so records re-signed by a fresh key (with the manifest edited to name it) are refused.
final class ConsentSplitTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = PythonCrossCheck.temporaryDirectory("consent-split") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func dataset() throws -> (data: String, recipe: String) {
        let data = dir.appendingPathComponent("ds").path
        _ = try SyntheticPerformer.synthesize(identities: 3, minutes: 0.2, seed: 4, out: data)
        try DatasetFolder.cacheFeatures(folder: data, featureDim: 8) { RewardShardTests.features($0, layers: 2, width: 4) }
        let recipe = RewardShardTests.recipe(data: data, steps: 1)
        let recipePath = dir.appendingPathComponent("r.toml").path
        try recipe.write(toFile: recipePath, atomically: true, encoding: .utf8)
        return (data, recipePath)
    }

    func train(_ recipe: String, _ overrides: [String] = [], run: String) throws -> TrainingOutcome {
        try RewardCommands.train(recipePath: recipe, overrides: overrides, runDirectory: dir.appendingPathComponent(run).path,
                                 resume: false, debug: DebugHooks())
    }

    func testHeldOutIdentityWithoutConsentStopsTraining() throws {
        let (data, recipe) = try dataset()
        let consentPath = data + "/consent.json"
        var book = try ConsentBook.read(consentPath)
        book.records.removeAll { $0.identity == "id0002" }   // the held-out identity
        try book.write(to: consentPath)
        XCTAssertThrowsError(try train(recipe, run: "run")) { e in
            XCTAssertTrue("\(e)".contains("identity 'id0002': no consent record for this identity"), "\(e)")
        }
        let written = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("run/checkpoints").path)) ?? []
        XCTAssertEqual(written, [], "no checkpoint of a run that was refused")
    }

    func testRecordsResignedByAnotherKeyAreRefusedWhenTheKeyIsFixed() throws {
        let (data, recipe) = try dataset()
        let authority = try ConsentBook.read(data + "/consent.json").keys[0].id
        // An adversary re-signs every record with a fresh key and names it in the manifest.
        let fresh = Curve25519.Signing.PrivateKey()
        var book = try ConsentBook.read(data + "/consent.json")
        book.keys = [ConsentKey(publicKey: fresh.publicKey, note: "not the authority")]
        book.records = try book.records.map { r in var r = r; try r.sign(with: fresh); return r }
        try book.write(to: data + "/consent.json")
        let manifestPath = data + "/" + DatasetManifest.fileName
        let text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        try text.replacingOccurrences(of: authority, with: book.keys[0].id).write(toFile: manifestPath, atomically: true, encoding: .utf8)

        // Trusting whatever the dataset names accepts them; the recipe's or the command
        // line's key refuses them.
        XCTAssertNoThrow(try train(recipe, run: "trusting"))
        XCTAssertThrowsError(try train(recipe, ["data.consent_key=\"\(authority)\""], run: "recipe-key")) { e in
            XCTAssertTrue("\(e)".contains("which is not trusted"), "\(e)")
        }
        let r = try CLI.run(["reward", "train", recipe, "--run-dir", dir.appendingPathComponent("cli").path, "--consent-key", authority],
                            logs: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("which is not trusted"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        // The consent message reads as one sentence: "…valid consent: identity 'id0000': …".
        XCTAssertTrue(r.stderr.contains("lack of valid consent: identity '"), r.stderr)
    }
}
