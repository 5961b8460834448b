"""The tiny models quantized by transformers + bitsandbytes 0.50.2 on the CPU and saved with
save_pretrained: what `tailor quantize` must reproduce and what `tailor dequantize` must read.

fixtures/tiny-llama-nf4:    BitsAndBytesConfig(nf4, double quant, compute bfloat16)
fixtures/tiny-llama-fp4:    BitsAndBytesConfig(fp4, no double quant, compute float32)
fixtures/tiny-bert-nf4:     BitsAndBytesConfig(nf4, double quant, compute bfloat16)
fixtures/quantization/tiny-bert-nf4-dequantized.safetensors: bitsandbytes' own dequantization (f32)
of every 4-bit weight of tiny-bert-nf4, under the weight's name.

Usage: python quantized_models.py FIXTURES_DIR
"""
import os
import sys

import bitsandbytes.functional as F
import torch
from safetensors.torch import save_file
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
    model = save(AutoModelForSequenceClassification, bert, os.path.join(fixtures, "tiny-bert-nf4"), "nf4", True, torch.bfloat16)
    dequantized = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if weight is not None and getattr(weight, "quant_state", None) is not None:
            dequantized[name + ".weight"] = F.dequantize_4bit(weight.data, weight.quant_state).float().contiguous()
    save_file(dequantized, os.path.join(fixtures, "quantization", "tiny-bert-nf4-dequantized.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
