#!/usr/bin/env bash
# The whole test suite: set-up, a release build, every Swift test (the Python cross-checks run
# from inside them when Python and its packages are present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --build-tests
swift test -c release --skip-build
