"""Checks that files written by `tailor convert` load in Python safetensors and transformers with
the values torch's own `.to(dtype)` gives. Not part of CI (it needs the reference venv).

Usage: python check_interop.py TAILOR_BINARY MODEL_DIR SCRATCH_DIR
"""
import os
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoModel

tailor, model_dir, scratch = sys.argv[1:4]
source = os.path.join(model_dir, "model.safetensors")
original = load_file(source)
failures = 0

for dtype_name, dtype in (("bf16", torch.bfloat16), ("f16", torch.float16)):
    out = os.path.join(scratch, f"model-{dtype_name}.safetensors")
    subprocess.run([tailor, "convert", source, out, "--dtype", dtype_name, "--json"], check=True, stdout=subprocess.DEVNULL)
    converted = load_file(out)
    with safe_open(out, "pt") as f, safe_open(source, "pt") as g:
        same_metadata = f.metadata() == g.metadata()
    mismatched = [name for name, t in original.items()
                  if not (t.dtype.is_floating_point
                          and torch.equal(converted[name].view(torch.int16), t.to(dtype).view(torch.int16))
                          or not t.dtype.is_floating_point and torch.equal(converted[name], t))]
    print(f"{dtype_name}: {len(original)} tensors loaded by safetensors {('bit-identical to torch .to()' if not mismatched else 'MISMATCH ' + str(mismatched[:3]))}, metadata kept: {same_metadata}")
    failures += bool(mismatched) + (not same_metadata)

for label, args in (("folder bf16", ["--dtype", "bf16"]), ("sharded f32", ["--dtype", "f32", "--max-shard-size", "30MB"])):
    out = os.path.join(scratch, label.replace(" ", "-"))
    subprocess.run([tailor, "convert", model_dir, out] + args, check=True, stdout=subprocess.DEVNULL)
    ours = AutoModel.from_pretrained(out, dtype=torch.float32).eval()
    reference = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = torch.arange(1000, 1032).reshape(2, 16)
    with torch.no_grad():
        a = ours(input_ids=ids).last_hidden_state
        b = reference(input_ids=ids).last_hidden_state
    diff = (a - b).abs().max().item()
    ok = diff == 0 if "f32" in label else diff < 0.05
    print(f"{label}: transformers loads {out} ({sorted(os.listdir(out))[:4]}…), max |hidden − original| = {diff:.3g}: {'ok' if ok else 'FAIL'}")
    failures += not ok

sys.exit(1 if failures else 0)
