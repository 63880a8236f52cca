"""Reads a NEO-train dataset shard with h5py + hdf5plugin (zstd filter 32015) and prints a clip."""
import sys
import h5py
import hdf5plugin  # noqa: F401  registers the zstd filter

path, clip = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    assert f.attrs["format"] == "neo-shard-1", f.attrs["format"]
    g = f["clips"][clip]
    for name in ("audio", "motion"):
        d = g[name]
        print(name, tuple(d.shape), d.dtype, "filters", list(d._filters.keys()))
        assert "32015" in d._filters or 32015 in d._filters, d._filters
    print("identity", g.attrs["identity"])
    print("frames", int(g.attrs["frames"]), "sum", float(g["motion"][()].sum()))
