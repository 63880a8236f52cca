import Foundation
import XCTest
import KineticGRPO
import NeoIO
import NeoTensor
import NeoTestSupport
import NeoTrain
import RewardModel
import Vocal

/// `neo-train grpo`: recipe refusals (issue 8 Done-when 5), the rollout dump (Done-when 2),
/// resume, and the command line.
final class GRPOCommandTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-cmd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A tiny random VOCAL checkpoint (zero-initialised parameters perturbed, so samples depend
    /// on the conditions).
    func writePolicy(latentDim: Int = 4, name: String = "policy.h5") throws -> String {
        let path = folder.appendingPathComponent(name).path
        try VocalCheckpoint.writeRandom(to: path, latentDim: latentDim, width: 16, depth: 1, heads: 2, windowFrames: 6,
                                        prefixFrames: 2, audioLayers: 2, audioWidth: 6, seed: 3, perturb: 0.2)
        return path
    }

    /// A tiny recipe file.
    func writeRecipe(policy: String, iterations: Int = 3, name: String = "grpo.toml") throws -> String {
        let path = folder.appendingPathComponent(name).path
        try Self.recipe(policy: policy, iterations: iterations).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The text of a tiny GRPO recipe (a target reward, synthetic clips, EMA, evaluations and
    /// checkpoints every 2 iterations).
    static func recipe(policy: String, iterations: Int) -> String {
        """
            [run]
            seed = 5
            [policy]
            checkpoint = "\(policy)"
            [reward]
            kind = "target"
            target = 0.5
            [data]
            train_clips = 6
            eval_clips = 2
            [grpo]
            group_size = 4
            clips_per_iteration = 2
            steps = 5
            shift = 2.0
            noise_level = 0.8
            window_start = 0
            window_size = 3
            replay_batch = 2
            updates_per_rollout = 2
            beta = 0.02
            eval_candidates = 1
            [optim]
            lr = 3e-3
            schedule = "constant"
            [train]
            iterations = \(iterations)
            eval_every = 2
            checkpoint_every = 2
            keep_last = 5
            ema = 0.5
            """
    }

    func refusal(_ recipe: String, _ overrides: [String]) -> String {
        do {
            _ = try GRPOCommand.prepare(recipePath: recipe, overrides: overrides)
            return "(accepted)"
        } catch {
            return "\(error)"
        }
    }

    func testBadRecipesAreRefusedWithClearErrors() throws {
        let policy = try writePolicy()
        let recipe = try writeRecipe(policy: policy)
        XCTAssertEqual(refusal(recipe, []), "(accepted)")

        let group = refusal(recipe, ["grpo.group_size=1"])
        XCTAssertTrue(group.contains("grpo.group_size") && group.contains("expected an integer ≥ 2, got 1"), group)

        let window = refusal(recipe, ["grpo.window_size=5"])
        XCTAssertTrue(window.contains("grpo.window_size") && window.contains("contains the last step k = 4"), window)
        let window2 = refusal(recipe, ["grpo.window_start=2", "grpo.window_size=3"])
        XCTAssertTrue(window2.contains("the last step is never trained"), window2)

        let missing = folder.appendingPathComponent("nowhere.h5").path
        let noPolicy = refusal(recipe, ["policy.checkpoint=\"\(missing)\""])
        XCTAssertTrue(noPolicy.contains("policy.checkpoint") && noPolicy.contains("\(missing): VOCAL checkpoint not found"), noPolicy)
        let noKey = try writeRecipe(policy: policy, name: "no-policy.toml")
        let stripped = try String(contentsOfFile: noKey, encoding: .utf8).replacingOccurrences(of: "checkpoint = \"\(policy)\"\n", with: "")
        try stripped.write(toFile: noKey, atomically: true, encoding: .utf8)
        let absent = refusal(noKey, [])
        XCTAssertTrue(absent.contains("policy.checkpoint: missing required key"), absent)

        // A checkpoint of another model kind.
        let other = folder.appendingPathComponent("other.h5").path
        try Checkpoint(step: 1, modelKind: "toy-regression", model: ["w": Tensor.ones([2])]).write(to: other)
        let wrongKind = refusal(recipe, ["policy.checkpoint=\"\(other)\""])
        XCTAssertTrue(wrongKind.contains("holds a 'toy-regression' model, expected a VOCAL checkpoint"), wrongKind)

        // A reward built for another latent width than the policy's (4).
        let width = refusal(recipe, ["reward.latent_dim=70"])
        XCTAssertTrue(width.contains("reward") && width.contains("built for latents of width 70, the policy generates width 4"), width)
        let lips = refusal(recipe, ["reward.kind=\"lip-opening\""])
        XCTAssertTrue(lips.contains("built for latents of width 70, the policy generates width 4"), lips)

        XCTAssertTrue(refusal(recipe, ["grpo.noise_level=0"]).contains("grpo.noise_level: expected a positive number"))
        XCTAssertTrue(refusal(recipe, ["grpo.replay_batch=5"]).contains("grpo.replay_batch"))
        XCTAssertTrue(refusal(recipe, ["grpo.clips_per_iteration=7"]).contains("from a pool of 6 training clips"))
        XCTAssertTrue(refusal(recipe, ["grpo.sde_kind=\"ito\""]).contains("grpo.sde_kind: expected one of \"flow\", \"cps\""))
    }

    /// Done-when 2: in a dumped rollout x_{k+1} = μ_k + s_k·ξ_k for every step, s_k follows the
    /// schedule, ξ is zero and s is zero on the ODE steps; log-probabilities, rewards and
    /// advantages agree with what they are computed from.
    func testDumpedRolloutHoldsTheTransitionsOfTheSchedule() throws {
        let policy = try writePolicy()
        let recipe = try writeRecipe(policy: policy, iterations: 1)
        let dump = folder.appendingPathComponent("rollout.h5").path
        for kind in SDEKind.allCases {
            let run = folder.appendingPathComponent("run-\(kind)").path
            _ = try GRPOCommand.run(recipePath: recipe, overrides: ["grpo.sde_kind=\"\(kind.rawValue)\"", "grpo.noise_level=0.6"],
                                    runDirectory: run, resume: false, dumpRollout: dump)
            let file = try HDF5File.open(dump)
            defer { try? file.close() }
            XCTAssertEqual(try file.attribute("format")?.stringValue, "neo-train-grpo-rollout")
            XCTAssertEqual(try file.attribute("noise_level")?.doubleValue, 0.6)
            XCTAssertEqual(try file.attribute("sde_kind")?.stringValue, kind.rawValue)
            let (t, _) = try file.readFloat32(at: "/t")
            let (s, _) = try file.readFloat32(at: "/s")
            let (sde, _) = try file.readUInt8(at: "/sde")
            let (x, xShape) = try file.readFloat32(at: "/x")
            let (xi, xiShape) = try file.readFloat32(at: "/xi")
            let (mu, _) = try file.readFloat32(at: "/mu")
            let (logProb, _) = try file.readFloat64(at: "/log_prob_old")
            let (rewards, _) = try file.readFloat32(at: "/rewards")
            let (advantages, _) = try file.readFloat32(at: "/advantages")
            XCTAssertEqual(t, shiftedTimeGrid(steps: 5, shift: 2))
            XCTAssertEqual(sde, [1, 1, 1, 0, 0])
            XCTAssertEqual(xShape, [2, 4, 6, 6, 4])
            XCTAssertEqual(xiShape, [2, 4, 5, 6, 4])
            let c = 2, g = 4, k = 5, row = 24
            for step in 0..<k {
                let expected: Double
                if sde[step] == 0 {
                    expected = 0
                } else if kind == .flow {
                    let tk = Double(t[step]), tn = Double(t[step + 1])
                    expected = 0.6 * (tk / (1 - (tk == 1 ? tn : tk))).squareRoot() * (tk - tn).squareRoot()
                } else {
                    expected = Double(t[step + 1]) * Foundation.sin(0.6 * Double.pi / 2)
                }
                XCTAssertEqual(Double(s[step]), expected, accuracy: 1e-6 * Swift.max(expected, 1e-30), "\(kind) s_\(step)")
            }
            var worst: Float = 0
            for cj in 0..<(c * g) {
                for step in 0..<k {
                    let xs = (cj * (k + 1) + step) * row, ss = (cj * k + step) * row
                    var sq = 0.0
                    for i in 0..<row {
                        worst = Swift.max(worst, Swift.abs(x[xs + row + i] - (mu[ss + i] + s[step] * xi[ss + i])))
                        sq += Double(xi[ss + i]) * Double(xi[ss + i])
                        if sde[step] == 0 { XCTAssertEqual(xi[ss + i], 0) }
                    }
                    if sde[step] == 1 {
                        let expected = -0.5 * sq - Double(row) * Foundation.log(Double(s[step])) - 0.5 * Double(row) * Foundation.log(2 * Double.pi)
                        XCTAssertEqual(logProb[cj * k + step], expected, accuracy: 1e-9 * Swift.abs(expected))
                    } else {
                        XCTAssertTrue(logProb[cj * k + step].isNaN)
                    }
                }
            }
            XCTAssertEqual(worst, 0, "x_{k+1} = μ_k + s_k·ξ_k must hold exactly (\(kind))")
            // Rewards: −mean (x_K − 0.5)² of each candidate; advantages: the group formula.
            for cj in 0..<(c * g) {
                let at = (cj * (k + 1) + k) * row
                let r = (0..<row).reduce(0.0) { $0 + Double((x[at + $1] - 0.5) * (x[at + $1] - 0.5)) } / Double(row)
                XCTAssertEqual(Double(rewards[cj]), -r, accuracy: 1e-5)
            }
            for ci in 0..<c {
                let group = GroupAdvantages(rewards: Array(rewards[(ci * g)..<((ci + 1) * g)]))
                XCTAssertEqual(Array(advantages[(ci * g)..<((ci + 1) * g)]), group.values)
            }
            XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: dump)[.size] as! Int, 2 << 20)
        }
    }

    /// Stopping after 2 iterations and resuming to 4 gives the checkpoint of a straight 4-iteration
    /// run, bit for bit, and the same deterministic metrics.
    func testResumedRunRepeatsTheUninterruptedOne() throws {
        let policy = try writePolicy()
        let recipe = try writeRecipe(policy: policy, iterations: 4)
        let straight = folder.appendingPathComponent("straight").path
        let split = folder.appendingPathComponent("split").path
        let a = try GRPOCommand.run(recipePath: recipe, overrides: [], runDirectory: straight, resume: false)
        XCTAssertEqual(a.step, 4)
        _ = try GRPOCommand.run(recipePath: recipe, overrides: ["train.iterations=2"], runDirectory: split, resume: false)
        let b = try GRPOCommand.run(recipePath: recipe, overrides: [], runDirectory: split, resume: true)
        XCTAssertEqual(b.startStep, 2)
        try CheckpointComparison.assertIdentical(straight + "/checkpoints/step-00000004.h5", split + "/checkpoints/step-00000004.h5")
        XCTAssertEqual(MetricsLog.deterministicLines(path: straight + "/metrics.jsonl"),
                       MetricsLog.deterministicLines(path: split + "/metrics.jsonl"))
        // The written checkpoint is itself a VOCAL policy (with its EMA).
        let (model, c) = try VocalCheckpoint.load(path: straight + "/checkpoints/step-00000004.h5", ema: true)
        XCTAssertEqual(c.modelKind, "vocal-grpo")
        XCTAssertEqual(model.config.latentDim, 4)
        // Training moved the policy away from the starting weights (GRPO checkpoints hold the
        // whole NormalizedVocal: the network under `vocal.`).
        let start = try Checkpoint.read(from: policy).model, end = c.model
        XCTAssertEqual(Set(start.keys.map { "vocal." + $0 }), Set(end.keys.filter { $0.hasPrefix("vocal.") }))
        XCTAssertTrue(start.keys.contains { maxAbsoluteError(start[$0]!, end["vocal." + $0]!) > 0 })
        // Metrics carry the per-step figures.
        let lines = try String(contentsOfFile: straight + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        for key in ["reward_mean", "reward_std", "kl_k0", "ratio_mean_k2", "ratio_min_k1", "ratio_max_k0", "log_ratio_abs_max_k1", "clip_fraction",
                    "dropped_groups", "grad_norm", "replay_ms_k1", "replay_pool_peak_mb_k2", "eval_reward_ema"] {
            XCTAssertTrue(lines[4].contains("\"\(key)\":"), "\(key) missing from \(lines[4])")
        }
    }

    /// A checkpoint written by VOCAL pretraining (kind `vocal`, no `vocal.config`): the shape is
    /// read from its recipe's `[model]` table; a mismatch between that table and the stored
    /// parameters is refused.
    func testPolicyShapeFromAPretrainingRecipe() throws {
        let recipePath = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/vocal-tiny.toml").path
        let text = try String(contentsOfFile: recipePath, encoding: .utf8)
        let config = try VocalCheckpoint.config(ofRecipe: recipePath)
        XCTAssertEqual(config.latentDim, 70); XCTAssertEqual(config.width, 32); XCTAssertEqual(config.audioLayers, 5)
        let model = try VocalModel(config: config, generator: Generator(seed: 1))
        XCTAssertEqual(model.parameterCount, 93_275)  // audio 5 × 384 (Whisper tiny.en shape)
        let path = folder.appendingPathComponent("pretrained.h5").path
        var c = Checkpoint(step: 40, modelKind: "vocal", recipe: text)
        c.model = model.stateDict(copy: false)
        try c.write(to: path)
        let (loaded, _) = try VocalCheckpoint.load(path: path)
        XCTAssertEqual(loaded.config, config)
        for (name, t) in model.stateDict(copy: false) {
            XCTAssertEqual(maxAbsoluteError(t, loaded.stateDict(copy: false)[name]!), 0, name)
        }
        // The same parameters under a recipe that declares another width.
        var wrong = c
        wrong.recipe = text.replacingOccurrences(of: "width = 32", with: "width = 64")
        let wrongPath = folder.appendingPathComponent("wrong.h5").path
        try wrong.write(to: wrongPath)
        XCTAssertThrowsError(try VocalCheckpoint.load(path: wrongPath)) { error in
            XCTAssertTrue("\(error)".contains("/model does not match the VOCAL shape it declares"), "\(error)")
        }
        // Neither metadata nor a [model] table.
        let bare = folder.appendingPathComponent("bare.h5").path
        try Checkpoint(step: 1, modelKind: "vocal", model: c.model).write(to: bare)
        XCTAssertThrowsError(try VocalCheckpoint.load(path: bare)) { error in
            XCTAssertTrue("\(error)".contains("the VOCAL model's shape is unknown"), "\(error)")
        }
    }

    /// A reward-model checkpoint as `neo-train reward train` writes it (kind `reward`, the recipe
    /// of Recipes/reward-tiny.toml with `motion_dim` changed, random weights).
    func writeRewardModel(motionDim: Int, name: String) throws -> String {
        let recipePath = PythonCrossCheck.repoRoot.appendingPathComponent("Recipes/reward-tiny.toml").path
        let text = try String(contentsOfFile: recipePath, encoding: .utf8)
            .replacingOccurrences(of: "motion_dim = 70", with: "motion_dim = \(motionDim)")
        let recipe = try Recipe.parse(text: text, source: name, kinds: [RewardTraining.kind.schema])
        let model = try RewardTransformer(config: recipe.section(RewardModelSection.self).config, generator: Generator(seed: 4))
        var c = Checkpoint(step: 10, modelKind: "reward", recipe: recipe.text)
        c.model = model.stateDict(copy: false)
        let path = folder.appendingPathComponent(name).path
        try c.write(to: path)
        return path
    }

    /// The reward model as the reward: refused when built for another latent width; otherwise
    /// it scores the candidates with audio features in its own format (3 layers × 16 here, the
    /// policy's are 2 × 6).
    func testRewardModelCheckpoint() throws {
        let policy = try writePolicy()
        let recipe = try writeRecipe(policy: policy, iterations: 1)
        let wide = try writeRewardModel(motionDim: 70, name: "reward-70.h5")
        let refused = refusal(recipe, ["reward.kind=\"model\"", "reward.checkpoint=\"\(wide)\""])
        XCTAssertTrue(refused.contains("reward") && refused.contains("built for latents of width 70, the policy generates width 4"), refused)
        XCTAssertTrue(refusal(recipe, ["reward.kind=\"model\""]).contains("reward.checkpoint: required when kind = \"model\""))
        let missing = refusal(recipe, ["reward.kind=\"model\"", "reward.checkpoint=\"nope.h5\""])
        XCTAssertTrue(missing.contains("reward.checkpoint: nope.h5: checkpoint file not found"), missing)
        let notReward = refusal(recipe, ["reward.kind=\"model\"", "reward.checkpoint=\"\(policy)\""])
        XCTAssertTrue(notReward.contains("holds a 'vocal' model, not a reward model"), notReward)

        let fitting = try writeRewardModel(motionDim: 4, name: "reward-4.h5")
        let overrides = ["reward.kind=\"model\"", "reward.checkpoint=\"\(fitting)\"", "reward.head=\"naturalness\""]
        let setup = try GRPOCommand.prepare(recipePath: recipe, overrides: overrides)
        XCTAssertEqual(setup.reward.name, "reward-model(naturalness)")
        let clip = try setup.clips.clip(0)
        XCTAssertEqual(clip.rewardAudio?.shape, [1, 3, 12, 16])
        let run = folder.appendingPathComponent("reward-run").path
        let outcome = try GRPOCommand.run(recipePath: recipe, overrides: overrides, runDirectory: run, resume: false)
        XCTAssertEqual(outcome.step, 1)
        let line = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")[1]
        XCTAssertTrue(line.contains("\"reward_std\":") && !line.contains("\"reward_std\":0.0,"), String(line))
    }

    /// The committed recipes decode; grpo-tiny runs on the policy its header describes, and
    /// grpo-small's policy shape is vocal-small's.
    func testCommittedRecipes() throws {
        let root = PythonCrossCheck.repoRoot
        let small = try Recipe.load(path: root.appendingPathComponent("Recipes/grpo-small.toml").path, sections: Recipe.grpoSections)
        XCTAssertEqual(small.section(GRPOSection.self).settings.groupSize, 8)
        XCTAssertEqual(small.section(GRPOPolicySection.self).checkpoint, "Checkpoints/vocal-small.h5")
        let policy = folder.appendingPathComponent("vocal-tiny-random.h5").path
        try VocalCheckpoint.writeRandom(to: policy, latentDim: 8, width: 32, depth: 1, heads: 2, windowFrames: 8, prefixFrames: 2,
                                        audioLayers: 2, audioWidth: 16, seed: 0, perturb: 0.1)
        let outcome = try GRPOCommand.run(recipePath: root.appendingPathComponent("Recipes/grpo-tiny.toml").path,
                                          overrides: ["policy.checkpoint=\"\(policy)\"", "train.iterations=1"],
                                          runDirectory: folder.appendingPathComponent("tiny").path, resume: false)
        XCTAssertEqual(outcome.step, 1)
        let shape = try VocalCheckpoint.config(ofRecipe: root.appendingPathComponent("Recipes/vocal-small.toml").path)
        XCTAssertEqual(try VocalModel(config: shape, generator: Generator(seed: 0)).parameterCount, 1_960_619)
    }

    /// The command line: one-line error and exit status 1 for a refused recipe; a tiny run.
    func testCommandLine() throws {
        let policy = try writePolicy(latentDim: 6)
        let recipe = try writeRecipe(policy: policy, iterations: 1)
        let refused = try CLI.run(["grpo", recipe, "--set", "grpo.group_size=1"], logs: folder)
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stderr, "neo-train: error: --set grpo.group_size=1: grpo.group_size: expected an integer ≥ 2, got 1\n")
        let noFile = try CLI.run(["grpo", recipe, "--set", "policy.checkpoint=\"missing.h5\""], logs: folder)
        XCTAssertEqual(noFile.status, 1)
        XCTAssertEqual(noFile.stderr, "neo-train: error: \(recipe): policy.checkpoint: missing.h5: VOCAL checkpoint not found\n")
        let ok = try CLI.run(["grpo", recipe, "--run-dir", folder.appendingPathComponent("cli-run").path], logs: folder)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("finished at iteration 1"), ok.stdout)
        let made = folder.appendingPathComponent("random.h5").path
        let random = try CLI.run(["grpo", "random-policy", made, "--latent-dim", "5", "--width", "8", "--depth", "1",
                                  "--heads", "2", "--window-frames", "4", "--prefix-frames", "1", "--audio-layers", "1",
                                  "--audio-width", "3"], logs: folder)
        XCTAssertEqual(random.status, 0, random.stderr)
        XCTAssertEqual(try VocalCheckpoint.load(path: made).model.config.latentDim, 5)
    }
}
