"""Goldens for the SafeTensors module, written by the official `safetensors` 0.8.0.

writer/: files serialized by the official writer from tensors whose bytes follow a formula the
Swift tests recompute (see `pattern`), with a manifest describing each file's tensors.
malformed/: hand-built files and the official reader's verdict on each (accepted, or the error).

Usage: python safetensors_goldens.py FIXTURES_DIR
"""
import ctypes
import json
import os
import struct
import sys

import safetensors
from safetensors import TensorSpec, serialize_file

assert safetensors.__version__ == "0.8.0", safetensors.__version__

# safetensors dtype -> the name the Python binding takes (F6_* cannot be written from Python).
DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64",
    "F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64", "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
    "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz", "F4": "float4_e2m1fn_x2",
}
BITS = {"BOOL": 8, "U8": 8, "I8": 8, "U16": 16, "I16": 16, "U32": 32, "I32": 32, "U64": 64,
        "I64": 64, "F16": 16, "BF16": 16, "F32": 32, "F64": 64, "C64": 64, "F8_E4M3": 8,
        "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F4": 4}


def pattern(seed, count, dtype):
    """Deterministic tensor bytes; the Swift tests compute the same formula."""
    data = bytes(((seed * 7 + k * 13 + (k >> 8) * 3) & 0xFF) for k in range(count))
    if dtype == "BOOL":
        data = bytes(b & 1 for b in data)
    return data


def nbytes(dtype, shape):
    n = 1
    for d in shape:
        n *= d
    return n * BITS[dtype] // 8


def write(path, tensors, metadata):
    keep = []
    specs = {}
    for t in tensors:
        data = pattern(t["seed"], nbytes(t["dtype"], t["shape"]), t["dtype"])
        buf = ctypes.create_string_buffer(data, max(len(data), 1))
        keep.append(buf)
        shape = list(t["shape"])
        if t["dtype"] == "F4":
            shape[-1] //= 2  # the binding takes torch's packed storage shape and doubles it back
        specs[t["name"]] = TensorSpec(dtype=DTYPES[t["dtype"]], shape=shape,
                                      data_ptr=ctypes.addressof(buf), data_len=len(data))
    serialize_file(specs, path, metadata)


def writer_cases():
    cases = []
    seed = 1
    for dtype in DTYPES:
        tensors = []
        shapes = {"weight": [3, 4], "bias": [4], "empty": [0, 4], "scalar": []}
        for name, shape in shapes.items():
            if dtype == "F4" and shape == []:
                continue  # one 4-bit element is not a whole byte
            tensors.append({"name": name, "dtype": dtype, "shape": shape, "seed": seed})
            seed += 1
        cases.append({"file": f"{dtype}.safetensors", "metadata": None, "tensors": tensors})
    mixed = [{"name": f"t.{i:02d}.{d.lower()}", "dtype": d, "shape": [2, 4], "seed": 100 + i}
             for i, d in enumerate(reversed(list(DTYPES)))]
    mixed.append({"name": "a.first", "dtype": "F32", "shape": [1], "seed": 7})
    mixed.append({"name": "Z.upper", "dtype": "U8", "shape": [5], "seed": 8})
    cases.append({"file": "mixed.safetensors", "metadata": {"format": "pt"}, "tensors": mixed})
    odd_names = ["quote\"d", "back\\slash", "tab\there", "ctrl\x01\x1f", "ünïcødé/名前", "emoji😀",
                 "slash/ok", "new\nline", "del\x7f"]
    cases.append({"file": "names.safetensors", "metadata": {"kéy\"\n": "välue\\\x02😀"},
                  "tensors": [{"name": n, "dtype": "I16", "shape": [i + 1], "seed": 200 + i}
                              for i, n in enumerate(odd_names)]})
    cases.append({"file": "empty.safetensors", "metadata": None, "tensors": []})
    cases.append({"file": "empty-metadata.safetensors", "metadata": {}, "tensors": []})
    cases.append({"file": "metadata-only.safetensors", "metadata": {"framework": "pt"}, "tensors": []})
    return cases


def header_file(header, data=b"", prefix=None, raw=False):
    body = header if raw else header.encode("utf-8")
    n = len(body) if prefix is None else prefix
    return struct.pack("<Q", n) + body + data


def malformed_cases():
    i32 = lambda shape, offs: '{"dtype":"I32","shape":%s,"data_offsets":%s}' % (shape, offs)
    z16 = b"\0" * 16
    cases = {
        "empty-file": b"",
        "seven-bytes": b"\x01\x02\x03\x04\x05\x06\x07",
        "header-too-large": struct.pack("<Q", 100_000_001) + b"{}",
        "header-length-huge": b"<\x00\x00\x00\x00\xff\xff\xff" + b"{}",
        "header-past-end": header_file('{"test":%s}' % i32("[2,2]", "[0,16]"), prefix=200),
        "header-not-utf8": header_file(b"{\"\xff\":1}", raw=True),
        "header-not-json": header_file("{"),
        "header-nul-padding": header_file("{}\0\0\0\0\0\0"),
        "header-top-level-array": header_file("[]"),
        "header-trailing-comma": header_file('{"a":%s,}' % i32("[1]", "[0,4]"), b"\0" * 4),
        "header-comment": header_file('{/*c*/}'),
        "unknown-dtype": header_file('{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "lowercase-dtype": header_file('{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "metadata-value-not-string": header_file('{"__metadata__":{"a":1}}'),
        "metadata-not-object": header_file('{"__metadata__":"x"}'),
        "metadata-null": header_file('{"__metadata__":null}'),
        "metadata-empty": header_file('{"__metadata__":{}}'),
        "metadata-duplicate": header_file('{"__metadata__":{},"__metadata__":{}}'),
        "metadata-duplicate-key": header_file('{"__metadata__":{"k":"1","k":"2"}}'),
        "duplicate-tensor-last-wins": header_file('{"a":%s,"a":%s}' % (i32("[1]", "[0,8]"), i32("[2]", "[0,8]")), b"\0" * 8),
        "offsets-float": header_file('{"a":%s}' % i32("[1]", "[0.0,4]"), b"\0" * 4),
        "offsets-exponent": header_file('{"a":%s}' % i32("[1]", "[0,4e0]"), b"\0" * 4),
        "offsets-negative": header_file('{"a":%s}' % i32("[1]", "[-1,4]"), b"\0" * 4),
        "offsets-minus-zero": header_file('{"a":%s}' % i32("[1]", "[-0,4]"), b"\0" * 4),
        "offsets-three": header_file('{"a":%s}' % i32("[1]", "[0,4,4]"), b"\0" * 4),
        "offsets-one": header_file('{"a":%s}' % i32("[1]", "[4]"), b"\0" * 4),
        "offsets-string": header_file('{"a":%s}' % i32("[1]", '["0","4"]'), b"\0" * 4),
        "offsets-too-big": header_file('{"a":%s}' % i32("[1]", "[0,18446744073709551616]"), b"\0" * 4),
        "offsets-gap": header_file('{"a":%s,"b":%s}' % (i32("[1]", "[0,4]"), i32("[1]", "[8,12]")), b"\0" * 12),
        "offsets-overlap": header_file('{"a":%s,"b":%s}' % (i32("[2]", "[0,8]"), i32("[2]", "[4,12]")), b"\0" * 12),
        "offsets-not-from-zero": header_file('{"a":%s}' % i32("[1]", "[4,8]"), b"\0" * 8),
        "offsets-reversed": header_file('{"a":%s}' % i32("[0]", "[4,0]"), b"\0" * 4),
        "offsets-unsorted-ok": header_file('{"b":%s,"a":%s}' % (i32("[1]", "[4,8]"), i32("[1]", "[0,4]")), b"\0" * 8),
        "json-attack": header_file("{" + ",".join('"weight_%d":%s' % (i, i32("[2,2]", "[0,16]")) for i in range(10)) + "}", z16),
        "shape-overflow": header_file('{"test":%s}' % i32("[2,18446744073709551614]", "[0,16]"), z16),
        "shape-times-size-overflow": header_file('{"test":%s}' % i32("[2,9223372036854775807]", "[0,16]"), z16),
        "shape-negative": header_file('{"a":%s}' % i32("[-1]", "[0,4]"), b"\0" * 4),
        "shape-float": header_file('{"a":%s}' % i32("[1.5]", "[0,4]"), b"\0" * 4),
        "shape-not-array": header_file('{"a":%s}' % i32("4", "[0,4]"), b"\0" * 4),
        "f4-misaligned": header_file('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', b"\0" * 2),
        "f6-misaligned": header_file('{"a":{"dtype":"F6_E2M3","shape":[3],"data_offsets":[0,2]}}', b"\0" * 2),
        "f6-aligned": header_file('{"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}', b"\0" * 3),
        "size-mismatch": header_file('{"test":%s}' % i32("[2,2]", "[0,4]"), b"\0" * 4),
        "trailing-bytes": header_file('{"test":%s}' % i32("[2,2]", "[0,16]"), z16 + b"extra_bogus_data_for_polyglot_file"),
        "truncated-data": header_file('{"test":%s}' % i32("[2,2]", "[0,16]"), b"\0" * 14),
        "leading-whitespace": header_file("\t\n{}\r "),
        "trailing-whitespace": header_file("{}\r \t\n"),
        "header-length-not-multiple-of-8": header_file("{}"),
        "zero-sized-tensor": header_file('{"test":%s}' % i32("[2,0]", "[0, 0]")),
        "scalar": header_file('{"test":%s}' % i32("[]", "[0,4]"), b"\1\0\0\0"),
        "missing-dtype": header_file('{"a":{"shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "missing-offsets": header_file('{"a":{"dtype":"I32","shape":[1]}}', b"\0" * 4),
        "extra-field-ignored": header_file('{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4],"x":[{"y":null}]}}', b"\0" * 4),
        "duplicate-field": header_file('{"a":{"dtype":"I32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "entry-as-array": header_file('{"a":["I32",[1],[0,4]]}', b"\0" * 4),
        "entry-not-object": header_file('{"a":5}'),
        "lone-surrogate-name": header_file('{"\\ud800":%s}' % i32("[1]", "[0,4]"), b"\0" * 4),
        "escaped-name": header_file('{"\\u0061\\n\\ud83d\\ude00":%s}' % i32("[1]", "[0,4]"), b"\0" * 4),
        "deep-nesting": header_file('{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4],"x":%s}}' % ("[" * 200 + "]" * 200), b"\0" * 4),
        "leading-zero": header_file('{"a":%s}' % i32("[01]", "[0,4]"), b"\0" * 4),
        "control-char-in-name": header_file('{"a\x01":%s}' % i32("[1]", "[0,4]"), b"\0" * 4),
        "bool-true": header_file('{"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', b"\1\0"),
    }
    return cases


def main(fixtures):
    writer_dir = os.path.join(fixtures, "safetensors", "writer")
    malformed_dir = os.path.join(fixtures, "safetensors", "malformed")
    os.makedirs(writer_dir, exist_ok=True)
    os.makedirs(malformed_dir, exist_ok=True)

    cases = writer_cases()
    for case in cases:
        write(os.path.join(writer_dir, case["file"]), case["tensors"], case["metadata"])
    with open(os.path.join(writer_dir, "manifest.json"), "w") as f:
        json.dump({"generator": f"safetensors {safetensors.__version__}", "cases": cases}, f, indent=1, ensure_ascii=True)
        f.write("\n")

    verdicts = {}
    for name, data in sorted(malformed_cases().items()):
        path = os.path.join(malformed_dir, name + ".safetensors")
        with open(path, "wb") as f:
            f.write(data)
        try:
            with safetensors.safe_open(path, framework="numpy") as handle:
                verdict = {"accepted": True, "tensors": sorted(handle.keys()),
                           "metadata": handle.metadata()}
                if name == "duplicate-tensor-last-wins":
                    verdict["shape_of_a"] = handle.get_slice("a").get_shape()
        except Exception as error:  # the binding raises SafetensorError with the crate's message
            verdict = {"accepted": False, "error": str(error)}
        verdicts[name] = verdict
    with open(os.path.join(malformed_dir, "verdicts.json"), "w") as f:
        json.dump({"generator": f"safetensors {safetensors.__version__}", "verdicts": verdicts}, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
