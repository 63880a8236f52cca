#!/usr/bin/env bash
# Remakes the identity-embedding survey in this folder (after scripts/setup.sh and
# `swift build -c release`). Writes faces/ and nonfaces/ (summary.json, histogram.csv,
# extremes.csv, images.csv) next to this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Experiments/governance/make_faces.py Checkpoints/pretrained/faces "$work"
neo=$(swift build -c release --show-bin-path)/neo-train
"$neo" consent distances "$work/faces" --out Experiments/governance/faces
"$neo" consent distances "$work/nonfaces" --out Experiments/governance/nonfaces
