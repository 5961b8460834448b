"""Logit goldens for the rest of the Llama family, from transformers 5.24 (eager attention, f32):
tiny random Qwen2 (q/k/v biases), Mistral (a sliding window shorter than the sequence) and a
LlamaForSequenceClassification (score on the last non-padding token), each saved as a model
folder under fixtures/models/ with `parity.safetensors` holding input_ids, attention_mask and logits.

Usage: python family_goldens.py FIXTURES_DIR
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForSequenceClassification, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

common = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, tie_word_embeddings=False,
              pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="eager")


def save(name, model, ids, mask, fixtures):
    folder = os.path.join(fixtures, "models", name)
    model.eval()
    model.save_pretrained(folder)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    save_file({"input_ids": ids, "attention_mask": mask, "logits": logits.contiguous()}, os.path.join(folder, "parity.safetensors"))


def main(fixtures):
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(3, 128, (2, 12), generator=g)
    mask = torch.ones(2, 12, dtype=torch.int64)
    mask[1, 8:] = 0
    ids[mask == 0] = 0
    torch.manual_seed(2)
    save("tiny-qwen2", Qwen2ForCausalLM(Qwen2Config(**common)), ids, mask, fixtures)
    torch.manual_seed(3)
    save("tiny-mistral", MistralForCausalLM(MistralConfig(sliding_window=4, **common)), ids, mask, fixtures)
    torch.manual_seed(4)
    save("tiny-llama-classifier", LlamaForSequenceClassification(LlamaConfig(num_labels=3, **common)), ids, mask, fixtures)


if __name__ == "__main__":
    main(sys.argv[1])
