"""Reference timings for Scripts/bench: the same jobs as TailorBench, in Python.

open-touch: safe_open + get_tensor for every tensor (memory-mapped, as transformers loads).
convert: load every tensor, .to(torch.bfloat16), save_file (what a user would script).
Prints one JSON line per job with the best of N runs.

Usage: python bench_safetensors.py FILE OUT
"""
import json
import sys

import torch
from bench_timing import best
from safetensors import safe_open
from safetensors.torch import save_file

torch.set_num_threads(2)


def open_touch(path):
    with safe_open(path, framework="pt") as f:
        for name in f.keys():
            f.get_tensor(name)


def convert(path, out):
    tensors = {}
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        for name in f.keys():
            t = f.get_tensor(name)
            tensors[name] = t.to(torch.bfloat16) if t.dtype in (torch.float32, torch.float16, torch.float64) else t
    save_file(tensors, out, metadata=metadata)


path, out = sys.argv[1], sys.argv[2]
print(json.dumps({"job": "open-touch", "seconds": best(50, lambda: open_touch(path))}))
print(json.dumps({"job": "convert", "seconds": best(5, lambda: convert(path, out))}))
