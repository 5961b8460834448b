"""Tiny models made with transformers for the demo and the parity tests (seeded, a few hundred kB).

fixtures/tiny-bert: BertForSequenceClassification (2 layers, hidden 32, 4 heads, vocab 512, 2 labels),
saved with save_pretrained (config.json + model.safetensors, f32).
fixtures/tiny-bert-sharded: the same model saved with max_shard_size="50KB" (shards + index).

Usage: python tiny_models.py FIXTURES_DIR
"""
import os
import sys

import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification

assert transformers.__version__ == "5.24.0", transformers.__version__


def main(fixtures):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(os.path.join(fixtures, "tiny-bert"))
    # The same weights as transformers shards them, for the sharded-checkpoint reader tests.
    model.save_pretrained(os.path.join(fixtures, "tiny-bert-sharded"), max_shard_size="50KB")


if __name__ == "__main__":
    main(sys.argv[1])
