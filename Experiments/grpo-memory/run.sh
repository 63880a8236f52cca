#!/bin/sh
# Peak resident memory of GRPO iterations with 10 and 40 sampling steps and the same trained
# window (issue 8, Done-when 3), on a random VOCAL of the vocal-small shape (1,960,619 parameters),
# with the settings grpo-small.toml had then (synthetic clips, lip-opening reward, cfg_audio 2).
#   swift build -c release --product neo-train
#   sh Experiments/grpo-memory/run.sh            # writes /tmp/grpo-memory/…, then summarize.py
set -e
BIN=${BIN:-.build/release/neo-train}
OUT=${OUT:-/tmp/grpo-memory}
mkdir -p "$OUT"
rm -rf "$OUT"/steps-*
"$BIN" grpo random-policy "$OUT/vocal-small-random.h5" --like Recipes/vocal-small.toml --perturb 0.02 --seed 1
for K in 10 40; do
  /usr/bin/time -v "$BIN" grpo Recipes/grpo-small.toml \
    --set policy.checkpoint="\"$OUT/vocal-small-random.h5\"" --set policy.weights='"model"' \
    --set grpo.steps=$K --set grpo.window_start=1 --set grpo.window_size=2 \
    --set grpo.group_size=8 --set grpo.clips_per_iteration=1 --set grpo.replay_batch=1 \
    --set grpo.updates_per_rollout=1 --set train.iterations=2 --set train.eval_every=0 \
    --set reward.kind='"lip-opening"' --set reward.latent_dim=70 --set reward.geometry='"synthetic"' \
    --set data.source='"synthetic"' --set data.train_clips=256 --set data.eval_clips=16 --set grpo.cfg_audio=2.0 \
    --run-dir "$OUT/steps-$K" > "$OUT/log-$K.txt" 2> "$OUT/time-$K.txt"
done
python3 Experiments/grpo-memory/summarize.py "$OUT" Experiments/grpo-memory
