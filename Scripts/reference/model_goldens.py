"""Parity goldens for the training core, from transformers 5.24 / torch 2.15 (eager attention, f32).

fixtures/models/tiny-bert-parity.safetensors (BertForSequenceClassification, fixtures/tiny-bert):
  input_ids, attention_mask (right padding), token_type_ids, labels; eval-mode `logits` and
  `last_hidden_state`; with dropout off: `loss`, `grad.<parameter>` for every parameter after one
  backward, and `adamw_losses`: ten AdamW steps (lr 1e-3, weight decay 0.01) on the same batch.
fixtures/models/tiny-llama-parity.safetensors (LlamaForCausalLM, fixtures/tiny-llama): the same with
  causal-LM `labels` (-100 on padding).

Usage: python model_goldens.py FIXTURES_DIR
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)


def parity(model_cls, folder, batch, out_path, extra=None):
    model = model_cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        outputs = model(**{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True)
    tensors = dict(batch)
    tensors["logits"] = outputs.logits
    tensors["last_hidden_state"] = outputs.hidden_states[-1]

    # Gradients and training with dropout off (train mode otherwise, as a fine-tuning step runs).
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.config.attention_probs_dropout_prob = 0.0
    model.train()
    loss = model(**batch).loss
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    for name, parameter in model.named_parameters():
        tensors["grad." + name] = parameter.grad.detach().clone()
    model.zero_grad()

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_path,
              metadata={"generator": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}"})


def main(fixtures):
    out = os.path.join(fixtures, "models")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)

    ids = torch.randint(5, 512, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.int64)
    mask[1, 9:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    types = torch.zeros(3, 12, dtype=torch.int64)
    types[0, 6:] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": torch.tensor([0, 1, 1])}
    parity(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), batch,
           os.path.join(out, "tiny-bert-parity.safetensors"))

    ids = torch.randint(3, 256, (2, 16), generator=g)
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 11:] = 0
    ids[mask == 0] = 0
    labels = ids.clone()
    labels[mask == 0] = -100
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    parity(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), batch,
           os.path.join(out, "tiny-llama-parity.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
