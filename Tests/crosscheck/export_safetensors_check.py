"""Loads a safetensors export with Python's safetensors (numpy) and PyTorch and compares every
tensor bit for bit with reference .npy files, and the metadata with the expected map.

usage: export_safetensors_check.py FILE.safetensors EXPECT.json
EXPECT.json: {"tensors": {"name": "ref.npy", ...}, "metadata": {"key": "value", ...}}
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy


def main(path, expect_path):
    with open(expect_path) as f:
        expect = json.load(f)
    refs = {k: np.load(v) for k, v in expect["tensors"].items()}
    arrays = load_numpy(path)
    assert set(arrays) == set(refs), f"names differ: extra {sorted(set(arrays) - set(refs))}, missing {sorted(set(refs) - set(arrays))}"
    for name, ref in refs.items():
        a = arrays[name]
        assert a.dtype == np.float32, f"{name}: dtype {a.dtype}"
        assert a.shape == ref.shape, f"{name}: shape {a.shape} vs {ref.shape}"
        assert np.array_equal(a.view(np.uint32), ref.astype(np.float32).view(np.uint32)), f"{name}: values differ"
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    assert metadata == expect["metadata"], f"metadata differs: {metadata} vs {expect['metadata']}"
    print(f"numpy OK: {len(arrays)} tensors, {len(metadata)} metadata keys")

    import torch
    from safetensors.torch import load_file as load_torch
    tensors = load_torch(path)
    assert set(tensors) == set(refs)
    for name, ref in refs.items():
        t = tensors[name]
        assert t.dtype == torch.float32, f"{name}: torch dtype {t.dtype}"
        assert tuple(t.shape) == ref.shape, f"{name}: torch shape {tuple(t.shape)} vs {ref.shape}"
        assert torch.equal(t, torch.from_numpy(ref.astype(np.float32))), f"{name}: torch values differ"
    print(f"torch OK: {len(tensors)} tensors")
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
