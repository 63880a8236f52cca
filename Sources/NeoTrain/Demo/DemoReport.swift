import Foundation
import NeoIO
import RewardModel
import Vocal

/// The demo's report: `report.md` with every stage's tables, SVG plots written by the
/// framework, and the commands that reproduce each stage on its own. Only numbers that the
/// seed fixes go into it (wall-clock times are in the run folder's `timings.json`), so two runs
/// with the same seed write the same report.
public enum DemoReport {
    /// Writes the report of the run in `o.output` into `o.resolvedReportDirectory`; returns the
    /// path of `report.md`.
    public static func write(_ o: DemoPipeline.Options) throws -> String {
        let run = o.output, dir = o.resolvedReportDirectory, plan = o.plan
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func result<T: Decodable>(_ t: T.Type, _ s: DemoPipeline.Stage) throws -> T {
            try DemoPipeline.readJSON(t, DemoPipeline.resultPath(run, s))
        }
        let corpus = try result(DemoPipeline.CorpusResult.self, .corpus)
        let vocal = try result(DemoPipeline.TrainingResult.self, .vocal)
        let reward = try result(DemoPipeline.TrainingResult.self, .reward)
        let grpo = try result(DemoPipeline.TrainingResult.self, .grpo)
        let rewardReport = try RewardReport.decode(try Data(contentsOf: URL(fileURLWithPath: DemoPipeline.resultPath(run, .rewardEval))))
        let evaluation = try result([String: EvalMotionCommand.Result].self, .evaluation)

        var md = "# NEO-train demo: from nothing to an RL-tuned talking-head motion model\n\n"
        md += "Made by `neo-train demo` (plan `\(plan.name)`, seed \(plan.seed)) in `\(run)`. Every number and plot "
        md += "below comes from that run; running the command again with the same seed writes the same report. "
        md += "**Synthetic data only**: espeak-ng speech and a rule-based performer, so the figures show that "
        md += "the framework works end to end, not how the models do on real video. Wall-clock times per stage: "
        md += "`\(run)/timings.json` (they vary from run to run, so they are kept out of this report). "
        md += "TensorBoard: `tensorboard --logdir \(run)`.\n\n"

        // 1. Corpus.
        md += "## 1. Corpus\n\n"
        md += table(["clips", "minutes", "identities", "training", "validation (VOCAL)", "test (held out everywhere)"],
                    [["\(corpus.clips)", fmt(corpus.minutes, 1), "\(corpus.identities.count)",
                      "\(corpus.trainIdentities.count)", corpus.validationIdentities.joined(separator: ", "),
                      corpus.testIdentities.joined(separator: ", ")]])
        md += "\nWhisper tiny.en hidden states (5 layers × 384) cached in every clip's shard.\n\n"

        // 2. VOCAL.
        let vocalKeys = ["loss", "eval_loss", "eval_loss_ema"]
        let vocalSeries = try Curves.read(metrics: vocal.run + "/metrics.jsonl", keys: vocalKeys)
        try writeText(Curves.svg(vocalSeries, keys: vocalKeys, title: "VOCAL flow-matching loss (train, validation)"),
                      dir + "/vocal-loss.svg")
        md += "## 2. VOCAL pretraining (`\(plan.vocalRecipe)`, \(vocal.steps) steps)\n\n"
        md += "![VOCAL training and validation loss](vocal-loss.svg)\n\n"
        let evalSteps = (vocalSeries["eval_loss"] ?? []).map(\.0)
        let loss = Dictionary((vocalSeries["loss"] ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let ev = Dictionary((vocalSeries["eval_loss"] ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let evEMA = Dictionary((vocalSeries["eval_loss_ema"] ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        md += table(["step", "train loss", "validation loss", "validation loss (EMA weights)"],
                    evalSteps.map { s in ["\(s)", loss[s].map { fmt($0, 4) } ?? "–", ev[s].map { fmt($0, 4) } ?? "–",
                                           evEMA[s].map { fmt($0, 4) } ?? "–"] })
        md += "\nCheckpoint: `\(vocal.checkpoint)`.\n\n"

        // 3. Reward model.
        let rewardKeys = ["loss", "eval_loss"]
        let rewardSeries = try Curves.read(metrics: reward.run + "/metrics.jsonl", keys: rewardKeys)
        try writeText(Curves.svg(rewardSeries, keys: rewardKeys, title: "Reward model: preference loss"), dir + "/reward-loss.svg")
        md += "## 3. Reward model (`\(plan.rewardRecipe)`, \(reward.steps) steps)\n\n"
        md += "![Reward-model loss](reward-loss.svg)\n\n"
        md += "Offline evaluation on identities it never trained on (`neo-train reward eval`): pairwise accuracy of the "
        md += "overall score (ground truth above the damaged copy) at medium strength, AUROC and Spearman ρ of score vs strength.\n\n"
        for subset in rewardReport.subsets where subset.windows > 0 {
            md += "**\(subset.name)** (\(subset.clips) clips, \(subset.windows) windows; identities \(subset.identities.joined(separator: ", ")))\n\n"
            md += table(["degradation", "accuracy (low)", "accuracy (medium)", "accuracy (high)", "AUROC", "Spearman"],
                        subset.degradations.map { d in
                            [d.name, fmt(d.accuracy.low, 3), fmt(d.accuracy.medium, 3), fmt(d.accuracy.high, 3),
                             fmt(d.auroc, 3), fmt(d.spearman, 3)]
                        })
            md += "\n"
        }

        // 4. GRPO.
        md += try grpoSection(grpo: grpo, plan: plan, dir: dir)

        // 5. Base vs tuned.
        md += "## 5. Base vs tuned on held-out identities\n\n"
        if let base = evaluation["base"], let tuned = evaluation["tuned"] {
            md += "\(base.clips) clips (\(fmt(base.minutes, 1)) min) of test identities \(base.identities.joined(separator: ", ")); "
            md += "\(base.sampler), \(base.steps) steps, guidance audio \(fmt(base.cfgAudio, 2)) / identity \(fmt(base.cfgIdentity, 2)) / reference \(fmt(base.cfgReference, 2)), seed \(base.seed). "
            md += "Lip-sync r: correlation of the generated lip opening with the ground truth's (not part of the reward).\n\n"
            var rows: [[String]] = []
            func row(_ label: String, _ r: EvalMotionCommand.Row) -> [String] {
                let m = r.metrics
                return [label, m.lipSyncCorrelation.map { fmt($0, 3) } ?? "–", m.meanAbsoluteOffset.map { fmt($0, 2) } ?? "–",
                        m.syncConfidence.map { fmt($0, 3) } ?? "–", fmt(m.jitter, 5), fmt(m.expressionRange, 4),
                        fmt(m.headPoseDiversity, 3), m.frechetDistance.map { fmt($0, 3) } ?? "–"]
            }
            for r in base.rows where r.name == "ground truth" || r.name == "mean motion" { rows.append(row(r.name, r)) }
            if let m = base.rows.first(where: { $0.name == "model" }) { rows.append(row("base (VOCAL)", m)) }
            if let m = tuned.rows.first(where: { $0.name == "model" }) { rows.append(row("tuned (GRPO)", m)) }
            md += table(["", "lip-sync r ↑", "|offset| frames ↓", "sync conf ↑", "jitter", "expression range", "pose diversity", "Fréchet ↓"], rows)
            md += "\n"
        }

        // 6. Commands.
        md += "## 6. Reproduce each stage\n\n```bash\n"
        md += "neo-train data synth --identities \(plan.identities) --minutes \(fmtTrim(plan.minutes)) --seed \(plan.seed) --out \(run)/data\n"
        md += "neo-train data features --dataset \(run)/data\n"
        md += try DemoPipeline.trainingCommand(.vocal, o).shell + "\n"
        md += try DemoPipeline.trainingCommand(.reward, o).shell + "\n"
        md += "neo-train reward eval --checkpoint \(reward.checkpoint) --data \(run)/data --out \(DemoPipeline.resultPath(run, .rewardEval))\n"
        md += try DemoPipeline.trainingCommand(.grpo, o).shell + "\n"
        let clipsFlag = plan.evalClips > 0 ? " --max-clips \(plan.evalClips)" : ""
        md += "neo-train eval motion --checkpoint \(vocal.checkpoint) --data \(run)/data --split test\(clipsFlag) --seed 0\n"
        md += "neo-train eval motion --checkpoint \(grpo.checkpoint) --data \(run)/data --split test\(clipsFlag) --seed 0\n"
        md += "```\n\nOr all of it, resuming whatever is unfinished: `neo-train demo --output \(run)"
        md += plan.name == "standard" ? "" : " --plan \(plan.name)"
        md += plan.seed == 1 ? "" : " --seed \(plan.seed)"
        md += "`.\n"
        let path = dir + "/report.md"
        try writeText(md, path)
        return path
    }

    static func grpoSection(grpo: DemoPipeline.TrainingResult, plan: DemoPlan, dir: String) throws -> String {
        let keys = ["reward_mean", "kl"]
        let series = try Curves.read(metrics: grpo.run + "/metrics.jsonl", keys: keys)
        try writeText(Curves.svg(series, keys: keys, title: "Kinetic-GRPO: reward and KL per iteration", logY: false),
                      dir + "/grpo-reward-kl.svg")
        var md = "## 4. Kinetic-GRPO (`\(plan.grpoRecipe)`, \(grpo.steps) iterations)\n\n"
        md += "![GRPO reward and KL](grpo-reward-kl.svg)\n\n"
        return md
    }

    static func writeText(_ s: String, _ path: String) throws { try AtomicFile.write(Data(s.utf8), to: path) }

    static func fmt(_ v: Double, _ digits: Int) -> String {
        guard v.isFinite else { return "–" }
        let s = String(format: "%.\(digits)f", v)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }

    static func fmtTrim(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    /// A Markdown table; cells that look like numbers are right-aligned.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        func numeric(_ c: Int) -> Bool {
            rows.allSatisfy { c < $0.count && (Double($0[c]) != nil || $0[c] == "–") }
        }
        var s = "| " + header.joined(separator: " | ") + " |\n|"
        for c in header.indices { s += numeric(c) && !rows.isEmpty ? " ---: |" : " --- |" }
        s += "\n"
        for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
        return s
    }
}
