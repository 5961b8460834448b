"""Multi-adapter serving benchmark: `tailor serve` against llama.cpp's Python server, same model and
the same LoRA adapters, the same load client (Scripts/load-test).

  bench_serving.py [--model DIR] [--tailor PATH] [--adapters 8] [--clients 16] [--requests 200]
                   [--max-tokens 16] [--base-type f16|f32|q4_0] [--llamacpp-single]
                   [--tailor-arg ARG]... [--no-check] [--json]

1. Makes --adapters random PEFT LoRA adapters (r 8, alpha 16, q_proj and v_proj; lora_B filled with
   seeded N(0, 0.02) so every adapter changes the output), cached under
   ~/.cache/tailor/bench-serving/ (one folder per model; adapter i is the same for every count).
2. Writes the base as a GGUF (bench_llm.gguf_file, f16 by default) and each adapter as a llama.cpp
   LoRA GGUF, then checks the LoRA GGUF: llama.cpp (base GGUF + adapter GGUF) and transformers +
   PEFT (f32) greedy-decode the same token ids and must agree on the first tokens and logits, and
   the logit change the adapter causes must match between the two.
3. llama.cpp: `python -m llama_cpp.server --config_file cfg.json` with one model entry per adapter
   (the same base GGUF, model_alias = adapter name, lora_path = its GGUF). llama-cpp-python keeps
   one Llama loaded and, when a request names another alias, closes it and loads base + adapter
   again (without mmap once a lora_path is set); it runs requests one at a time under a lock. That
   is how it serves several adapters. --llamacpp-single also times every request on a1 (no reloads).
4. tailor: `tailor serve --adapter a1=DIR ...`, requests for all adapters decoded in one batch;
   then all requests to a1 alone.
5. Prints requests/s, tokens/s, p50/p99 and failures of each run, tailor 8 adapters / tailor 1
   adapter (mixed_vs_single) and tailor 8 / llama.cpp 8 (tailor_vs_llamacpp); --json: one JSON
   object. llama.cpp's tokens/s leaves out streamed requests (llama-cpp-python's streams carry no
   usage, so load-test counts them as 0 tokens); requests/s is the comparable figure.

Scripts/load-test drives every run (in --url mode); its /health readiness probe is skipped because
this script waits for each server itself (llama-cpp-python has no /health). Servers are stopped in
`finally`; every wait has a timeout. Progress goes to stderr.
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench_llm  # noqa: E402  (same folder: the base GGUF writer and the q/k row permutation)

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "tailor", "bench-serving")
# Bump when the adapters or the GGUF writers change, so cached files are rewritten.
FORMAT = "1"
RANK, ALPHA, TARGETS, B_STD = 8, 16, ("q_proj", "v_proj"), 0.02
# PEFT module path -> llama.cpp tensor name (the same mapping bench_llm.gguf_file uses for the base).
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}


def log(*parts):
    print("bench_serving:", *parts, file=sys.stderr, flush=True)


# --- adapters and GGUF files ---------------------------------------------------------------------

def model_cache(model_dir):
    """~/.cache/tailor/bench-serving/<name>-<hash of the model's files and FORMAT>."""
    digest = hashlib.sha1(FORMAT.encode())
    digest.update(os.path.realpath(model_dir).encode())
    for name in sorted(os.listdir(model_dir)):
        stat = os.stat(os.path.join(model_dir, name))
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return os.path.join(CACHE, f"{os.path.basename(os.path.normpath(model_dir))}-{digest.hexdigest()[:10]}")


def make_adapters(model_dir, folder, count):
    """Adapters a1…aN (PEFT folders); adapter i is seeded by i, so a larger count reuses the smaller."""
    names = [f"a{i}" for i in range(1, count + 1)]
    missing = [name for name in names if not os.path.exists(os.path.join(folder, name, "adapter_model.safetensors"))]
    if missing:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        log(f"making PEFT adapters {', '.join(missing)}")
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(TARGETS),
                                                 lora_dropout=0.0, task_type="CAUSAL_LM"))
        for name in missing:
            generator = torch.Generator().manual_seed(int(name[1:]))
            with torch.no_grad():
                for module_name, module in model.named_modules():
                    if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
                        # PEFT's own A init (kaiming uniform, a = sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)).
                        bound = 1 / math.sqrt(a.shape[1])
                        a.copy_(torch.rand(a.shape, generator=generator) * 2 * bound - bound)
                        b.copy_(torch.randn(b.shape, generator=generator) * B_STD)
            staging = os.path.join(folder, f".{name}.partial")
            shutil.rmtree(staging, ignore_errors=True)
            model.save_pretrained(staging)
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            os.replace(staging, os.path.join(folder, name))
    return [(name, os.path.join(folder, name)) for name in names]


def rope_theta(config):
    """transformers 5 writes rope_theta inside rope_parameters; bench_llm.gguf_file only reads the
    top-level key (and would fall back to 10000)."""
    return float(config.get("rope_theta") or (config.get("rope_parameters") or {}).get("rope_theta") or 10000.0)


@contextlib.contextmanager
def base_gguf_overrides(model_dir, base_type):
    """bench_llm.gguf_file writes Q4_0 matrices; for f16/f32 its quantizer call becomes a cast and
    the tensor type follows the array. The rope base is taken from rope_parameters as well."""
    import gguf

    config = json.load(open(os.path.join(model_dir, "config.json")))
    theta = rope_theta(config)
    original_writer, original_quantize = gguf.GGUFWriter, gguf.quants.quantize
    file_types = {"f16": gguf.LlamaFileType.MOSTLY_F16, "f32": gguf.LlamaFileType.ALL_F32}
    dtypes = {"f16": np.float16, "f32": np.float32}

    class Writer(original_writer):
        def add_rope_freq_base(self, value):
            super().add_rope_freq_base(theta)

        def add_file_type(self, ftype):
            super().add_file_type(file_types.get(base_type, ftype))

        def add_tensor(self, name, tensor, raw_shape=None, raw_dtype=None, tensor_endianess=None):
            if base_type in dtypes and raw_dtype == gguf.GGMLQuantizationType.Q4_0:
                raw_dtype = None  # the array is already f16/f32: its dtype names the tensor type
            super().add_tensor(name, tensor, raw_shape=raw_shape, raw_dtype=raw_dtype,
                               tensor_endianess=tensor_endianess)

    gguf.GGUFWriter = Writer
    if base_type in dtypes:
        gguf.quants.quantize = lambda values, _: np.ascontiguousarray(values, dtype=dtypes[base_type])
    try:
        yield
    finally:
        gguf.GGUFWriter, gguf.quants.quantize = original_writer, original_quantize


def base_gguf(model_dir, folder, base_type):
    path = os.path.join(folder, f"base-{base_type}.gguf")
    if not os.path.exists(path):
        log(f"writing the base GGUF ({base_type})")
        with base_gguf_overrides(model_dir, base_type):
            bench_llm.gguf_file(model_dir, path + ".partial")
        os.replace(path + ".partial", path)
    return path


def lora_gguf(model_dir, adapter_dir, output):
    """A PEFT LoRA folder as a llama.cpp LoRA GGUF: general.type "adapter", adapter.type "lora",
    adapter.lora.alpha (f32); per target `<base tensor>.lora_a` = A ([r, in], ggml dims {in, r}) and
    `.lora_b` = B ([out, r]), B's rows permuted like the base's q/k rows."""
    import gguf
    from safetensors.numpy import load_file

    config = json.load(open(os.path.join(model_dir, "config.json")))
    adapter = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    if adapter.get("use_rslora") or adapter.get("use_dora") or adapter.get("rank_pattern") or adapter.get("alpha_pattern"):
        raise SystemExit(f"{adapter_dir}: only plain LoRA (one r and alpha) converts to llama.cpp here")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    tensors = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    writer = gguf.GGUFWriter(output, "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter["lora_alpha"]))
    prefix = "base_model.model.model.layers."
    for key in sorted(tensors):
        if not key.endswith(".lora_A.weight"):
            if not key.endswith(".lora_B.weight"):
                raise SystemExit(f"{adapter_dir}: unexpected tensor {key}")
            continue
        if not key.startswith(prefix):
            raise SystemExit(f"{adapter_dir}: unexpected tensor {key}")
        layer, _, rest = key[len(prefix):].partition(".")
        module = rest[: -len(".lora_A.weight")]
        a = tensors[key].astype(np.float32)
        b = tensors[key.replace(".lora_A.", ".lora_B.")].astype(np.float32)
        if module == "self_attn.q_proj":
            b = bench_llm.permute(b, heads)
        elif module == "self_attn.k_proj":
            b = bench_llm.permute(b, kv_heads)
        base = f"blk.{layer}.{GGUF_NAMES[module]}.weight"
        writer.add_tensor(base + ".lora_a", np.ascontiguousarray(a))
        writer.add_tensor(base + ".lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def adapter_ggufs(model_dir, adapters):
    paths = []
    for name, folder in adapters:
        path = os.path.join(folder, "adapter.gguf")
        if not os.path.exists(path):
            lora_gguf(model_dir, folder, path + ".partial")
            os.replace(path + ".partial", path)
        paths.append(path)
    return paths


# --- the LoRA GGUF check -------------------------------------------------------------------------

def check_lora_gguf(model_dir, base_path, adapters, ggufs, base_type, new_tokens=8, prompt_tokens=12):
    """Greedy decoding of the same token ids by transformers + PEFT (f32) and by llama.cpp with the
    base GGUF and each checked adapter GGUF. Greedy tokens of a random-weight model are nearly
    constant, so the logits are compared too: at every step both agree on, the largest difference
    (an f16 base stays near 2e-3; a wrong rope base gives 5e-2), and at the last prompt position the
    logit change the adapter causes, llama.cpp's against PEFT's (relative RMS error; B rows not
    permuted for q gives 6e-2, a right file 3e-3)."""
    import llama_cpp
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rng = np.random.default_rng(11)
    prompt = rng.integers(256, model.config.vocab_size, prompt_tokens).tolist()

    def hf_greedy(net):
        ids, steps = torch.tensor([prompt]), []
        with torch.inference_mode():
            for _ in range(new_tokens):
                logits = net(input_ids=ids).logits[0, -1]
                steps.append(logits.numpy().copy())
                ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
        return ids[0, prompt_tokens:].tolist(), steps

    def llama_greedy(lora_path):
        llm = llama_cpp.Llama(model_path=base_path, lora_path=lora_path, n_ctx=64, n_threads=threads,
                              n_threads_batch=threads, verbose=False)
        vocabulary = llm.n_vocab()
        out, steps = [], []
        llm.eval(prompt)
        for _ in range(new_tokens):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocabulary,)).copy()
            steps.append(logits)
            out.append(int(np.argmax(logits)))
            llm.eval([out[-1]])
        llm.close()
        return out, steps

    def compare(hf, llama):
        agree = agree_prefix(hf[0], llama[0])
        return {"transformers": hf[0], "llama_cpp": llama[0], "agree_prefix": agree,
                "max_logit_diff": max(float(np.abs(a - b).max()) for a, b in zip(hf[1][:agree + 1], llama[1][:agree + 1]))}

    checked = list(zip(adapters, ggufs))[:2]
    peft_model = None
    for (name, folder), _ in checked:
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(model, folder, adapter_name=name).eval()
        else:
            peft_model.load_adapter(folder, adapter_name=name)
    with peft_model.disable_adapter():
        hf_base = hf_greedy(peft_model)
    llama_base = llama_greedy(None)
    report = {"prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "base": compare(hf_base, llama_base),
              "adapters": {}}
    enough = min(4, new_tokens)
    # Logit tolerance for the base: only an unquantized base can match f32 transformers closely.
    tolerance = {"f32": 1e-2, "f16": 1e-2}.get(base_type, float("inf"))
    ok = report["base"]["agree_prefix"] >= enough and report["base"]["max_logit_diff"] < tolerance
    for (name, _), path in checked:
        peft_model.set_adapter(name)
        hf = hf_greedy(peft_model)
        llama = llama_greedy(path)
        hf_delta, llama_delta = hf[1][0] - hf_base[1][0], llama[1][0] - llama_base[1][0]
        row = compare(hf, llama)
        row["changes_base_tokens"] = hf[0] != hf_base[0]
        row["delta_rms"] = float(np.sqrt(np.mean(hf_delta ** 2)))
        row["delta_relative_error"] = float(np.sqrt(np.mean((llama_delta - hf_delta) ** 2)) / row["delta_rms"])
        report["adapters"][name] = row
        ok = ok and row["agree_prefix"] >= enough and row["max_logit_diff"] < tolerance \
            and row["delta_relative_error"] < 0.02
    report["ok"] = bool(ok)
    del peft_model, model
    return report


def agree_prefix(a, b):
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


# --- servers and load ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def wait_until(process, url, timeout, log_path):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before it was ready:\n{tail(log_path)}")
        try:
            if http("GET", url, timeout=5)[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer 200 within {timeout} s:\n{tail(log_path)}")


def tail(path, lines=20):
    try:
        return "".join(open(path, errors="replace").readlines()[-lines:])
    except OSError:
        return ""


def warm_up(base_url, models, timeout):
    for model in models:
        status, _ = http("POST", base_url + "/v1/completions",
                         {"model": model, "prompt": "the quiet river", "max_tokens": 4, "temperature": 0},
                         timeout=timeout)
        if status != 200:
            raise SystemExit(f"warm-up request for {model} answered {status}")


def stop(process, grace):
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        return "killed"


# Runs Scripts/load-test (a file without .py) as a module with its /health probe replaced: this
# script has already waited for the server, and llama-cpp-python's server has no /health.
LOAD_SHIM = """
import importlib.machinery, importlib.util, sys
path = sys.argv[1]
loader = importlib.machinery.SourceFileLoader("load_test", path)
module = importlib.util.module_from_spec(importlib.util.spec_from_loader("load_test", loader))
loader.exec_module(module)
async def ready(host, port, deadline):
    return None
module.wait_ready = ready
sys.argv = [path] + sys.argv[2:]
module.main()
"""


def load_test(args, port, models, label):
    command = [sys.executable, "-c", LOAD_SHIM, os.path.join(ROOT, "Scripts", "load-test"),
               "--url", f"http://127.0.0.1:{port}", "--models", ",".join(models), "--clients", str(args.clients),
               "--requests", str(args.requests), "--max-tokens", str(args.max_tokens),
               "--timeout", str(args.run_timeout), "--json"]
    log(f"{label}: {args.requests} requests, {args.clients} clients, {len(models)} adapter(s)")
    try:
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=args.run_timeout + 120)
    except subprocess.TimeoutExpired:
        return {"error": f"load-test did not finish within {args.run_timeout + 120} s"}
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"load-test exited {run.returncode}: {(run.stderr or run.stdout)[-1500:]}"}
    report = json.loads(lines[-1])
    log(f"{label}: {report['requests_per_s']} requests/s, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, "
        f"{report['failed']} failed")
    return report


def run_llamacpp(args, base_path, adapters, ggufs, folder):
    port = free_port()
    threads = os.cpu_count() or 1
    config = {
        "host": "127.0.0.1", "port": port,
        # The default (true) ends a stream early whenever another request waits for the lock.
        "interrupt_requests": False,
        "models": [{"model": base_path, "model_alias": name, "lora_path": path, "n_ctx": 512,
                    "n_threads": threads, "n_threads_batch": threads, "verbose": False}
                   for (name, _), path in zip(adapters, ggufs)],
    }
    config_path = os.path.join(folder, "llamacpp.json")
    json.dump(config, open(config_path, "w"), indent=1)
    log_path = os.path.join(folder, "llamacpp.log")
    process = None
    names = [name for name, _ in adapters]
    try:
        process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--config_file", config_path],
                                   stdout=open(log_path, "w"), stderr=subprocess.STDOUT, cwd=folder)
        wait_until(process, f"http://127.0.0.1:{port}/v1/models", args.start_timeout, log_path)
        warm_up(f"http://127.0.0.1:{port}", names, args.start_timeout)
        mixed = load_test(args, port, names, "llama.cpp, mixed")
        single = load_test(args, port, names[:1], "llama.cpp, one adapter") if args.llamacpp_single else None
    finally:
        stop(process, 30)
    return mixed, single


def run_tailor(args, adapters, folder):
    log_path = os.path.join(folder, "tailor.log")
    command = [args.tailor, "serve", "--model", args.model, "--port", "0", "--json",
               "--max-batch", str(args.max_batch), "--max-queue", str(max(256, 2 * args.clients))]
    for name, path in adapters:
        command += ["--adapter", f"{name}={path}"]
    command += args.tailor_arg
    process = None
    names = [name for name, _ in adapters]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
        lines = queue.Queue()

        def drain():  # keep reading stdout so the server never blocks on a full pipe
            for line in process.stdout:
                lines.put(line)

        threading.Thread(target=drain, daemon=True).start()
        try:
            first = lines.get(timeout=args.start_timeout)
        except queue.Empty:
            raise SystemExit(f"tailor serve printed nothing within {args.start_timeout} s:\n{tail(log_path)}")
        try:
            port = json.loads(first)["listening"]["port"]
        except (ValueError, KeyError, TypeError):
            raise SystemExit(f"tailor serve's first line is not {{\"listening\": …}}: {first!r}\n{tail(log_path)}")
        wait_until(process, f"http://127.0.0.1:{port}/health", args.start_timeout, log_path)
        warm_up(f"http://127.0.0.1:{port}", names, args.start_timeout)
        mixed = load_test(args, port, names, "tailor, mixed")
        single = load_test(args, port, names[:1], "tailor, one adapter")
    finally:
        exit_status = stop(process, 60)
    if exit_status not in (0, None):
        log(f"tailor serve exited with {exit_status} after SIGTERM:\n{tail(log_path)}")
    return mixed, single, exit_status


def ratio(a, b):
    if not a or not b or "requests_per_s" not in a or "requests_per_s" not in b or not b["requests_per_s"]:
        return None
    return round(a["requests_per_s"] / b["requests_per_s"], 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.expanduser("~/.cache/tailor/random-models/smollm2-135m"),
                        help="a Hugging Face Llama folder")
    parser.add_argument("--tailor", default=os.path.join(ROOT, ".build", "release", "tailor"))
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=16, help="tailor serve --max-batch")
    parser.add_argument("--tailor-arg", action="append", default=[], metavar="ARG",
                        help="an extra `tailor serve` argument (repeatable), e.g. --tailor-arg=--compute-dtype=f32")
    parser.add_argument("--base-type", choices=("f16", "f32", "q4_0"), default="f16", help="the base GGUF's matrices")
    parser.add_argument("--llamacpp-single", action="store_true",
                        help="also time llama.cpp with every request on a1 (no reloads)")
    parser.add_argument("--no-check", action="store_true", help="skip the LoRA GGUF agreement check")
    parser.add_argument("--start-timeout", type=float, default=600, help="seconds a server may take to get ready")
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds one load-test run may take")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    args.model = os.path.abspath(os.path.expanduser(args.model))
    if not os.path.isfile(args.tailor):
        raise SystemExit(f"{args.tailor} is missing: build it with `swift build -c release --product tailor`")
    if not 1 <= args.adapters:
        raise SystemExit("--adapters must be at least 1")

    started = time.perf_counter()
    cache = model_cache(args.model)
    os.makedirs(cache, exist_ok=True)
    adapters = make_adapters(args.model, cache, args.adapters)
    base_path = base_gguf(args.model, cache, args.base_type)
    ggufs = adapter_ggufs(args.model, adapters)

    check = None
    if not args.no_check:
        log("checking the LoRA GGUF against transformers + PEFT")
        check = check_lora_gguf(args.model, base_path, adapters, ggufs, args.base_type)
        log("LoRA GGUF check:", json.dumps(check))
        if not check["ok"]:
            raise SystemExit("the LoRA GGUF disagrees with PEFT: the writer (or the base GGUF) is wrong")

    folder = tempfile.mkdtemp(prefix="bench-serving-")
    try:
        tailor_mixed, tailor_single, tailor_exit = run_tailor(args, adapters, folder)
        llama_mixed, llama_single = run_llamacpp(args, base_path, adapters, ggufs, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def row(report):
        if report is None:
            return None
        keys = ("requests_per_s", "tokens_per_s", "p50_ms", "p99_ms", "first_token_p50_ms", "requests", "failed",
                "seconds", "failures", "error")
        return {key: report[key] for key in keys if key in report}

    result = {
        "model": args.model, "adapters": args.adapters, "clients": args.clients, "requests": args.requests,
        "max_tokens": args.max_tokens, "max_batch": args.max_batch, "cpus": os.cpu_count(),
        "base_gguf": args.base_type,
        "tailor_mixed": row(tailor_mixed), "tailor_single": row(tailor_single),
        "llamacpp_mixed": row(llama_mixed), "llamacpp_single": row(llama_single),
        "mixed_vs_single": ratio(tailor_mixed, tailor_single),
        "tailor_vs_llamacpp": ratio(tailor_mixed, llama_mixed),
        "tailor_exit": tailor_exit, "tailor_args": args.tailor_arg,
        # llama-cpp-python's streamed completions carry no usage: load-test counts their tokens as 0.
        "llamacpp_tokens_per_s_counts_streamed_as_0": True,
        "lora_gguf_check": None if check is None else {
            "ok": check["ok"], "base_agree_prefix": check["base"]["agree_prefix"],
            "base_max_logit_diff": check["base"]["max_logit_diff"],
            "adapters": {name: {key: value[key] for key in ("agree_prefix", "changes_base_tokens", "max_logit_diff",
                                                             "delta_relative_error")}
                         for name, value in check["adapters"].items()}},
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.adapters} LoRA adapters, {args.clients} clients, {args.requests} requests of "
              f"{args.max_tokens} tokens, {os.cpu_count()} CPUs; llama.cpp base GGUF {args.base_type}")
        print(f"{'':28} {'req/s':>8} {'tok/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'failed':>6}")
        for label, report in (("tailor, mixed adapters", tailor_mixed), ("tailor, one adapter", tailor_single),
                              ("llama.cpp, mixed adapters", llama_mixed), ("llama.cpp, one adapter", llama_single)):
            if report is None:
                continue
            if "error" in report:
                print(f"{label:28} {report['error']}")
                continue
            print(f"{label:28} {report['requests_per_s']:>8} {report['tokens_per_s']:>8} {report['p50_ms']:>9} "
                  f"{report['p99_ms']:>9} {report['failed']:>6}")
        print(f"mixed_vs_single (tailor) {result['mixed_vs_single']}, tailor_vs_llamacpp {result['tailor_vs_llamacpp']}")
        print("(llama.cpp tok/s leaves out streamed requests: llama-cpp-python's streams carry no usage)")
        if check is not None:
            print("LoRA GGUF check:", "ok" if check["ok"] else "FAILED",
                  json.dumps(result["lora_gguf_check"]["adapters"]))
    failed = any(report is not None and (report.get("error") or report.get("failed"))
                 for report in (tailor_mixed, tailor_single, llama_mixed, llama_single))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
