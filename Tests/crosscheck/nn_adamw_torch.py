"""Reference run for NeoNN's optimiser cross-check (Tests/NeoNNTests/OptimizerCrossCheckTests.swift).

Usage: nn_adamw_torch.py DIR [DIR ...]

Each DIR holds config.json, x.npy, y.npy and init_<path>.npy written by the Swift test. This script
trains the same two-layer tanh regressor with torch's own autodiff, torch.optim.AdamW or
torch.optim.SGD, a LambdaLR schedule equal to the Swift one, and clip_grad_norm_, then writes
final_<path>.npy and norms.npy (the pre-clip gradient norm of every step) into DIR.
"""
import json
import math
import os
import sys

import numpy as np
import torch


def schedule(cfg, step):
    peak, warmup, total = cfg["peak_lr"], cfg["warmup_steps"], cfg["total_steps"]
    if step < warmup:
        return peak * (step + 1) / warmup
    span = total - warmup
    q = 1.0 if span <= 0 else min(1.0, max(0.0, (step - warmup) / span))
    lo = cfg["min_lr"]
    return lo + (peak - lo) * 0.5 * (1 + math.cos(math.pi * q))


def run(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    y = torch.from_numpy(np.load(os.path.join(d, "y.npy")))
    names = cfg["parameters"]
    params = {n: torch.nn.Parameter(torch.from_numpy(np.load(os.path.join(d, f"init_{n}.npy")))) for n in names}

    groups = [
        {"params": [params[n] for n in g["parameters"]], "lr": cfg["peak_lr"] * g["lr_scale"],
         "weight_decay": g["weight_decay"]}
        for g in cfg["groups"]
    ]
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg["peak_lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"])
    else:
        opt = torch.optim.SGD(groups, lr=cfg["peak_lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                              dampening=cfg["dampening"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: schedule(cfg, s) / cfg["peak_lr"])

    batch = cfg["batch"]
    n = x.shape[0]
    norms = []
    for step in range(cfg["steps"]):
        lo = (step * batch) % n
        xb, yb = x[lo:lo + batch], y[lo:lo + batch]
        h = torch.tanh(xb @ params["fc1.weight"].T + params["fc1.bias"])
        pred = h @ params["fc2.weight"].T + params["fc2.bias"]
        loss = ((pred - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([params[k] for k in names], cfg["max_norm"])
        norms.append(float(norm))
        opt.step()
        sched.step()

    for k in names:
        np.save(os.path.join(d, f"final_{k}.npy"), params[k].detach().numpy())
    np.save(os.path.join(d, "norms.npy"), np.array(norms, dtype=np.float32))


if __name__ == "__main__":
    torch.set_num_threads(1)
    for directory in sys.argv[1:]:
        run(directory)
