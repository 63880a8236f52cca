"""safetensors cross-checks for NeoIO.

  verify FILE EXPECT.json   FILE (written by NeoIO) loads with safetensors.numpy.load_file; every
                            tensor equals the .npy named in EXPECT["tensors"], and the metadata equals
                            EXPECT["metadata"].
  write DIR                 (exit 3 without torch) Writes DIR/{F32,F16,BF16}.safetensors with torch (values stored
                            exactly in each dtype) and DIR/<dtype>-<name>.npy with the float32
                            values, for the Swift reader.
  reject FILE...            Every FILE must be refused by the reference reader.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def fail(msg):
    print("MISMATCH:", msg)
    sys.exit(1)


def verify(path, expect_path):
    with open(expect_path) as fh:
        expect = json.load(fh)
    loaded = load_file(path)
    if set(loaded) != set(expect["tensors"]):
        fail(f"names {sorted(loaded)} != {sorted(expect['tensors'])}")
    for name, npy in expect["tensors"].items():
        got, want = loaded[name], np.load(npy)
        if got.dtype != np.float32:
            fail(f"{name}: dtype {got.dtype}")
        if got.shape != want.shape or not np.array_equal(got, want):
            fail(f"{name}: values differ (shapes {got.shape} vs {want.shape})")
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    if meta != expect["metadata"]:
        fail(f"metadata {meta} != {expect['metadata']}")
    # The header is padded to a multiple of 8 bytes, as the reference writer does.
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
    if n % 8 != 0:
        fail(f"header length {n} is not a multiple of 8")
    print(f"OK {len(loaded)} tensors and metadata equal")


def write(out):
    try:
        import torch
    except ImportError:
        print("SKIP torch is not installed")
        sys.exit(3)
    from safetensors.torch import save_file

    grid = torch.arange(-24, 24, dtype=torch.float32).reshape(4, 12) / 8  # multiples of 1/8
    specials = torch.tensor([0.0, -0.0, 1.0, -2.0, 65504.0, 2.0 ** -14, float("inf"), -float("inf")])
    tiny = torch.tensor([2.0 ** -24, 2.0 ** -20, -(2.0 ** -16)])  # float16 subnormals
    bf = torch.tensor([3.0e38, 1.0e-38, 2.0 ** -130, -1.5, 256.0, 0.0078125, -(2.0 ** 100), 7.0])
    for dtype, tdtype in [("F32", torch.float32), ("F16", torch.float16), ("BF16", torch.bfloat16)]:
        third = tiny if dtype != "BF16" else bf
        tensors = {
            "grid.weight": grid.to(tdtype),
            "specials": (specials if dtype != "BF16" else specials[:4]).to(tdtype),
            "layers.0.small": third.to(tdtype),
            "scalar": torch.tensor(0.375).to(tdtype),
        }
        for name, t in tensors.items():
            # The reference values are the float32 widening of what was stored.
            np.save(f"{out}/{dtype}-{name}.npy", t.float().numpy())
        save_file(tensors, f"{out}/{dtype}.safetensors", metadata={"dtype": dtype, "writer": "torch"})
    print("OK wrote F32, F16, BF16")


def reject(paths):
    accepted = []
    for p in paths:
        try:
            load_file(p)
            accepted.append(p)
        except Exception:  # noqa: BLE001 - any refusal counts
            pass
    if accepted:
        fail(f"the reference reader accepted {accepted}")
    print(f"OK the reference refused all {len(paths)}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif mode == "write":
        write(sys.argv[2])
    elif mode == "reject":
        reject(sys.argv[2:])
    else:
        fail(f"unknown mode {mode}")
