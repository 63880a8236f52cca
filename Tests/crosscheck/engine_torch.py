"""Recomputes the NeoTensor cross-check cases with PyTorch (CPU, float32) and compares.

Usage: engine_torch.py DIR   (DIR holds manifest.json and the .npy files written by
TorchCrossCheckTests.swift: inputs, the output gradient `gout`, our output `out` and our input
gradients `grad_<input>`).

Error measure, per tensor: max |ours - torch| / (|torch| + 1e-3 * max|torch|). The floor, 1e-3 of
the tensor's largest magnitude, keeps elements that are nearly zero from dominating. A case
fails when any output or gradient exceeds 1e-4. Exit status 0 when every case passes.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-4
FLOOR = 1e-3


def rel_error(ours, ref):
    ours = ours.astype(np.float64)
    ref = ref.astype(np.float64)
    if ours.shape != ref.shape:
        return math.inf
    if ref.size == 0:
        return 0.0
    floor = FLOOR * np.max(np.abs(ref)) + 1e-30
    return float(np.max(np.abs(ours - ref) / (np.abs(ref) + floor)))


def causal_heads_attention(x, p, heads, mask):
    b, t, c = x.shape
    h = F.layer_norm(x, (c,), p["ln_weight"], p["ln_bias"], 1e-5)
    qkv = F.linear(h, p["w_qkv"], p["b_qkv"]).reshape(b, t, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
    return x + F.linear(o.permute(0, 2, 1, 3).reshape(b, t, c), p["w_out"], p["b_out"])


def run_case(op, params, t):
    if op == "linear":
        return F.linear(t["x"], t["weight"], t["bias"])
    if op == "softmax":
        return torch.softmax(t["x"], dim=params["dim"])
    if op == "log_softmax":
        return torch.log_softmax(t["x"], dim=params["dim"])
    if op == "layer_norm":
        n = t["x"].shape[-1]
        return F.layer_norm(t["x"], (n,), t["weight"], t["bias"], params["eps"])
    if op == "rms_norm":
        n = t["x"].shape[-1]
        return F.rms_norm(t["x"], (n,), t["weight"], params["eps"])
    if op == "gelu":
        return F.gelu(t["x"])
    if op == "gelu_tanh":
        return F.gelu(t["x"], approximate="tanh")
    if op == "silu":
        return F.silu(t["x"])
    if op == "attention":
        return F.scaled_dot_product_attention(t["q"], t["k"], t["v"], attn_mask=t["mask"], scale=params.get("scale"))
    if op == "mse":
        return F.mse_loss(t["pred"], t["target"])
    if op == "mse_sum":
        pred, target = torch.broadcast_tensors(t["pred"], t["target"])
        return F.mse_loss(pred, target, reduction="sum")
    if op == "l1":
        return F.l1_loss(t["pred"], t["target"])
    if op == "smooth_l1":
        return F.smooth_l1_loss(t["pred"], t["target"], beta=params["beta"])
    if op == "bce":
        return F.binary_cross_entropy_with_logits(t["logits"], t["target"])
    if op == "cross_entropy":
        targets = torch.tensor(params["targets"], dtype=torch.long)
        return F.cross_entropy(t["logits"], targets, ignore_index=params["ignore_index"])
    if op == "log_sigmoid":
        return F.logsigmoid(t["x"])
    if op == "concat":
        return torch.cat([t["a"], t["b"]], dim=params["dim"])
    if op == "index_select":
        return torch.index_select(t["x"], params["dim"], torch.tensor(params["indices"], dtype=torch.long))
    if op == "embedding":
        return F.embedding(torch.tensor(params["indices"], dtype=torch.long), t["weight"])
    if op == "gather":
        return torch.gather(t["x"], params["dim"], t["index"].long())
    if op == "scatter_add":
        return t["x"].scatter_add(params["dim"], t["index"].long(), t["source"])
    if op == "pad":
        # Ours lists (before, after) for the trailing dims in dim order; torch lists them from the last dim.
        flat = []
        for before, after in reversed(params["padding"]):
            flat += [before, after]
        return F.pad(t["x"], flat, value=params["value"])
    if op == "adaln_modulate":
        return t["x"] * (1 + t["scale"].unsqueeze(1)) + t["shift"].unsqueeze(1)
    if op == "gated_residual":
        return t["x"] + t["gate"].unsqueeze(1) * t["y"]
    if op == "mlp":
        x = t["x"]
        h = F.layer_norm(x, (x.shape[-1],), t["ln_weight"], t["ln_bias"], 1e-5)
        h = F.gelu(F.linear(h, t["w1"], t["b1"]))
        return x + F.linear(h, t["w2"], t["b2"])
    if op == "attention_block":
        n = t["x"].shape[1]
        mask = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        return causal_heads_attention(t["x"], t, params["heads"], mask)
    raise ValueError(f"unknown op {op}")


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "manifest.json")) as f:
        cases = json.load(f)
    torch.manual_seed(0)
    failures = []
    for case in cases:
        name = case["name"]

        def load(tag):
            return np.load(os.path.join(folder, f"{name}__{tag}.npy"))

        tensors = {}
        for inp in case["inputs"]:
            tensors[inp] = torch.tensor(load(inp), dtype=torch.float32, requires_grad=inp in case["grads"])
        out = run_case(case["op"], case["params"], tensors)
        out.backward(torch.tensor(load("gout"), dtype=torch.float32).reshape(out.shape))
        errors = {"out": rel_error(load("out").reshape(tuple(out.shape)), out.detach().numpy())}
        for inp in case["grads"]:
            errors[f"grad_{inp}"] = rel_error(load(f"grad_{inp}"), tensors[inp].grad.numpy())
        worst = max(errors.values())
        status = "ok" if worst <= TOLERANCE else "FAIL"
        if worst > TOLERANCE:
            failures.append(name)
        detail = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
        print(f"{status:4} {name:20} worst {worst:.2e}  ({detail})")
    print(f"checked {len(cases)} cases against torch {torch.__version__}, tolerance {TOLERANCE:g} (floor {FLOOR:g}*max|torch|)")
    if failures:
        print("failed: " + ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
