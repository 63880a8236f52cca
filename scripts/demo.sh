#!/usr/bin/env bash
# The main job on its small built-in default: set-up, a release build, then `neo-train demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product neo-train
.build/release/neo-train demo "$@"
