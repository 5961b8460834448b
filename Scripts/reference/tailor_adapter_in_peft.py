"""Checks that adapters written by `tailor train` load in Python PEFT 0.21.2 with the logits
Tailor computes, and commits the evidence: fixtures/peft/tailor-tiny-bert-<method>/ holds the
adapter Tailor wrote (LoRA with rsLoRA, DoRA, IA3, prompt tuning, prefix tuning; prefix tuning runs
through bert_prefix.py, PEFT's forward spelled for transformers 5) and `peft_logits.safetensors`,
PEFT's logits for a batch (the Swift test recomputes them with Tailor and compares).

Usage: python tailor_adapter_in_peft.py TAILOR_BINARY FIXTURES_DIR
"""
import os
import shutil
import subprocess
import sys

import torch
from peft import PeftModel
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification

from bert_prefix import bert_prefix_forward

tailor, fixtures = sys.argv[1], sys.argv[2]
base_dir = os.path.join(fixtures, "tiny-bert")
METHODS = {
    "lora": ["--method", "lora", "--r", "4", "--alpha", "16", "--target-modules", "query,key,value,dense",
             "--modules-to-save", "classifier", "--use-rslora"],
    "dora": ["--method", "dora", "--r", "4", "--alpha", "8", "--target-modules", "query,value", "--modules-to-save", "classifier"],
    "ia3": ["--method", "ia3"],
    "prompt": ["--method", "prompt", "--virtual-tokens", "3"],
    "prefix": ["--method", "prefix", "--virtual-tokens", "3"],
}

tokenizer = Tokenizer.from_file(os.path.join(base_dir, "tokenizer.json"))
tokenizer.enable_padding(pad_id=0)
texts = ["The espresso was wonderful.", "Never again.", "The plot was far from impressive, but the soundtrack was lovely."]
encodings = tokenizer.encode_batch(texts)
ids = torch.tensor([e.ids for e in encodings])
mask = torch.tensor([e.attention_mask for e in encodings])

for method, flags in METHODS.items():
    out = os.path.join(fixtures, "peft", f"tailor-tiny-bert-{method}")
    shutil.rmtree(out, ignore_errors=True)
    run = out + ".run"
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run([tailor, "train", "--model", base_dir, "--data", os.path.join(fixtures, "sentiment", "train.jsonl"),
                    "--epochs", "0.2", "--batch-size", "16", "--lr", "1e-2", "--output", run, "--json"] + flags,
                   check=True, stdout=subprocess.DEVNULL)
    os.makedirs(out)
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_labels.json"):
        shutil.copy(os.path.join(run, name), out)
    shutil.rmtree(run)
    base = AutoModelForSequenceClassification.from_pretrained(base_dir, attn_implementation="eager", dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out).eval()
    forward = (lambda **kwargs: bert_prefix_forward(model, **kwargs)) if method == "prefix" else model
    with torch.no_grad():
        logits = forward(input_ids=ids, attention_mask=mask).logits
    save_file({"input_ids": ids, "attention_mask": mask, "logits": logits.contiguous()}, os.path.join(out, "peft_logits.safetensors"))
    print(f"{method}: PEFT loaded the Tailor adapter: logits {logits.tolist()}")
