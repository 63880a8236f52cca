import Foundation
import NeoData
import NeoIO
import RewardModel

/// `neo-train demo`: synthetic corpus → Whisper features → VOCAL pretraining → reward-model
/// training and evaluation → Kinetic-GRPO → evaluation of the base and tuned models on held-out
/// identities → the report. Everything lands in one run folder:
///
///     <run>/demo.json            the plan and seed the folder was started with
///     <run>/data/                the corpus (shards with cached Whisper features)
///     <run>/vocal/ reward/ grpo/ training runs (recipe, checkpoints, metrics.jsonl, tensorboard/)
///     <run>/results/<stage>.json what each finished stage produced (the report's numbers)
///     <run>/timings.json         wall seconds per stage (kept out of the report: they vary)
///
/// A finished stage is skipped when the command runs again; an unfinished training stage
/// resumes from its latest valid checkpoint; the other stages write their outputs through
/// temporary files, so an interruption anywhere leaves nothing half-written.
public enum DemoPipeline {
    public struct Options: Sendable {
        public var output = "runs/demo"
        /// Folder of the report (default `Experiments/<basename of output>`).
        public var reportDirectory: String?
        public var plan = DemoPlan.standard
        public var threads = 2
        public var whisperWeights: String?
        public init() {}

        public var resolvedReportDirectory: String {
            reportDirectory ?? "Experiments/" + (output as NSString).lastPathComponent
        }
    }

    /// The stages in order.
    public enum Stage: String, CaseIterable, Sendable {
        case corpus, features, vocal, reward, rewardEval = "reward-eval", grpo, evaluation, report

        var title: String {
            switch self {
            case .corpus: return "synthetic corpus"
            case .features: return "Whisper features"
            case .vocal: return "VOCAL pretraining"
            case .reward: return "reward-model training"
            case .rewardEval: return "reward-model evaluation"
            case .grpo: return "Kinetic-GRPO"
            case .evaluation: return "base vs tuned on held-out identities"
            case .report: return "report"
            }
        }
    }

    /// What the folder was started with; a second start must agree.
    struct Identity: Codable, Equatable {
        var format = "neo-train/demo"
        var plan: String
        var seed: Int
    }

    /// Runs (or resumes) the demo; returns the process exit status (0, or 128 + signal when a
    /// training stage was interrupted and checkpointed).
    public static func run(_ o: Options) throws -> Int32 {
        let fm = FileManager.default
        let run = o.output
        try fm.createDirectory(atPath: run + "/results", withIntermediateDirectories: true)
        try checkIdentity(o)
        var timings = (try? JSONDecoder().decode([String: Double].self,
                                                 from: Data(contentsOf: URL(fileURLWithPath: run + "/timings.json")))) ?? [:]
        let stages = Stage.allCases
        let demoStart = DispatchTime.now().uptimeNanoseconds
        print("demo '\(o.plan.name)' (seed \(o.plan.seed)) in \(run); report in \(o.resolvedReportDirectory)")
        for (i, stage) in stages.enumerated() {
            let header = "[\(i + 1)/\(stages.count)] \(stage.title)"
            if stage != .report, fm.fileExists(atPath: resultPath(run, stage)) {
                print("\(header): done earlier (\(resultPath(run, stage)))")
                continue
            }
            print("\(header) …")
            let start = DispatchTime.now().uptimeNanoseconds
            let status = try runStage(stage, o)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if status != 0 {
                print("demo stopped during \(stage.title); run the same command again to resume from its last checkpoint")
                return status
            }
            if stage != .report {
                timings[stage.rawValue, default: 0] += seconds
                try writeJSON(timings, to: run + "/timings.json")
            }
            print(String(format: "%@: finished in %.1f s", header, seconds))
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - demoStart) / 1e9
        print(String(format: "demo finished in %.1f s (this invocation); report: %@/report.md", total, o.resolvedReportDirectory))
        print("TensorBoard: tensorboard --logdir \(run)")
        return 0
    }

    static func resultPath(_ run: String, _ stage: Stage) -> String { run + "/results/\(stage.rawValue).json" }

    static func checkIdentity(_ o: Options) throws {
        let path = o.output + "/demo.json"
        let mine = Identity(plan: o.plan.name, seed: o.plan.seed)
        if let data = FileManager.default.contents(atPath: path) {
            guard let old = try? JSONDecoder().decode(Identity.self, from: data) else {
                throw TrainError("\(path): not a demo folder description; choose another --output")
            }
            guard old == mine else {
                throw TrainError("\(o.output): started as demo '\(old.plan)' with seed \(old.seed), not '\(mine.plan)' with seed \(mine.seed); choose another --output or the same settings")
            }
        } else {
            try writeJSON(mine, to: path)
        }
    }

    static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        var d = try e.encode(value)
        d.append(0x0A)
        try AtomicFile.write(d, to: path)
    }

    static func readJSON<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainError("\(path): missing") }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw TrainError("\(path): unreadable (\(error)); delete it to redo that stage")
        }
    }

    // MARK: - Stages

    /// The finished-stage records.
    struct CorpusResult: Codable {
        var folder: String
        var clips: Int
        var identities: [String]
        var minutes: Double
        var trainIdentities: [String]
        var validationIdentities: [String]
        var testIdentities: [String]
    }

    struct TrainingResult: Codable {
        var run: String
        var checkpoint: String
        var steps: Int
        var finalLoss: Double?
    }

    static func runStage(_ stage: Stage, _ o: Options) throws -> Int32 {
        let run = o.output, plan = o.plan
        switch stage {
        case .corpus:
            let folder = run + "/data"
            let fm = FileManager.default
            if !fm.fileExists(atPath: folder + "/dataset.json") {
                // A synthesis killed before its rename leaves a staging folder and, rarely, an
                // empty target; both are safe to remove.
                if fm.fileExists(atPath: folder) { try fm.removeItem(atPath: folder) }
                for name in (try? fm.contentsOfDirectory(atPath: run)) ?? [] where name.hasPrefix(".data.partial-") {
                    try? fm.removeItem(atPath: run + "/" + name)
                }
                print("  " + (try DataCommand.synth(identities: plan.identities, minutes: plan.minutes, seed: plan.seed,
                                                   out: folder, threads: o.threads)))
            }
            let dataset = try DatasetFolder(folder)
            let names = Array(Set(dataset.clips.map(\.identity))).sorted()
            let rule = try IdentitySplit.rule(identities: names, validation: plan.validationIdentities,
                                              test: plan.testIdentities, folder: folder)
            let result = CorpusResult(
                folder: folder, clips: dataset.clips.count, identities: names,
                minutes: dataset.clips.reduce(0.0) { $0 + Double($1.frames) } / Double(ShardFormat.fps) / 60,
                trainIdentities: names.filter { rule.split(of: $0) == .train },
                validationIdentities: names.filter { rule.split(of: $0) == .validation },
                testIdentities: names.filter { rule.split(of: $0) == .test })
            print("  \(result.clips) clips, \(String(format: "%.1f", result.minutes)) min; held out: validation \(result.validationIdentities.joined(separator: ", ")), test \(result.testIdentities.joined(separator: ", "))")
            try writeJSON(result, to: resultPath(run, stage))

        case .features:
            print("  " + (try DataCommand.features(dataset: run + "/data", weights: o.whisperWeights, force: false)))
            try writeJSON(["dataset": run + "/data"], to: resultPath(run, stage))

        case .vocal, .reward, .grpo:
            let command = try trainingCommand(stage, o)
            let folder = command.runDirectory
            let resume = FileManager.default.fileExists(atPath: folder + "/recipe.toml")
            let outcome: TrainingOutcome
            switch stage {
            case .vocal:
                outcome = try PretrainCommand.run(recipePath: command.recipe, overrides: command.overrides,
                                                  runDirectory: folder, resume: resume)
            case .reward:
                outcome = try RewardCommands.train(recipePath: command.recipe, overrides: command.overrides,
                                                   runDirectory: folder, resume: resume)
            default:
                outcome = try GRPOCommand.run(recipePath: command.recipe, overrides: command.overrides,
                                              runDirectory: folder, resume: resume)
            }
            print("  " + outcome.summary)
            if outcome.exitStatus != 0 { return outcome.exitStatus }
            guard let checkpoint = outcome.checkpointPath else {
                throw TrainError("\(folder): training finished without a checkpoint")
            }
            try writeJSON(TrainingResult(run: folder, checkpoint: checkpoint, steps: outcome.step,
                                         finalLoss: outcome.lastLoss.map(Double.init)),
                          to: resultPath(run, stage))

        case .rewardEval:
            let trained = try readJSON(TrainingResult.self, resultPath(run, .reward))
            let report = try RewardCommands.evaluate(checkpoint: trained.checkpoint, data: run + "/data",
                                                     out: resultPath(run, stage))
            print(report.table().split(separator: "\n").prefix(16).map { "  " + $0 }.joined(separator: "\n"))

        case .evaluation:
            let base = try readJSON(TrainingResult.self, resultPath(run, .vocal))
            let tuned = try readJSON(TrainingResult.self, resultPath(run, .grpo))
            var rows: [String: EvalMotionCommand.Result] = [:]
            for (name, checkpoint) in [("base", base.checkpoint), ("tuned", tuned.checkpoint)] {
                var e = EvalMotionCommand.Options(checkpoint: checkpoint)
                e.data = run + "/data"
                e.split = "test"
                e.maxClips = plan.evalClips > 0 ? plan.evalClips : nil
                e.seed = 0
                let result = try EvalMotionCommand.run(e)
                print("  \(name) (\(checkpoint)):")
                print(result.table().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
                rows[name] = result
            }
            try writeJSON(rows, to: resultPath(run, stage))

        case .report:
            let path = try DemoReport.write(o)
            print("  wrote \(path)")
        }
        return 0
    }

    /// A training stage as the CLI command that reproduces it.
    public struct TrainingCommand: Sendable {
        public var verb: String
        public var recipe: String
        public var overrides: [String]
        public var runDirectory: String

        public var shell: String {
            ([verb, recipe] + overrides.map { "--set " + shellQuoted($0) } + ["--run-dir", runDirectory, "--resume"])
                .joined(separator: " ")
        }
    }

    static func shellQuoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "._-=/,:+".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func trainingCommand(_ stage: Stage, _ o: Options) throws -> TrainingCommand {
        let run = o.output, plan = o.plan
        let q = DemoPlan.quoted
        let data = run + "/data"
        switch stage {
        case .vocal:
            return TrainingCommand(
                verb: "neo-train pretrain", recipe: plan.vocalRecipe,
                overrides: ["run.seed=\(plan.seed)", "data.path=\(q(data))", "train.steps=\(plan.vocalSteps)",
                            "train.eval_every=\(plan.vocalEvalEvery)",
                            "data.validation_identities=\(plan.validationIdentities)",
                            "data.test_identities=\(plan.testIdentities)"] + plan.vocalOverrides,
                runDirectory: run + "/vocal")
        case .reward:
            // The reward model never sees VOCAL's validation and test speakers, so the final
            // evaluation and GRPO's held-out reward are on identities new to both models.
            let corpus = try readJSON(CorpusResult.self, resultPath(run, .corpus))
            let heldOut = "[" + (corpus.validationIdentities + corpus.testIdentities).map(q).joined(separator: ", ") + "]"
            return TrainingCommand(
                verb: "neo-train reward train", recipe: plan.rewardRecipe,
                overrides: ["run.seed=\(plan.seed)", "data.path=\(q(data))", "data.held_out_identities=\(heldOut)",
                            "data.held_out_languages=[]", "train.steps=\(plan.rewardSteps)",
                            "train.eval_every=\(plan.rewardEvalEvery)"] + plan.rewardOverrides,
                runDirectory: run + "/reward")
        case .grpo:
            let vocal = try readJSON(TrainingResult.self, resultPath(run, .vocal))
            let reward = try readJSON(TrainingResult.self, resultPath(run, .reward))
            return TrainingCommand(
                verb: "neo-train grpo", recipe: plan.grpoRecipe,
                overrides: ["run.seed=\(plan.seed)", "policy.checkpoint=\(q(vocal.checkpoint))",
                            "reward.kind=\"model\"", "reward.checkpoint=\(q(reward.checkpoint))", "reward.latent_dim=0",
                            "data.source=\"dataset\"", "data.path=\(q(data))",
                            "train.iterations=\(plan.grpoIterations)", "train.eval_every=\(plan.grpoEvalEvery)"]
                    + plan.grpoOverrides,
                runDirectory: run + "/grpo")
        default:
            throw TrainError("internal: \(stage.rawValue) is not a training stage")
        }
    }
}
