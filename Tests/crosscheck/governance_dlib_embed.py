"""dlib's Python binding (dlib-bin) on one image, for the Governance embedding pin.

usage: governance_dlib_embed.py MODELS_DIR IMAGE OUT.json

Runs the same models as the Swift shim: MMOD CNN detector (no upsampling), 5-point landmarks,
face-recognition ResNet on the 150x150 chip with padding 0.25. Writes every face's box,
landmarks and 128-D descriptor.
"""
import json
import os
import sys

import dlib


def main(models, image_path, out):
    detector = dlib.cnn_face_detection_model_v1(os.path.join(models, "mmod_human_face_detector.dat"))
    predictor = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
    recognizer = dlib.face_recognition_model_v1(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat"))
    image = dlib.load_rgb_image(image_path)
    faces = []
    for d in detector(image, 0):
        shape = predictor(image, d.rect)
        descriptor = recognizer.compute_face_descriptor(image, shape, 0, 0.25)
        faces.append({
            "box": [d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()],
            "confidence": d.confidence,
            "landmarks": [[p.x, p.y] for p in shape.parts()],
            "embedding": list(descriptor),
        })
    with open(out, "w") as f:
        json.dump({"dlib": dlib.__version__, "faces": faces}, f)
    print(f"dlib {dlib.__version__}: {len(faces)} faces")


if __name__ == "__main__":
    main(*sys.argv[1:4])
