#!/usr/bin/env python3
"""Splits the pairs of `neo-train consent distances --all-pairs` by source, at the gate's thresholds.

usage: breakdown.py PAIRS.csv OUT.csv

Sources: "gallery" (the two full-resolution public-domain photos and their copies) and "lfw"
(25x25 lfw_subset crops upscaled 8x). Same-identity pairs are an image and its edited copy (or
two copies); different-identity pairs are distinct folders, which for lfw may still be one person
(lfw_subset carries no names, and LFW repeats people).
"""
import csv
import sys

THRESHOLDS = [0.5, 0.6]


def source(path):
    return "lfw" if path.startswith("lfw-") else "gallery"


def main(pairs_path, out_path):
    groups = {}
    with open(pairs_path) as f:
        for row in csv.DictReader(f):
            kind = "-".join(sorted([source(row["file_a"]), source(row["file_b"])]))
            same = row["same_identity"] == "1"
            d = float(row["distance"])
            g = groups.setdefault((kind, same), [])
            g.append(d)
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f)
        # errors_at_T: for same-identity rows the false refusals (distance > T), for
        # different-identity rows the false accepts (distance <= T).
        w.writerow(["pairs", "same_identity", "count", "min", "median", "max"] + [f"errors_at_{t}" for t in THRESHOLDS])
        for (kind, same), ds in sorted(groups.items()):
            ds.sort()
            errs = [sum(d > t for d in ds) if same else sum(d <= t for d in ds) for t in THRESHOLDS]
            w.writerow([kind, int(same), len(ds), f"{ds[0]:.4f}", f"{ds[len(ds) // 2]:.4f}", f"{ds[-1]:.4f}"] + errs)
    print(open(out_path).read(), end="")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
