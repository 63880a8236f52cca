"""PyTorch reference Whisper encoder, to check NeoAudio's WhisperEncoder hidden states.

usage:
  audio_whisper.py compare WEIGHTS MEL.npy OURS.npy   per-layer errors of OURS [L+1, T', d]
  audio_whisper.py locate                             prints the bundled CTranslate2 model.bin

WEIGHTS is a CTranslate2 model.bin (parsed by scripts/convert_whisper.py, independently of the
Swift reader) or a
safetensors file with Hugging Face names. The forward follows openai/whisper's AudioEncoder:
GELU(conv1), GELU(conv2, stride 2), + positions (the first T' rows of the checkpoint's table,
which must be Whisper's sinusoids; the formula when the file has none), residual attention blocks
with pre-LayerNorm (q·k scaled by d_head^-1/4 each, no key bias), MLP 4d with exact GELU, and
ln_post on the last block's output. Hidden state 0 is the stem output, i (1..L-1) the output of
block i-1, and L is ln_post(block L-1 output).

The reference runs in float64 (the truth) and float32 (what torch itself would give). For each
hidden state the error is max|ours - ref| / max|ref|. With ctranslate2 installed and a
model.bin, ctranslate2's own encoder output is compared too (last state, where it applies).
Prints one JSON object.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts"))
from convert_whisper import read_ctranslate2, sinusoids, bundled_model  # noqa: E402


def read_weights(path):
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":
        from safetensors.numpy import load_file
        raw = load_file(path)
        w = {k if k.startswith("model.") else "model." + k: v.astype(np.float32) for k, v in raw.items()
             if k.startswith("model.encoder.") or k.startswith("encoder.")}
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n)).get("__metadata__", {})
        heads = int(meta["num_heads"]) if "num_heads" in meta else w["model.encoder.conv1.weight"].shape[0] // 64
        return w, heads
    w, heads, _ = read_ctranslate2(path)
    return w, heads


def encoder_hidden_states(weights, heads, mel, dtype):
    import torch
    import torch.nn.functional as F
    W = {k: torch.from_numpy(np.ascontiguousarray(v)).to(dtype) for k, v in weights.items()}
    e = "model.encoder."
    x = torch.from_numpy(mel).to(dtype)[None]                       # [1, 80, T]
    x = F.gelu(F.conv1d(x, W[e + "conv1.weight"], W[e + "conv1.bias"], padding=1))
    x = F.gelu(F.conv1d(x, W[e + "conv2.weight"], W[e + "conv2.bias"], stride=2, padding=1))
    x = x.permute(0, 2, 1)                                           # [1, T', d]
    n, d = x.shape[1], x.shape[2]
    table = weights.get(e + "embed_positions.weight")
    if table is not None:
        # Released checkpoints store the sinusoids rounded to float16; the model runs with them.
        assert np.abs(table.astype(np.float64) - sinusoids(table.shape[0], d)).max() < 2e-3
        x = x + W[e + "embed_positions.weight"][:n]
    else:
        x = x + torch.from_numpy(sinusoids(n, d)).to(dtype)
    states = [x]
    i = 0
    while f"{e}layers.{i}.fc1.weight" in W:
        h = f"{e}layers.{i}."
        y = F.layer_norm(x, (d,), W[h + "self_attn_layer_norm.weight"], W[h + "self_attn_layer_norm.bias"], eps=1e-5)
        q = F.linear(y, W[h + "self_attn.q_proj.weight"], W[h + "self_attn.q_proj.bias"])
        k = F.linear(y, W[h + "self_attn.k_proj.weight"])
        v = F.linear(y, W[h + "self_attn.v_proj.weight"], W[h + "self_attn.v_proj.bias"])
        scale = (d // heads) ** -0.25
        q = q.view(1, n, heads, -1).permute(0, 2, 1, 3) * scale
        k = k.view(1, n, heads, -1).permute(0, 2, 3, 1) * scale
        v = v.view(1, n, heads, -1).permute(0, 2, 1, 3)
        wv = (torch.softmax(q @ k, dim=-1) @ v).permute(0, 2, 1, 3).flatten(start_dim=2)
        x = x + F.linear(wv, W[h + "self_attn.out_proj.weight"], W[h + "self_attn.out_proj.bias"])
        y = F.layer_norm(x, (d,), W[h + "final_layer_norm.weight"], W[h + "final_layer_norm.bias"], eps=1e-5)
        x = x + F.linear(F.gelu(F.linear(y, W[h + "fc1.weight"], W[h + "fc1.bias"])), W[h + "fc2.weight"], W[h + "fc2.bias"])
        states.append(x)
        i += 1
    states[-1] = F.layer_norm(x, (d,), W[e + "layer_norm.weight"], W[e + "layer_norm.bias"], eps=1e-5)
    return np.stack([s[0].double().numpy() for s in states])


def relative_errors(a, b):
    return [float(np.abs(a[i] - b[i]).max() / np.abs(b[i]).max()) for i in range(b.shape[0])]


def compare(weights_path, mel_path, ours_path):
    import torch
    torch.set_num_threads(2)
    weights, heads = read_weights(weights_path)
    mel = np.load(mel_path).astype(np.float32)
    ours = np.load(ours_path).astype(np.float64)
    with torch.no_grad():
        ref64 = encoder_hidden_states(weights, heads, mel, torch.float64)
        ref32 = encoder_hidden_states(weights, heads, mel, torch.float32)
    if ref64.shape != ours.shape:
        return {"error": f"shape {list(ours.shape)} != reference {list(ref64.shape)}"}
    out = {
        "heads": heads,
        "shape": list(ours.shape),
        "relative_error_vs_torch64": relative_errors(ours, ref64),
        "relative_error_vs_torch32": relative_errors(ours, ref32),
        "relative_error_torch32_vs_torch64": relative_errors(ref32, ref64),
    }
    if not weights_path.endswith(".safetensors"):
        try:
            import ctranslate2
            model = ctranslate2.models.Whisper(os.path.dirname(os.path.abspath(weights_path)), device="cpu", compute_type="float32")
            frames = mel.shape[1]
            padded = np.zeros((1, mel.shape[0], 3000), dtype=np.float32)
            padded[0, :, :frames] = mel
            if frames == 3000:
                enc = np.array(model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=True))[0]
                out["relative_error_last_vs_ctranslate2"] = float(np.abs(ours[-1] - enc).max() / np.abs(enc).max())
                out["relative_error_torch64_last_vs_ctranslate2"] = float(np.abs(ref64[-1] - enc).max() / np.abs(enc).max())
        except ImportError:
            pass
    return out


def locate():
    try:
        p = bundled_model()
        if os.path.exists(p):
            print(p)
            return 0
    except ImportError:
        pass
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "locate":
        sys.exit(locate())
    result = compare(*sys.argv[2:5])
    print(json.dumps(result))
    sys.exit(1 if "error" in result else 0)
