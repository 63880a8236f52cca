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
        var corpusTable = MarkdownTable(header: ["clips", "minutes", "identities", "training", "validation (VOCAL)", "test (held out everywhere)"], precision: 1)
        corpusTable.addRow([.integer(corpus.clips), .number(corpus.minutes), .integer(corpus.identities.count),
                            .integer(corpus.trainIdentities.count), .text(corpus.validationIdentities.joined(separator: ", ")),
                            .text(corpus.testIdentities.joined(separator: ", "))])
        md += corpusTable.markdown
        md += "\nWhisper tiny.en hidden states (5 layers × 384) cached in every clip's shard. The reward model also never "
        md += "trains on the validation and test identities.\n\n"

        // 2. VOCAL.
        let vocalSeries = try Curves.read(metrics: vocal.run + "/metrics.jsonl", keys: ["loss", "eval_loss", "eval_loss_ema"])
        var vocalChart = LineChart(title: "VOCAL flow-matching loss", xLabel: "step", yLabel: "loss", logY: true)
        vocalChart.add("train", steps: vocalSeries["loss"] ?? [])
        vocalChart.add("validation", steps: vocalSeries["eval_loss"] ?? [])
        vocalChart.add("validation (EMA weights)", steps: vocalSeries["eval_loss_ema"] ?? [])
        try vocalChart.write(to: dir + "/vocal-loss.svg")
        md += "## 2. VOCAL pretraining (`\(plan.vocalRecipe)`, \(vocal.steps) steps)\n\n"
        md += "![VOCAL training and validation loss](vocal-loss.svg)\n\n"
        let loss = lookup(vocalSeries["loss"]), ev = lookup(vocalSeries["eval_loss"]), evEMA = lookup(vocalSeries["eval_loss_ema"])
        var vocalTable = MarkdownTable(header: ["step", "train loss", "validation loss", "validation loss (EMA weights)"], precision: 4)
        for (s, _) in vocalSeries["eval_loss"] ?? [] {
            vocalTable.addRow([.integer(s), .value(loss[s]), .value(ev[s]), .value(evEMA[s])])
        }
        md += vocalTable.markdown
        md += "\nCheckpoint: `\(vocal.checkpoint)` (samples use its EMA weights).\n\n"

        // 3. Reward model.
        let rewardSeries = try Curves.read(metrics: reward.run + "/metrics.jsonl", keys: ["loss", "eval_error", "eval_error_ema"])
        var rewardChart = LineChart(title: "Reward model: preference loss and held-out error", xLabel: "step", logY: true)
        rewardChart.add("training loss", steps: rewardSeries["loss"] ?? [])
        rewardChart.add("held-out pairwise error", steps: rewardSeries["eval_error"] ?? [])
        rewardChart.add("held-out pairwise error (EMA)", steps: rewardSeries["eval_error_ema"] ?? [])
        try rewardChart.write(to: dir + "/reward-loss.svg")
        md += "## 3. Reward model (`\(plan.rewardRecipe)`, \(reward.steps) steps)\n\n"
        md += "![Reward-model loss](reward-loss.svg)\n\n"
        md += "Offline evaluation (`neo-train reward eval`) on identities it never trained on: pairwise accuracy of the "
        md += "overall score (ground truth above the damaged copy) at three strengths, AUROC of ground truth vs damaged "
        md += "copies, Spearman ρ of score vs strength.\n\n"
        for subset in rewardReport.subsets where subset.windows > 0 {
            md += "**\(subset.name)** (\(subset.clips) clips, \(subset.windows) windows; identities \(subset.identities.joined(separator: ", ")))\n\n"
            var t = MarkdownTable(header: ["degradation", "accuracy (low)", "accuracy (medium)", "accuracy (high)", "AUROC", "Spearman"], precision: 3)
            for d in subset.degradations {
                t.addRow([.text(d.name), .number(d.accuracy.low), .number(d.accuracy.medium), .number(d.accuracy.high),
                          .number(d.auroc), .number(d.spearman)])
            }
            md += t.markdown + "\n"
        }

        // 4. GRPO.
        md += try grpoSection(grpo: grpo, plan: plan, dir: dir)

        // 5. Base vs tuned.
        md += "## 5. Base vs tuned on held-out identities\n\n"
        if let base = evaluation["base"], let tuned = evaluation["tuned"],
           let b = base.rows.first(where: { $0.name == "model" }), let t = tuned.rows.first(where: { $0.name == "model" }) {
            md += "\(base.clips) clips (\(ChartFormat.fixed(base.minutes, 1)) min) of test identities \(base.identities.joined(separator: ", ")); "
            md += "\(base.sampler), \(base.steps) steps, guidance audio \(ChartFormat.fixed(base.cfgAudio, 2)) / identity \(ChartFormat.fixed(base.cfgIdentity, 2)) / reference \(ChartFormat.fixed(base.cfgReference, 2)), seed \(base.seed). "
            md += "Lip-sync r: correlation of the generated lip opening with the ground truth's (not part of the reward).\n\n"
            var table = MarkdownTable(header: ["", "lip-sync r ↑", "|offset| frames ↓", "sync conf ↑", "jitter", "expression range", "pose diversity", "Fréchet ↓"])
            func add(_ label: String, _ r: EvalMotionCommand.Row) {
                let m = r.metrics
                table.addRow([.text(label), .value(m.lipSyncCorrelation, precision: 3), .value(m.meanAbsoluteOffset, precision: 2),
                              .value(m.syncConfidence, precision: 3), .number(m.jitter, precision: 5), .number(m.expressionRange, precision: 4),
                              .number(m.headPoseDiversity, precision: 3), .value(m.frechetDistance, precision: 3)])
            }
            for r in base.rows where r.name == "ground truth" || r.name == "mean motion" { add(r.name, r) }
            add("base (VOCAL)", b)
            add("tuned (GRPO)", t)
            md += table.markdown + "\n"
            let truth = base.rows.first { $0.name == "ground truth" }?.metrics
            var lip = BarChart(title: "Lip-sync r (held-out identities)", yLabel: "correlation", groups: ["lip-sync r"])
            var jitter = BarChart(title: "Jitter (held-out identities)", yLabel: "mean |jerk|", groups: ["jitter"], valuePrecision: 5)
            if let truth {
                lip.add("ground truth", [truth.lipSyncCorrelation ?? .nan])
                jitter.add("ground truth", [truth.jitter])
            }
            lip.add("base", [b.metrics.lipSyncCorrelation ?? .nan]); lip.add("tuned", [t.metrics.lipSyncCorrelation ?? .nan])
            jitter.add("base", [b.metrics.jitter]); jitter.add("tuned", [t.metrics.jitter])
            try lip.write(to: dir + "/lipsync-before-after.svg")
            try jitter.write(to: dir + "/jitter-before-after.svg")
            md += "![lip-sync before and after](lipsync-before-after.svg) ![jitter before and after](jitter-before-after.svg)\n\n"
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
        let keys = ["reward_mean", "kl", "eval_reward", "eval_lipsync_r", "eval_jitter", "eval_kl", "clip_fraction"]
        let series = try Curves.read(metrics: grpo.run + "/metrics.jsonl", keys: keys)
        var rewardChart = LineChart(title: "Kinetic-GRPO: reward per iteration", xLabel: "iteration", yLabel: "reward")
        rewardChart.add("rollout reward (training clips)", steps: series["reward_mean"] ?? [])
        rewardChart.add("held-out reward", steps: series["eval_reward"] ?? [])
        try rewardChart.write(to: dir + "/grpo-reward.svg")
        var klChart = LineChart(title: "Kinetic-GRPO: KL to the reference per iteration", xLabel: "iteration", yLabel: "KL")
        klChart.add("trained steps (rollouts)", steps: series["kl"] ?? [])
        klChart.add("held-out", steps: series["eval_kl"] ?? [])
        try klChart.write(to: dir + "/grpo-kl.svg")
        var lipChart = LineChart(title: "Kinetic-GRPO: held-out lip-sync r and jitter", xLabel: "iteration")
        lipChart.add("lip-sync r (ground truth, not rewarded)", steps: series["eval_lipsync_r"] ?? [])
        lipChart.add("jitter × 10", steps: (series["eval_jitter"] ?? []).map { ($0.0, $0.1 * 10) })
        try lipChart.write(to: dir + "/grpo-heldout.svg")
        var md = "## 4. Kinetic-GRPO (`\(plan.grpoRecipe)`, \(grpo.steps) iterations)\n\n"
        md += "Starts from the VOCAL checkpoint (also the frozen KL reference) and the reward model's overall score. "
        md += "Held-out columns: test identities, ODE samples of the current policy.\n\n"
        md += "![GRPO reward](grpo-reward.svg)\n\n![GRPO KL](grpo-kl.svg)\n\n![GRPO held-out lip sync and jitter](grpo-heldout.svg)\n\n"
        let reward = lookup(series["eval_reward"]), lip = lookup(series["eval_lipsync_r"])
        let jitter = lookup(series["eval_jitter"]), kl = lookup(series["eval_kl"]), rollout = lookup(series["reward_mean"])
        var t = MarkdownTable(header: ["iteration", "rollout reward", "held-out reward", "held-out lip-sync r", "held-out jitter", "held-out KL"], precision: 4)
        for (s, _) in series["eval_reward"] ?? [] {
            t.addRow([.integer(s), .value(rollout[s]), .value(reward[s]), .value(lip[s]), .value(jitter[s], precision: 5), .value(kl[s], precision: 5)])
        }
        md += t.markdown + "\n"
        return md
    }

    static func lookup(_ points: [(Int, Double)]?) -> [Int: Double] {
        Dictionary((points ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    }

    static func writeText(_ s: String, _ path: String) throws { try AtomicFile.write(Data(s.utf8), to: path) }

    static func fmtTrim(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

}
