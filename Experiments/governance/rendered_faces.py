#!/usr/bin/env python3
"""Lays out frames of the rendered face-video corpus as ROOT/<identity>/<frame>.png for
`neo-train consent distances`.

usage: rendered_faces.py CORPUS ROOT [--frames N]

CORPUS is a `neo-train data synth --video SIZE` folder. For each identity, N frames (default 3)
evenly spaced over its first clip, so the same-identity pairs differ in expression and pose.
"""
import argparse
import glob
import os

import h5py
import hdf5plugin  # noqa: F401  (registers the zstd filter the shards use)
import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("root")
    ap.add_argument("--frames", type=int, default=3)
    args = ap.parse_args()
    for shard in sorted(glob.glob(os.path.join(args.corpus, "*.h5"))):
        with h5py.File(shard, "r") as f:
            clips = sorted(f["clips"].keys())
            identity = clips[0].split("-")[0]
            video = f["clips"][clips[0]]["video"]
            picks = np.linspace(0, video.shape[0] - 1, args.frames).round().astype(int)
            folder = os.path.join(args.root, f"rendered-{identity}")
            os.makedirs(folder, exist_ok=True)
            for i in picks:
                Image.fromarray(np.asarray(video[i])).save(os.path.join(folder, f"{identity}-f{i:04d}.png"))
    print(f"rendered_faces: {args.root}")


if __name__ == "__main__":
    main()
