"""Goldens for merging adapters: PEFT 0.21.2's add_weighted_adapter on the two tiny-Llama LoRA
fixtures (peft/tailor-tiny-llama-lora, written by Tailor, and peft/tiny-llama-lora, written by
PEFT with rsLoRA and rank/alpha patterns), weights 0.3 and 0.7, with the combination types whose
result is a function of the updates ΔW: cat, ties_svd and magnitude_prune_svd (density 0.5; svd
gives cat's ΔW). The SVD is kept at full rank, thin (PEFT multiplies a full U by the kept S), so
the factors multiply back to the merged ΔW. Writes fixtures/peft/merge-goldens.safetensors with
each merged module's ΔW ("<type>/<module>"), PEFT's logits with its cat adapter active, and the
logits PEFT computes on the folder `tailor merge --method cat` wrote (our merge loaded in PEFT).

Usage: python merge_goldens.py TAILOR_BINARY FIXTURES_DIR
"""
import os
import shutil
import subprocess
import sys

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

tailor, fixtures = sys.argv[1], sys.argv[2]
base_dir = os.path.join(fixtures, "tiny-llama")
# The plain-LoRA adapter goes first: PEFT copies the first adapter's config into the merged one,
# use_rslora included, while setting lora_alpha = r, so with an rsLoRA adapter first the merged
# update comes out √r times too large (measured below; formats/peft-adapter.md).
first, second = os.path.join(fixtures, "peft", "tailor-tiny-llama-lora"), os.path.join(fixtures, "peft", "tiny-llama-lora")
weights = [0.3, 0.7]
torch.manual_seed(0)


def base():
    return AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation="eager", dtype=torch.float32)


model = PeftModel.from_pretrained(base(), first, adapter_name="a")
model.load_adapter(second, adapter_name="b")
golden = {}
for combination in ["cat", "ties_svd", "magnitude_prune_svd"]:
    name = "m_" + combination
    model.add_weighted_adapter(["a", "b"], weights, name, combination_type=combination, density=0.5, svd_rank=256,
                                svd_full_matrices=False)
    for module_name, module in model.named_modules():
        if isinstance(module, LoraLayer) and name in module.lora_A:
            key = module_name.removeprefix("base_model.model.")
            golden[f"{combination}/{key}"] = module.get_delta_weight(name).detach().contiguous()

ids = torch.randint(0, model.config.vocab_size, (2, 7))
mask = torch.ones_like(ids)
model.set_adapter("m_cat")
model.eval()
with torch.no_grad():
    golden["peft_cat_logits"] = model(input_ids=ids, attention_mask=mask).logits.contiguous()

merged = os.path.join(fixtures, "peft", "merge-goldens.tailor-cat")
shutil.rmtree(merged, ignore_errors=True)
subprocess.run([tailor, "merge", first, second, "--weights", "0.3,0.7", "--method", "cat", "--output", merged, "--json"],
               check=True, stdout=subprocess.DEVNULL)
ours = PeftModel.from_pretrained(base(), merged).eval()
with torch.no_grad():
    golden["tailor_cat_in_peft_logits"] = ours(input_ids=ids, attention_mask=mask).logits.contiguous()
shutil.rmtree(merged)
golden["input_ids"] = ids
difference = (golden["tailor_cat_in_peft_logits"] - golden["peft_cat_logits"]).abs().max().item()
print(f"merge goldens: {len(golden)} tensors; tailor's cat merge in PEFT vs PEFT's cat: {difference:.2e}")
swapped = PeftModel.from_pretrained(base(), second, adapter_name="a")
swapped.load_adapter(first, adapter_name="b")
swapped.add_weighted_adapter(["a", "b"], weights[::-1], "c", combination_type="cat")
layer = swapped.base_model.model.model.layers[0].self_attn.q_proj
factor = (layer.get_delta_weight("c") / (weights[1] * layer.get_delta_weight("a") + weights[0] * layer.get_delta_weight("b"))).median().item()
print(f"PEFT's cat with the rsLoRA adapter first: merged update x{factor:.4f} (√r = {layer.r['c'] ** 0.5:.4f})")
save_file(golden, os.path.join(fixtures, "peft", "merge-goldens.safetensors"))
