"""The tiny models quantized by transformers + bitsandbytes 0.50.2 on the CPU and saved with
save_pretrained: what `tailor quantize` must reproduce and what `tailor dequantize` must read.

fixtures/tiny-llama-nf4:    BitsAndBytesConfig(nf4, double quant, compute bfloat16)
fixtures/tiny-llama-fp4:    BitsAndBytesConfig(fp4, no double quant, compute float32)
fixtures/tiny-bert-nf4:     BitsAndBytesConfig(nf4, double quant, compute bfloat16)

Usage: python quantized_models.py FIXTURES_DIR
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig


def save(kind, source, target, quant_type, double_quant, compute_dtype):
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                                bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype)
    model = kind.from_pretrained(source, quantization_config=config, device_map="cpu")
    model.save_pretrained(target)


def main(fixtures):
    llama = os.path.join(fixtures, "tiny-llama")
    bert = os.path.join(fixtures, "tiny-bert")
    save(AutoModelForCausalLM, llama, os.path.join(fixtures, "tiny-llama-nf4"), "nf4", True, torch.bfloat16)
    save(AutoModelForCausalLM, llama, os.path.join(fixtures, "tiny-llama-fp4"), "fp4", False, torch.float32)
    save(AutoModelForSequenceClassification, bert, os.path.join(fixtures, "tiny-bert-nf4"), "nf4", True, torch.bfloat16)


if __name__ == "__main__":
    main(sys.argv[1])
