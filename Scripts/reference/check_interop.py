"""Checks that files written by `tailor convert` load in Python safetensors and transformers with
the values torch's own `.to(dtype)` gives, that a folder written by `tailor quantize` loads in
transformers + bitsandbytes with the logits of transformers' own 4-bit load of the original, and
that LoRA adapters trained, stored in the registry, exported and merged by tailor load in PEFT with
the logits of the folder `tailor train` wrote. Not part of CI (it needs the reference venv).

Usage: python check_interop.py TAILOR_BINARY MODEL_DIR SCRATCH_DIR
"""
import os
import shutil
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModel, BitsAndBytesConfig

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

for quant_type, double_quant in (("nf4", True), ("fp4", False)):
    out = os.path.join(scratch, f"quantized-{quant_type}")
    flags = ["--type", quant_type] + ([] if double_quant else ["--no-double-quant"])
    subprocess.run([tailor, "quantize", model_dir, "--output", out, "--compute-dtype", "f32"] + flags,
                   check=True, stdout=subprocess.DEVNULL)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type, bnb_4bit_use_double_quant=double_quant,
                                bnb_4bit_compute_dtype=torch.float32)
    theirs = AutoModel.from_pretrained(model_dir, quantization_config=config, device_map="cpu").eval()
    # Saved before any forward pass: bitsandbytes' CPU backend repacks weights when it first runs.
    reference_dir = os.path.join(scratch, f"reference-{quant_type}")
    theirs.save_pretrained(reference_dir)
    ours = AutoModel.from_pretrained(out, device_map="cpu").eval()
    ids = torch.arange(1000, 1064).reshape(4, 16)
    with torch.no_grad():
        a = ours(input_ids=ids).last_hidden_state
        b = theirs(input_ids=ids).last_hidden_state
    diff = (a - b).abs().max().item()
    scale = b.abs().max().item()
    label = f"{quant_type}{' + double quant' if double_quant else ''}"
    if not double_quant:
        ok = diff == 0
        print(f"{label}: transformers loads `tailor quantize` output; max |ours − transformers' own 4-bit load| = {diff:.3g}: {'ok' if ok else 'FAIL'}")
        failures += not ok
        continue
    # Double quantization: the 4-bit codes are identical; the 8-bit absmax codes differ where
    # bitsandbytes' lookup table misses the exact nearest code. Substituting its codes into our
    # file must give identical outputs, which pins the difference on those codes alone.
    ours_tensors = load_file(os.path.join(out, "model.safetensors"))
    their_tensors = load_file(os.path.join(reference_dir, "model.safetensors"))
    codes = [k for k in their_tensors if k.endswith(".absmax")]
    differing = sum((ours_tensors[k] != their_tensors[k]).sum().item() for k in codes)
    total = sum(their_tensors[k].numel() for k in codes)
    others_equal = all(torch.equal(ours_tensors[k], their_tensors[k]) for k in their_tensors
                       if not k.endswith((".absmax", ".nested_absmax")) and ".quant_state." not in k)
    patched_dir = os.path.join(scratch, f"patched-{quant_type}")
    shutil.copytree(out, patched_dir)
    for k in codes + [k for k in their_tensors if k.endswith(".nested_absmax") or ".quant_state." in k]:
        ours_tensors[k] = their_tensors[k]
    save_file(ours_tensors, os.path.join(patched_dir, "model.safetensors"), metadata={"format": "pt"})
    patched = AutoModel.from_pretrained(patched_dir, device_map="cpu").eval()
    with torch.no_grad():
        c = patched(input_ids=ids).last_hidden_state
    patched_diff = (c - b).abs().max().item()
    ok = others_equal and patched_diff == 0 and diff <= 1e-2 * scale
    print(f"{label}: transformers loads `tailor quantize` output; 4-bit codes and all other tensors identical: {others_equal}; "
          f"{differing} of {total} absmax codes differ ({100 * differing / total:.3f}%, bitsandbytes' lookup table); "
          f"max |ours − transformers' own 4-bit load| = {diff:.3g} (outputs up to {scale:.3g}); with its absmax codes "
          f"substituted: {patched_diff:.3g}: {'ok' if ok else 'FAIL'}")
    failures += not ok


# An adapter trained here, stored in a registry and exported loads in PEFT with the trained
# folder's logits; two adapters merged with `cat` (exact) load in PEFT with every module's update
# equal to the weighted sum of the originals' (PEFT cannot run both at once: each saves a head).
from peft import PeftModel
from transformers import AutoModelForSequenceClassification

data = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "sentiment", "train.jsonl")
adapters = []
for seed in ("1", "2"):
    out = os.path.join(scratch, "adapter-" + seed)
    subprocess.run([tailor, "train", "--model", model_dir, "--data", data, "--method", "lora", "--r", "8", "--alpha", "32",
                    "--target-modules", "query,value", "--modules-to-save", "classifier", "--epochs", "0.05", "--seed", seed,
                    "--output", out, "--register", "interop-" + seed, "--registry", os.path.join(scratch, "registry"), "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    adapters.append(out)
exported = os.path.join(scratch, "exported")
subprocess.run([tailor, "adapter", "export", "interop-1", "--output", exported, "--registry", os.path.join(scratch, "registry")],
               check=True, stdout=subprocess.DEVNULL)
merged = os.path.join(scratch, "merged-cat")
subprocess.run([tailor, "merge", adapters[0], adapters[1], "--method", "cat", "--weights", "0.7,0.3", "--head-from", "1",
                "--output", merged, "--json"], check=True, stdout=subprocess.DEVNULL)
ids = torch.randint(1000, 20000, (2, 12))


def logits(folder):
    base = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    with torch.no_grad():
        return PeftModel.from_pretrained(base, folder).eval()(input_ids=ids).logits


export_diff = (logits(exported) - logits(adapters[0])).abs().max().item()
print(f"registry export of a LoRA adapter in PEFT: max |logits − the trained folder's| = {export_diff:.3g}: {'ok' if export_diff == 0 else 'FAIL'}")
failures += export_diff != 0
stack = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2), adapters[0], adapter_name="a")
stack.load_adapter(adapters[1], adapter_name="b")
ours = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2), merged)
ours_modules = dict(ours.named_modules())
merge_diff = 0.0
for name, module in stack.named_modules():
    if hasattr(module, "lora_B") and "a" in module.lora_B:
        expected = 0.7 * module.get_delta_weight("a") + 0.3 * module.get_delta_weight("b")
        merge_diff = max(merge_diff, (ours_modules[name].get_delta_weight("default") - expected).abs().max().item())
print(f"`tailor merge --method cat` read by PEFT: max |ΔW − (0.7·ΔW_a + 0.3·ΔW_b)| over modules = {merge_diff:.3g}: "
      f"{'ok' if merge_diff < 1e-6 else 'FAIL'}")
failures += merge_diff >= 1e-6

# Every family and task head: an adapter trained here loads in PEFT on the base, and the folder
# `tailor deploy` merges it into loads in transformers (no PEFT) with the same logits.
from transformers import (AutoModelForCausalLM, AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM,
                          AutoModelForTokenClassification)

fixtures = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
families = [
    ("tiny-gpt2", AutoModelForCausalLM, "causal-lm", os.path.join(fixtures, "tasks", "instructions", "prompt-completion.jsonl")),
    ("tiny-flan-t5", AutoModelForSeq2SeqLM, "summarization", os.path.join(fixtures, "tasks", "summarization", "test.jsonl")),
    ("tiny-bert-ner", AutoModelForTokenClassification, "token-classification", os.path.join(fixtures, "tasks", "ner", "test.jsonl")),
    ("tiny-roberta-qa", AutoModelForQuestionAnswering, "question-answering", os.path.join(fixtures, "tasks", "qa", "test.jsonl")),
]
for name, auto, task, data in families:
    base_dir = os.path.join(fixtures, "models", name)
    adapter, deployed = os.path.join(scratch, name + "-lora"), os.path.join(scratch, name + "-deployed")
    subprocess.run([tailor, "train", "--model", base_dir, "--task", task, "--data", data, "--epochs", "1", "--lr", "5e-3",
                    "--max-length", "32", "--output", adapter, "--json"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([tailor, "deploy", "--model", base_dir, adapter, "--output", deployed, "--json"], check=True, stdout=subprocess.DEVNULL)
    inputs = {"input_ids": torch.randint(5, 200, (2, 10))}
    if auto is AutoModelForSeq2SeqLM:
        inputs["decoder_input_ids"] = torch.randint(5, 200, (2, 6))
    with torch.no_grad():
        peft_out = PeftModel.from_pretrained(auto.from_pretrained(base_dir), adapter).eval()(**inputs)
        merged_out = auto.from_pretrained(deployed).eval()(**inputs)
    key = "start_logits" if auto is AutoModelForQuestionAnswering else "logits"
    diff = (getattr(peft_out, key) - getattr(merged_out, key)).abs().max().item()
    print(f"{name} ({task}): tailor's adapter in PEFT vs tailor deploy's folder in transformers: max |Δ{key}| = {diff:.3g}: "
          f"{'ok' if diff < 1e-4 else 'FAIL'}")
    failures += diff >= 1e-4

# llama.cpp (llama-cpp-python, `setup-venv --with-llama-cpp`) loads `tailor export gguf`'s models
# and LoRA adapters: its logits for fixed token ids against transformers/PEFT (f32 KV cache), our
# q8_0 against llama.cpp's own converter's q8_0 (fixtures/gguf goldens), and greedy tokens
# against `tailor generate`.
try:
    from llama_cpp import Llama
except ImportError:
    print("llama-cpp-python is not installed (Scripts/reference/setup-venv --with-llama-cpp): GGUF check skipped")
else:
    import json
    import numpy as np
    from safetensors.numpy import load_file as load_numpy
    llama = os.path.join(fixtures, "tiny-llama")
    ids = [0, 5, 17, 42, 99, 7]
    golden = load_numpy(os.path.join(fixtures, "gguf", "tiny-llama-llamacpp-logits.safetensors"))

    def llama_cpp_logits(model, lora=None):
        m = Llama(model_path=model, lora_path=lora, logits_all=True, verbose=False, n_ctx=64, type_k=0, type_v=0)
        m.eval(ids)
        return np.array(m.scores[:len(ids)]), m

    with torch.no_grad():
        hf_logits = AutoModelForCausalLM.from_pretrained(llama).eval()(input_ids=torch.tensor([ids])).logits[0].numpy()
    scale = float(np.abs(hf_logits).max())
    for outtype, limit in (("f32", 1e-4), ("f16", 1e-2), ("q8_0", None), ("q4_0", None)):
        path = os.path.join(scratch, f"tiny-llama-{outtype}.gguf")
        subprocess.run([tailor, "export", "gguf", "--model", llama, "--outtype", outtype, "--output", path, "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        logits, model = llama_cpp_logits(path)
        diff = float(np.abs(logits - hf_logits).max())
        if outtype == "q8_0":
            # llama.cpp's own converter's q8_0 of the same folder, run by the same llama.cpp.
            same = float(np.abs(logits - golden["q8_0"]).max())
            ok = same < 1e-6
            print(f"q8_0: llama.cpp on ours vs on its converter's: max |Δ| = {same:.3g} "
                  f"(both {diff / scale:.2%} of the logit range from transformers): {'ok' if ok else 'FAIL'}")
        elif limit is None:
            ok = diff / scale < 0.25
            print(f"{outtype}: llama.cpp vs transformers: max |Δ| = {diff:.3g} ({diff / scale:.1%} of the range, 4-bit rounding): "
                  f"{'ok' if ok else 'FAIL'}")
        else:
            ok = diff / scale <= limit
            print(f"{outtype}: llama.cpp vs transformers: max |Δ| = {diff:.3g} ({diff / scale:.2g} relative): {'ok' if ok else 'FAIL'}")
        failures += not ok
        if outtype in ("f32", "f16"):
            # Greedy tokens: llama.cpp's against transformers' (which tailor generate's equal, by the parity tests).
            cpp_tokens = []
            for token in model.generate(ids, temp=0.0, reset=True):
                cpp_tokens.append(token)
                if len(cpp_tokens) == 8:
                    break
            with torch.no_grad():
                hf_tokens = AutoModelForCausalLM.from_pretrained(llama).generate(
                    torch.tensor([ids]), max_new_tokens=8, do_sample=False, eos_token_id=None)[0, len(ids):].tolist()
            same = cpp_tokens == hf_tokens
            print(f"{outtype}: llama.cpp's greedy tokens {'equal' if same else 'DIFFER from'} transformers' ({cpp_tokens}): "
                  f"{'ok' if same else 'FAIL'}")
            failures += not same
    # The gguf package reads every file we wrote, with our tensor names, types and shapes.
    import gguf
    for name in sorted(os.listdir(scratch)):
        if name.endswith(".gguf"):
            reader = gguf.GGUFReader(os.path.join(scratch, name))
            ok = len(reader.tensors) > 0 and all(t.name for t in reader.tensors)
            print(f"{name}: gguf {gguf.__name__} reads {len(reader.tensors)} tensors, "
                  f"{len(reader.fields)} fields: {'ok' if ok else 'FAIL'}")
            failures += not ok
    lora_dir = os.path.join(fixtures, "peft", "tiny-llama-lora")
    lora_gguf = os.path.join(scratch, "tiny-llama-lora.gguf")
    subprocess.run([tailor, "export", "gguf", "--model", llama, "--adapter", lora_dir, "--outtype", "f32", "--output", lora_gguf, "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    logits, _ = llama_cpp_logits(os.path.join(scratch, "tiny-llama-f32.gguf"), lora_gguf)
    diff = float(np.abs(logits - golden["peft_lora"]).max())
    print(f"LoRA (rsLoRA, rank and alpha patterns): llama.cpp with tailor's LoRA GGUF vs PEFT: max |Δ| = {diff:.3g} "
          f"(llama.cpp's own converter: {float(np.abs(golden['f32_lora'] - golden['peft_lora']).max()):.3g}): {'ok' if diff < 1e-4 else 'FAIL'}")
    failures += diff >= 1e-4

# mlx-lm (its CPU wheel, `setup-venv --with-mlx`) loads `tailor export mlx`'s adapters on the
# tiny Llama with PEFT's logits: LoRA with rank/alpha patterns and rsLoRA, and DoRA.
try:
    import mlx.core as mx
    from mlx_lm import load as mlx_load
except ImportError:
    print("mlx-lm is not installed (Scripts/reference/setup-venv --with-mlx): MLX adapter check skipped")
else:
    import numpy as np
    llama = os.path.join(fixtures, "tiny-llama")
    ids = [0, 5, 17, 42, 99, 7]
    for fixture in ("tiny-llama-lora", "tiny-llama-dora"):
        peft_dir, mlx_dir = os.path.join(fixtures, "peft", fixture), os.path.join(scratch, fixture + "-mlx")
        subprocess.run([tailor, "export", "mlx", "--model", llama, "--adapter", peft_dir, "--output", mlx_dir, "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        model, _ = mlx_load(llama, adapter_path=mlx_dir)
        ours = np.array(model(mx.array([ids])).astype(mx.float32))
        with torch.no_grad():
            reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(llama), peft_dir).eval()(
                input_ids=torch.tensor([ids])).logits.numpy()
        diff = float(np.abs(ours - reference).max())
        print(f"{fixture}: tailor export mlx loaded by mlx-lm vs PEFT: max |Δlogits| = {diff:.3g}: {'ok' if diff < 1e-4 else 'FAIL'}")
        failures += diff >= 1e-4

sys.exit(1 if failures else 0)
