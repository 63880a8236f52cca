"""The Pictar renderer (Sources/Pictar) written again in PyTorch, for `neo-train bench pictar`.

usage: bench_pictar_torch.py BUNDLE.safetensors [--repeats N] [--threads T]

BUNDLE is written by `neo-train bench pictar`: every generator parameter under `g.` plus its
module path (`g.warp.hourglass.down.0.conv.weight` …), every discriminator parameter under `d.`,
one training batch (`in.source`, `in.driving`, `in.driving_motion`, `in.source_motion`), the
random similarity transform of the equivariance loss (`in.eq_affine`, `in.eq_grid`) and the
Swift results for them (`out.prediction`, `out.loss`); its metadata holds the configuration
(PictarConfig as JSON) and the learning rate, and our gradient of the generator loss for every
parameter (`grad.g.…`, `grad.d.…`). The script builds the same architecture, loads the same
weights, checks that it renders the same frames and computes the same loss, compares our
gradients and its own float32 ones with a float64 evaluation of the same model, then
times one training step (generator losses, backward, AdamW; then the discriminator's hinge
loss, backward, AdamW) with `torch.set_num_threads(T)` and prints one JSON object.

Architecture (docs/pictar.md): appearance encoder (conv blocks, 1x1 lift to a C x D volume,
3-D residual blocks); motion encoder (stride-2 conv blocks, mean pooling, one linear layer of
heads, pose as the expectation over bins); keypoints x = s (x_c R + delta) + t; warping network
(candidate flows per keypoint, heat-map differences and warped compressed volume into a 3-D
hourglass on a coarser grid, softmax masks, displacement upsampled trilinearly, occlusion);
SPADE decoder with pixel shuffle; PatchGAN discriminator.
"""
import argparse
import copy
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open


def inorm(x):
    return F.instance_norm(x, eps=1e-5)


def lrelu(x):
    return F.leaky_relu(x, 0.2)


class ConvNormReLU2d(nn.Module):
    def __init__(self, i, o, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, stride, 1, bias=False)

    def forward(self, x):
        return F.relu(inorm(self.conv(x)))


class ConvNormReLU3d(nn.Module):
    def __init__(self, i, o, stride=(1, 1, 1)):
        super().__init__()
        self.conv = nn.Conv3d(i, o, 3, stride, 1, bias=False)

    def forward(self, x):
        return F.relu(inorm(self.conv(x)))


class ResBlock3d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv3d(c, c, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv3d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(inorm(self.conv1(F.relu(inorm(x))))))


class SPADE(nn.Module):
    def __init__(self, c, condition, hidden):
        super().__init__()
        self.c = c
        self.shared = nn.Conv2d(condition, hidden, 3, 1, 1)
        self.gammaBeta = nn.Conv2d(hidden, 2 * c, 3, 1, 1)

    def forward(self, x, condition):
        g, b = self.gammaBeta(F.relu(self.shared(condition))).split([self.c, self.c], 1)
        return inorm(x) * (g + 1) + b


class SPADEResBlock(nn.Module):
    def __init__(self, c, condition, hidden):
        super().__init__()
        self.norm0 = SPADE(c, condition, hidden)
        self.conv0 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.norm1 = SPADE(c, condition, hidden)
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x, condition):
        dx = self.conv0(lrelu(self.norm0(x, condition)))
        return x + self.conv1(lrelu(self.norm1(dx, condition)))


class Hourglass3d(nn.Module):
    def __init__(self, in_channels, channels, levels):
        super().__init__()
        widths = [channels << min(i, 3) for i in range(levels)]
        down, up, c = [], [], in_channels
        for w in widths:
            down.append(ConvNormReLU3d(c, w, (1, 2, 2)))
            c = w
        for i in range(levels - 1, -1, -1):
            target = widths[i - 1] if i > 0 else channels
            up.append(ConvNormReLU3d(c, target))
            c = target + widths[i - 1] if i > 0 else target
        self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)
        self.out_channels = channels if levels > 0 else in_channels

    def forward(self, x):
        skips, h = [], x
        for b in self.down:
            h = b(h)
            skips.append(h)
        skips.pop()
        for b in self.up:
            h = b(F.interpolate(h, scale_factor=(1, 2, 2), mode="nearest"))
            if skips:
                h = torch.cat([h, skips.pop()], 1)
        return h


def identity_grid(d, h, w):
    z = (2 * torch.arange(d, dtype=torch.float32) + 1) / d - 1
    y = (2 * torch.arange(h, dtype=torch.float32) + 1) / h - 1
    x = (2 * torch.arange(w, dtype=torch.float32) + 1) / w - 1
    zz, yy, xx = torch.meshgrid(z, y, x, indexing="ij")
    return torch.stack([xx, yy, zz], -1)


class AppearanceEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stem = ConvNormReLU2d(3, c["encoderChannels"])
        down, ch = [], c["encoderChannels"]
        for i in range(c["downBlocks"]):
            w = c["encoderChannels"] << min(i + 1, 3)
            down.append(ConvNormReLU2d(ch, w, 2))
            ch = w
        self.down = nn.ModuleList(down)
        self.C, self.D = c["volumeChannels"], c["volumeDepth"]
        self.lift = nn.Conv2d(ch, self.C * self.D, 1)
        self.blocks = nn.ModuleList([ResBlock3d(self.C) for _ in range(c["volumeBlocks"])])

    def forward(self, x):
        h = self.stem(x)
        for b in self.down:
            h = b(h)
        h = self.lift(h)
        v = h.reshape(h.shape[0], self.C, self.D, h.shape[2], h.shape[3])
        for b in self.blocks:
            v = b(v)
        return v


def rotation(pose):
    n = pose.shape[0]
    r = pose * (math.pi / 180)
    c, s = r.cos(), r.sin()
    zero, one = torch.zeros(n), torch.ones(n)
    cp, sp, cy, sy, cr, sr = c[:, 0], s[:, 0], c[:, 1], s[:, 1], c[:, 2], s[:, 2]
    m = lambda e: torch.stack(e, 1).reshape(n, 3, 3)
    rx = m([one, zero, zero, zero, cp, -sp, zero, sp, cp])
    ry = m([cy, zero, sy, zero, one, zero, -sy, zero, cy])
    rz = m([cr, -sr, zero, sr, cr, zero, zero, zero, one])
    return (rz @ ry @ rx).transpose(1, 2)


def transform(canonical, motion):
    n, k = canonical.shape[0], canonical.shape[1]
    delta, s, t, pose = motion.split([3 * k, 1, 3, 3], 1)
    return (canonical @ rotation(pose) + delta.reshape(n, k, 3)) * s.reshape(n, 1, 1) + t.reshape(n, 1, 3)


class MotionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        blocks, ch, size, i = [], 3, c["imageSize"], 0
        while size > 4:
            w = c["motionChannels"] << min(i, 3)
            blocks.append(ConvNormReLU2d(ch, w, 2))
            ch, size, i = w, size // 2, i + 1
        self.blocks = nn.ModuleList(blocks)
        self.k, self.bins = c["keypoints"], c["poseBins"]
        self.hidden = nn.Linear(ch, 4 * ch)
        self.heads = nn.Linear(4 * ch, 3 * self.bins + 6 * self.k + 4)
        self.register_buffer("centres", torch.tensor([(i + 0.5 - self.bins / 2) * c["poseBinDegrees"] for i in range(self.bins)],
                                                     dtype=torch.float32), persistent=False)

    def forward(self, x):
        h = x
        for b in self.blocks:
            h = b(h)
        n, k, bins = x.shape[0], self.k, self.bins
        out = self.heads(F.relu(self.hidden(h.mean((2, 3)))))
        p = out.split([3 * bins, 3 * k, 1, 3, 3 * k], 1)
        logits = p[0].reshape(n, 3, bins)
        pose = (logits.softmax(-1) * self.centres).sum(-1)
        motion = torch.cat([p[1], p[2] + 1, p[3], pose], 1)
        canonical = p[4].tanh().reshape(n, k, 3)
        return motion, logits, canonical


class WarpingNetwork(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.k, self.comp, self.D = c["keypoints"], c["warpCompressed"], c["volumeDepth"]
        self.S = c["imageSize"] >> c["downBlocks"]
        self.coarse = self.S // c["warpDownsample"]
        self.var = c["keypointVariance"]
        self.compress = nn.Conv3d(c["volumeChannels"], self.comp, 1)
        self.hourglass = Hourglass3d((self.k + 1) * (self.comp + 1), c["warpChannels"], c["warpLevels"])
        hc = self.hourglass.out_channels
        self.maskHead = nn.Conv3d(hc, self.k + 1, 3, 1, 1)
        self.occlusionHead = nn.Conv2d(hc * self.D, 1, 3, 1, 1)
        self.register_buffer("coarse_grid", identity_grid(self.D, self.coarse, self.coarse).reshape(1, 1, -1, 3), persistent=False)
        self.register_buffer("full_grid", identity_grid(self.D, self.S, self.S).unsqueeze(0), persistent=False)

    def heatmaps(self, kp):
        d = self.coarse_grid - kp.unsqueeze(2)
        return ((d * d).sum(-1) * (-0.5 / self.var)).exp()

    def forward(self, volume, source, driving):
        n, k, D, S, c = volume.shape[0], self.k, self.D, self.S, self.coarse
        V = D * c * c
        shifts = torch.cat([torch.zeros(n, 1, 3), source - driving], 1)
        candidates = self.coarse_grid + shifts.unsqueeze(2)
        heat = torch.cat([torch.zeros(n, 1, V), self.heatmaps(driving) - self.heatmaps(source)], 1).reshape(n, k + 1, D, c, c)
        small = self.compress(volume)
        repeated = small.unsqueeze(1).expand(n, k + 1, self.comp, D, S, S).reshape(n * (k + 1), self.comp, D, S, S)
        deformed = F.grid_sample(repeated, candidates.reshape(n * (k + 1), D, c, c, 3), mode="bilinear",
                                 padding_mode="zeros", align_corners=False).reshape(n, (k + 1) * self.comp, D, c, c)
        features = self.hourglass(torch.cat([heat, deformed], 1))
        masks = self.maskHead(features).softmax(1)
        disp = (masks.reshape(n, k + 1, V).transpose(1, 2) @ shifts).reshape(n, D, c, c, 3)
        occ = self.occlusionHead(features.reshape(n, features.shape[1] * D, c, c))
        if c != S:
            disp = F.grid_sample(disp.permute(0, 4, 1, 2, 3), self.full_grid.expand(n, D, S, S, 3), mode="bilinear",
                                 padding_mode="border", align_corners=False).permute(0, 2, 3, 4, 1)
            occ = F.interpolate(occ, scale_factor=(S // c, S // c), mode="nearest")
        flow = self.full_grid + disp
        warped = F.grid_sample(volume, flow, mode="bilinear", padding_mode="zeros", align_corners=False)
        return warped, occ.sigmoid()


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch = c["decoderChannels"]
        self.input = nn.Conv2d(c["volumeChannels"] * c["volumeDepth"], ch, 3, 1, 1)
        self.blocks = nn.ModuleList([SPADEResBlock(ch, ch, c["spadeHidden"]) for _ in range(c["spadeBlocks"])])
        up, w = [], ch
        for _ in range(c["downBlocks"]):
            nxt = max(w // 2, 8)
            up.append(nn.Conv2d(w, 4 * nxt, 3, 1, 1))
            w = nxt
        self.up = nn.ModuleList(up)
        self.output = nn.Conv2d(w, 3, 3, 1, 1)

    def forward(self, v, occ):
        n, C, D, H, W = v.shape
        features = self.input(v.reshape(n, C * D, H, W)) * occ
        h = features
        for b in self.blocks:
            h = b(h, features)
        for conv in self.up:
            h = lrelu(F.pixel_shuffle(conv(h), 2))
        return self.output(h).sigmoid()


class Generator(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.appearance = AppearanceEncoder(c)
        self.motion = MotionEncoder(c)
        self.warp = WarpingNetwork(c)
        self.decoder = Decoder(c)


class Discriminator(nn.Module):
    def __init__(self, c):
        super().__init__()
        layers, ch = [], 3
        for i in range(c["discLayers"]):
            w = c["discChannels"] << min(i, 3)
            layers.append(nn.Conv2d(ch, w, 4, 2, 1, bias=(i == 0)))
            ch = w
        self.layers = nn.ModuleList(layers)
        self.head = nn.Conv2d(ch, 1, 4, 1, 1)

    def forward(self, x):
        feats, h = [], x
        for i, conv in enumerate(self.layers):
            h = conv(h)
            h = lrelu(h if i == 0 else inorm(h))
            feats.append(h)
        return feats, self.head(h)


def ssim(a, b):
    c = a.shape[1]
    size = min(11, a.shape[2], a.shape[3])
    if size % 2 == 0:
        size -= 1
    centre = (size - 1) / 2
    g = [math.exp(-((i - centre) ** 2) / (2 * 1.5 * 1.5)) for i in range(size)]
    g = torch.tensor([v / sum(g) for v in g], dtype=a.dtype)
    w = (g[:, None] * g[None, :]).expand(c, 1, size, size).contiguous()
    blur = lambda x: F.conv2d(x, w, groups=c)
    ma, mb = blur(a), blur(b)
    maa, mbb, mab = ma * ma, mb * mb, ma * mb
    va, vb, cov = blur(a * a) - maa, blur(b * b) - mbb, blur(a * b) - mab
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (((mab * 2 + c1) * (cov * 2 + c2)) / ((maa + mbb + c1) * (va + vb + c2))).mean()


def ms_ssim(a, b, scales):
    total = ssim(a, b)
    for _ in range(1, max(scales, 1)):
        if a.shape[2] < 2 or a.shape[3] < 2:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + ssim(a, b)
    return total * (1 / max(scales, 1))


def image_gradient(a, b):
    dx = lambda t: t[:, :, :, 1:] - t[:, :, :, :-1]
    dy = lambda t: t[:, :, 1:, :] - t[:, :, :-1, :]
    return F.l1_loss(dx(a), dx(b)) + F.l1_loss(dy(a), dy(b))


def motion_loss(c, motion, logits, target):
    k, bins, deg = c["keypoints"], c["poseBins"], c["poseBinDegrees"]
    n = target.shape[0]
    plain = F.l1_loss(motion[:, :3 * k + 4], target[:, :3 * k + 4])
    angles = target[:, 3 * k + 4:]
    idx = torch.floor(angles / deg + bins / 2).clamp(0, bins - 1).long()
    ce = F.cross_entropy(logits.reshape(n * 3, bins), idx.reshape(-1))
    return plain + ce + F.l1_loss(motion[:, 3 * k + 4:], angles) * (1 / deg)


def generator_loss(c, gen, disc, t):
    source, driving = t["in.source"], t["in.driving"]
    k = c["keypoints"]
    volume = gen.appearance(source)
    ms, ls, cs = gen.motion(source)
    md, ld, cd = gen.motion(driving)
    kp_source = transform(cs, ms)
    kp_driving = transform(cs, md)
    warped, occ = gen.warp(volume, kp_source, kp_driving)
    prediction = gen.decoder(warped, occ)
    total = F.l1_loss(prediction, driving) * c["weightL1"]
    total = total + (1 - ms_ssim(prediction, driving, c["ssimScales"])) * c["weightSSIM"]
    total = total + image_gradient(prediction, driving) * c["weightGradient"]
    if c["weightGAN"] > 0:
        fake_feats, fake_logits = disc(prediction)
        with torch.no_grad():
            real_feats, _ = disc(driving)
        total = total + (-fake_logits.mean()) * c["weightGAN"]
        if c["weightFeatureMatching"] > 0:
            fm = sum(F.l1_loss(f, r) for f, r in zip(fake_feats, real_feats))
            total = total + fm * c["weightFeatureMatching"]
    if c["weightEquivariance"] > 0:
        affine, grid = t["in.eq_affine"], t["in.eq_grid"]
        moved = F.grid_sample(driving, grid, mode="bilinear", padding_mode="border", align_corners=False)
        mm, _, cm = gen.motion(moved)
        kp_moved = transform(cm, mm)
        mapped = kp_moved[:, :, :2] @ affine[:, :, :2].transpose(1, 2) + affine[:, :, 2:].transpose(1, 2)
        total = total + F.l1_loss(mapped, transform(cd, md)[:, :, :2]) * c["weightEquivariance"]
    if c["weightSeparation"] > 0:
        kk = kp_driving.shape[1]
        d2 = (kp_driving.unsqueeze(2) - kp_driving.unsqueeze(1)).pow(2).sum(-1)
        off = 1 - torch.eye(kk)
        total = total + ((c["separationDistance"] - d2).relu() * off).sum() * (1 / kp_driving.shape[0]) * c["weightSeparation"]
    if c["weightDeformation"] > 0:
        total = total + md[:, :3 * k].abs().mean() * c["weightDeformation"]
    if c["weightMotion"] > 0:
        total = total + motion_loss(c, md, ld, t["in.driving_motion"]) * c["weightMotion"]
        total = total + motion_loss(c, ms, ls, t["in.source_motion"]) * c["weightMotion"]
    return total, prediction


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
    c = json.loads(meta["config"])
    lr = float(meta.get("lr", "2e-4"))
    t = load_file(args.bundle)
    gen, disc = Generator(c), Discriminator(c)
    for model, prefix in ((gen, "g."), (disc, "d.")):
        params = {k[len(prefix):]: v for k, v in t.items() if k.startswith(prefix)}  # "grad.g." never matches "g."
        missing, unexpected = model.load_state_dict(params, strict=False)
        if missing or unexpected:
            print(json.dumps({"error": f"{prefix} state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"}))
            sys.exit(1)

    with torch.no_grad():
        loss, prediction = generator_loss(c, gen, disc, t)
    ref_p, ref_l = t["out.prediction"], t["out.loss"]
    pred_rel = (prediction - ref_p).abs().max().item() / max(ref_p.abs().max().item(), 1e-12)
    loss_rel = abs(loss.item() - ref_l.item()) / max(abs(ref_l.item()), 1e-12)

    # The gradient of the generator loss for every parameter: ours and PyTorch's (float32) against
    # a float64 evaluation of the same model, relative to each tensor's largest magnitude. (At
    # larger batches some float32 gradients are ill-conditioned, so float64 is the judge.)
    def gradients(dtype):
        g64, d64 = copy.deepcopy(gen).to(dtype), copy.deepcopy(disc).to(dtype)
        inputs = {k: v.to(dtype) for k, v in t.items()}
        torch.set_default_dtype(dtype)
        try:
            generator_loss(c, g64, d64, inputs)[0].backward()
        finally:
            torch.set_default_dtype(torch.float32)
        return {prefix + n: (p.grad if p.grad is not None else torch.zeros_like(p)).double()
                for model, prefix in ((g64, "grad.g."), (d64, "grad.d.")) for n, p in model.named_parameters()}

    exact, single = gradients(torch.float64), gradients(torch.float32)
    grad_rel, torch_grad_rel, worst = 0.0, 0.0, ""
    for name, ref in exact.items():
        scale = max(ref.abs().max().item(), 1e-30)
        e = (t[name].double() - ref).abs().max().item() / scale
        torch_grad_rel = max(torch_grad_rel, (single[name] - ref).abs().max().item() / scale)
        if e > grad_rel:
            grad_rel, worst = e, name[5:]

    opt_g = torch.optim.AdamW(gen.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=0)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=0)

    def step():
        opt_g.zero_grad(set_to_none=True)
        total, pred = generator_loss(c, gen, disc, t)
        total.backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        real = disc(t["in.driving"])[1]
        fake = disc(pred.detach())[1]
        ((1 - real).relu().mean() + (1 + fake).relu().mean()).backward()
        opt_d.step()

    step()  # warm-up
    times, cpu = [], []
    for _ in range(args.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({
        "torchVersion": torch.__version__, "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in gen.parameters()) + sum(p.numel() for p in disc.parameters()),
        "predictionRelativeError": pred_rel, "lossRelativeError": loss_rel,
        "gradientRelativeError": grad_rel, "torchGradientRelativeError": torch_grad_rel, "worstGradient": worst,
        "loss": loss.item(), "lossSwift": float(ref_l.item()),
        "stepSeconds": sorted(times)[len(times) // 2], "allStepSeconds": times,
        "stepCPUSeconds": sorted(cpu)[len(cpu) // 2],
    }))


if __name__ == "__main__":
    main()
