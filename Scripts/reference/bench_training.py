"""Reference timings for Scripts/bench: PyTorch eager on the CPU (2 threads), the same jobs as
`tailor bench`: full fine-tuning steps of BertForSequenceClassification (forward, loss, backward,
AdamW; dropout as configured), PEFT LoRA steps (r 8, alpha 32, dropout 0.05 on query+value,
classifier saved) and inference forwards, on random token ids.

Usage: python bench_training.py MODEL_DIR BATCH SEQ STEPS
Prints one JSON line per mode with tokens_per_s.
"""
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForSequenceClassification

torch.set_num_threads(2)
torch.manual_seed(0)
model_dir, batch, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32)
ids = torch.randint(0, model.config.vocab_size, (batch, seq))
labels = torch.randint(0, 2, (batch,))

model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)


def train_step():
    optimizer.zero_grad()
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    optimizer.step()


train_step()
start = time.perf_counter()
for _ in range(steps):
    train_step()
train_seconds = (time.perf_counter() - start) / steps
print(json.dumps({"mode": "train", "tokens_per_s": batch * seq / train_seconds, "seconds_per_step": train_seconds}))

lora = get_peft_model(AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32),
                      LoraConfig(r=8, lora_alpha=32, target_modules=["query", "value"], lora_dropout=0.05,
                                 modules_to_save=["classifier"], task_type="SEQ_CLS"))
lora.train()
lora_optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-5)


def lora_step():
    lora_optimizer.zero_grad()
    loss = lora(input_ids=ids, labels=labels).loss
    loss.backward()
    lora_optimizer.step()


lora_step()
start = time.perf_counter()
for _ in range(steps):
    lora_step()
lora_seconds = (time.perf_counter() - start) / steps
print(json.dumps({"mode": "lora", "tokens_per_s": batch * seq / lora_seconds, "seconds_per_step": lora_seconds}))

model.eval()
with torch.no_grad():
    model(input_ids=ids)
    start = time.perf_counter()
    for _ in range(steps):
        model(input_ids=ids)
    infer_seconds = (time.perf_counter() - start) / steps
print(json.dumps({"mode": "infer", "tokens_per_s": batch * seq / infer_seconds, "seconds_per_step": infer_seconds}))
