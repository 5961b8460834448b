"""Drives `tailor serve` with the official `openai` Python client and checks its answers.

Usage: python openai_client_goldens.py TAILOR_BINARY FIXTURES_DIR

Starts the server on the tiny Llama (with SmolLM2's chat template beside it) and a registry of
two fixture adapters, then: completions (whole and streamed) for the base and each adapter,
chat (whole and streamed), the model list, adapter loading, and the errors the client maps to
its exception types. Greedy answers are checked against `tailor generate --json` for the same
prompt and adapter. Writes fixtures/serving/openai-client.json: each request with what the client
parsed, which the Swift tests replay against the server to see it still answers the same.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import openai
from openai import OpenAI

tailor, fixtures = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="tailor-openai-")
model = os.path.join(work, "tiny-llama-chat")
os.makedirs(model)
for name in ("config.json", "model.safetensors", "tokenizer.json"):
    os.symlink(os.path.join(fixtures, "tiny-llama", name), os.path.join(model, name))
with open(os.path.join(fixtures, "chat-templates", "smollm2-instruct.jinja")) as f:
    template = f.read()
with open(os.path.join(model, "tokenizer_config.json"), "w") as f:
    json.dump({"chat_template": template, "bos_token": "<s>", "eos_token": "</s>"}, f)
registry = os.path.join(work, "registry")
for name in ("tiny-llama-lora", "tiny-llama-ia3"):
    subprocess.run([tailor, "adapter", "add", os.path.join(fixtures, "peft", name), "--name", name.split("-")[-1],
                    "--registry", registry], check=True, stdout=subprocess.DEVNULL)

server = subprocess.Popen(
    [tailor, "serve", "--model", model, "--registry", registry, "--force", "--port", "0", "--json",
     "--served-model-name", "tiny-llama-chat", "--max-tokens", "64"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
cases, failures = [], []


def check(condition, message):
    if not condition:
        failures.append(message)


try:
    port = json.loads(server.stdout.readline())["listening"]["port"]
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60)
    for _ in range(300):
        try:
            client.models.list()
            break
        except openai.APIError:
            time.sleep(0.1)

    def generate(prompt, stack, tokens):
        """`tailor generate --json` for the same prompt and adapter stack: what the server must match."""
        command = [tailor, "generate", "--model", model, "--registry", registry, "--force", "--json",
                   "--max-new-tokens", str(tokens), prompt] + sum((["--adapter", a] for a in stack), [])
        return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    for adapter in ("", "lora", "ia3", "lora:0.5+ia3"):
        prompt = "The quick brown fox"
        request = {"model": adapter or "tiny-llama-chat", "prompt": prompt, "max_tokens": 12, "temperature": 0}
        answer = client.completions.create(**request)
        choice = answer.choices[0]
        expected = generate(prompt, [a for a in adapter.split("+") if a], 12)
        check(choice.text == expected["text"], f"completion {adapter or 'base'}: {choice.text!r} != generate {expected['text']!r}")
        check(answer.usage.completion_tokens == len(expected["tokens"]), f"usage {adapter}")
        streamed = "".join(chunk.choices[0].text for chunk in client.completions.create(**request, stream=True)
                           if chunk.choices)
        check(streamed == choice.text, f"stream {adapter or 'base'} differs")
        cases.append({"endpoint": "/v1/completions", "request": request, "text": choice.text,
                      "finish_reason": choice.finish_reason, "usage": answer.usage.model_dump()})

    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello"}]
    for adapter in ("", "lora"):
        request = {"model": adapter or "tiny-llama-chat", "messages": messages, "max_tokens": 10, "temperature": 0}
        answer = client.chat.completions.create(**request)
        message = answer.choices[0].message
        check(message.role == "assistant", "chat role")
        pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(**request, stream=True)
                  if chunk.choices]
        check("".join(pieces) == message.content, f"chat stream {adapter or 'base'} differs")
        cases.append({"endpoint": "/v1/chat/completions", "request": request, "text": message.content,
                      "finish_reason": answer.choices[0].finish_reason, "usage": answer.usage.model_dump()})

    ids = sorted(m.id for m in client.models.list().data)
    check({"tiny-llama-chat", "lora", "ia3"} <= set(ids), f"models {ids}")
    cases.append({"endpoint": "/v1/models", "ids": ids})

    errors = []
    for name, call, exception in [
        ("unknown adapter", lambda: client.completions.create(model="nope", prompt="hi", max_tokens=2), openai.NotFoundError),
        ("max_tokens too large", lambda: client.completions.create(model="", prompt="hi", max_tokens=65), openai.BadRequestError),
        ("empty messages", lambda: client.chat.completions.create(model="", messages=[], max_tokens=2), openai.BadRequestError),
    ]:
        try:
            call()
            failures.append(f"{name}: no error")
        except exception as error:
            errors.append({"case": name, "exception": type(error).__name__, "status": error.status_code})
    cases.append({"endpoint": "errors", "errors": errors})
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)

check(server.returncode == 0, f"server exit {server.returncode}")
if failures:
    sys.exit("openai client check failed:\n  " + "\n  ".join(failures))
os.makedirs(os.path.join(fixtures, "serving"), exist_ok=True)
with open(os.path.join(fixtures, "serving", "openai-client.json"), "w") as f:
    json.dump({"openai": openai.__version__, "cases": cases}, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"openai {openai.__version__}: {len(cases)} cases checked, written to fixtures/serving/openai-client.json")
