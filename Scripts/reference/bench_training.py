"""Reference timings for Scripts/bench: PyTorch eager on the CPU (2 threads), the same jobs as
`tailor bench`: full fine-tuning steps of BertForSequenceClassification (forward, loss, backward,
AdamW; dropout as configured), PEFT LoRA and DoRA steps (r 8, alpha 32, dropout 0.05 on
query+value, classifier saved), PEFT IA3 steps (its default BERT targets) and inference forwards,
on random token ids.

Usage: python bench_training.py MODEL_DIR BATCH SEQ STEPS
Prints one JSON line per mode with tokens_per_s.
"""
import json
import sys
import time

import torch
from peft import IA3Config, LoraConfig, get_peft_model
from transformers import AutoModelForSequenceClassification

torch.set_num_threads(2)
torch.manual_seed(0)
model_dir, batch, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32)
ids = torch.randint(0, model.config.vocab_size, (batch, seq))
labels = torch.randint(0, 2, (batch,))


def step_rate(mode, trained):
    """Times training steps (forward, loss, backward, AdamW over the trainable parameters) of
    `trained` after one warm-up step."""
    trained.train()
    optimizer = torch.optim.AdamW([p for p in trained.parameters() if p.requires_grad], lr=1e-5)

    def step():
        optimizer.zero_grad()
        loss = trained(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({"mode": mode, "tokens_per_s": batch * seq / seconds, "seconds_per_step": seconds}))


def peft_step_rate(mode, config):
    """Times PEFT training steps of `config` on a fresh copy of the model."""
    step_rate(mode, get_peft_model(AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32),
                                   config))


step_rate("train", model)
for mode, dora in (("lora", False), ("dora", True)):
    peft_step_rate(mode, LoraConfig(r=8, lora_alpha=32, target_modules=["query", "value"], lora_dropout=0.05,
                                    use_dora=dora, modules_to_save=["classifier"], task_type="SEQ_CLS"))
peft_step_rate("ia3", IA3Config(target_modules=["key", "value", "output.dense"], feedforward_modules=["output.dense"],
                                modules_to_save=["classifier"], task_type="SEQ_CLS"))

model.eval()
with torch.no_grad():
    model(input_ids=ids)
    start = time.perf_counter()
    for _ in range(steps):
        model(input_ids=ids)
    infer_seconds = (time.perf_counter() - start) / steps
print(json.dumps({"mode": "infer", "tokens_per_s": batch * seq / infer_seconds, "seconds_per_step": infer_seconds}))
