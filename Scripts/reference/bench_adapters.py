"""Reference timings for Scripts/bench's adapter-serving rows: PEFT on the CPU (2 threads), the
jobs `tailor bench switch` times, on the same adapter folders: load_adapter (from a folder),
set_adapter, an inference batch on one adapter versus one mixing all of them row by row
(PEFT's adapter_names= mixed-batch inference), and merge_and_unload of one adapter.

Usage: python bench_adapters.py MODEL_DIR BATCH SEQ STEPS ADAPTER_DIR...
Prints one JSON line.
"""
import copy
import json
import sys
import time

import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification

torch.set_num_threads(2)
torch.manual_seed(0)
model_dir, batch, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
folders = sys.argv[5:]
base = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32).eval()
names = [f"adapter{i}" for i in range(len(folders))]
model = PeftModel.from_pretrained(copy.deepcopy(base), folders[0], adapter_name=names[0]).eval()

load_seconds = []
for name, folder in zip(names[1:], folders[1:]):
    best = float("inf")
    for repeat in range(5):
        start = time.perf_counter()
        model.load_adapter(folder, adapter_name=f"{name}-{repeat}")
        best = min(best, time.perf_counter() - start)
    model.load_adapter(folder, adapter_name=name)
    load_seconds.append(best)

switches = 200
start = time.perf_counter()
for i in range(switches):
    model.set_adapter(names[i % len(names)])
switch_seconds = (time.perf_counter() - start) / switches

low = min(1000, model.config.vocab_size // 2)
ids = torch.randint(low, model.config.vocab_size, (batch, seq))


def throughput(adapter_names):
    with torch.inference_mode():
        model(input_ids=ids, adapter_names=adapter_names)
        best = float("inf")
        for _ in range(steps):
            start = time.perf_counter()
            model(input_ids=ids, adapter_names=adapter_names)
            best = min(best, time.perf_counter() - start)
    return batch * seq / best


single = throughput([names[0]] * batch)
mixed = throughput([names[i % len(names)] for i in range(batch)])

merge_best = float("inf")
for _ in range(3):
    fresh = PeftModel.from_pretrained(copy.deepcopy(base), folders[0]).eval()
    start = time.perf_counter()
    fresh.merge_and_unload()
    merge_best = min(merge_best, time.perf_counter() - start)

print(json.dumps({"job": "adapters", "load_seconds": load_seconds, "switch_seconds": switch_seconds,
                  "single_tokens_per_s": single, "mixed_tokens_per_s": mixed, "merge_seconds": merge_best}))
