"""Greedy decoding of fixtures/tiny-llama loaded in bfloat16 by transformers (eager attention), the
reference for tailor's bf16 compute mode: fixtures/models/tiny-llama-bf16-greedy.json.

The model is tiny-llama's weights rounded to bf16 (from_pretrained(dtype=bfloat16) rounds to nearest
even, as `tailor convert --dtype bf16` does). Prompts are random token ids; only prompts whose every
greedy choice wins by at least MARGIN_ULPS bf16 steps of the top logit are kept: a choice decided by
one rounding step is not a property of the reference either (eager and sdpa attention can disagree
there). The first prompt's logits after the prompt are stored whole for a tolerance check.

Usage: python bf16_goldens.py FIXTURES_DIR
"""

import json
import math
import os
import sys

import torch
from transformers import AutoModelForCausalLM

MARGIN_ULPS = 4
PROMPTS = 4
NEW_TOKENS = 12


def main(fixtures):
    torch.set_num_threads(1)
    folder = os.path.join(fixtures, "tiny-llama")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="eager")
    model.eval()
    generator = torch.Generator().manual_seed(11)
    kept, candidates = [], 0
    while len(kept) < PROMPTS and candidates < 500:
        candidates += 1
        length = int(torch.randint(3, 20, (1,), generator=generator))
        prompt = torch.randint(2, model.config.vocab_size, (1, length), generator=generator)
        with torch.inference_mode():
            out = model.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True, pad_token_id=model.config.pad_token_id,
                                 eos_token_id=None)
        margins = []
        for scores in out.scores:
            top = scores[0].float().topk(2).values
            step = 2.0 ** (math.floor(math.log2(abs(top[0].item()) or 1.0)) - 7)  # one bf16 ulp at the top logit
            margins.append((top[0] - top[1]).item() / step)
        if min(margins) < MARGIN_ULPS:
            continue
        with torch.inference_mode():
            logits = model(prompt).logits[0, -1].float().tolist()
        kept.append({"prompt": prompt[0].tolist(), "tokens": out.sequences[0, length:].tolist(),
                     "min_margin_ulps": min(margins), "last_logits": logits})
    if len(kept) < PROMPTS:
        raise SystemExit(f"only {len(kept)} of {candidates} prompts decide every token by {MARGIN_ULPS} ulps")
    target = os.path.join(fixtures, "models", "tiny-llama-bf16-greedy.json")
    with open(target, "w") as f:
        json.dump({"model": "tiny-llama in bfloat16", "attention": "eager", "margin_ulps": MARGIN_ULPS,
                   "candidates": candidates, "prompts": kept}, f)
    print(f"{target}: {len(kept)} prompts of {candidates} tried")


if __name__ == "__main__":
    main(sys.argv[1])
