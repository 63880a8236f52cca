"""The VOCAL MMDiT (Sources/Vocal) written again in PyTorch, for `neo-train bench vocal`.

usage: bench_vocal_torch.py BUNDLE.safetensors [--repeats N] [--threads T]

BUNDLE is written by `neo-train bench vocal`: every parameter of the Swift model under its
module path (`blocks.3.motion.qkv.weight` …), the inputs of one training batch (`in.*`), the
flow-matching draw (`in.t`, `in.noise`) and the Swift results for them (`out.velocity`,
`out.loss`); its metadata holds the configuration. The script builds the same architecture
with the same shapes, loads the same weights, checks that it computes the same velocity and
loss, then times one training step (forward, backward, AdamW) with `torch.set_num_threads(T)`
and prints one JSON object.

Architecture (docs/architecture.md §4, mirrored from VocalModel/VocalBlock/AudioFusion): audio fusion
(per-layer LayerNorm without affine, softmax-weighted sum over layers, adjacent 50 fps frames
paired, Linear-GELU(tanh)-Linear); conditioning c = SiLU(MLP(sinusoidal t·1000) + identity
features + emotion embedding); MMDiT blocks with per-stream adaLN-Zero, QKV with per-head
RMS-norm of q and k, rotary positions shared by the streams (pairs i, i + R/2), joint
attention, gated output projection and MLP; the last block's audio stream offers keys and
values only; final adaLN + Linear.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open


def layer_norm(x, eps):
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MLP(nn.Module):
    def __init__(self, dim, hidden, out=None, act="gelu_tanh"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out or dim)
        self.act = act

    def forward(self, x):
        h = self.fc1(x)
        h = F.gelu(h, approximate="tanh") if self.act == "gelu_tanh" else F.silu(h)
        return self.fc2(h)


class TimestepEmbedding(nn.Module):
    def __init__(self, dim, freq_dim):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = MLP(freq_dim, dim, dim, act="silu")

    def forward(self, t):
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
        a = (t.float() * 1000.0).double()[:, None] * freqs[None, :]  # t·1000 in float32, as ours
        feats = torch.cat([torch.cos(a), torch.sin(a)], dim=1).float()
        return self.mlp(feats)


class AudioFusion(nn.Module):
    def __init__(self, layers, audio_width, width):
        super().__init__()
        self.layerLogits = nn.Parameter(torch.zeros(layers))
        self.proj1 = nn.Linear(2 * audio_width, width)
        self.proj2 = nn.Linear(width, width)

    def forward(self, hidden):  # [B, L, 2N, W]
        b, l, f2, w = hidden.shape
        normed = layer_norm(hidden, 1e-5)
        weights = torch.softmax(self.layerLogits, dim=0)
        fused = torch.einsum("l,blfw->bfw", weights, normed)
        paired = fused.reshape(b, f2 // 2, 2 * w)
        return self.proj2(F.gelu(self.proj1(paired), approximate="tanh"))


class IdentityEncoder(nn.Module):
    def __init__(self, latent_dim, hidden, width):
        super().__init__()
        self.frame = nn.Linear(latent_dim, hidden)
        self.out = nn.Linear(2 * hidden, width)

    def forward(self, clip):  # [B, R, D]
        f = F.silu(self.frame(clip))
        mean = f.mean(dim=1)
        std = torch.sqrt(f.var(dim=1, unbiased=False) + 1e-5)
        return self.out(torch.cat([mean, std], dim=1))


def rotate(x, cos, sin):  # x [B, H, T, Dh], cos/sin [T, R/2]; pairs (i, i + R/2)
    half = cos.shape[1]
    a, b, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin, rest], dim=-1)


class Stream(nn.Module):
    def __init__(self, width, heads, mlp_hidden, keys_only):
        super().__init__()
        self.keys_only, self.width, self.heads, self.head_dim = keys_only, width, heads, width // heads
        self.modulation = nn.Linear(width, (2 if keys_only else 6) * width)
        self.qkv = nn.Linear(width, (2 if keys_only else 3) * width)
        if not keys_only:
            self.qNorm = RMSNorm(self.head_dim)
        self.kNorm = RMSNorm(self.head_dim)
        if not keys_only:
            self.proj = nn.Linear(width, width)
            self.mlp = MLP(width, mlp_hidden)

    def project(self, h):
        b, t, _ = h.shape
        parts = 2 if self.keys_only else 3
        allp = self.qkv(h).reshape(b, t, parts, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.keys_only:
            return None, self.kNorm(allp[0]), allp[1]
        return self.qNorm(allp[0]), self.kNorm(allp[1]), allp[2]


class Block(nn.Module):
    def __init__(self, width, heads, mlp_hidden, last):
        super().__init__()
        self.width, self.heads = width, heads
        self.motion = Stream(width, heads, mlp_hidden, False)
        self.audio = Stream(width, heads, mlp_hidden, last)

    def forward(self, x, a, cond, cos, sin, mask):
        mm = self.motion.modulation(cond).split(self.width, dim=1)
        ma = self.audio.modulation(cond).split(self.width, dim=1)

        def mod(h, shift, scale):
            return layer_norm(h, 1e-6) * (1 + scale[:, None, :]) + shift[:, None, :]

        hm, ha = mod(x, mm[0], mm[1]), mod(a, ma[0], ma[1])
        b, tm, ta = x.shape[0], x.shape[1], a.shape[1]
        qm, km, vm = self.motion.project(hm)
        qa, ka, va = self.audio.project(ha)
        k = rotate(torch.cat([km, ka], dim=2), cos, sin)
        v = torch.cat([vm, va], dim=2)
        if qa is not None:
            q = rotate(torch.cat([qm, qa], dim=2), cos, sin)
        else:
            q = rotate(qm, cos[:tm], sin[:tm])
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1 / math.sqrt(self.width // self.heads))
        o = o.permute(0, 2, 1, 3).reshape(b, o.shape[2], self.width)
        om = o[:, :tm]
        x = x + mm[2][:, None, :] * self.motion.proj(om)
        x = x + mm[5][:, None, :] * self.motion.mlp(mod(x, mm[3], mm[4]))
        if qa is None:
            return x, None
        oa = o[:, tm:]
        y = a + ma[2][:, None, :] * self.audio.proj(oa)
        y = y + ma[5][:, None, :] * self.audio.mlp(mod(y, ma[3], ma[4]))
        return x, y


class FinalLayer(nn.Module):
    def __init__(self, width, latent_dim):
        super().__init__()
        self.width = width
        self.modulation = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, latent_dim)

    def forward(self, x, cond):
        shift, scale = self.modulation(cond).split(self.width, dim=1)
        return self.out(layer_norm(x, 1e-6) * (1 + scale[:, None, :]) + shift[:, None, :])


class Vocal(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, d = c["width"], c["latent_dim"]
        self.c = c
        self.motionIn = nn.Linear(d, w)
        self.prefixIn = nn.Linear(d, w)
        self.referenceIn = nn.Linear(d, w)
        self.audioFusion = AudioFusion(c["audio_layers"], c["audio_width"], w)
        self.nullAudio = nn.Parameter(torch.zeros(w))
        self.time = TimestepEmbedding(w, c["timestep_dim"])
        self.identity = IdentityEncoder(d, c["identity_dim"], w)
        self.nullIdentity = nn.Parameter(torch.zeros(w))
        self.emotion = nn.Embedding(c["emotion_count"] + 1, w)
        self.blocks = nn.ModuleList([Block(w, c["heads"], c["mlp_hidden"], i == c["depth"] - 1) for i in range(c["depth"])])
        self.final = FinalLayer(w, d)
        hd = w // c["heads"]
        self.theta = torch.tensor([c["rotary_base"] ** (-2.0 * i / hd) for i in range(hd // 2)], dtype=torch.float64)

    def tables(self, positions):
        a = torch.tensor(positions, dtype=torch.float64)[:, None] * self.theta[None, :]
        return torch.cos(a).float(), torch.sin(a).float()

    def forward(self, xt, t, audio, identity, emotion, reference, prefix):
        b, n, _ = xt.shape
        k = prefix.shape[1]
        audio_tokens = self.audioFusion(audio)
        context = self.identity(identity) + self.emotion(emotion)
        extras = [self.referenceIn(reference)[:, None, :], self.prefixIn(prefix)]
        positions = [-float(self.c["prefix_frames"] + 1)] + [float(j - k) for j in range(k)]
        x = torch.cat(extras + [self.motionIn(xt)], dim=1)
        e = x.shape[1] - n
        cond = F.silu(self.time(t) + context)
        frames = [float(i) for i in range(n)]
        cos, sin = self.tables(positions + frames + frames)
        a = audio_tokens
        for block in self.blocks:
            x, a = block(x, a, cond, cos, sin, None)
        return self.final(x[:, e:], cond)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with safe_open(args.bundle, framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    lr = float(meta.get("lr", "1e-3"))
    tensors = load_file(args.bundle)
    model = Vocal(cfg)
    params = {k: v for k, v in tensors.items() if not k.startswith("in.") and not k.startswith("out.")}
    missing, unexpected = model.load_state_dict(params, strict=False)
    if missing or unexpected:
        print(json.dumps({"error": f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"}))
        sys.exit(1)

    x0, noise, t = tensors["in.motion"], tensors["in.noise"], tensors["in.t"]
    inputs = dict(audio=tensors["in.audio"], identity=tensors["in.identity"], emotion=tensors["in.emotion"].long(),
                  reference=tensors["in.reference"], prefix=tensors["in.prefix"])
    tt = t[:, None, None]
    xt, target = x0 * (1 - tt) + noise * tt, noise - x0

    with torch.no_grad():
        v = model(xt, t, **inputs)
        loss = F.mse_loss(v, target).item()
    ref_v = tensors["out.velocity"]
    max_abs = (v - ref_v).abs().max().item()
    rel = max_abs / max(ref_v.abs().max().item(), 1e-12)

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        out = F.mse_loss(model(xt, t, **inputs), target)
        out.backward()
        opt.step()

    step()  # warm-up
    times, cpu = [], []
    for _ in range(args.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({
        "torchVersion": torch.__version__, "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "velocityMaxAbsError": max_abs, "velocityRelativeError": rel,
        "loss": loss, "lossSwift": float(tensors["out.loss"].item()),
        "stepSeconds": sorted(times)[len(times) // 2], "allStepSeconds": times,
        "stepCPUSeconds": sorted(cpu)[len(cpu) // 2],
    }))


if __name__ == "__main__":
    main()
