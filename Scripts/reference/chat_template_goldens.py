"""Chat templates rendered by transformers' apply_chat_template(tokenize=False), the reference for tailor's Jinja
interpreter and ChatTemplate: fixtures/chat-templates/goldens.json.

The four templates are the models' own chat_template strings, committed as fixtures/chat-templates/<name>.jinja
(fixtures/chat-templates/README.md says where each came from). Each is put in a throwaway model folder
(tokenizer_config.json with the model's special tokens, a one-word tokenizer.json) loaded by AutoTokenizer, so the
golden goes through the same path a real model folder does. A case either renders (`expected`) or is refused by the
template's raise_exception (`error`, the message).

Llama 3.2 reads the clock through strftime_now when `date_string` is not given: the cases that do not pass one
freeze transformers' clock at NOW, which the Swift side injects too. `strftime` records Python's strftime of NOW.

Usage: python chat_template_goldens.py FIXTURES_DIR
"""

import datetime as real_datetime
import json
import os
import sys
import tempfile

import jinja2
from tokenizers import Tokenizer, models
from transformers import AutoTokenizer
from transformers.utils import chat_template_utils

NOW = real_datetime.datetime(2025, 3, 7, 9, 5, 3)
STRFTIME_FORMATS = ["%d %b %Y", "%Y-%m-%d", "%B %d, %Y", "%A %H:%M:%S", "%a %e %j %y %I %p %%"]

TEMPLATES = {
    "llama-3.2-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "qwen2.5-instruct": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "mistral-7b-instruct-v0.3": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "smollm2-instruct": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                         "unk_token": "<|endoftext|>"},
}

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
USER = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT = {"role": "assistant", "content": "Paris."}
USER2 = {"role": "user", "content": "And of Italy?"}
NON_ASCII = [
    {"role": "user", "content": "Ça va ? 日本語のテキスト 🎉 naïve — «guillemets» “quotes” \\ back\\slash"},
    {"role": "assistant", "content": "Très bien ! 👍 Ünïcödé ✓"},
    {"role": "user", "content": "Ελληνικά, русский, العربية, 한국어"},
]
WHITESPACE = [
    {"role": "system", "content": "\n  Be brief.  \n"},
    {"role": "user", "content": "  \n  padded question \n\n"},
    {"role": "assistant", "content": "\n answer with spaces  \n"},
    {"role": "user", "content": "\tlast line\t\n"},
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5, "default": None},
            },
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Heure locale — d'une ville.",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
}


def tool_call(name, arguments, call_id="call12345"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


ONE_CALL = {"role": "assistant", "tool_calls": [tool_call("get_weather", {"location": "Paris", "unit": "celsius"})]}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
               "content": "{\"temperature\": 22, \"sky\": \"clear\"}"}


def common_cases():
    return [
        {"name": "system_user", "messages": [SYSTEM, USER], "add_generation_prompt": True},
        {"name": "user_only", "messages": [USER], "add_generation_prompt": True},
        {"name": "user_only_no_prompt", "messages": [USER], "add_generation_prompt": False},
        {"name": "multi_turn", "messages": [SYSTEM, USER, ASSISTANT, USER2], "add_generation_prompt": True},
        {"name": "multi_turn_ends_with_assistant", "messages": [USER, ASSISTANT, USER2, ASSISTANT],
         "add_generation_prompt": False},
        {"name": "non_ascii", "messages": NON_ASCII, "add_generation_prompt": True},
        {"name": "whitespace", "messages": WHITESPACE, "add_generation_prompt": True},
    ]


def llama_cases():
    date = {"date_string": "13 Mar 2025"}
    cases = [dict(case, extra=date) for case in common_cases()]
    cases += [
        {"name": "clock_date", "messages": [SYSTEM, USER], "add_generation_prompt": True, "now": NOW.isoformat()},
        {"name": "tools", "messages": [SYSTEM, USER, ONE_CALL, TOOL_RESULT], "tools": [WEATHER_TOOL, TIME_TOOL],
         "add_generation_prompt": True, "extra": date},
        {"name": "tools_in_system_message", "messages": [USER, ONE_CALL, TOOL_RESULT], "tools": [WEATHER_TOOL],
         "add_generation_prompt": True, "extra": dict(date, tools_in_user_message=False)},
        {"name": "tool_result_object", "messages": [USER, ONE_CALL, dict(TOOL_RESULT, content={"temperature": 22})],
         "add_generation_prompt": False, "extra": date},
        {"name": "two_tool_calls_error", "add_generation_prompt": True, "extra": date, "messages": [
            USER, {"role": "assistant", "tool_calls": [tool_call("get_weather", {"location": "Paris"}),
                                                       tool_call("get_time", {"city": "Rome"}, "call67890")]}]},
        {"name": "tools_without_user_error", "messages": [SYSTEM], "tools": [WEATHER_TOOL],
         "add_generation_prompt": True, "extra": date},
    ]
    return cases


def qwen_cases():
    two_calls = {"role": "assistant", "content": "Let me check both.", "tool_calls": [
        tool_call("get_weather", {"location": "Paris", "unit": "celsius"}),
        tool_call("get_time", "{\"city\": \"Rome\"}", "call67890")]}
    return common_cases() + [
        {"name": "tools", "messages": [SYSTEM, USER, ONE_CALL, TOOL_RESULT], "tools": [WEATHER_TOOL, TIME_TOOL],
         "add_generation_prompt": True},
        {"name": "tools_default_system", "add_generation_prompt": True, "tools": [WEATHER_TOOL, TIME_TOOL],
         "messages": [USER, two_calls, TOOL_RESULT,
                      {"role": "tool", "tool_call_id": "call67890", "content": "10:42"},
                      {"role": "assistant", "content": "22 °C in Paris, 10:42 in Rome."}, USER2]},
    ]


def mistral_cases():
    return common_cases() + [
        {"name": "tools", "messages": [USER, ONE_CALL, TOOL_RESULT], "tools": [WEATHER_TOOL, TIME_TOOL],
         "add_generation_prompt": False},
        {"name": "tools_system_last_user", "add_generation_prompt": True, "tools": [WEATHER_TOOL],
         "messages": [SYSTEM, USER, ONE_CALL, TOOL_RESULT, {"role": "assistant", "content": " 22 degrees. "}, USER2]},
        {"name": "alternation_error", "messages": [USER, USER2], "add_generation_prompt": True},
        {"name": "starts_with_assistant_error", "messages": [ASSISTANT, USER], "add_generation_prompt": True},
        {"name": "tool_call_id_error", "add_generation_prompt": True, "messages": [
            USER, {"role": "assistant", "tool_calls": [tool_call("get_weather", {"location": "Paris"}, "short")]}]},
        {"name": "unknown_role_error", "messages": [USER, {"role": "narrator", "content": "Meanwhile"}],
         "add_generation_prompt": False},
    ]


def smollm_cases():
    return common_cases() + [
        {"name": "assistant_first", "messages": [ASSISTANT, USER], "add_generation_prompt": True},
    ]


class FrozenClock(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


def load_tokenizer(folder, source, special):
    vocab = {token: index for index, token in enumerate(sorted(set(special.values()) | {"<unk>"}))}
    Tokenizer(models.WordLevel(vocab, unk_token="<unk>")).save(os.path.join(folder, "tokenizer.json"))
    config = dict(special, chat_template=source, tokenizer_class="PreTrainedTokenizerFast")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    return AutoTokenizer.from_pretrained(folder)


def render(tokenizer, case):
    chat_template_utils.datetime = FrozenClock if "now" in case else real_datetime.datetime
    try:
        text = tokenizer.apply_chat_template(case["messages"], tools=case.get("tools"), tokenize=False,
                                             add_generation_prompt=case["add_generation_prompt"],
                                             **case.get("extra", {}))
    except jinja2.exceptions.TemplateError as error:
        return dict(case, error=str(error))
    finally:
        chat_template_utils.datetime = real_datetime.datetime
    return dict(case, expected=text)


def main(fixtures):
    folder = os.path.join(fixtures, "chat-templates")
    builders = {"llama-3.2-instruct": llama_cases, "qwen2.5-instruct": qwen_cases,
                "mistral-7b-instruct-v0.3": mistral_cases, "smollm2-instruct": smollm_cases}
    templates = {}
    for name, special in TEMPLATES.items():
        with open(os.path.join(folder, name + ".jinja")) as f:
            source = f.read()
        with tempfile.TemporaryDirectory() as scratch:
            tokenizer = load_tokenizer(scratch, source, special)
            cases = [render(tokenizer, case) for case in builders[name]()]
        templates[name] = {"special_tokens": special, "cases": cases}
    goldens = {
        "reference": "transformers apply_chat_template(tokenize=False)",
        "now": NOW.isoformat(),
        "strftime": {fmt: NOW.strftime(fmt) for fmt in STRFTIME_FORMATS},
        "templates": templates,
    }
    target = os.path.join(folder, "goldens.json")
    with open(target, "w") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    total = sum(len(t["cases"]) for t in templates.values())
    errors = sum("error" in c for t in templates.values() for c in t["cases"])
    print(f"{target}: {total} cases ({errors} refused by the template)")


if __name__ == "__main__":
    main(sys.argv[1])
