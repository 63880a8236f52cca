"""Cross-check of NeoTensor's convolution, pooling, grid-sampling and image ops against PyTorch (CPU, float32).

Usage: conv_torch.py FOLDER
FOLDER holds manifest.json and .npy files written by ConvTorchCrossCheckTests.swift: for every case
the inputs, the output NeoTensor computed, the output gradient it back-propagated, and the input
gradients it got. This script recomputes output and gradients with torch and compares them.

Error measure, per tensor: max_i |neo_i - torch_i| / (|torch_i| + floor), floor = 1e-2 * max_i |torch_i|
(elements much smaller than the tensor's scale are judged against that scale, so sums that cancel to
near zero do not count as relative failures). Every tensor must be within 1e-4. Exit status 1 otherwise.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-4
FLOOR = 1e-2


def relative_error(neo, ref):
    neo = np.asarray(neo, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if neo.shape != ref.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    floor = FLOOR * float(np.max(np.abs(ref))) + 1e-30
    return float(np.max(np.abs(neo - ref) / (np.abs(ref) + floor)))


def run_op(op, p, t):
    if op in ("conv1d", "conv2d", "conv3d"):
        fn = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}[op]
        return fn(t["x"], t["weight"], t.get("bias"), stride=p["stride"], padding=p["padding"],
                  dilation=p["dilation"], groups=p["groups"])
    if op in ("convTranspose1d", "convTranspose2d", "convTranspose3d"):
        fn = {"convTranspose1d": F.conv_transpose1d, "convTranspose2d": F.conv_transpose2d,
              "convTranspose3d": F.conv_transpose3d}[op]
        return fn(t["x"], t["weight"], t.get("bias"), stride=p["stride"], padding=p["padding"],
                  output_padding=p["outputPadding"], groups=p["groups"], dilation=p["dilation"])
    if op.startswith("avgPool"):
        fn = {"1d": F.avg_pool1d, "2d": F.avg_pool2d, "3d": F.avg_pool3d}[op[-2:]]
        return fn(t["x"], p["kernel"], p["stride"], p["padding"], ceil_mode=False, count_include_pad=True)
    if op.startswith("maxPool"):
        fn = {"1d": F.max_pool1d, "2d": F.max_pool2d, "3d": F.max_pool3d}[op[-2:]]
        return fn(t["x"], p["kernel"], p["stride"], p["padding"])
    if op.startswith("adaptiveAvgPool"):
        fn = {"1d": F.adaptive_avg_pool1d, "2d": F.adaptive_avg_pool2d, "3d": F.adaptive_avg_pool3d}[op[-2:]]
        return fn(t["x"], p["outputSize"])
    if op in ("gridSample2d", "gridSample3d"):
        return F.grid_sample(t["input"], t["grid"], mode="bilinear", padding_mode=p["padding"],
                             align_corners=p["alignCorners"])
    if op == "instanceNorm":
        return F.instance_norm(t["x"], eps=1e-5)
    if op == "pixelShuffle":
        return F.pixel_shuffle(t["x"], p["factor"])
    if op == "upsampleNearest":
        return F.interpolate(t["x"], scale_factor=tuple(p["factors"]), mode="nearest")
    if op == "leakyReLU":
        return F.leaky_relu(t["x"], p["slope"])
    raise ValueError(f"unknown op {op}")


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "manifest.json")) as f:
        cases = json.load(f)
    torch.set_num_threads(1)
    worst_overall = 0.0
    failures = []
    for case in cases:
        name = case["name"]
        load = lambda tag: np.load(os.path.join(folder, f"{name}.{tag}.npy"))
        tensors = {k: torch.from_numpy(load(f"in.{k}")).float().requires_grad_(True) for k in case["inputs"]}
        out = run_op(case["op"], case["params"], tensors)
        out.backward(torch.from_numpy(load("gradOut")).float())
        errors = {"output": relative_error(load("out"), out.detach().numpy())}
        for k in case["inputs"]:
            errors[f"d{k}"] = relative_error(load(f"grad.{k}"), tensors[k].grad.numpy())
        worst = max(errors.values())
        worst_overall = max(worst_overall, worst)
        print(f"{name:44s} {case['op']:16s} " + " ".join(f"{k}={v:.2e}" for k, v in errors.items()))
        if not worst <= TOLERANCE:
            failures.append(name)
    print(f"{len(cases)} cases, worst relative error {worst_overall:.2e} (tolerance {TOLERANCE:g}, floor {FLOOR:g}·max|ref|)")
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
