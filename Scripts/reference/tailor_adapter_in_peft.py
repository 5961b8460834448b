"""Checks that adapters written by `tailor train` load in Python PEFT 0.21.2 with the logits
Tailor computes, and commits the evidence: fixtures/peft/tailor-tiny-<model>-<method>/ holds the
adapter Tailor wrote and `peft_logits.safetensors`, PEFT's logits for a batch (the Swift test
recomputes them with Tailor and compares). BERT: sequence classification with LoRA (rsLoRA), PiSSA, DoRA,
IA3, prompt and prefix tuning (prefix through bert_prefix.py, PEFT's forward spelled for
transformers 5). Llama: causal LM with the same methods, logits for every position. For the methods
that merge (LoRA, PiSSA, DoRA, IA3) also `merged_logits`: plain transformers on the folder
`tailor merge --into-base` wrote.

Usage: python tailor_adapter_in_peft.py TAILOR_BINARY FIXTURES_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from bert_prefix import bert_prefix_forward

tailor, fixtures = sys.argv[1], sys.argv[2]
BERT_METHODS = {
    "lora": ["--method", "lora", "--r", "4", "--alpha", "16", "--target-modules", "query,key,value,dense",
             "--modules-to-save", "classifier", "--use-rslora"],
    "dora": ["--method", "dora", "--r", "4", "--alpha", "8", "--target-modules", "query,value", "--modules-to-save", "classifier"],
    "pissa": ["--method", "lora", "--init-lora-weights", "pissa", "--r", "4", "--alpha", "8", "--target-modules", "query,value",
              "--modules-to-save", "classifier"],
    "ia3": ["--method", "ia3"],
    "prompt": ["--method", "prompt", "--virtual-tokens", "3"],
    "prefix": ["--method", "prefix", "--virtual-tokens", "3"],
}
MERGEABLE = {"lora", "pissa", "dora", "ia3"}
LLAMA_METHODS = {
    "lora": ["--method", "lora", "--r", "4", "--alpha", "8", "--target-modules", "all-linear"],
    "dora": ["--method", "dora", "--r", "4", "--alpha", "8", "--target-modules", "q_proj,v_proj,down_proj"],
    "ia3": ["--method", "ia3"],
    "prompt": ["--method", "prompt", "--virtual-tokens", "3"],
    "prefix": ["--method", "prefix", "--virtual-tokens", "3"],
}


def check(kind, methods, data, extra, model_cls, ids, mask, files):
    base_dir = os.path.join(fixtures, "tiny-" + kind)
    for method, flags in methods.items():
        out = os.path.join(fixtures, "peft", f"tailor-tiny-{kind}-{method}")
        shutil.rmtree(out, ignore_errors=True)
        run = out + ".run"
        shutil.rmtree(run, ignore_errors=True)
        subprocess.run([tailor, "train", "--model", base_dir, "--data", data, "--batch-size", "16", "--lr", "1e-2",
                        "--output", run, "--json"] + extra + flags, check=True, stdout=subprocess.DEVNULL)
        os.makedirs(out)
        for name in files:
            shutil.copy(os.path.join(run, name), out)
        shutil.rmtree(run)
        base = model_cls.from_pretrained(base_dir, attn_implementation="eager", dtype=torch.float32)
        model = PeftModel.from_pretrained(base, out).eval()
        bert_prefix = kind == "bert" and method == "prefix"
        forward = (lambda **kwargs: bert_prefix_forward(model, **kwargs)) if bert_prefix else model
        with torch.no_grad():
            logits = forward(input_ids=ids, attention_mask=mask).logits
        golden = {"input_ids": ids, "attention_mask": mask, "logits": logits.contiguous()}
        if method in MERGEABLE:
            # `tailor merge --into-base`, then plain transformers (no PEFT) on the merged folder.
            merged = out + ".merged"
            shutil.rmtree(merged, ignore_errors=True)
            subprocess.run([tailor, "merge", "--into-base", "--model", base_dir, "--adapter", out, "--output", merged, "--json"],
                           check=True, stdout=subprocess.DEVNULL)
            plain = model_cls.from_pretrained(merged, attn_implementation="eager", dtype=torch.float32).eval()
            with torch.no_grad():
                golden["merged_logits"] = plain(input_ids=ids, attention_mask=mask).logits.contiguous()
            shutil.rmtree(merged)
            print(f"{kind} {method}: merged folder in transformers differs from PEFT by "
                  f"{(golden['merged_logits'] - golden['logits']).abs().max().item():.2e}")
        save_file(golden, os.path.join(out, "peft_logits.safetensors"))
        print(f"{kind} {method}: PEFT loaded the Tailor adapter, logits {tuple(logits.shape)}")


tokenizer = Tokenizer.from_file(os.path.join(fixtures, "tiny-bert", "tokenizer.json"))
tokenizer.enable_padding(pad_id=0)
texts = ["The espresso was wonderful.", "Never again.", "The plot was far from impressive, but the soundtrack was lovely."]
encodings = tokenizer.encode_batch(texts)
check("bert", BERT_METHODS, os.path.join(fixtures, "sentiment", "train.jsonl"), ["--epochs", "0.2"],
      AutoModelForSequenceClassification, torch.tensor([e.ids for e in encodings]),
      torch.tensor([e.attention_mask for e in encodings]), ("adapter_config.json", "adapter_model.safetensors", "adapter_labels.json"))

with tempfile.TemporaryDirectory() as scratch:
    lm_data = os.path.join(scratch, "lm.jsonl")
    with open(lm_data, "w") as f:
        for i in range(32):
            f.write(json.dumps({"prompt": f"Question {i}: what comes after {i}?", "completion": f" {i + 1}."}) + "\n")
    ids = torch.tensor([[5, 17, 42, 99, 7, 3], [8, 250, 31, 64, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    check("llama", LLAMA_METHODS, lm_data, ["--task", "causal-lm", "--epochs", "1"], AutoModelForCausalLM, ids, mask,
          ("adapter_config.json", "adapter_model.safetensors"))
