#!/usr/bin/env python3
"""Lays out every face available offline as ROOT/<identity>/<image> for `neo-train consent distances`.

usage: make_faces.py MODELS_DIR ROOT     (writes ROOT/faces/<identity>/ and ROOT/nonfaces/<crop>/)

  gallery photos (Eileen Collins: scikit-image astronaut.png; Grace Hopper: facedetect's
  grace_hopper_512x512.jpg), each with augmented copies: mirrored, darkened to 45 %, JPEG at
  quality 25, downscaled to half size;
  scikit-image's lfw_subset: its 100 face crops (25x25 grey), upscaled 8x (bicubic) to 200x200 and
  centred on a 400x400 edge-replicated canvas so the detector sees the face with context, each with
  a mirrored and a darkened copy; identities are unknown, so each crop is its own identity;
  the 100 non-face crops of lfw_subset, upscaled the same way (no copies), under ROOT/nonfaces/
  (they should yield no face; the survey there counts what the detector found).
"""
import os
import sys

import numpy as np
from PIL import Image, ImageOps
from skimage import data


def save_variants(img, folder, stem, half=False):
    os.makedirs(folder, exist_ok=True)
    img.save(os.path.join(folder, f"{stem}.png"))
    ImageOps.mirror(img).save(os.path.join(folder, f"{stem}-mirrored.png"))
    Image.fromarray((np.asarray(img, dtype=np.float32) * 0.45).round().astype(np.uint8)).save(os.path.join(folder, f"{stem}-dark.png"))
    if half:
        img.save(os.path.join(folder, f"{stem}-q25.jpg"), quality=25)
        img.resize((img.width // 2, img.height // 2), Image.BICUBIC).save(os.path.join(folder, f"{stem}-half.png"))


def lfw_image(crop):
    grey = Image.fromarray((crop * 255).round().astype(np.uint8)).resize((200, 200), Image.BICUBIC)
    canvas = np.pad(np.asarray(grey), 100, mode="edge")
    return Image.fromarray(canvas).convert("RGB")


def main(models, root):
    gallery = os.path.join(models, "gallery")
    for name in ["eileen-collins.png", "grace-hopper.jpg"]:
        stem = name.split(".")[0]
        save_variants(Image.open(os.path.join(gallery, name)).convert("RGB"), os.path.join(root, "faces", stem), stem, half=True)
    crops = data.lfw_subset()
    for i, crop in enumerate(crops):
        if i < 100:
            save_variants(lfw_image(crop), os.path.join(root, "faces", f"lfw-{i:03d}"), f"lfw-{i:03d}")
        else:
            folder = os.path.join(root, "nonfaces", f"nonface-{i:03d}")
            os.makedirs(folder, exist_ok=True)
            lfw_image(crop).save(os.path.join(folder, f"nonface-{i:03d}.png"))
    print(f"make_faces: {root}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
