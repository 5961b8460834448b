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


# Snippets of the language, rendered by the environment transformers compiles chat templates with: each is
# (template, context). A snippet Jinja refuses records the exception's class instead of text.
LANGUAGE = [
    # Whitespace control, trim_blocks and lstrip_blocks.
    ("a\n  {% if true %}\n  b\n  {% endif %}\n c {# note #}\n d", {}),
    ("  {%- if true -%}  x  {%- endif -%}  \n", {}),
    ("x {{- ' y ' -}} z\n\n", {}),
    ("{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n", {}),
    ("  {%+ if true %}kept{% endif +%}\nline", {}),
    ("a  {# c #}  b\n    {# own line #}\nc", {}),
    ("{% raw %}{{ not parsed }}{% endraw %}|", {}),
    ("line\r\nnext\rlast\n", {}),
    ("{{ 'a' }}\n{{ 'b' }}\n", {}),
    # Literals and printing as Python's str().
    ("{{ [1, 'a', none, true, {'k': \"it's\"}, 2.5] }}", {}),
    ("{{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 3.0 }} {{ -0.0 }} {{ 1_000 }}", {}),
    ("{{ 'tab\\tnew\\nquote\\'\\u00e9\\x41\\U0001F600 \\d' }}", {}),
    ('{{ "dq" \'sq\' }} {{ True }} {{ False }} {{ None }} {{ none }}', {}),
    ("{{ {'a': 1, 'b': [1, 2]} }} {{ {} }} {{ [] }}", {}),
    ("{{ x }}|{{ x.y is defined }}|{{ m }}", {"m": {"q": "it's \"x\""}}),
    # Arithmetic as Python.
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 10 / 4 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}", {}),
    ("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -3 + +2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ true + 1 }}", {}),
    ("{{ 'ab' * 3 }} {{ [1] * 2 }} {{ 'a' ~ 1 ~ none ~ [1] }} {{ [1] + [2] }} {{ 'x' + 'y' }}", {}),
    ("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
    ("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ not 1 in [1] }}", {}),
    ("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ not none }} {{ '' and 1 }}", {}),
    ("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 0 }}|{{ 1 if none else 2 if false else 3 }}", {}),
    # Lookups.
    ("{{ d.a }} {{ d['a'] }} {{ d.missing }}|{{ d['missing'] }}|{{ l[0] }} {{ l[-1] }} {{ l[9] }}|{{ s[1] }}",
     {"d": {"a": 1, "items": "key"}, "l": [1, 2, 3], "s": "héllo"}),
    ("{{ d['items'] }} {{ d.items() | map('first') | list }}"
     " {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('z', 5) }}",
     {"d": {"a": 1, "items": "key"}}),
    ("{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ s[1:3] }} {{ s[::-1] }} {{ l[5:] }}",
     {"l": [1, 2, 3, 4], "s": "héllo"}),
    # Statements.
    ("{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}", {}),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for x in 'ab' %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }} {% endfor %}", {}),
    ("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}{{ loop.cycle('a', 'b') }} {% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }} {{ ns }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{{ t[1] }}{{ t | length }}"
     "{% for x, y in [(5, 6)] %}{{ x + y }}{% endfor %}", {}),
    ("{% set block %}  inner {{ 1 + 1 }}\n{% endset %}[{{ block }}]{% set up | upper %}abc{% endset %}{{ up }}", {}),
    ("{% if 0 %}a{% elif '' %}b{% elif [0] %}c{% else %}d{% endif %}", {}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }}", {}),
    ("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}", {}),
    ("{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    ("{% generation %}assistant text{% endgeneration %}", {}),
    # Filters.
    ("{{ '  x  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'Hello' | length }} {{ [1, 2] | count }} {{ 'abc' | upper }}", {}),
    ("{{ 'hello wORLD-foo' | title }} {{ 'hELLO' | capitalize }} {{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("{{ x | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | d('n') }}", {}),
    ("{{ [1, 2, 3] | join(', ') }} {{ [1, 2] | first }} {{ [1, 2] | last }} {{ 'ab' | list }} {{ 3 | string }}", {}),
    ("{{ '42' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ -3 | abs }} {{ 2.5 | round }} {{ 2.675 | round(2) }}", {}),
    ("{{ 3.2 | round(0, 'ceil') }} {{ 3.7 | round(method='floor') }} {{ ['b', 'A', 'a'] | unique | list }} {{ [3, 1, 2] | sort }}", {}),
    ("{{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }}"
     " {{ [1, 2, 3] | sum }} {{ [1, 5, 3] | max }} {{ ['b', 'a'] | min }}", {}),
    ("{{ users | map(attribute='name') | join('/') }} {{ users | selectattr('admin') | map(attribute='name') | list }}",
     {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}, {"name": "c"}]}),
    ("{{ users | rejectattr('admin') | list | length }} {{ users | selectattr('name', 'equalto', 'b') | list }}",
     {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}]}),
    ("{{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3] | reject('odd') | list }} {{ ['a', 'B'] | map('upper') | list }}", {}),
    ("{{ d | items | map('last') | list }} {{ d | dictsort | map('first') | join }}"
     " {{ d | dictsort(by='value', reverse=true) | map('first') | join }}",
     {"d": {"b": 1, "a": 2, "C": 0}}),
    ("{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(width='>', blank=true) }}", {}),
    ("{{ '<a href=\"x\">&</a>' | e }} {{ \"'\" | escape }} {{ 'x' | safe }} {{ [1, 2] | reverse | list }} {{ 'abc' | reverse }}", {}),
    ("{{ 'one two  three' | wordcount }} {{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 0) | list }}", {}),
    ("{{ d | tojson }} {{ d | tojson(indent=2) }} {{ 'é\"\n\u2028' | tojson }} {{ [1.5, none, true] | tojson }}",
     {"d": {"b": [1, {"c": None}], "a": "ü"}}),
    ("{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} {{ d | tojson(ensure_ascii=true) }}",
     {"d": {"b": "€😀", "a": [1, 2]}}),
    ("{{ 'x' | center(5) }}|{{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }}", {}),
    # Tests.
    ("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ true is number }}", {}),
    ("{{ true is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }}", {}),
    ("{{ [] is sequence }} {{ true is boolean }} {{ true is true }}"
     " {{ 1 is true }} {{ false is false }} {{ 4 is even }} {{ 3 is odd }}", {}),
    ("{{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }}"
     " {{ 'a' is equalto 'a' }} {{ 1 is eq 2 }} {{ 1 is ne 2 }} {{ none is sameas none }}", {}),
    ("{{ 2 is lt 3 }} {{ 2 is ge 3 }} {{ 2 is in [1, 2] }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ x is not defined }}", {}),
    ("{{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ x is none }}", {"x": None}),
    # Methods.
    ("{{ ' a b '.strip() }}|{{ 'xxa'.lstrip('x') }}|{{ 'a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }}", {}),
    ("{{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ 'ab'.startswith('a') }} {{ 'ab'.endswith(('x', 'b')) }}", {}),
    ("{{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'hi there'.title() }} {{ 'aXa'.replace('a', 'b') }} {{ '-'.join(['a', 'b']) }}", {}),
    ("{{ '{} and {name}'.format(1, name='x') }} {{ 'abc'.find('c') }} {{ 'a\nb'.splitlines() }} {{ [1, 2, 1].count(1) }}", {}),
    ("{{ dict(a=1, b=2) }} {{ range(2, 8, 3) | list }} {{ range(3) | list }} {{ namespace(a=1).a }}", {}),
    # Errors a template can hit.
    ("{{ x.y }}", {}),
    ("{{ x + 1 }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 'a' < 1 }}", {}),
    ("{{ [1].append(2) }}", {}),
    ("{{ raise_exception('custom refusal') }}", {}),
    ("{{ x | nosuchfilter }}", {}),
    ("{{ x is nosuchtest }}", {}),
    ("{% if true %}unclosed", {}),
    ("{% for %}", {}),
    ("{{ 1 + }}", {}),
    ("{% endfor %}", {}),
    ("{% set ns = 1 %}{% set ns.a = 2 %}", {}),
    ("{{ none.x }}", {}),
    ("{{ 'abc' | tojson | tojson }} {{ undefined_name | tojson }}", {}),
]


def render_language(source, context):
    try:
        return {"template": source, "context": context,
                "expected": chat_template_utils._compile_jinja_template(source).render(**context)}
    except Exception as error:
        return {"template": source, "context": context, "error": type(error).__name__, "message": str(error)}


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
        "language": [render_language(source, context) for source, context in LANGUAGE],
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
