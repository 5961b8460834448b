"""Random-initialised decoders with the exact configs of released models, for benchmarks at the
sizes users run (no download: transformers builds them from the config). Each folder gets
config.json, bf16 safetensors shards as the Hub has them, and a placeholder byte-level BPE
tokenizer.json with the model's vocabulary size (256 byte tokens, the rest fillers), which is
enough for timing prompt and decode.

Usage: python random_models.py OUTPUT_ROOT [NAME ...]   (names: smollm2-135m, qwen2.5-0.5b, llama-3.2-1b)
"""

import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

CONFIGS = {
    # HuggingFaceTB/SmolLM2-135M
    "smollm2-135m": LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0),
    # Qwen/Qwen2.5-0.5B
    "qwen2.5-0.5b": Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151643),
    # meta-llama/Llama-3.2-1B
    "llama-3.2-1b": LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
        tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001),
}


def byte_alphabet():
    """GPT-2's byte-to-unicode map: printable bytes stand for themselves, the rest shift above 255."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def placeholder_tokenizer(vocab_size):
    vocab = {c: i for i, c in enumerate(byte_alphabet())}
    for i in range(256, vocab_size):
        vocab[f"<fill{i}>"] = i
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def main():
    root = sys.argv[1]
    names = sys.argv[2:] or list(CONFIGS)
    torch.manual_seed(0)
    for name in names:
        folder = os.path.join(root, name)
        if os.path.exists(os.path.join(folder, "config.json")):
            print(f"{folder}: exists")
            continue
        config = CONFIGS[name]
        config.dtype = torch.bfloat16
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(folder, max_shard_size="1GB")
        with open(os.path.join(folder, "tokenizer.json"), "w") as f:
            json.dump(placeholder_tokenizer(config.vocab_size), f)
        print(f"{folder}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
