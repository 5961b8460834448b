"""Goldens for the Quantization module, from bitsandbytes 0.50.2 on the CPU.

kernels.safetensors: per block size (32 … 4096) one f32 input whose length ends in a partial
block and whose second block is all zeros (`in.b<size>`), and for NF4 and FP4 its packed codes
(`<type>.b<size>.packed`) and absmax; f16 and bf16 inputs (`in.f16`, `in.bf16`, block 64); a
double-quantization case (`dq.input`, block 64, 300 blocks) with its packed codes, nested absmax
codes, nested absmax, offset and dequantized values for both types; dequantized values for a
few cases (`<type>.b<size>.dequantized`); the signed dynamic map and both 4-bit codebooks.

Usage: python quantization_goldens.py FIXTURES_DIR
"""
import os
import sys

import bitsandbytes
import bitsandbytes.functional as F
import torch
from safetensors.torch import save_file

assert bitsandbytes.__version__ == "0.50.2", bitsandbytes.__version__

BLOCKSIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096]


def main(fixtures):
    out = os.path.join(fixtures, "quantization")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(3)
    tensors = {
        "dynamic_map": F.create_dynamic_map(signed=True),
        "code.nf4": F.get_4bit_type("nf4", device="cpu"),
        "code.fp4": F.get_4bit_type("fp4", device="cpu"),
    }
    for size in BLOCKSIZES:
        n = 2 * size + 17 if size >= 512 else 3 * size + 17
        x = torch.randn(n, generator=g) * torch.exp2(torch.randint(-6, 6, (1,), generator=g).float())
        x[size:2 * size] = 0
        tensors[f"in.b{size}"] = x
        for quant_type in ("nf4", "fp4"):
            packed, state = F.quantize_4bit(x, blocksize=size, quant_type=quant_type, compress_statistics=False)
            tensors[f"{quant_type}.b{size}.packed"] = packed.reshape(-1)
            tensors[f"{quant_type}.b{size}.absmax"] = state.absmax
            if size in (64, 4096):
                tensors[f"{quant_type}.b{size}.dequantized"] = F.dequantize_4bit(packed, state)
    for name, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        x = (torch.randn(64 * 5 + 3, generator=g) * 0.05).to(dtype)
        tensors[f"in.{name}"] = x
        for quant_type in ("nf4", "fp4"):
            packed, state = F.quantize_4bit(x, blocksize=64, quant_type=quant_type, compress_statistics=False)
            tensors[f"{quant_type}.{name}.packed"] = packed.reshape(-1)
            tensors[f"{quant_type}.{name}.absmax"] = state.absmax
            tensors[f"{quant_type}.{name}.dequantized"] = F.dequantize_4bit(packed, state)
    x = torch.randn(64 * 300 + 5, generator=g) * 0.02
    x[64 * 7:64 * 8] = 0
    tensors["dq.input"] = x
    for quant_type in ("nf4", "fp4"):
        packed, state = F.quantize_4bit(x, blocksize=64, quant_type=quant_type, compress_statistics=True)
        tensors[f"dq.{quant_type}.packed"] = packed.reshape(-1)
        tensors[f"dq.{quant_type}.absmax_codes"] = state.absmax
        tensors[f"dq.{quant_type}.nested_absmax"] = state.state2.absmax
        tensors[f"dq.{quant_type}.offset"] = state.offset.reshape(1)
        tensors[f"dq.{quant_type}.dequantized"] = F.dequantize_4bit(packed, state)
        # The exact absmax before double quantization, to judge the nested codes.
        _, plain = F.quantize_4bit(x, blocksize=64, quant_type=quant_type, compress_statistics=False)
        tensors[f"dq.{quant_type}.absmax"] = plain.absmax
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "kernels.safetensors"),
              metadata={"generator": f"bitsandbytes {bitsandbytes.__version__}, torch {torch.__version__}"})


if __name__ == "__main__":
    main(sys.argv[1])
