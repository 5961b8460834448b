"""The reference side of Scripts/bench's LLM rows, one job per process so each peak memory is its own.

  bench_llm.py bandwidth                         memory read bandwidth, 2 threads (GB/s)
  bench_llm.py generate MODEL DTYPE PROMPT NEW   transformers greedy decoding, batch 1 (DTYPE bf16|f32)
  bench_llm.py train MODEL BATCH LENGTH STEPS    PEFT LoRA r8 alpha 32 on q_proj,v_proj, f32, causal LM
  bench_llm.py gguf MODEL OUTPUT                 the model as a Q4_0 GGUF for llama.cpp (gguf's quantizer)
  bench_llm.py llamacpp FILE PROMPT NEW          llama.cpp (llama-cpp-python) greedy decoding, batch 1
  bench_llm.py peak-anon COMMAND...              runs COMMAND, samples its anonymous resident memory

Each prints one JSON line. Timings: torch and llama.cpp on 2 threads, as tailor on this machine.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np

THREADS = 2


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bandwidth():
    """Two threads each sum half of a 1 GiB array (numpy's reductions release the GIL); best of 5."""
    values = np.ones(1 << 28, dtype=np.float32)
    halves = np.array_split(values, THREADS)
    best = float("inf")
    for _ in range(5):
        threads = [threading.Thread(target=np.add.reduce, args=(half,)) for half in halves]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        best = min(best, time.perf_counter() - start)
    return {"job": "bandwidth", "bytes_per_s": values.nbytes / best, "threads": THREADS}


def generate(model_dir, dtype, prompt_tokens, new_tokens):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
    model.eval()
    load = time.perf_counter() - start
    generator = torch.Generator().manual_seed(7)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_tokens), generator=generator)
    with torch.inference_mode():
        prefill_start = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        first = time.perf_counter() - start
        prefill = time.perf_counter() - prefill_start
        past = out.past_key_values
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        decode_start = time.perf_counter()
        for _ in range(new_tokens - 1):
            out = model(input_ids=token, past_key_values=past, use_cache=True)
            past = out.past_key_values
            token = out.logits[:, -1].argmax(-1, keepdim=True)
        decode = time.perf_counter() - decode_start
    return {"job": f"generate-{dtype}", "load_s": load, "first_token_s": first, "prefill_tokens_per_s": prompt_tokens / prefill,
            "decode_tokens_per_s": (new_tokens - 1) / decode, "peak_memory_bytes": peak_rss()}


def train(model_dir, batch, length, steps):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(0, model.config.vocab_size, (batch, length))

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = (time.perf_counter() - start) / steps
    return {"job": "peft-lora", "tokens_per_s": batch * length / seconds, "seconds_per_step": seconds, "loss": loss,
            "peak_memory_bytes": peak_rss()}


def permute(weights, heads):
    """llama.cpp's rotary layout: convert_hf_to_gguf.py reorders each head's q/k rows so that
    pairs (i, i + d/2) become adjacent."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def gguf_file(model_dir, output):
    import gguf
    import torch
    from safetensors import safe_open

    config = json.load(open(os.path.join(model_dir, "config.json")))
    tokenizer = json.load(open(os.path.join(model_dir, "tokenizer.json")))
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer = gguf.GGUFWriter(output, "llama")
    writer.add_name(os.path.basename(model_dir))
    writer.add_context_length(min(config["max_position_embeddings"], 8192))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    # A placeholder vocabulary of the model's size (the byte-level one random_models.py writes):
    # enough for llama.cpp to load and time; prompts are token ids.
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    tokens = [token for token, _ in vocab] + [f"<pad{i}>" for i in range(config["vocab_size"] - len(vocab))]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in tokenizer["model"].get("merges", [])]
    # llama.cpp refuses a BPE vocabulary without merges (an empty array is not written).
    writer.add_token_merges(merges or [f"{tokens[0]} {tokens[1]}"])
    writer.add_bos_token_id(config.get("bos_token_id") or 0)
    writer.add_eos_token_id(config.get("eos_token_id") or 0)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    index = os.path.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    for file in files:
        with safe_open(os.path.join(model_dir, file), "pt") as f:
            for name in f.keys():
                values = f.get_tensor(name).to(torch.float32).numpy()
                if name == "model.embed_tokens.weight":
                    target = "token_embd.weight"
                elif name == "model.norm.weight":
                    target = "output_norm.weight"
                elif name == "lm_head.weight":
                    target = "output.weight"
                else:
                    parts = name.split(".")
                    layer, module = parts[2], ".".join(parts[3:-1])
                    target = f"blk.{layer}.{names[module]}.weight"
                    if module == "self_attn.q_proj":
                        values = permute(values, heads)
                    elif module == "self_attn.k_proj":
                        values = permute(values, kv_heads)
                if values.ndim == 2:
                    packed = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q4_0)
                    writer.add_tensor(target, packed, raw_dtype=gguf.GGMLQuantizationType.Q4_0)
                else:
                    writer.add_tensor(target, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"job": "gguf", "bytes": os.path.getsize(output)}


def llamacpp(path, prompt_tokens, new_tokens):
    import llama_cpp
    from llama_cpp import Llama

    start = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=prompt_tokens + new_tokens + 8, n_batch=prompt_tokens, n_threads=THREADS,
                n_threads_batch=THREADS, verbose=False)
    load = time.perf_counter() - start
    rng = np.random.default_rng(7)
    prompt = rng.integers(0, llm.n_vocab(), prompt_tokens).tolist()
    prefill_start = time.perf_counter()
    llm.eval(prompt)
    first = time.perf_counter() - start
    prefill = time.perf_counter() - prefill_start
    vocabulary = llm.n_vocab()

    def last_logits():
        # The context's own buffer: llm.scores keeps only n_batch rows without logits_all, and
        # logits_all would run the head over every prompt token.
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocabulary,))

    decode_start = time.perf_counter()
    for _ in range(new_tokens - 1):
        llm.eval([int(np.argmax(last_logits()))])
    decode = time.perf_counter() - decode_start
    return {"job": "llamacpp", "load_s": load, "first_token_s": first, "prefill_tokens_per_s": prompt_tokens / prefill,
            "decode_tokens_per_s": (new_tokens - 1) / decode, "file_bytes": os.path.getsize(path),
            "peak_memory_bytes": peak_rss()}


def peak_anon(command):
    """RssAnon (anonymous memory: what a process allocates, not the files it maps) sampled every
    20 ms while `command` runs."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            for line in open(f"/proc/{process.pid}/status"):
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with status {process.returncode}")
    return {"job": "peak-anon", "peak_anon_bytes": peak, "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    job, args = sys.argv[1], sys.argv[2:]
    if job == "bandwidth":
        result = bandwidth()
    elif job == "generate":
        result = generate(args[0], args[1], int(args[2]), int(args[3]))
    elif job == "train":
        result = train(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif job == "gguf":
        result = gguf_file(args[0], args[1])
    elif job == "llamacpp":
        result = llamacpp(args[0], int(args[1]), int(args[2]))
    elif job == "peak-anon":
        result = peak_anon(args)
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))
