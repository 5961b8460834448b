"""Goldens for the GGUF module and `tailor export gguf`: gguf 0.19.0, llama.cpp's converters and
llama-cpp-python 0.3.36.

Usage: python gguf_goldens.py FIXTURES_DIR   (needs `setup-venv --with-llama-cpp`)

Everything is written under FIXTURES_DIR/gguf/ and is deterministic (fixed seeds, one thread).

1. quants/<TYPE>.safetensors, TYPE in F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K
   keys    input        f32 [rows, cols]
           quantized    u8  [rows, cols / block_size * type_size]   (the row's blocks, in order)
           dequantized  f32 [rows, cols]
   cols: 64 for F16, BF16, Q8_0, Q4_0 (two 32-blocks per row), 256 for Q4_K and Q6_K (one
   super-block per row). The safetensors metadata has one key, `golden`, a JSON object with
   `format`, `block_size`, `type_size`, `quantizer`, `dequantizer`, `ggml_reference_identical`
   (true) and `rows`: the list naming each row.
   Rows (all formats unless said): normal (N(0,1)), normal_small (N(0,0.02)), block_scaled (each
   32-block, or 16/32-sub-block for the K formats, with its own power-of-ten scale), zeros (with a
   few -0.0), huge_tiny (one ±1000 per block among N(0,1e-3) values), constant (0.7 / -2.5 per
   block), negative_only, tiny_1e-6 and tiny_1e-5 (N(0,1)·1e-6 / ·1e-5: the block scale becomes
   an f16 subnormal or underflows to 0); per format also:
   - F16: ties (values exactly halfway between two f16 neighbours: 1+2^-11 → 1, 1+3·2^-11 → 1+2^-9,
     2049 → 2048, 2051 → 2052, 2^-25 → 0, 3·2^-25 → 2^-23, 65519 → 65504, 65520 → +inf) and specials
     (±0, ±inf, quiet NaN, f32 subnormals, ±f32 max → ±inf, smallest f16 normal/subnormal).
   - BF16: ties (1+2^-8 → 1, 1+3·2^-8 → 1+2^-6, f32 bit patterns 0x3f808000/0x3f818000, a
     subnormal tie) and specials (±0, ±inf, quiet NaN, signalling NaNs 0x7f800001 / 0xff800001 /
     0x7fff0000 which bf16 makes quiet, f32 max and 0x7f7f8000 → inf, 0x7f7f7fff → 0x7f7f).
   - Q8_0: ties (block 0 has amax 127 so d = 1 and values k+0.5; block 1 has amax 63.5 so d = 0.5
     and values (2k+1)/4: every scaled value is an exact .5).
   - Q4_0: ties (block 0 starts with -8 so d = +1, block 1 starts with +8 so d = -1; values k+0.5,
     and -8 in block 1, which clips) and sign_tie (±3 both present: the first one found wins).
   - Q4_K, Q6_K: positive_only, constant_negative (-0.7 everywhere), grid (multiples of 1/4).

   Block layouts and rounding (little-endian; "f16" is IEEE half, round-to-nearest-even):
   - F16: 1 value per 2 bytes; f32 → f16 with numpy's astype (nearest, ties to even; overflow past
     65504 + half a step → inf; NaN stays NaN). Dequantize: exact widening.
   - BF16: 1 value per 2 bytes = the top 16 bits of the f32 after rounding: NaN (exponent all ones,
     mantissa non-zero) is first forced quiet by keeping the top 16 bits and setting bit 22 (so
     0x7f800001 → 0x7fc0); otherwise add 0x7fff plus bit 16 of the input (ties to even) and shift
     right by 16 (f32 max rounds to inf). Subnormals are not flushed. Dequantize: shift left by 16.
   - Q8_0: 32 values in 34 bytes: f16 scale d, then 32 int8 quants. d = max|x| / 127 computed in
     f32; the quants use the f32 inverse 1/d (0 when d = 0), not the f16-rounded d: q = round(x/d)
     with rounding half AWAY from zero (2.5 → 3, -0.5 → -1), never more than 127 in magnitude.
     d is stored rounded to f16 afterwards (it can underflow to 0 or be subnormal). Dequantize:
     f16(d) · q.
   - Q4_0: 32 values in 18 bytes: f16 scale d, then 16 bytes; byte j holds value j in its low
     nibble and value j+16 in its high nibble. The scale comes from the value of largest magnitude
     WITH its sign (the first such value if several tie in magnitude): d = m / -8 in f32, so the
     extreme value maps to quant 0 exactly. q = trunc(x · (1/d) + 8.5) clamped to 15 (never below
     0): that is rounding half UP (towards +inf) of x/d, then +8. With a negative extreme d > 0 and
     x = 0.5·d becomes 1·d; with a positive extreme d < 0 and ties go the other way in x. A value
     equal to -m clips to quant 15, i.e. 7·d (m = 8: -8 → -7). Dequantize: f16(d) · (q - 8).
   - Q4_K: 256 values in 144 bytes: f16 d, f16 dmin, 12 bytes of eight 6-bit scales and eight 6-bit
     mins, 128 bytes of 4-bit quants. Sub-block j (32 values) has scale sc_j and min m_j; for j < 4
     they are the low 6 bits of bytes j and j+4; for j >= 4 the low 4 bits come from byte j+4 (scale
     in the low nibble, min in the high one) and the top 2 bits from the top 2 bits of bytes j-4
     (scale) and j (min). Quants: 4 groups of 32 bytes, group g holds sub-block 2g in the low nibbles
     and 2g+1 in the high nibbles. Dequantize: d·sc_j·q - dmin·m_j.
     gguf 0.19.0 has no Q4_K quantizer: the bytes here come from ggml's reference quantizer
     (quantize_row_q4_K_ref, the one llama-quantize and the converters use without an importance
     matrix) in llama-cpp-python 0.3.36's libggml-base. Its algorithm: per sub-block, weights
     w_i = sqrt(mean x²) + |x_i|, an asymmetric 4-bit fit (min clamped to <= 0) starting from
     15/(max - min), refined by trying the inverse scales (15 - 1 + 0.1·k)/(max - min), k = 0…20,
     each solved by weighted least squares, keeping the lowest weighted squared error; then the
     eight scales and mins are
     quantized to 6 bits against their maxima (d = max scale / 63, dmin = max min / 63) and the
     values re-quantized with the f16-rounded d·sc and dmin·m: q = nearest((x + dmin·m)/(d·sc))
     clamped to 0…15. "nearest" everywhere is ggml's nearest_int: round half to EVEN (the
     1.5·2^23 float trick). A bit-exact port must follow the float32 operation order (the C is
     compiled with FMA contraction possible, so rare ties may differ).
   - Q6_K: 256 values in 210 bytes: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), sixteen
     int8 scales, f16 d. Sub-block j has 16 values and scale s_j. The 256 values form two halves of
     128; in half h, for l in 0..<32: ql[64h + l] holds values 128h + l (low nibble) and 128h + l + 64
     (high nibble), ql[64h + l + 32] holds 128h + l + 32 and 128h + l + 96, qh[32h + l] holds the
     top 2 bits of 128h + l, +32, +64, +96 at bit offsets 0, 2, 4, 6. Dequantize: d·s_j·(q - 32).
     Quantized by ggml's quantize_row_q6_K_ref: per sub-block a symmetric 6-bit fit (-32…31, from
     the largest-magnitude value m with its sign, inverse scale -32/m, refined over the 18
     candidates -(32 + 0.1·k)/m, k = ±1…±9, by x²-weighted least squares; a super-block whose
     scales are all below 1e-15 is written as zeros), then the 16 scales are quantized to int8
     against the largest-magnitude one (d = that scale / -128) and values re-quantized with d·s_j,
     ties to even.
   `ggml_reference_identical` records that the same input through ggml's own C code (fp32→fp16,
   fp32→bf16, quantize_row_q8_0_ref / q4_0_ref, dequantize_row_*) gives the same bytes and values.

2. all-types.gguf, written by gguf.GGUFWriter (gguf 0.19.0), general.alignment = 64, and
   all-types.json, what gguf.GGUFReader reads back:
   {file, size, sha256, writer, version, tensor_count, kv_count, alignment, data_offset,
    metadata: [{key, type, value, value_text? (64-bit integers, as decimal text),
                element_type? (arrays), written? (nested arrays: the structure written),
                reader_types?, reader_contents? (nested arrays: GGUFReader flattens them)}],
    tensors: [{name, type, type_id, ne (GGUF order: ne[0] is the contiguous dimension),
               numpy_shape (reversed ne), reader_data_shape (bytes per row for quantized types),
               offset (relative to the data section), absolute_offset, n_elements, n_bytes,
               data_sha256, values (row-major f32 after dequantization)}]}
   Keys: general.architecture ("tailor-test"), general.alignment (u32 64), one key per scalar
   type (test.uint8 … test.float64, test.bool.true/false, test.string (UTF-8), test.string.empty),
   arrays of INT32, UINT8, INT16, FLOAT32, BOOL, STRING (with an empty element), UINT64, FLOAT64,
   and two nested arrays (ARRAY of ARRAY of INT32, of STRING; ragged). Tensors: F32 [5] (1-D),
   F16 numpy [3, 7], BF16 numpy [2, 3, 4] (3-D), Q8_0 numpy [2, 64] named with exactly 63 bytes,
   Q4_0 numpy [2, 1, 3, 32] (4-D), F32 [1] (-0.0). Key order in the file is the order above.
   GGUFWriter's layout: header (magic "GGUF", u32 version 3, u64 tensor count, u64 kv count), the
   key/values (u64-length strings, u32 type ids, arrays as u32 element type + u64 count; nested
   arrays repeat that per element), the tensor infos (name, u32 n_dims, u64 ne…, u32 type, u64
   offset), zero padding to the alignment, then each tensor's bytes zero-padded to the alignment,
   the last one included (so the file is 2112 bytes though the last tensor ends at 2052).
   GGUFWriter silently skips empty strings and empty arrays given to add_string / add_array.

3. llama.cpp's converter on fixtures/tiny-llama (LlamaForCausalLM, 2 layers, hidden 64, 4 heads,
   2 KV heads, head_dim 16, vocab 384). The scripts come from the llama-cpp-python 0.3.36 sdist
   (`pip download --no-binary`, sha256 pinned below): vendor/llama.cpp is ggml-org/llama.cpp
   0c1e57098, exactly the llama.cpp these llama-cpp-python binaries run. That commit's converter
   needs its own gguf-py (it says version 0.19.0 but is newer than PyPI's 0.19.0, which lacks e.g.
   gguf.LazyChunkedTensor), so it runs as llama.cpp users run it: with its vendored gguf-py, in a
   temporary directory. One workaround, applied by monkeypatching, not by editing the scripts:
   the tokenizer's pre-tokenizer hash (chkhsh) is unknown to get_vocab_base_pre (the vocabulary is
   tiny), so "llama-bpe" is substituted: tokenizer.json's split regex is Llama 3's. No
   tokenizer_config.json is needed (none is written, so the file has no chat template).
   - tiny-llama-f16.gguf: the converter's `--outtype f16` output, unchanged.
   - tiny-llama-lora.gguf: convert_lora_to_gguf.py on fixtures/peft/tiny-llama-lora with
     `--base fixtures/tiny-llama` (its default --outtype f32), unchanged.
   - tiny-llama-converter.json:
     {llama_cpp: {llama_cpp_python, llama_cpp_commit, sdist, sdist_sha256, gguf_py_vendored},
      workarounds: [...], tokenizer_pre: {chkhsh, recognized, substituted},
      prompt_ids, models: {f32|f16|q8_0: {file (committed name or null), size, sha256, version,
        tensor_count, kv_count, alignment, metadata, tensors}},
      tensor_map: [{gguf, hf, transform}]  (found by comparing the f32 output with the HF tensors;
        transform "none", "permute_q" (n_head groups) or "permute_k" (n_kv_head groups)),
      lora: {file, size, sha256, version, tensor_count, kv_count, alignment, metadata, tensors,
        tensor_map: [{gguf, peft, transform}]  (transform of lora_b: "none" or the q/k permutation;
        lora_a is never permuted), lora_b_permuted: {q, k}},
      greedy: {llamacpp_f32, llamacpp_f16, llamacpp_q8_0, llamacpp_f32_lora, transformers,
        peft_lora, peft_lora_alpha_over_r}  (8 tokens each after the prompt, argmax),
      max_abs_diff: {...}, tokenization: [{text, hf, llamacpp}]}
     metadata entries are as in all-types.json; arrays longer than 32 elements are summarised as
     {type: "ARRAY", element_type, length, first (first 20 elements), sha256}, the sha256 being of
     json.dumps(whole list, ensure_ascii=False, separators=(",", ":")) in UTF-8. Tensor entries:
     {name, type, ne, numpy_shape, offset, n_bytes, data_sha256}.
   - tiny-llama-llamacpp-logits.safetensors: `input_ids` i32 [6] = [0, 5, 17, 42, 99, 7] (no BOS
     added) and f32 [6, 384] logits of every position: `f32`, `f16`, `q8_0` (llama-cpp-python
     loading the converter's three outputs: logits_all=True, n_ctx 128 (llama.cpp raises it to
     256), one thread, F32 KV cache, not llama.cpp's default F16, which alone moves f32 logits by
     ~1e-4), `transformers` (the HF folder, f32), `f32_lora` (the
     f32 GGUF with tiny-llama-lora.gguf, lora_scale 1.0), `peft_lora` (transformers + PEFT on the
     HF folder and adapter) and `peft_lora_alpha_over_r` (the same PEFT model with every module's
     scaling set to lora_alpha / r: what llama.cpp computes from the converter's LoRA GGUF).

   What the converter was seen to do (tensor_map and the files above record the evidence):
   - names: lm_head → output, model.embed_tokens → token_embd, model.norm → output_norm,
     model.layers.N.{input_layernorm → attn_norm, post_attention_layernorm → ffn_norm,
     self_attn.{q,k,v,o}_proj → attn_{q,k,v,output}, mlp.{gate,up,down}_proj → ffn_{gate,up,down}},
     all with ".weight"; tensors in the order of the sorted HF names; ne = reversed HF shape.
   - q_proj rows are permuted per head (n_head groups), k_proj rows per KV head (n_kv_head groups):
     inside a group of d rows, GGUF row 2i + j is HF row j·d/2 + i (the two rotary halves are
     interleaved). v, o, the MLP and the norms are copied as they are.
   - outtype f16 / q8_0 applies to 2-D weights; 1-D norms stay F32.
   - LoRA: lora_a = PEFT lora_A [r, in] unchanged (ne [in, r]); lora_b = PEFT lora_B [out, r] (ne
     [r, out]) with the same row permutation as its base tensor for q and k; adapter.lora.alpha =
     the config's global lora_alpha only (use_rslora, alpha_pattern and a rank_pattern's effect on
     the scale are ignored: llama.cpp then scales each pair by alpha / rank(lora_b)).
"""
import ctypes
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import torch
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT
from safetensors.numpy import save_file

assert importlib.metadata.version("gguf") == "0.19.0", importlib.metadata.version("gguf")
assert llama_cpp.__version__ == "0.3.36", llama_cpp.__version__

SDIST = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_CPP_COMMIT = "0c1e57098"  # from the sdist's CHANGELOG: "update llama.cpp to ggml-org/llama.cpp@0c1e57098"
PROMPT = [0, 5, 17, 42, 99, 7]
GREEDY_STEPS = 8
SUMMARY_LIMIT = 32


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    return sha256(Path(path).read_bytes())


# ---------------------------------------------------------------------------------------------
# 1. Block quantization

def ggml_library():
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    for name in ("quantize_row_q8_0_ref", "quantize_row_q4_0_ref", "quantize_row_q4_K_ref",
                 "quantize_row_q6_K_ref", "dequantize_row_q8_0", "dequantize_row_q4_0",
                 "dequantize_row_q4_K", "dequantize_row_q6_K", "ggml_fp32_to_fp16_row",
                 "ggml_fp32_to_bf16_row_ref", "ggml_fp16_to_fp32_row", "ggml_bf16_to_fp32_row"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
    return lib


def ggml_rows(lib, fn, src, out_dtype, out_cols):
    out = np.zeros((src.shape[0], out_cols), dtype=out_dtype)
    for r in range(src.shape[0]):
        row = np.ascontiguousarray(src[r])
        n = src.shape[1] if src.dtype == np.float32 else out_cols
        getattr(lib, fn)(row.ctypes.data, out[r].ctypes.data, n)
    return out


def bits(pattern):
    return np.array([pattern], dtype=np.uint32).view(np.float32)[0]


def fill(values, cols, rng, scale=1e-3):
    row = (rng.standard_normal(cols) * scale).astype(np.float32)
    values = np.asarray(values, dtype=np.float32)
    row[:len(values)] = values
    return row


def common_rows(cols, block, rng):
    n_blocks = cols // block
    rows = []
    rows.append(("normal", rng.standard_normal(cols)))
    rows.append(("normal_small", rng.standard_normal(cols) * 0.02))
    scales = 10.0 ** np.linspace(-3, 2, n_blocks)
    rows.append(("block_scaled", rng.standard_normal(cols) * np.repeat(scales, block)))
    zeros = np.zeros(cols)
    zeros[[1, block // 2 + 1, cols - 1]] = -0.0
    rows.append(("zeros", zeros))
    huge = rng.standard_normal(cols) * 1e-3
    for b in range(n_blocks):
        huge[b * block + (3 + 5 * b) % block] = 1000.0 if b % 2 == 0 else -1000.0
    rows.append(("huge_tiny", huge))
    constant = np.empty(cols)
    for b in range(n_blocks):
        constant[b * block:(b + 1) * block] = 0.7 if b % 2 == 0 else -2.5
    rows.append(("constant", constant))
    rows.append(("negative_only", -np.abs(rng.standard_normal(cols)) - 0.1))
    rows.append(("tiny_1e-6", rng.standard_normal(cols) * 1e-6))
    rows.append(("tiny_1e-5", rng.standard_normal(cols) * 1e-5))
    return rows


def f16_extra_rows(cols, rng):
    e = 2.0 ** -11
    ties = [1 + e, 1 + 3 * e, -(1 + e), -(1 + 3 * e), 2049, 2051, -2049, 2.0 ** -25, 3 * 2.0 ** -25,
            -(2.0 ** -25), 1.5 * 2.0 ** -24, 65519, 65520, -65520, 65504, 0.1, 1 / 3, 1e-4]
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, bits(0x00000001), bits(0x80400000), 1e-39,
                bits(0x7f7fffff), bits(0xff7fffff), 2.0 ** -14, 2.0 ** -24, -(2.0 ** -24),
                6e-8, 3e-8, 1e5, -1e5]
    return [("ties", fill(ties, cols, rng)), ("specials", fill(specials, cols, rng))]


def bf16_extra_rows(cols, rng):
    e = 2.0 ** -8
    ties = [1 + e, 1 + 3 * e, -(1 + e), -(1 + 3 * e), 1 + e + 2.0 ** -20, bits(0x3f808000),
            bits(0x3f818000), bits(0x00008000), bits(0x00018000), bits(0x80018000), 0.1, 1 / 3, 3e38]
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, bits(0x7f800001), bits(0xff800001),
                bits(0x7fff0000), bits(0x7f7fffff), bits(0xff7fffff), bits(0x7f7f8000),
                bits(0x7f7f7fff), bits(0x00000001), 1e-39, 1e-45, 2.0 ** -126]
    return [("ties", fill(ties, cols, rng)), ("specials", fill(specials, cols, rng))]


def q8_0_extra_rows(cols, rng):
    block0 = [127.0] + [k + 0.5 for k in range(-15, 16)]
    block1 = [63.5] + [(2 * k + 1) / 4 for k in range(-16, 15)]
    return [("ties", np.array(block0 + block1 + [0.0] * (cols - 64)))]


def q4_0_extra_rows(cols, rng):
    halves = [k + 0.5 for k in range(-8, 8)]  # -7.5 … 7.5
    block0 = [-8.0] + halves + [7.9, 7.5, -7.9, 0.49, -0.49, 0.51, -0.51] + [0.0] * 8
    block1 = [8.0] + halves + [-8.0, 7.9, -7.9, 0.49, -0.49, 0.51, -0.51] + [0.0] * 8
    sign0 = rng.standard_normal(32) * 0.5
    sign0[2], sign0[10] = -3.0, 3.0
    sign1 = rng.standard_normal(32) * 0.5
    sign1[2], sign1[10] = 3.0, -3.0
    return [("ties", np.array(block0[:32] + block1[:32])),
            ("sign_tie", np.concatenate([sign0, sign1]))]


def k_extra_rows(cols, rng):
    return [("positive_only", np.abs(rng.standard_normal(cols)) + 0.05),
            ("constant_negative", np.full(cols, -0.7)),
            ("grid", np.round(rng.standard_normal(cols) * 4) / 4)]


FORMATS = [
    # name, qtype, cols, block used for the rows, extra rows, ggml quantizer, ggml dequantizer
    ("F16", QT.F16, 64, 32, f16_extra_rows, "ggml_fp32_to_fp16_row", "ggml_fp16_to_fp32_row"),
    ("BF16", QT.BF16, 64, 32, bf16_extra_rows, "ggml_fp32_to_bf16_row_ref", "ggml_bf16_to_fp32_row"),
    ("Q8_0", QT.Q8_0, 64, 32, q8_0_extra_rows, "quantize_row_q8_0_ref", "dequantize_row_q8_0"),
    ("Q4_0", QT.Q4_0, 64, 32, q4_0_extra_rows, "quantize_row_q4_0_ref", "dequantize_row_q4_0"),
    ("Q4_K", QT.Q4_K, 256, 32, k_extra_rows, "quantize_row_q4_K_ref", "dequantize_row_q4_K"),
    ("Q6_K", QT.Q6_K, 256, 16, k_extra_rows, "quantize_row_q6_K_ref", "dequantize_row_q6_K"),
]


def quant_goldens(out):
    lib = ggml_library()
    os.makedirs(out / "quants", exist_ok=True)
    for index, (name, qtype, cols, block, extra, ggml_quantize, ggml_dequantize) in enumerate(FORMATS):
        rng = np.random.default_rng(1600 + index)
        rows = common_rows(cols, block, rng) + extra(cols, rng)
        labels = [label for label, _ in rows]
        x = np.stack([np.asarray(row, dtype=np.float32) for _, row in rows])
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        bytes_per_row = cols // block_size * type_size
        with np.errstate(all="ignore"):
            if qtype in (QT.Q4_K, QT.Q6_K):
                # gguf 0.19.0 only dequantizes the K formats: ggml's reference quantizer makes the bytes.
                quantized = ggml_rows(lib, ggml_quantize, x, np.uint8, bytes_per_row)
                quantizer = f"ggml {ggml_quantize} (llama-cpp-python 0.3.36, llama.cpp {LLAMA_CPP_COMMIT})"
            else:
                quantized = np.ascontiguousarray(gguf.quants.quantize(x, qtype)).view(np.uint8)
                quantizer = "gguf.quants.quantize (gguf 0.19.0)"
                reference = (ggml_rows(lib, ggml_quantize, x, np.uint16, cols).view(np.uint8)
                             if qtype in (QT.F16, QT.BF16)
                             else ggml_rows(lib, ggml_quantize, x, np.uint8, bytes_per_row))
                assert np.array_equal(reference, quantized), f"{name}: ggml's bytes differ"
            quantized = quantized.reshape(len(rows), bytes_per_row)
            dequantized = np.ascontiguousarray(gguf.quants.dequantize(quantized, qtype), dtype=np.float32)
        if qtype in (QT.F16, QT.BF16):
            reference = ggml_rows(lib, ggml_dequantize, quantized.view(np.uint16), np.float32, cols)
        else:
            reference = np.zeros_like(dequantized)
            for r in range(len(rows)):
                getattr(lib, ggml_dequantize)(np.ascontiguousarray(quantized[r]).ctypes.data,
                                              reference[r].ctypes.data, cols)
        assert np.array_equal(reference.view(np.uint32), dequantized.view(np.uint32)), f"{name}: ggml's values differ"
        assert dequantized.shape == x.shape
        save_file({"input": x, "quantized": quantized, "dequantized": dequantized},
                  str(out / "quants" / f"{name}.safetensors"),
                  # One metadata key: safetensors writes its metadata map in a random order.
                  metadata={"golden": json.dumps({
                      "format": name, "block_size": block_size, "type_size": type_size,
                      "quantizer": quantizer, "dequantizer": "gguf.quants.dequantize (gguf 0.19.0)",
                      "ggml_reference_identical": True, "rows": labels})})


# ---------------------------------------------------------------------------------------------
# 2. A file of every metadata type, written by GGUFWriter

def json_number(value):
    return value.item() if isinstance(value, np.generic) else value


def to_json(obj, indent=0):
    """JSON with one line per metadata entry, tensor or map entry, to keep the goldens small."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and (indent < 2 or any(isinstance(v, dict) or (isinstance(v, list) and any(
            isinstance(e, dict) for e in v)) for v in obj.values())):
        items = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(e, dict) for e in obj):
        return "[\n" + ",\n".join(pad + to_json(e, indent + 1) for e in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(to_json(obj) + "\n")
    assert json.loads(Path(path).read_text()) == obj


def summarise_array(values):
    if len(values) <= SUMMARY_LIMIT:
        return {"value": values}
    whole = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return {"length": len(values), "first": values[:20], "sha256": sha256(whole)}


def describe_metadata(reader, summarise, written=None):
    entries = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [VT(t) for t in field.types]
        entry = {"key": key, "type": types[0].name}
        if types[0] == VT.ARRAY:
            entry["element_type"] = types[1].name
            if len(types) > 2:  # nested: GGUFReader flattens, so record what was written too
                entry["written"] = written[key]
                entry["reader_types"] = [t.name for t in types]
                entry["reader_contents"] = [json_number(v) for v in field.contents()]
            else:
                values = [json_number(v) for v in field.contents()]
                entry.update(summarise_array(values) if summarise else {"value": values})
                if types[1] in (VT.UINT64, VT.INT64):
                    entry["value_text"] = [str(v) for v in values]
        else:
            entry["value"] = json_number(field.contents())
            if types[0] in (VT.UINT64, VT.INT64):
                entry["value_text"] = str(entry["value"])
        entries.append(entry)
    return entries


def describe_tensors(reader, with_values):
    tensors = []
    for t in reader.tensors:
        ne = [int(d) for d in t.shape]
        entry = {"name": t.name, "type": t.tensor_type.name, "ne": ne, "numpy_shape": ne[::-1],
                 "offset": int(t.field.parts[-1][0]), "n_bytes": int(t.n_bytes),
                 "data_sha256": sha256(np.ascontiguousarray(t.data).tobytes())}
        if with_values:
            entry["type_id"] = int(t.tensor_type)
            entry["reader_data_shape"] = list(t.data.shape)
            entry["absolute_offset"] = int(t.data_offset)
            entry["n_elements"] = int(t.n_elements)
            values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(ne[::-1])
            entry["values"] = [float(v) for v in values.reshape(-1)]
        tensors.append(entry)
    return tensors


def describe_file(path, summarise=True, with_values=False, written=None):
    reader = gguf.GGUFReader(path)
    return reader, {
        "size": os.path.getsize(path), "sha256": file_sha256(path),
        "version": int(reader.fields["GGUF.version"].contents()),
        "tensor_count": int(reader.fields["GGUF.tensor_count"].contents()),
        "kv_count": int(reader.fields["GGUF.kv_count"].contents()),
        "alignment": int(reader.alignment), "data_offset": int(reader.data_offset),
        "metadata": describe_metadata(reader, summarise, written),
        "tensors": describe_tensors(reader, with_values),
    }


def all_types_golden(out):
    path = out / "all-types.gguf"
    writer = gguf.GGUFWriter(str(path), "tailor-test")
    writer.add_custom_alignment(64)
    writer.add_uint8("test.uint8", 200)
    writer.add_int8("test.int8", -100)
    writer.add_uint16("test.uint16", 60000)
    writer.add_int16("test.int16", -30000)
    writer.add_uint32("test.uint32", 4_000_000_000)
    writer.add_int32("test.int32", -2_000_000_000)
    writer.add_float32("test.float32", 3.14159)
    writer.add_bool("test.bool.true", True)
    writer.add_bool("test.bool.false", False)
    writer.add_string("test.string", "héllo, wörld ✓ 🦙")
    writer.add_key_value("test.string.empty", "", VT.STRING)  # add_string skips empty strings
    writer.add_uint64("test.uint64", 2**64 - 2)
    writer.add_int64("test.int64", -(2**62) - 7)
    writer.add_float64("test.float64", 2.718281828459045e300)
    writer.add_array("test.array.int32", [1, -2, 2_000_000_000])
    writer.add_key_value("test.array.uint8", [0, 127, 255], VT.ARRAY, VT.UINT8)
    writer.add_key_value("test.array.int16", [-32768, 0, 32767], VT.ARRAY, VT.INT16)
    writer.add_array("test.array.float32", [0.5, -1.25, 0.1])
    writer.add_array("test.array.bool", [True, False, True])
    writer.add_array("test.array.string", ["a", "", "ünï"])
    writer.add_key_value("test.array.uint64", [0, 2**64 - 1], VT.ARRAY, VT.UINT64)
    writer.add_key_value("test.array.float64", [1e-300, -2.5], VT.ARRAY, VT.FLOAT64)
    nested = {"test.array.nested": [[1, 2, 3], [4, 5]],
              "test.array.nested_strings": [["x", "yz"], ["w"]]}
    for key, value in nested.items():
        writer.add_array(key, value)

    rng = np.random.default_rng(1616)
    long_name = ("rows.q8_0." + "n" * 64)[:63]
    assert len(long_name.encode()) == 63
    f32 = rng.standard_normal(5).astype(np.float32)
    f16 = (rng.standard_normal((3, 7)) * 10).astype(np.float16)
    bf16 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    q8 = rng.standard_normal((2, 64)).astype(np.float32)
    q4 = rng.standard_normal((2, 1, 3, 32)).astype(np.float32)
    writer.add_tensor("vector.f32", f32)
    writer.add_tensor("matrix.f16", f16)
    writer.add_tensor("cube.bf16", gguf.quants.quantize(bf16, QT.BF16), raw_dtype=QT.BF16)
    writer.add_tensor(long_name, gguf.quants.quantize(q8, QT.Q8_0), raw_dtype=QT.Q8_0)
    writer.add_tensor("hyper.q4_0", gguf.quants.quantize(q4, QT.Q4_0), raw_dtype=QT.Q4_0)
    writer.add_tensor("scalar.f32", np.array([-0.0], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    reader, info = describe_file(path, summarise=False, with_values=True, written=nested)
    assert info["alignment"] == 64 and info["data_offset"] % 64 == 0
    golden = {"file": path.name, "writer": "gguf.GGUFWriter (gguf 0.19.0)"}
    golden.update(info)
    write_json(out / "all-types.json", golden)


# ---------------------------------------------------------------------------------------------
# 3 and 4. llama.cpp's converters, llama-cpp-python, transformers and PEFT

# Runs one of llama.cpp's converter scripts with its vendored gguf-py. The BPE pre-tokenizer of
# the tiny tokenizer is not in the converter's hash table: fall back to "llama-bpe" (the same
# split regex as Llama 3), and say so on stderr.
CONVERTER_RUNNER = r"""
import runpy, sys
source, script = sys.argv[1], sys.argv[2]
sys.argv = [script] + sys.argv[3:]
sys.path[0:0] = [source, source + "/gguf-py"]
import conversion.base as base
original = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return original(self, tokenizer)
    except NotImplementedError:
        print("TAILOR-GOLDEN: pre-tokenizer not recognized, using llama-bpe", file=sys.stderr)
        return "llama-bpe"
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
runpy.run_path(script, run_name="__main__")
"""


def llama_cpp_sources(work):
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tailor"
    sdist = cache / SDIST
    if not sdist.exists() or file_sha256(sdist) != SDIST_SHA256:
        cache.mkdir(parents=True, exist_ok=True)
        pip = Path(sys.executable).parent / "pip"
        subprocess.run([str(pip), "download", "-q", "llama-cpp-python==0.3.36", "--no-deps",
                        "--no-binary", "llama-cpp-python", "-d", str(cache)], check=True,
                       stdout=sys.stderr)
    assert file_sha256(sdist) == SDIST_SHA256, "unexpected llama-cpp-python 0.3.36 sdist"
    prefix = "llama_cpp_python-0.3.36/vendor/llama.cpp/"
    wanted = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/")
    with tarfile.open(sdist) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix) and member.name[len(prefix):].startswith(wanted):
                member.name = member.name[len(prefix):]
                members.append(member)
        tar.extractall(work / "llama.cpp", members=members, filter="data")
        changelog = tar.extractfile("llama_cpp_python-0.3.36/CHANGELOG.md").read().decode()
    assert f"ggml-org/llama.cpp@{LLAMA_CPP_COMMIT}" in changelog.split("## [0.3.35]")[0]
    pyproject = (work / "llama.cpp" / "gguf-py" / "pyproject.toml").read_text()
    assert 'version = "0.19.0"' in pyproject
    return work / "llama.cpp"


def run_converter(source, script, args, log):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONHASHSEED="0")
    result = subprocess.run([sys.executable, "-c", CONVERTER_RUNNER, str(source), str(source / script), *args],
                            cwd=source.parent, env=env, capture_output=True, text=True)
    log.append(result.stderr)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"{script} failed")


def permute_rows(weight, n_groups):
    """llama.cpp's rotary row order: within each head of d rows, row 2i+j takes HF row j·d/2 + i."""
    rows = weight.shape[0]
    d = rows // n_groups
    return weight.reshape(n_groups, 2, d // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def find_transform(target, source, n_head, n_kv):
    if target.shape != source.shape:
        return None
    if np.array_equal(target, source):
        return "none"
    if source.shape[0] % (2 * n_head) == 0 and np.array_equal(target, permute_rows(source, n_head)):
        return "permute_q"
    if source.shape[0] % (2 * n_kv) == 0 and np.array_equal(target, permute_rows(source, n_kv)):
        return "permute_k"
    return None


def llama_cpp_run(model, lora=None):
    # An F32 KV cache (llama.cpp's default is F16) leaves only the weights' format as a difference.
    kwargs = dict(model_path=str(model), logits_all=True, n_ctx=128, n_batch=128, n_threads=1,
                  n_threads_batch=1, seed=0, verbose=False,
                  type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    if lora is not None:
        kwargs.update(lora_path=str(lora), lora_scale=1.0)
    llm = llama_cpp.Llama(**kwargs)
    llm.eval(PROMPT)
    logits = np.array(llm.scores[:len(PROMPT)], dtype=np.float32)
    tokens = []
    for _ in range(GREEDY_STEPS):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        tokens.append(token)
        llm.eval([token])
    llm.close()
    return logits, tokens


def torch_run(model):
    ids = list(PROMPT)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
        for _ in range(GREEDY_STEPS):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return logits, ids[len(PROMPT):]


def converter_goldens(fixtures, out, work):
    import transformers
    from peft import PeftModel
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    torch.set_num_threads(1)
    source = llama_cpp_sources(work)
    model_dir = work / "tiny-llama"  # the converter names the model after its folder
    shutil.copytree(fixtures / "tiny-llama", model_dir)
    adapter_dir = work / "tiny-llama-lora"
    shutil.copytree(fixtures / "peft" / "tiny-llama-lora", adapter_dir)
    config = json.loads((model_dir / "config.json").read_text())
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]

    log = []
    paths = {}
    for outtype in ("f32", "f16", "q8_0"):
        paths[outtype] = work / f"tiny-llama-{outtype}.gguf"
        run_converter(source, "convert_hf_to_gguf.py",
                      [str(model_dir), "--outtype", outtype, "--outfile", str(paths[outtype])], log)
    paths["lora"] = work / "tiny-llama-lora.gguf"
    run_converter(source, "convert_lora_to_gguf.py",
                  ["--base", str(model_dir), "--outfile", str(paths["lora"]), str(adapter_dir)], log)
    chkhsh = next(line.split()[-1] for line in log[0].splitlines() if "** chkhsh:" in line)
    substituted = "TAILOR-GOLDEN: pre-tokenizer not recognized" in log[0]
    shutil.copyfile(paths["f16"], out / "tiny-llama-f16.gguf")
    shutil.copyfile(paths["lora"], out / "tiny-llama-lora.gguf")

    golden = {
        "llama_cpp": {"llama_cpp_python": "0.3.36", "llama_cpp_commit": LLAMA_CPP_COMMIT, "sdist": SDIST,
                      "sdist_sha256": SDIST_SHA256,
                      "gguf_py_vendored": "vendor/llama.cpp/gguf-py, version string 0.19.0"},
        "workarounds": [
            "get_vocab_base_pre: unknown chkhsh, substituted tokenizer.ggml.pre = llama-bpe (monkeypatch)",
            "run with the vendored gguf-py (PyPI gguf 0.19.0 lacks gguf.LazyChunkedTensor used by this converter)",
        ],
        "tokenizer_pre": {"chkhsh": chkhsh, "recognized": not substituted,
                          "substituted": "llama-bpe" if substituted else None},
        "prompt_ids": PROMPT,
        "models": {},
    }
    for outtype in ("f32", "f16", "q8_0"):
        _, info = describe_file(paths[outtype])
        del info["data_offset"]
        golden["models"][outtype] = {"file": "tiny-llama-f16.gguf" if outtype == "f16" else None, **info}

    # Which HF tensor each GGUF tensor is (gguf's own name table), checked against the data.
    hf = load_file(str(fixtures / "tiny-llama" / "model.safetensors"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    hf_for = {names.get_name(name, try_suffixes=(".weight",)): name for name in hf}
    tensor_map = []
    for t in gguf.GGUFReader(paths["f32"]).tensors:
        hf_name = hf_for[t.name]
        transform = find_transform(np.asarray(t.data), hf[hf_name], n_head, n_kv)
        assert transform is not None, t.name
        tensor_map.append({"gguf": t.name, "hf": hf_name, "transform": transform})
    golden["tensor_map"] = tensor_map

    peft_tensors = load_file(str(fixtures / "peft" / "tiny-llama-lora" / "adapter_model.safetensors"))
    _, lora_info = describe_file(paths["lora"])
    del lora_info["data_offset"]
    lora_map = []
    permuted = {}
    for t in gguf.GGUFReader(paths["lora"]).tensors:
        data = np.asarray(t.data)
        base_name, kind = t.name.rsplit(".", 1)
        base_entry = next(e for e in tensor_map if e["gguf"] == base_name)
        peft_name = ("base_model.model." + base_entry["hf"].removesuffix(".weight")
                     + (".lora_A.weight" if kind == "lora_a" else ".lora_B.weight"))
        transform = find_transform(data, peft_tensors[peft_name], n_head, n_kv)
        assert transform is not None, t.name
        lora_map.append({"gguf": t.name, "peft": peft_name, "transform": transform})
        for proj in ("q", "k"):
            if kind == "lora_b" and base_name.endswith(f"attn_{proj}.weight"):
                permuted.setdefault(proj, set()).add(transform != "none")
    golden["lora"] = {"file": "tiny-llama-lora.gguf", **lora_info, "tensor_map": lora_map,
                      "lora_b_permuted": {proj: all(flags) for proj, flags in permuted.items()}}

    logits = {"input_ids": np.array(PROMPT, dtype=np.int32)}
    greedy = {}
    for outtype in ("f32", "f16", "q8_0"):
        logits[outtype], greedy[f"llamacpp_{outtype}"] = llama_cpp_run(paths[outtype])
    logits["f32_lora"], greedy["llamacpp_f32_lora"] = llama_cpp_run(paths["f32"], paths["lora"])

    def base_model():
        model = transformers.AutoModelForCausalLM.from_pretrained(str(fixtures / "tiny-llama"), dtype=torch.float32)
        return model.eval()

    logits["transformers"], greedy["transformers"] = torch_run(base_model())
    peft_model = PeftModel.from_pretrained(base_model(), str(fixtures / "peft" / "tiny-llama-lora")).eval()
    logits["peft_lora"], greedy["peft_lora"] = torch_run(peft_model)
    alpha = json.loads((adapter_dir / "adapter_config.json").read_text())["lora_alpha"]
    for module in peft_model.modules():
        if isinstance(getattr(module, "scaling", None), dict) and "default" in module.scaling:
            module.scaling["default"] = alpha / module.r["default"]
    logits["peft_lora_alpha_over_r"], greedy["peft_lora_alpha_over_r"] = torch_run(peft_model)
    golden["greedy"] = greedy

    def diff(a, b):
        return float(np.max(np.abs(logits[a] - logits[b])))

    golden["max_abs_diff"] = {
        "f32_vs_transformers": diff("f32", "transformers"),
        "f16_vs_transformers": diff("f16", "transformers"),
        "q8_0_vs_transformers": diff("q8_0", "transformers"),
        "f32_lora_vs_peft_lora": diff("f32_lora", "peft_lora"),
        "f32_lora_vs_peft_lora_alpha_over_r": diff("f32_lora", "peft_lora_alpha_over_r"),
        "peft_lora_vs_transformers": diff("peft_lora", "transformers"),
    }

    hf_tokenizer = Tokenizer.from_file(str(fixtures / "tiny-llama" / "tokenizer.json"))
    vocab = llama_cpp.Llama(model_path=str(paths["f16"]), vocab_only=True, verbose=False)
    checks = []
    for text in ["Hello world", " the cat's 12345 tokens\n\n  new-line", "ünïcödé 🦙 I'll"]:
        checks.append({"text": text, "hf": hf_tokenizer.encode(text, add_special_tokens=False).ids,
                       "llamacpp": vocab.tokenize(text.encode(), add_bos=False, special=False)})
    vocab.close()
    golden["tokenization"] = checks

    save_file({k: np.ascontiguousarray(v) for k, v in logits.items()},
              str(out / "tiny-llama-llamacpp-logits.safetensors"))
    write_json(out / "tiny-llama-converter.json", golden)


def main(fixtures):
    fixtures = Path(fixtures).resolve()
    out = fixtures / "gguf"
    out.mkdir(parents=True, exist_ok=True)
    quant_goldens(out)
    all_types_golden(out)
    with tempfile.TemporaryDirectory(prefix="tailor-gguf-") as work:
        converter_goldens(fixtures, out, Path(work))


if __name__ == "__main__":
    main(sys.argv[1])
