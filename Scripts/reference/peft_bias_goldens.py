"""PEFT 0.21.2 goldens for LoRA adapters that train biases, laid out as peft_goldens.py's (adapter
folder as PEFT saves it + golden.safetensors with the batch, logits, loss and grad.<key>).

PEFT saves with bias="all" every parameter of the model whose name ends in ".bias", under its
PEFT-model name: LayerNorm biases (`base_model.model.bert.embeddings.LayerNorm.bias`), the biases
of Linear layers LoRA does not target (`….attention.self.key.bias`), those of targeted layers on
their base layer (`….attention.self.query.base_layer.bias`), and for a module in modules_to_save
both copies (`classifier.modules_to_save.bias`, `classifier.original_module.bias`) besides the
usual `classifier.weight` / `classifier.bias`. With bias="lora_only" only the targeted layers'
`….base_layer.bias`. Every saved bias but `original_module.bias` is trained; the goldens move each
off the base's value (random, seeded) so that a bias Tailor fails to apply changes the logits.

fixtures/peft/tiny-bert-bias-all/: SEQ_CLS, r=4, alpha 8, query only, bias="all", classifier saved.
fixtures/peft/tiny-bert-bias-lora-only/: SEQ_CLS, r=4, alpha 8, query+value, bias="lora_only".
fixtures/peft/tiny-bert-dora-bias-all/: SEQ_CLS DoRA, r=4, alpha 8, query+intermediate.dense, bias="all".
fixtures/peft/tiny-qwen2-bias-all/: CAUSAL_LM, r=4, alpha 8, q_proj only, bias="all" (the k_proj and
    v_proj biases of the tiny Qwen2 are saved as biases of modules LoRA does not target).
fixtures/peft/tiny-gpt2-bias-all/: CAUSAL_LM, r=4, alpha 8, c_attn only (Conv1D: fan_in_fan_out),
    bias="all": the LayerNorm biases ln_1, ln_2, ln_f and the untargeted Conv1D biases.

Usage: python peft_bias_goldens.py FIXTURES_DIR (run from the repository root with FIXTURES_DIR
"fixtures", as the other PEFT goldens, so that base_model_name_or_path stays relative).
"""
import os
import sys

import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from peft_goldens import batches, golden


def qwen2_batch(vocabulary=128):
    """Two padded rows for a tiny causal LM (pad id 0)."""
    g = torch.Generator().manual_seed(13)
    ids = torch.randint(3, vocabulary, (2, 10), generator=g)
    mask = torch.ones(2, 10, dtype=torch.int64)
    mask[1, 6:] = 0
    ids[mask == 0] = 0
    labels = ids.clone()
    labels[mask == 0] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def main(fixtures):
    torch.manual_seed(3)
    bert_batch, _ = batches()
    bert = os.path.join(fixtures, "tiny-bert")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query"], lora_dropout=0.0, bias="all",
                        modules_to_save=["classifier"], task_type="SEQ_CLS", init_lora_weights=False)
    golden(AutoModelForSequenceClassification, bert, config, bert_batch, os.path.join(fixtures, "peft", "tiny-bert-bias-all"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0, bias="lora_only",
                        modules_to_save=["classifier"], task_type="SEQ_CLS", init_lora_weights=False)
    golden(AutoModelForSequenceClassification, bert, config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-bias-lora-only"))
    # DoRA's output subtracts the (trained) bias from the base output before rescaling it.
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "intermediate.dense"], lora_dropout=0.0, bias="all",
                        use_dora=True, modules_to_save=["classifier"], task_type="SEQ_CLS", init_lora_weights=False)
    golden(AutoModelForSequenceClassification, bert, config, bert_batch, os.path.join(fixtures, "peft", "tiny-bert-dora-bias-all"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], lora_dropout=0.0, bias="all",
                        task_type="CAUSAL_LM", init_lora_weights=False)
    golden(AutoModelForCausalLM, os.path.join(fixtures, "models", "tiny-qwen2"), config, qwen2_batch(),
           os.path.join(fixtures, "peft", "tiny-qwen2-bias-all"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0, bias="all", fan_in_fan_out=True,
                        task_type="CAUSAL_LM", init_lora_weights=False)
    golden(AutoModelForCausalLM, os.path.join(fixtures, "models", "tiny-gpt2"), config, qwen2_batch(vocabulary=300),
           os.path.join(fixtures, "peft", "tiny-gpt2-bias-all"))


if __name__ == "__main__":
    main(sys.argv[1])
