"""Recomputes the NeoTensor cross-check cases with PyTorch (CPU, float32) and compares.

Usage: engine_torch.py DIR   (DIR holds manifest.json and the .npy files written by
TorchCrossCheckTests.swift: inputs, the output gradient `gout`, our output `out` and our input
gradients `grad_<input>`).

Error measure, per tensor: max |ours - ref| / (|ref| + 1e-3 * max|ref|). The floor, 1e-3 of
the tensor's largest magnitude, keeps elements that are nearly zero from dominating.

Each case runs twice in torch: in float32 (what users compare us with) and in float64 (the exact
answer up to float64 rounding). Ours passes when its error against the float64 answer is at most
1e-4, or at most twice torch float32's own error against it: a float32 kernel is judged against
the precision float32 can give, so torch changing its blocking (its CPU attention kernel blocks
differently with the thread count) cannot fail a correct kernel, and a wrong one still fails.
Exit status 0 when every case passes.
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

        def run(dtype):
            tensors = {}
            for inp in case["inputs"]:
                tensors[inp] = torch.tensor(load(inp), dtype=dtype, requires_grad=inp in case["grads"])
            out = run_case(case["op"], case["params"], tensors)
            out.backward(torch.tensor(load("gout"), dtype=dtype).reshape(out.shape))
            results = {"out": out.detach().numpy()}
            for inp in case["grads"]:
                results[f"grad_{inp}"] = tensors[inp].grad.numpy()
            return results

        single, exact = run(torch.float32), run(torch.float64)
        failed, details = False, []
        for key, ref in exact.items():
            ours = load(key).reshape(ref.shape) if key == "out" else load(key)
            ours_error = rel_error(ours, ref)
            torch_error = rel_error(single[key], ref)
            allowed = max(TOLERANCE, 2 * torch_error)
            failed = failed or ours_error > allowed
            details.append(f"{key} {ours_error:.1e}/{torch_error:.1e}")
        if failed:
            failures.append(name)
        status = "FAIL" if failed else "ok"
        print(f"{status:4} {name:20} ours/torch-f32 error vs f64: " + ", ".join(details))
    print(f"checked {len(cases)} cases against torch {torch.__version__} in float64; allowed error "
          f"max({TOLERANCE:g}, 2 x torch float32's) (floor {FLOOR:g}*max|ref|)")
    if failures:
        print("failed: " + ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
