"""Tiny models made with transformers for the demo and the parity tests (seeded, a few hundred kB).

fixtures/tiny-bert: BertForSequenceClassification (2 layers, hidden 32, 4 heads, vocab 512, 2 labels),
saved with save_pretrained (config.json + model.safetensors, f32), with a WordPiece tokenizer.json
trained on the tokenizer parity text (BERT's pipeline, ≤ 512 tokens).
fixtures/tiny-bert-sharded: the same model saved with max_shard_size="50KB" (shards + index).
fixtures/tiny-llama: LlamaForCausalLM (2 layers, hidden 64, 4 heads, 2 key/value heads, SwiGLU 128,
vocab 384, untied lm_head), f32, with a Llama-3-style byte-level BPE tokenizer.json (384 tokens;
<|begin_of_text|> = 0 is BOS, <|end_of_text|> = 1 is EOS and padding).

Usage: python tiny_models.py FIXTURES_DIR
"""
import os
import sys

import torch
import transformers

from tokenizer_goldens import byte_level, wordpiece
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

assert transformers.__version__ == "5.24.0", transformers.__version__


def main(fixtures):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(os.path.join(fixtures, "tiny-bert"))
    tokenizer = wordpiece(vocab_size=512)
    assert tokenizer.get_vocab_size() <= 512
    tokenizer.save(os.path.join(fixtures, "tiny-bert", "tokenizer.json"))
    # The same weights as transformers shards them, for the sharded-checkpoint reader tests.
    model.save_pretrained(os.path.join(fixtures, "tiny-bert-sharded"), max_shard_size="50KB")

    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(os.path.join(fixtures, "tiny-llama"))
    tokenizer = byte_level(llama3=True, vocab_size=384)
    assert tokenizer.get_vocab_size() <= 384 and tokenizer.token_to_id("<|end_of_text|>") == 1
    tokenizer.save(os.path.join(fixtures, "tiny-llama", "tokenizer.json"))


if __name__ == "__main__":
    main(sys.argv[1])
