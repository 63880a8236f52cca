"""Summarise the GRPO runs of Experiments/grpo-small: held-out metrics by iteration for every run
(curves.csv), four-panel comparison plots (curves.svg, and curves-first60.svg for iterations 0-60: reward, ground-truth lip-sync r, jitter,
KL to the reference), per-run tables (results.json, results.md) and per-iteration timing.

    python3 Experiments/grpo-small/summarize.py NAME=RUN_DIR [NAME=RUN_DIR ...]

Reads only each run's metrics.jsonl; writes into this script's folder. Plain SVG, no plotting
library.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL_KEYS = ["eval_reward", "eval_lipsync_r", "eval_jitter", "eval_lip_opening", "eval_kl"]
PANELS = [("eval_reward", "held-out reward (reward-small-shards, overall)"),
          ("eval_lipsync_r", "held-out ground-truth lip-sync r"),
          ("eval_jitter", "held-out jitter (mean |jerk|)"),
          ("eval_kl", "held-out KL to the reference (per number)")]
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def load(path):
    rows = []
    with open(os.path.join(path, "metrics.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def panel(series, key, title, x, y, w, h):
    pts = [(s, v) for _, data in series for (s, v) in data.get(key, [])]
    if not pts:
        return ""
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    left, bottom, top = 60, 30, 24

    def px(s):
        return x + left + (s - x0) / (x1 - x0) * (w - left - 10)

    def py(v):
        return y + top + (1 - (v - y0) / (y1 - y0)) * (h - top - bottom)

    out = [f'<text x="{x + w / 2:.1f}" y="{y + 16:.1f}" text-anchor="middle" font-size="13">{title}</text>',
           f'<rect x="{x + left}" y="{y + top}" width="{w - left - 10}" height="{h - top - bottom}" fill="none" stroke="#999"/>']
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{x + left - 4}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="10">{v:.4g}</text>')
        out.append(f'<line x1="{x + left}" x2="{x + w - 10}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
    for i in range(5):
        s = x0 + (x1 - x0) * i / 4
        out.append(f'<text x="{px(s):.1f}" y="{y + h - bottom + 14}" text-anchor="middle" font-size="10">{s:.0f}</text>')
    out.append(f'<text x="{x + w / 2:.1f}" y="{y + h - 4}" text-anchor="middle" font-size="10">iteration</text>')
    for i, (name, data) in enumerate(series):
        d = data.get(key, [])
        if not d:
            continue
        c = COLORS[i % len(COLORS)]
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>' %
                   (c, " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in d)))
    return "\n".join(out)


def main(args):
    runs = []
    for a in args:
        name, path = a.split("=", 1)
        runs.append((name, path, load(path)))
    series = []
    for name, path, rows in runs:
        data = {k: [(r["step"], r[k]) for r in rows if k in r] for k in EVAL_KEYS}
        series.append((name, data))

    # curves.csv: run, step, held-out metrics; then training reward and KL per iteration.
    with open(os.path.join(HERE, "curves.csv"), "w") as f:
        f.write("run,step," + ",".join(EVAL_KEYS) + ",reward_mean,kl,iteration_s\n")
        for name, path, rows in runs:
            for r in rows:
                vals = [r.get(k, "") for k in EVAL_KEYS + ["reward_mean", "kl", "iteration_s"]]
                f.write(f"{name},{r['step']}," + ",".join(str(v) for v in vals) + "\n")

    def plot(file, series, suffix=""):
        w, h = 460, 300
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{2 * h + 40}" font-family="sans-serif">',
                 f'<rect width="{2 * w}" height="{2 * h + 40}" fill="white"/>']
        for i, (key, title) in enumerate(PANELS):
            parts.append(panel(series, key, title + suffix, (i % 2) * w, (i // 2) * h, w, h))
        for i, (name, _) in enumerate(series):
            c = COLORS[i % len(COLORS)]
            x = 20 + i * (2 * w - 20) / len(series)
            parts.append(f'<line x1="{x:.0f}" x2="{x + 25:.0f}" y1="{2 * h + 20}" y2="{2 * h + 20}" stroke="{c}" stroke-width="3"/>')
            parts.append(f'<text x="{x + 30:.0f}" y="{2 * h + 24}" font-size="12">{name}</text>')
        parts.append("</svg>")
        with open(os.path.join(HERE, file), "w") as f:
            f.write("\n".join(parts) + "\n")

    plot("curves.svg", series)
    # The first 60 iterations at their own scale (the hacking phase of a β = 0 run before it collapses).
    early = [(name, {k: [(s, v) for s, v in d if s <= 60] for k, d in data.items()}) for name, data in series]
    plot("curves-first60.svg", early, " (iterations 0-60)")

    results = {}
    lines = ["| run | iterations | reward start → end (best) | GT lip-sync r start → end | jitter start → end | lip opening start → end | KL end | s / iteration (median) | eval s | wall min |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, path, rows in runs:
        ev = [r for r in rows if "eval_reward" in r]
        first, last = ev[0], ev[-1]
        best = max(ev, key=lambda r: r["eval_reward"])
        its = [r["iteration_s"] for r in rows if "iteration_s" in r]
        evs = [r["eval_s"] for r in rows if "eval_s" in r]
        wall = max((r.get("elapsed_s", 0) for r in rows), default=0)
        res = {
            "run": path, "iterations": rows[-1]["step"],
            "start": {k: first.get(k) for k in EVAL_KEYS}, "end": {k: last.get(k) for k in EVAL_KEYS},
            "best_reward": {"step": best["step"], **{k: best.get(k) for k in EVAL_KEYS}},
            "iteration_seconds_median": statistics.median(its) if its else None,
            "iteration_seconds_mean": statistics.mean(its) if its else None,
            "eval_seconds_median": statistics.median(evs) if evs else None,
            "wall_seconds": wall,
        }
        results[name] = res

        def f(v, d=3):
            return "-" if v is None else f"{v:.{d}f}"
        lines.append(f"| {name} | {rows[-1]['step']} | {f(first['eval_reward'])} → {f(last['eval_reward'])} ({f(best['eval_reward'])} at {best['step']}) | "
                     f"{f(first.get('eval_lipsync_r'))} → {f(last.get('eval_lipsync_r'))} | {f(first['eval_jitter'], 4)} → {f(last['eval_jitter'], 4)} | "
                     f"{f(first.get('eval_lip_opening'), 4)} → {f(last.get('eval_lip_opening'), 4)} | {f(last['eval_kl'], 4)} | "
                     f"{f(res['iteration_seconds_median'], 2)} | {f(res['eval_seconds_median'], 2)} | {wall / 60:.1f} |")
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
