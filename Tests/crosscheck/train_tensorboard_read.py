"""Loads a folder of TensorBoard event files with TensorBoard's own EventAccumulator and writes
every scalar as JSON: {"tag": [[step, value], ...], ...} (values as Python floats of the float32s)."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

folder, out = sys.argv[1], sys.argv[2]
acc = EventAccumulator(folder, size_guidance={"scalars": 0})  # 0: keep every event
acc.Reload()
result = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
with open(out, "w") as f:
    json.dump(result, f)
print("tags", len(result), "events", sum(len(v) for v in result.values()))
