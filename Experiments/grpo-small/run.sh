#!/bin/sh
# Issue 8, Done-when 4: Kinetic-GRPO from vocal-small against reward-small-shards on the real
# clips of data/vocal-exp (16 synthetic-performer identities, Whisper tiny.en features).
#   swift build -c release --product neo-train
#   sh Experiments/grpo-small/run.sh
# Inputs (ignored folders):
#   data/vocal-exp                       the corpus (neo-train data synth --identities 16 --minutes 20 --seed 1; data features)
#   Checkpoints/vocal-small.h5           neo-train pretrain Recipes/vocal-small.toml --set data.path='"data/vocal-exp"' (3000 steps, step-00003000.h5)
#   Checkpoints/reward-small-shards.h5   the reward model trained below (step-00001000.h5)
set -e
BIN=${BIN:-.build/release/neo-train}
export OPENBLAS_NUM_THREADS=2

# The reward model: reward-small on the corpus's shards, holding out VOCAL's validation and test
# identities (id0001, id0013; id0000, id0010), 1000 steps instead of 2000 to fit the time.
if [ ! -f Checkpoints/reward-small-shards.h5 ]; then
  "$BIN" reward train Recipes/reward-small-shards.toml --set data.path='"data/vocal-exp"' \
    --set 'data.held_out_identities=["id0000", "id0001", "id0010", "id0013"]' --set 'data.held_out_languages=[]' \
    --set train.steps=1000 --set train.eval_every=250 --set train.checkpoint_every=250 \
    --run-dir runs/reward-small-vocalexp
  cp runs/reward-small-vocalexp/checkpoints/step-00001000.h5 Checkpoints/reward-small-shards.h5
fi

# (a) β = 0.04, lr 5e-5: the held-out reward rises, lip sync holds.
"$BIN" grpo Recipes/grpo-small.toml --set train.iterations=160 --set optim.lr=5e-5 --set grpo.beta=0.04 \
  --run-dir runs/grpo-a-beta0.04-lr5e-5
# (b) β = 0, lr 3e-4: reward hacking, then collapse.
"$BIN" grpo Recipes/grpo-small.toml --set train.iterations=100 --set optim.lr=3e-4 --set grpo.beta=0 \
  --run-dir runs/grpo-b-beta0-lr3e-4
# (c) the same lr with β = 1.
"$BIN" grpo Recipes/grpo-small.toml --set train.iterations=100 --set optim.lr=3e-4 --set grpo.beta=1.0 \
  --run-dir runs/grpo-c-beta1-lr3e-4
# (d) as (c), every step but the last trained and anchored (k = 0…8).
"$BIN" grpo Recipes/grpo-small.toml --set train.iterations=50 --set optim.lr=3e-4 --set grpo.beta=1.0 --set grpo.window_size=9 \
  --run-dir runs/grpo-d-beta1-lr3e-4-window9

for r in a-beta0.04-lr5e-5 b-beta0-lr3e-4 c-beta1-lr3e-4 d-beta1-lr3e-4-window9; do
  cp runs/grpo-$r/metrics.jsonl Experiments/grpo-small/metrics-$r.jsonl
  "$BIN" plot runs/grpo-$r --keys eval_kl,kl --title "grpo-$r: KL to the reference (per number)" --out Experiments/grpo-small/kl-$r
done
python3 Experiments/grpo-small/summarize.py "a: beta 0.04, lr 5e-5=runs/grpo-a-beta0.04-lr5e-5" \
  "b: beta 0, lr 3e-4=runs/grpo-b-beta0-lr3e-4" "c: beta 1, lr 3e-4=runs/grpo-c-beta1-lr3e-4" \
  "d: beta 1, lr 3e-4, window 0-8=runs/grpo-d-beta1-lr3e-4-window9"

# Whole clips: the GRPO checkpoint of (a) and vocal-small through `neo-train eval motion`.
"$BIN" eval motion --checkpoint runs/grpo-a-beta0.04-lr5e-5/checkpoints/step-00000160.h5 --cfg audio=1,identity=1,reference=1 \
  --max-clips 8 --out Experiments/grpo-small/eval-motion-a.json > Experiments/grpo-small/eval-motion-a.txt
"$BIN" eval motion --checkpoint Checkpoints/vocal-small.h5 --cfg audio=1,identity=1,reference=1 \
  --max-clips 8 --out Experiments/grpo-small/eval-motion-vocal-small.json > Experiments/grpo-small/eval-motion-vocal-small.txt
