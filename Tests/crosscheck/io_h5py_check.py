"""h5py cross-checks for NEO-train HDF5 files (docs/checkpoint-format.md).

  verify EXPECT.json CKPT.h5 [CKPT.h5 ...]
      Opens each checkpoint with h5py (hdf5plugin loaded, so zstd filter 32015 decodes), checks the
      documented layout, attributes, CRC-32 of every dataset and every value against EXPECT.json
      (written by the Swift test: attributes, scalars, and for each tensor the .npy file holding
      its values), and whether datasets are zstd-compressed as EXPECT says for that file name.
  write-zstd OUT.h5
      Writes a file with hdf5plugin's own Zstd filter for the Swift side to read.
Exit status 0 and a line "OK ..." when everything matches; otherwise a message naming the mismatch.
"""
import json
import sys
import zlib

import h5py
import hdf5plugin  # noqa: F401  (registers filter 32015 with HDF5)
import numpy as np

GROUPS = ["/model", "/optimizer", "/optimizer/moments", "/optimizer/scalars", "/ema", "/rng", "/loader", "/metadata"]


def fail(msg):
    print("MISMATCH:", msg)
    sys.exit(1)


def to_hdf5(dotted):
    """The documented rule: split at dots; an all-digit component stays joined to the one before."""
    parts = []
    for p in dotted.split("."):
        if parts and p.isdigit():
            parts[-1] += "." + p
        else:
            parts.append(p)
    return "/".join(parts)


def crc_of(arr, dtype):
    return zlib.crc32(np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes())


def check_dataset(f, path, dtype):
    if path not in f or not isinstance(f[path], h5py.Dataset):
        fail(f"{f.filename}: missing dataset {path}")
    d = f[path]
    if d.dtype != np.dtype(dtype):
        fail(f"{f.filename}: {path} has dtype {d.dtype}, expected {dtype}")
    data = d[()]
    if "crc32" not in d.attrs:
        fail(f"{f.filename}: {path} has no crc32 attribute")
    if int(d.attrs["crc32"]) != crc_of(data, dtype):
        fail(f"{f.filename}: {path} crc32 {int(d.attrs['crc32']):#010x} != zlib.crc32 {crc_of(data, dtype):#010x}")
    return d, data


def verify(expect, path):
    compressed = expect["compressed"][path.split("/")[-1]]
    seen = set()
    with h5py.File(path, "r") as f:
        for g in GROUPS:
            if g not in f or not isinstance(f[g], h5py.Group):
                fail(f"{path}: missing group {g}")
        a = f.attrs
        if a["format"] != "neo-train-checkpoint":
            fail(f"{path}: format attribute is {a['format']!r}")
        if int(a["format_version"]) != 1:
            fail(f"{path}: format_version {a['format_version']}")
        for key in ["step"]:
            if int(a[key]) != expect[key]:
                fail(f"{path}: {key} = {a[key]}, expected {expect[key]}")
        for key in ["model_kind", "recipe"]:
            if a[key] != expect[key]:
                fail(f"{path}: {key} = {a[key]!r}, expected {expect[key]!r}")
        if not isinstance(a["created_at"], str) or "T" not in a["created_at"]:
            fail(f"{path}: created_at {a['created_at']!r} is not an ISO-8601 string")
        if float(a["metric"]) != expect["metric"]:
            fail(f"{path}: metric {a['metric']}")
        meta = {k: v for k, v in f["/metadata"].attrs.items()}
        if meta != expect["metadata"]:
            fail(f"{path}: metadata {meta} != {expect['metadata']}")

        for section, tensors in expect["tensors"].items():
            for dotted, npy in tensors.items():
                p = f"/{section}/{to_hdf5(dotted)}"
                d, data = check_dataset(f, p, "<f4")
                want = np.load(npy)
                if data.shape != want.shape or not np.array_equal(data, want):
                    fail(f"{path}: {p} differs from {npy} (shapes {data.shape} vs {want.shape})")
                is_zstd = "32015" in d._filters
                if compressed and want.ndim > 0 and want.size > 0 and not is_zstd:
                    fail(f"{path}: {p} is not zstd-compressed (filters {d._filters})")
                if not compressed and d._filters:
                    fail(f"{path}: {p} has filters {d._filters} in an uncompressed checkpoint")
                seen.add(p)
        for name, v in expect["scalars"].items():
            p = f"/optimizer/scalars/{name}"
            _, data = check_dataset(f, p, "<f8")
            if data.shape != () or float(data) != v:
                fail(f"{path}: {p} = {data}, expected {v}")
            seen.add(p)
        for name, (seed, counter) in expect["rng"].items():
            p = f"/rng/{name}"
            _, data = check_dataset(f, p, "<u8")
            if data.tolist() != [seed, counter]:
                fail(f"{path}: {p} = {data.tolist()}, expected {[seed, counter]}")
            seen.add(p)
        for name, v in expect["loader"].items():
            p = f"/loader/{name}"
            _, data = check_dataset(f, p, "<i8")
            if data.shape != () or int(data) != v:
                fail(f"{path}: {p} = {data}, expected {v}")
            seen.add(p)

        everything = []
        f.visititems(lambda n, o: everything.append("/" + n) if isinstance(o, h5py.Dataset) else None)
        extra = sorted(set(everything) - seen)
        if extra:
            fail(f"{path}: undocumented datasets {extra}")
    return len(seen)


def write_zstd(out):
    with h5py.File(out, "w") as f:
        ramp = (np.arange(64 * 50, dtype=np.float32) % 50).reshape(64, 50) * 0.5
        f.create_dataset("audio/ramp", data=ramp, chunks=(16, 50), **hdf5plugin.Zstd(clevel=7))
        f.create_dataset("ints", data=np.arange(500, dtype=np.int64) // 3, **hdf5plugin.Zstd())
        f.create_dataset("f64", data=np.linspace(0, 1, 11), **hdf5plugin.Zstd(clevel=1))
        f.attrs["clip_id"] = "clip-0001"
        f.attrs["count"] = 3
        f.attrs["rate"] = 16000.5
        f["audio/ramp"].attrs["scale"] = np.array([1.5, 2.5], dtype=np.float32)
    print("OK wrote", out)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "verify":
        with open(sys.argv[2]) as fh:
            expect = json.load(fh)
        counts = [verify(expect, p) for p in sys.argv[3:]]
        print(f"OK h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}) verified {counts} datasets")
    elif mode == "write-zstd":
        write_zstd(sys.argv[2])
    else:
        fail(f"unknown mode {mode}")
