"""Collects the figures of run.sh into results.json and prints a Markdown table."""
import json, re, sys

out, dest = sys.argv[1], sys.argv[2]
results = {}
for k in (10, 40):
    lines = [json.loads(l) for l in open(f"{out}/steps-{k}/metrics.jsonl") if l.strip()]
    time_txt = open(f"{out}/time-{k}.txt").read()
    max_rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_txt).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", time_txt).group(1)
    its = []
    for l in lines:
        its.append({
            "iteration": l["step"],
            "rollout_peak_rss_mb": l.get("rollout_peak_rss_mb"),
            "update_peak_rss_mb": l.get("update_peak_rss_mb"),
            "iteration_peak_rss_mb": max(l.get("rollout_peak_rss_mb", 0), l.get("update_peak_rss_mb", 0)),
            "rollout_s": l.get("rollout_s"), "update_s": l.get("update_s"),
            "replay_ms": {key: v for key, v in l.items() if key.startswith("replay_ms_k")},
            "replay_pool_peak_mb": {key: v for key, v in l.items() if key.startswith("replay_pool_peak_mb_k")},
        })
    results[f"steps_{k}"] = {"process_max_rss_mb": max_rss_kb / 1024, "wall": wall, "iterations": its}

a = max(i["iteration_peak_rss_mb"] for i in results["steps_10"]["iterations"])
b = max(i["iteration_peak_rss_mb"] for i in results["steps_40"]["iterations"])
results["iteration_peak_ratio_40_over_10"] = b / a
results["process_peak_ratio_40_over_10"] = results["steps_40"]["process_max_rss_mb"] / results["steps_10"]["process_max_rss_mb"]
json.dump(results, open(f"{dest}/results.json", "w"), indent=2)
print("| steps | iteration peak RSS (MB) | process peak RSS (MB) | rollout s | update s | ms per replay |")
print("| --- | --- | --- | --- | --- | --- |")
for k in (10, 40):
    r = results[f"steps_{k}"]
    last = r["iterations"][-1]
    ms = ", ".join(f"{v:.0f}" for v in last["replay_ms"].values())
    print(f"| {k} | {max(i['iteration_peak_rss_mb'] for i in r['iterations']):.1f} | {r['process_max_rss_mb']:.1f} | "
          f"{last['rollout_s']:.1f} | {last['update_s']:.1f} | {ms} |")
print(f"\nratio 40/10: iteration peak {results['iteration_peak_ratio_40_over_10']:.3f}, "
      f"process peak {results['process_peak_ratio_40_over_10']:.3f}")
