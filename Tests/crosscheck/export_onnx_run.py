"""Runs an exported ONNX model with onnxruntime for the NeoExport tests.

usage: export_onnx_run.py MANIFEST.json

The manifest names the model and the runs:
  {"model": "m.onnx", "runs": [{"inputs": {"x": "x.npy", ...}, "outputs": {"y": "y_ort.npy"}}]}
Inputs are float32 .npy files, cast to the type the model declares (int64 for labels).
The model must pass onnx.checker (full check, with shape inference); each run's outputs are
written as float32 .npy for the Swift test to compare with ours.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.INT64: np.int64,
         onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.BOOL: np.bool_}


def main(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    path = manifest["model"]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    print(f"checker OK: opset {model.opset_import[0].version}, ir {model.ir_version}, "
          f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers")
    types = {i.name: TYPES[i.type.tensor_type.elem_type] for i in model.graph.input}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for n, run in enumerate(manifest["runs"]):
        feed = {name: np.load(p).astype(types[name]) for name, p in run["inputs"].items()}
        names = list(run["outputs"].keys())
        results = session.run(names, feed)
        for name, value in zip(names, results):
            np.save(run["outputs"][name], np.ascontiguousarray(value, dtype=np.float32))
        print(f"run {n}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in feed.items())
              + " -> " + ", ".join(f"{k}{list(v.shape)}" for k, v in zip(names, results)))
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
