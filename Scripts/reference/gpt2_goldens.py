"""A tiny random GPT-2 and its parity goldens, from transformers 5.24 (eager attention, f32).

fixtures/models/tiny-gpt2/: GPT2LMHeadModel (2 layers, n_embd 32, 4 heads, 64 positions,
scale_attn_by_inverse_layer_idx on, so both attention scales are exercised) with a byte-level BPE
tokenizer.json trained here (`<|endoftext|>` is id 0, GPT-2's bos, eos and pad).
fixtures/models/tiny-gpt2-parity.safetensors: model_goldens.parity on a right-padded causal-LM
batch (logits, last hidden state, loss, every gradient (Conv1D ones in their stored [in, out]
layout), ten AdamW losses) plus `greedy_prompt` and `greedy_tokens`: generate() without sampling.
fixtures/peft/tiny-gpt2-lora/: a PEFT LoRA on c_attn, c_proj and c_fc (fan_in_fan_out, as PEFT
sets for Conv1D) with random B; fixtures/models/tiny-gpt2-lora-logits.safetensors: its logits.
fixtures/models/tiny-gpt2-classifier/ + -parity.safetensors: GPT2ForSequenceClassification (3
labels, score on the last non-pad token) with the same parity record.

Usage: python gpt2_goldens.py FIXTURES_DIR
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_goldens import parity  # noqa: E402

CORPUS = ["The river ran quietly past the old mill.", "A bright morning follows a quiet night.",
          "Adapters make fine-tuning cheap.", "Numbers like 42 and 3.14 appear here."] * 20


def main(fixtures):
    folder = os.path.join(fixtures, "models", "tiny-gpt2")
    os.makedirs(folder, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    tok.save(os.path.join(folder, "tokenizer.json"))
    torch.manual_seed(8)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                        scale_attn_by_inverse_layer_idx=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)

    g = torch.Generator().manual_seed(9)
    ids = torch.randint(1, tok.get_vocab_size(), (2, 14), generator=g)
    mask = torch.ones(2, 14, dtype=torch.int64)
    mask[1, 10:] = 0
    ids[mask == 0] = 0
    labels = ids.clone()
    labels[mask == 0] = -100
    out = os.path.join(fixtures, "models", "tiny-gpt2-parity.safetensors")
    parity(GPT2LMHeadModel, folder, {"input_ids": ids, "attention_mask": mask, "labels": labels}, out)

    model = GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager").eval()
    prompt = torch.tensor([tok.encode("The river ran").ids])
    with torch.no_grad():
        greedy = model.generate(prompt, max_new_tokens=10, do_sample=False, pad_token_id=0, eos_token_id=None)
    tensors = load_file(out)
    tensors["greedy_prompt"] = prompt[0]
    tensors["greedy_tokens"] = greedy[0, prompt.shape[1]:].contiguous()
    save_file(tensors, out, metadata={"generator": f"transformers {__import__('transformers').__version__}"})

    torch.manual_seed(10)
    base = GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager")
    lora = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, fan_in_fan_out=True,
                                           target_modules=["c_attn", "c_proj", "c_fc"]))
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    lora.eval()
    lora.save_pretrained(os.path.join(fixtures, "peft", "tiny-gpt2-lora"))
    with torch.no_grad():
        logits = lora(input_ids=ids, attention_mask=mask).logits
    save_file({"logits": logits.contiguous()}, os.path.join(fixtures, "models", "tiny-gpt2-lora-logits.safetensors"))

    classifier_folder = os.path.join(fixtures, "models", "tiny-gpt2-classifier")
    torch.manual_seed(11)
    config.num_labels = 3
    GPT2ForSequenceClassification(config).save_pretrained(classifier_folder)
    tok.save(os.path.join(classifier_folder, "tokenizer.json"))
    parity(GPT2ForSequenceClassification, classifier_folder,
           {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2])},
           os.path.join(fixtures, "models", "tiny-gpt2-classifier-parity.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
