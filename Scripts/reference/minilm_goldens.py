"""Small goldens for the real all-MiniLM-L6-v2 (from Scripts/fetch-minilm's cache), so tests can
check our BERT and WordPiece on it when it has been fetched, without committing the model.

fixtures/minilm/goldens.json: token ids of the tokenizer parity text; last hidden state and
mean-pooled embedding (sentence-transformers' output) of two sentences, rounded to 1e-6.

Usage: python minilm_goldens.py FIXTURES_DIR MODEL_DIR
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModel

fixtures, model_dir = sys.argv[1], sys.argv[2]
out = os.path.join(fixtures, "minilm")
os.makedirs(out, exist_ok=True)
lines = [line.replace("\\n", "\n").replace("\\r", "\r")
         for line in open(os.path.join(fixtures, "tokenizers", "test-text.txt"), encoding="utf-8").read().splitlines()]
tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
tokenizer.no_truncation()
tokenizer.no_padding()
ids = [tokenizer.encode(line).ids for line in lines]

sentences = ["Tailor fine-tunes transformers on your own machine.", "A short one."]
encoded = [tokenizer.encode(s).ids for s in sentences]
length = max(len(e) for e in encoded)
input_ids = torch.tensor([e + [0] * (length - len(e)) for e in encoded])
mask = torch.tensor([[1] * len(e) + [0] * (length - len(e)) for e in encoded])
model = AutoModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32).eval()
with torch.no_grad():
    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
with open(os.path.join(out, "goldens.json"), "w", encoding="utf-8") as f:
    json.dump({"tokenizer_ids": ids, "sentences": sentences, "input_ids": input_ids.tolist(), "attention_mask": mask.tolist(),
               "last_hidden_state": [[[round(v, 6) for v in row] for row in seq] for seq in hidden.tolist()],
               "mean_pooled": [[round(v, 6) for v in row] for row in pooled.tolist()]}, f)
