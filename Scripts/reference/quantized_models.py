"""The tiny models quantized by transformers + bitsandbytes 0.50.2 on the CPU and saved with
save_pretrained: what `tailor quantize` must reproduce and what `tailor dequantize` must read.

fixtures/tiny-llama-nf4:    BitsAndBytesConfig(nf4, double quant, compute bfloat16)
fixtures/tiny-llama-fp4:    BitsAndBytesConfig(fp4, no double quant, compute float32)
fixtures/tiny-bert-nf4:     BitsAndBytesConfig(nf4, double quant, compute bfloat16)
fixtures/quantization/tiny-bert-nf4-dequantized.safetensors: bitsandbytes' own dequantization (f32)
of every 4-bit weight as stored in tiny-bert-nf4/model.safetensors (QuantState.from_dict on the
file's tensors, then dequantize_4bit), under the weight's name. (The in-memory model is not used:
bitsandbytes' CPU backend may repack loaded weights for its own matmul.) The values come from
bitsandbytes' reference implementation (backends/default `_dequantize_4bit_compute`): its native
CPU kernel mis-indexes absmax when a row is shorter than a block (tiny-bert's 32-wide rows with
blocks of 64) and is right otherwise (checked here: equal on every tiny-llama weight).

Usage: python quantized_models.py FIXTURES_DIR
"""
import os
import sys

import bitsandbytes.functional as F
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig


def save(kind, source, target, quant_type, double_quant, compute_dtype):
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                                bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype)
    model = kind.from_pretrained(source, quantization_config=config, device_map="cpu")
    model.save_pretrained(target)
    return model


def main(fixtures):
    llama = os.path.join(fixtures, "tiny-llama")
    bert = os.path.join(fixtures, "tiny-bert")
    save(AutoModelForCausalLM, llama, os.path.join(fixtures, "tiny-llama-nf4"), "nf4", True, torch.bfloat16)
    save(AutoModelForCausalLM, llama, os.path.join(fixtures, "tiny-llama-fp4"), "fp4", False, torch.float32)
    target = os.path.join(fixtures, "tiny-bert-nf4")
    save(AutoModelForSequenceClassification, bert, target, "nf4", True, torch.bfloat16)
    stored = load_file(os.path.join(target, "model.safetensors"))
    dequantized = {}
    for key in stored:
        if ".quant_state.bitsandbytes__" not in key:
            continue
        weight = key.split(".quant_state.")[0]
        parts = {k[len(weight) + 1:]: v for k, v in stored.items() if k.startswith(weight + ".")}
        state = F.QuantState.from_dict(parts, device=torch.device("cpu"))
        absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
        dequantized[weight] = _dequantize_4bit_compute(stored[weight].reshape(-1), absmax, state.code, state.blocksize,
                                                       state.shape, torch.float32).contiguous()
    save_file(dequantized, os.path.join(fixtures, "quantization", "tiny-bert-nf4-dequantized.safetensors"))

if __name__ == "__main__":
    main(sys.argv[1])
