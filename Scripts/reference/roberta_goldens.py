"""A tiny random RoBERTa and its parity goldens, from transformers 5.24 / tokenizers (eager, f32).

fixtures/models/tiny-roberta/: RobertaForSequenceClassification (2 layers, hidden 32, 2 labels,
pad_token_id 1, type_vocab_size 1) and a byte-level BPE tokenizer.json trained here on a few
sentences, with RoBERTa's post-processor (`<s> A </s>`, pairs `<s> A </s></s> B </s>`).
fixtures/models/tiny-roberta-parity.safetensors: what model_goldens.parity records (logits, last
hidden state, loss, every gradient, ten AdamW losses) on a right-padded batch of singles and
pairs, plus `texts.json`: the batch's texts and the ids the tokenizer gave them.
fixtures/peft/tiny-roberta-lora/: a PEFT LoRA adapter (r 4, query and value, modules_to_save
classifier: RoBERTa's head of two Linear layers) with random B, and
fixtures/models/tiny-roberta-lora-logits.safetensors: its eval logits on the same batch.

Usage: python roberta_goldens.py FIXTURES_DIR
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import RobertaConfig, RobertaForSequenceClassification

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_goldens import parity  # noqa: E402

CORPUS = [
    "The river ran quietly past the old mill.", "A bright morning follows a quiet night.",
    "Adapters make fine-tuning cheap.", "Tokens, batches and gradients: the usual suspects.",
    "Héllo wörld, ünïcode too!", "Numbers like 42 and 3.14 appear here.",
] * 20
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def tokenizer():
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    return tok


def main(fixtures):
    folder = os.path.join(fixtures, "models", "tiny-roberta")
    os.makedirs(folder, exist_ok=True)
    tok = tokenizer()
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3, 4]
    tok.save(os.path.join(folder, "tokenizer.json"))
    torch.manual_seed(5)
    config = RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=40, type_vocab_size=1, pad_token_id=1,
                           bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, num_labels=2)
    RobertaForSequenceClassification(config).save_pretrained(folder)

    singles = ["The river ran past the mill.", "Adapters, cheap!"]
    pairs = [("A bright morning.", "Numbers like 42 appear."), ("Héllo", "wörld")]
    encodings = [tok.encode(text) for text in singles] + [tok.encode(a, b) for a, b in pairs]
    length = max(len(e.ids) for e in encodings)
    ids = torch.full((len(encodings), length), 1, dtype=torch.int64)
    mask = torch.zeros((len(encodings), length), dtype=torch.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids)
        mask[row, : len(encoding.ids)] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 1, 0])}
    parity(RobertaForSequenceClassification, folder, batch, os.path.join(fixtures, "models", "tiny-roberta-parity.safetensors"))
    with open(os.path.join(fixtures, "models", "tiny-roberta-texts.json"), "w") as f:
        json.dump({"singles": singles, "pairs": pairs, "ids": [e.ids for e in encodings]}, f, ensure_ascii=False)

    torch.manual_seed(6)
    base = RobertaForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
    lora = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"],
                                           modules_to_save=["classifier"]))
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    lora.eval()
    lora.save_pretrained(os.path.join(fixtures, "peft", "tiny-roberta-lora"))
    with torch.no_grad():
        logits = lora(input_ids=ids, attention_mask=mask).logits
    save_file({"logits": logits.contiguous()}, os.path.join(fixtures, "models", "tiny-roberta-lora-logits.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
