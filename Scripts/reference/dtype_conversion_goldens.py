"""Goldens for dtype conversion: what torch's `.to(dtype)` writes on this CPU.

Every tensor is a multiple of 64 elements long, so every element goes through torch's
vectorised loop (its scalar tail handles NaN payloads differently; see formats/safetensors.md).

- f16.safetensors / bf16.safetensors: all 65,536 bit patterns of the source (`input`, U16)
  converted to every other dtype (`to_F32`, `to_BF16`/`to_F16`, `to_F8_E4M3`, `to_F8_E5M2`).
- f8.safetensors: all 256 patterns of each float8 type converted to F32, F16 and BF16.
- f32.safetensors: a sample of f32 values (specials, every float8 code and the midpoints
  between codes with their neighbours, random bit patterns) converted to every narrow type.

Usage: python dtype_conversion_goldens.py FIXTURES_DIR
"""
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

assert torch.__version__.startswith("2.15."), torch.__version__

NARROW = {"F16": torch.float16, "BF16": torch.bfloat16,
          "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
BITS_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32}


def bits(t):
    return t.contiguous().view(BITS_VIEW[t.element_size()])


def pad64(values):
    values = list(values)
    while len(values) % 64:
        values.append(values[len(values) % max(1, len(values))])
    return values


def f32_sample():
    rng = np.random.default_rng(20261129)
    patterns = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000, 0x7F802000,
                0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF]
    values = [np.uint32(p) for p in patterns]
    grid = []
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        codes = torch.arange(256, dtype=torch.uint8).view(dtype).float()
        finite = sorted(set(v for v in codes.tolist() if np.isfinite(v)))
        grid += finite
        grid += [(a + b) / 2 for a, b in zip(finite, finite[1:])]
    for dtype in (torch.float16, torch.bfloat16):
        codes = torch.tensor(rng.integers(0, 1 << 16, 2048, dtype=np.int64).astype(np.int16)).view(dtype).float()
        grid += [v for v in codes.tolist() if np.isfinite(v)]
        finite = sorted(set(v for v in codes.tolist() if np.isfinite(v)))
        grid += [(a + b) / 2 for a, b in zip(finite, finite[1:])]
    grid += [448.0, 464.0, 470.0, 480.0, 57344.0, 61440.0, 65504.0, 65519.99, 65520.0, 65536.0,
             2.0 ** -6, 2.0 ** -9, 2.0 ** -10, 2.0 ** -14, 2.0 ** -16, 2.0 ** -17, 2.0 ** -24, 2.0 ** -25]
    grid_bits = np.array(grid, dtype=np.float32).view(np.uint32)
    for b in grid_bits:
        for delta in (-1, 0, 1):
            values.append(np.uint32((int(b) + delta) & 0x7FFFFFFF))
            values.append(np.uint32(((int(b) + delta) & 0x7FFFFFFF) | 0x80000000))
    values += list(rng.integers(0, 1 << 32, 8192, dtype=np.uint64).astype(np.uint32))
    values += list((rng.standard_normal(4096) * np.exp2(rng.integers(-30, 30, 4096))).astype(np.float32).view(np.uint32))
    return np.array(pad64(values), dtype=np.uint32)


def main(fixtures):
    out = os.path.join(fixtures, "dtype-conversion")
    os.makedirs(out, exist_ok=True)
    meta = {"generator": f"torch {torch.__version__}", "cpu_capability": torch.backends.cpu.get_cpu_capability()}

    x = torch.from_numpy(f32_sample().view(np.float32).copy())
    tensors = {"input": bits(x)}
    for name, dtype in NARROW.items():
        tensors["to_" + name] = bits(x.to(dtype))
    save_file(tensors, os.path.join(out, "f32.safetensors"), metadata=meta)

    for source in ("F16", "BF16"):
        all16 = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
        h = all16.view(NARROW[source])
        tensors = {"input": all16, "to_F32": bits(h.to(torch.float32))}
        for name, dtype in NARROW.items():
            if name != source:
                tensors["to_" + name] = bits(h.to(dtype))
        save_file(tensors, os.path.join(out, source.lower() + ".safetensors"), metadata=meta)

    tensors = {}
    for source in ("F8_E4M3", "F8_E5M2"):
        codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
        v = codes.view(NARROW[source])
        tensors[source + ".input"] = codes
        for name, dtype in (("F32", torch.float32), ("F16", torch.float16), ("BF16", torch.bfloat16)):
            tensors[source + ".to_" + name] = bits(v.to(dtype))
    save_file(tensors, os.path.join(out, "f8.safetensors"), metadata=meta)


if __name__ == "__main__":
    main(sys.argv[1])
