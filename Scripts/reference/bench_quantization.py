"""Reference timings for Scripts/bench: bitsandbytes 0.50.2 on the CPU (2 threads).

quantize-matrix: NF4 + double quantization of a 4096×4096 f32 matrix, then dequantize_4bit.
quantize-model: transformers from_pretrained with BitsAndBytesConfig(nf4, double quant) on the
CPU and save_pretrained (what a user runs to get a 4-bit folder).
Prints one JSON line per job with the best of N runs.

Usage: python bench_quantization.py MODEL_DIR OUT_DIR
"""
import json
import sys

import bitsandbytes.functional as F
import torch
from bench_timing import best
from transformers import AutoModel, BitsAndBytesConfig

torch.set_num_threads(2)


x = (torch.rand(4096, 4096, generator=torch.Generator().manual_seed(42)) - 0.5) * 0.04
state = {}


def quantize():
    state["q"] = F.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=True)


quantize_seconds = best(3, quantize)
packed, quant_state = state["q"]
dequantize_seconds = best(5, lambda: F.dequantize_4bit(packed, quant_state))
print(json.dumps({"job": "quantize-matrix", "values": x.numel(), "quantize_seconds": quantize_seconds,
                  "dequantize_seconds": dequantize_seconds}))


def quantize_model():
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.bfloat16)
    AutoModel.from_pretrained(sys.argv[1], quantization_config=config, device_map="cpu").save_pretrained(sys.argv[2])


print(json.dumps({"job": "quantize-model", "seconds": best(3, quantize_model)}))
