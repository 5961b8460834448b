"""Which modules PEFT 0.21.2 adapts for a table of target_modules / exclude_modules /
layers_to_transform settings on the tiny BERT and tiny Llama: fixtures/peft/target-modules.json.

Usage: python target_modules_goldens.py FIXTURES_DIR
"""
import json
import os
import sys

from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

CASES = {
    "bert": [
        {"target_modules": ["query"]},
        {"target_modules": ["self.query", "value"]},
        {"target_modules": ["dense"]},
        {"target_modules": "dense"},
        {"target_modules": r".*\.(query|key)"},
        {"target_modules": r"bert\.encoder\.layer\.1\..*"},
        {"target_modules": "all-linear"},
        {"target_modules": ["query", "value"], "layers_to_transform": [1]},
        {"target_modules": ["dense"], "exclude_modules": ["output.dense"]},
        {"target_modules": ["layer.0.attention.self.query"]},
    ],
    "llama": [
        {"target_modules": ["q_proj", "v_proj"]},
        {"target_modules": "all-linear"},
        {"target_modules": r".*mlp.*"},
        {"target_modules": ["proj"]},
        {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "layers_to_transform": [0]},
        {"target_modules": "all-linear", "exclude_modules": ["down_proj"]},
    ],
}


def main(fixtures):
    out = {}
    for name, (cls, folder) in {"bert": (AutoModelForSequenceClassification, "tiny-bert"),
                                "llama": (AutoModelForCausalLM, "tiny-llama")}.items():
        results = []
        for case in CASES[name]:
            base = cls.from_pretrained(os.path.join(fixtures, folder))
            try:
                model = get_peft_model(base, LoraConfig(r=2, **case))
                selected = sorted(n[len("base_model.model."):-len(".lora_A")] for n, _ in model.named_modules() if n.endswith(".lora_A"))
            except ValueError as error:
                selected = {"error": str(error).split("\n")[0]}
            results.append({"config": case, "modules": selected})
        out[name] = results
    with open(os.path.join(fixtures, "peft", "target-modules.json"), "w") as f:
        json.dump({"generator": "peft 0.21.2", "cases": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
