"""PyTorch side of `neo-train bench audio`: times Whisper's log-mel + encoder in torch on the
same samples and weights as our run.

usage: audio_bench.py WEIGHTS SAMPLES.npy [--threads 2] [--repeats 3] [--window 3000]

WEIGHTS: CTranslate2 model.bin or Hugging Face-named safetensors (read as in audio_whisper.py).
The model is openai/whisper's AudioEncoder written as torch modules (conv stem, pre-LN blocks
with torch's scaled_dot_product_attention, ln_post), run under torch.inference_mode in float32
with torch.set_num_threads(threads); the log-mel is whisper's torch.stft sequence. Windows are
cut from the clip's log-mel as in our FeatureExtractor. One warm-up pass, then `repeats` timed
passes; prints one JSON line with the best and all wall times and the least process CPU time.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audio_whisper import read_weights, sinusoids  # noqa: E402
from audio_logmel import mel_filters  # noqa: E402


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.attn_ln = nn.LayerNorm(d)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.mlp_ln = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        n, t, d = x.shape
        y = self.attn_ln(x)
        q = self.query(y).view(n, t, self.heads, -1).transpose(1, 2)
        k = self.key(y).view(n, t, self.heads, -1).transpose(1, 2)
        v = self.value(y).view(n, t, self.heads, -1).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d)
        x = x + self.out(a)
        return x + self.mlp(self.mlp_ln(x))


class Encoder(nn.Module):
    def __init__(self, weights, heads):
        super().__init__()
        e = "model.encoder."
        w = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
        d, mels = w[e + "conv1.weight"].shape[:2]
        self.conv1 = nn.Conv1d(mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        table = w.get(e + "embed_positions.weight")
        self.register_buffer("positions", table if table is not None else torch.from_numpy(sinusoids(1500, d)).float())
        n_layers = 0
        while f"{e}layers.{n_layers}.fc1.weight" in w:
            n_layers += 1
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(n_layers)])
        self.ln_post = nn.LayerNorm(d)
        with torch.no_grad():
            for c in ("conv1", "conv2"):
                getattr(self, c).weight.copy_(w[f"{e}{c}.weight"])
                getattr(self, c).bias.copy_(w[f"{e}{c}.bias"])
            for i, b in enumerate(self.blocks):
                h = f"{e}layers.{i}."
                pairs = [(b.attn_ln, "self_attn_layer_norm"), (b.query, "self_attn.q_proj"), (b.key, "self_attn.k_proj"),
                         (b.value, "self_attn.v_proj"), (b.out, "self_attn.out_proj"), (b.mlp_ln, "final_layer_norm"),
                         (b.mlp[0], "fc1"), (b.mlp[2], "fc2")]
                for mod, name in pairs:
                    mod.weight.copy_(w[h + name + ".weight"])
                    if mod.bias is not None:
                        mod.bias.copy_(w[h + name + ".bias"])
            self.ln_post.weight.copy_(w[e + "layer_norm.weight"])
            self.ln_post.bias.copy_(w[e + "layer_norm.bias"])

    def forward(self, mel):
        """All hidden states of one window, mel [1, 80, T]."""
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.positions[: x.shape[1]]
        states = [x]
        for b in self.blocks:
            x = b(x)
            states.append(x)
        states[-1] = self.ln_post(x)
        return states


def log_mel(audio, filters, window):
    stft = torch.stft(audio, 400, 160, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    log_spec = torch.clamp(filters @ magnitudes, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("samples")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--window", type=int, default=3000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    weights, heads = read_weights(a.weights)
    model = Encoder(weights, heads).eval()
    audio = torch.from_numpy(np.load(a.samples).astype(np.float32).reshape(-1))
    filters = torch.from_numpy(mel_filters())
    window = torch.hann_window(400)

    def run():
        mel = log_mel(audio, filters, window)
        states = []
        for start in range(0, mel.shape[1], a.window):
            states.append(model(mel[None, :, start:start + a.window]))
        return mel, states

    times, cpu = [], []
    with torch.inference_mode():
        run()
        for _ in range(a.repeats):
            c0 = time.process_time()
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    seconds = len(audio) / 16000
    print(json.dumps({
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "audio_seconds": seconds,
        "seconds": min(times), "all_seconds": times, "audio_seconds_per_second": seconds / min(times),
        "cpu_seconds": min(cpu),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
