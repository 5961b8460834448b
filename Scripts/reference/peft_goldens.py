"""PEFT 0.21.2 interop goldens: LoRA adapters saved by Python PEFT for the tiny models (with
non-zero B, so they change the outputs), the logits of base + adapter, and the gradients of the
adapter's parameters for one batch (dropout 0), next to the batch they were computed on.

fixtures/peft/tiny-bert-lora/: SEQ_CLS, r=4, alpha 8, query+value, classifier saved.
fixtures/peft/tiny-llama-lora/: CAUSAL_LM, r=4, alpha 16, all-linear, rsLoRA, rank_pattern
    {q_proj: 8}, alpha_pattern {v_proj: 4}.
fixtures/peft/tiny-bert-dora/: SEQ_CLS DoRA, r=4, alpha 8, query+value+intermediate.dense, classifier saved.
fixtures/peft/tiny-llama-dora/: CAUSAL_LM DoRA, r=4, alpha 8, q_proj+v_proj+down_proj.
fixtures/peft/tiny-bert-ia3/: SEQ_CLS IA3 on key, value (attention) and output.dense (feed-forward).
fixtures/peft/tiny-bert-pissa/: SEQ_CLS LoRA with PiSSA init (r=4, alpha 8, query+value), A and B moved
    after init, classifier saved.
fixtures/peft/tiny-llama-ia3/: CAUSAL_LM IA3 on k_proj, v_proj and down_proj (feed-forward).
fixtures/peft/tiny-bert-prompt/: SEQ_CLS prompt tuning, 5 virtual tokens (random init), classifier saved.
fixtures/peft/tiny-llama-prompt/: CAUSAL_LM prompt tuning, 4 virtual tokens.
fixtures/peft/tiny-bert-prefix/: SEQ_CLS prefix tuning, 3 virtual tokens, classifier saved. PEFT 0.21.2's
    sequence-classification forward cannot run it on transformers 5.24 (BertModel's argument is now
    `cache`, so PEFT raises "Model does not support past key values"); the golden therefore passes
    PEFT's own prefix cache (`get_prompt`) and prefix attention mask to the BERT backbone exactly as
    PEFT's `_prefix_tuning_forward` would, and the head on top.
fixtures/peft/tiny-llama-prefix/: CAUSAL_LM prefix tuning, 4 virtual tokens (grouped-query keys).
Each folder: adapter_config.json + adapter_model.safetensors (as PEFT saves them) and
golden.safetensors (batch, logits, grad.<key> for every saved tensor).

Usage: python peft_goldens.py FIXTURES_DIR
"""
import os
import sys

import peft
import torch
from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from bert_prefix import bert_prefix_forward

assert peft.__version__ == "0.21.2", peft.__version__
torch.manual_seed(0)


def randomize(model, lora_too=False, biases=False):
    """Moves trainable vectors off their identity init so the adapter changes the outputs (and,
    for PiSSA, A and B off the SVD init, so that the residual base must be rebuilt on load).
    With `biases` (bias="all"/"lora_only") every trained bias moves too, from its own generator,
    so the draws of the goldens without trained biases stay as they were."""
    g = torch.Generator().manual_seed(5)
    bias_g = torch.Generator().manual_seed(11)
    moved = ("ia3_l", "lora_magnitude_vector") + (("lora_A", "lora_B") if lora_too else ())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad and any(part in name for part in moved):
                parameter.mul_(1 + 0.3 * torch.randn(parameter.shape, generator=g))
            elif biases and parameter.requires_grad and name.endswith(".bias"):
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=bias_g))


def golden(model_cls, base_dir, config, batch, out_dir):
    base = model_cls.from_pretrained(base_dir, attn_implementation="eager", dtype=torch.float32)
    for module in base.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model = get_peft_model(base, config)
    randomize(model, lora_too=getattr(config, "init_lora_weights", None) == "pissa",
              biases=getattr(config, "bias", "none") != "none")
    model.save_pretrained(out_dir)
    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    forward = model
    if isinstance(config, PrefixTuningConfig) and config.task_type == "SEQ_CLS":
        forward = lambda **kwargs: bert_prefix_forward(model, **kwargs)
    with torch.no_grad():
        logits = forward(**inputs).logits
    model.train()
    loss = forward(**batch).loss
    loss.backward()
    saved = load_file(os.path.join(out_dir, "adapter_model.safetensors"))
    grads = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and parameter.grad is not None:
            grads[name] = parameter.grad.detach().clone()
    tensors = dict(batch)
    tensors["logits"] = logits
    tensors["loss"] = loss.detach().reshape(1)
    for key in saved:
        # Map the saved key back to the live parameter name (adapter name "default" reinserted).
        candidates = [n for n in grads if n.replace(".default", "").replace(".modules_to_save", "") == key
                      or n.replace(".default", "") == key or n.replace(".default.weight", "") == key
                      or (key == "prompt_embeddings" and n.endswith("prompt_encoder.default.embedding.weight"))]
        if candidates:
            tensors["grad." + key] = grads[candidates[0]]
    # Cloned: a saved key may alias another (bias="all" saves a modules_to_save bias twice).
    save_file({k: v.clone().contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "golden.safetensors"))


def batches():
    """The tiny BERT's classification batch and the tiny Llama's causal-LM batch (padded rows)."""
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(5, 512, (3, 12), generator=g)
    mask = torch.ones(3, 12, dtype=torch.int64)
    mask[1, 9:] = 0
    ids[mask == 0] = 0
    bert_batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 1])}
    ids = torch.randint(3, 384, (2, 10), generator=g)
    mask = torch.ones(2, 10, dtype=torch.int64)
    mask[1, 7:] = 0
    ids[mask == 0] = 1
    labels = ids.clone()
    labels[mask == 0] = -100
    return bert_batch, {"input_ids": ids, "attention_mask": mask, "labels": labels}


def main(fixtures):
    bert_batch, llama_batch = batches()
    batch = bert_batch
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0,
                        modules_to_save=["classifier"], task_type="SEQ_CLS", init_lora_weights=False)
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, batch,
           os.path.join(fixtures, "peft", "tiny-bert-lora"))

    batch = llama_batch
    config = LoraConfig(r=4, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0, use_rslora=True,
                        rank_pattern={"q_proj": 8}, alpha_pattern={"v_proj": 4}, task_type="CAUSAL_LM",
                        init_lora_weights=False)
    golden(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), config, batch,
           os.path.join(fixtures, "peft", "tiny-llama-lora"))

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value", "intermediate.dense"], lora_dropout=0.0,
                        use_dora=True, modules_to_save=["classifier"], task_type="SEQ_CLS", init_lora_weights=False)
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-dora"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0,
                        use_dora=True, task_type="CAUSAL_LM", init_lora_weights=False)
    golden(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), config, llama_batch,
           os.path.join(fixtures, "peft", "tiny-llama-dora"))
    config = IA3Config(target_modules=["key", "value", "output.dense"], feedforward_modules=["output.dense"],
                       modules_to_save=["classifier"], task_type="SEQ_CLS")
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-ia3"))
    config = PromptTuningConfig(num_virtual_tokens=5, task_type="SEQ_CLS")
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-prompt"))
    config = PromptTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM")
    golden(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), config, llama_batch,
           os.path.join(fixtures, "peft", "tiny-llama-prompt"))
    config = PrefixTuningConfig(num_virtual_tokens=3, task_type="SEQ_CLS")
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-prefix"))
    config = PrefixTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM")
    golden(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), config, llama_batch,
           os.path.join(fixtures, "peft", "tiny-llama-prefix"))
    config = IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"], task_type="CAUSAL_LM")
    golden(AutoModelForCausalLM, os.path.join(fixtures, "tiny-llama"), config, llama_batch,
           os.path.join(fixtures, "peft", "tiny-llama-ia3"))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0, init_lora_weights="pissa",
                        modules_to_save=["classifier"], task_type="SEQ_CLS")
    golden(AutoModelForSequenceClassification, os.path.join(fixtures, "tiny-bert"), config, bert_batch,
           os.path.join(fixtures, "peft", "tiny-bert-pissa"))


if __name__ == "__main__":
    main(sys.argv[1])
