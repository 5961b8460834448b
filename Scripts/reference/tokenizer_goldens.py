"""Tiny tokenizers trained with HF `tokenizers` 0.23.3 in the shapes of BERT (WordPiece), GPT-2
and Llama 3 (byte-level BPE) and Llama 2 / Mistral (Metaspace BPE with byte fallback), and
what `tokenizers` makes of a multilingual test text with each.

fixtures/tokenizers/<kind>.json   tokenizer.json files (vocabularies of a few hundred tokens)
fixtures/tokenizers/test-text.txt the parity text, one case per line
fixtures/tokenizers/goldens.json  per tokenizer and line: ids, tokens, type ids, the decoded
                                  text; a pair encoding; truncated and padded encodings

Usage: python tokenizer_goldens.py FIXTURES_DIR
"""
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers, Regex

assert tokenizers.__version__ == "0.23.3", tokenizers.__version__

TEST_LINES = [
    "Hello, world! This is Tailor's tokenizer test.",
    "Café naïve façade — déjà vu, São Paulo, Ångström, Ærøskøbing.",
    "Größenwahn und Straße; İstanbul; ΑΒΓ αβγ; Привет, мир!",
    "中文分词测试，还有日本語のテキストと한국어 문장.",
    "Emoji 😀👍🏽 and flags 🇫🇷, ZWJ 👨‍👩‍👧 family.",
    "   leading spaces,\ttabs\t\tand   runs of   spaces   ",
    "Numbers 12345 67.89 1,000,000 and code: x_1 = f(y) + 3*z;",
    "Special [CLS] tokens [SEP] inside <|end_of_text|> text <tool> too.",
    "UPPER lower MiXeD CaSe WORDS",
    "a",
    "",
    "Unknown symbols: ∮ ⅀ ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Line with newline\nand carriage\r\nreturns.",
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
]

TRAINING = TEST_LINES * 3 + [
    "The quick brown fox jumps over the lazy dog. " * 4,
    "Tokenizers split text into words and subwords, then map them to ids. " * 4,
    "Les élèves étudient à l'école près de la forêt. Der Bär läuft über die Brücke. " * 3,
    "机器学习和自然语言处理。東京は日本の首都です。서울은 한국의 수도입니다. " * 3,
    "def train(model, data):\n    for batch in data:\n        loss = model(batch)\n" * 3,
]

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def wordpiece(vocab_size=700):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(TRAINING, trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


def byte_level(llama3, vocab_size=600):
    tok = Tokenizer(models.BPE())
    if llama3:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok.train_from_iterator(TRAINING, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if llama3:
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def metaspace(normalizer_style):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if normalizer_style:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    tok.train_from_iterator(TRAINING, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"],
                                                          limit_alphabet=120))
    # Byte-fallback tokens, as Llama 2's vocabulary has them.
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    tok = Tokenizer.from_str(json.dumps(data))
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", bos)])
    return tok


def unigram():
    """T5's layout: a Unigram model, Metaspace (prepend always, split) and `</s>` after each text."""
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.train_from_iterator(TRAINING, trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"],
                                                              unk_token="<unk>", show_progress=False))
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B:1 </s>:1",
                                                       special_tokens=[("</s>", eos)])
    return tok


def main(fixtures):
    out = os.path.join(fixtures, "tokenizers")
    os.makedirs(out, exist_ok=True)
    kinds = {"wordpiece": wordpiece(), "gpt2-bpe": byte_level(False), "llama3-bpe": byte_level(True),
             "metaspace-bpe": metaspace(False), "metaspace-normalizer-bpe": metaspace(True), "t5-unigram": unigram()}
    goldens = {}
    for name, tok in kinds.items():
        tok.add_special_tokens(["[CLS]", "[SEP]"] if name == "wordpiece" else ["<|end_of_text|>"])
        tok.add_tokens(["<tool>"])
        tok.save(os.path.join(out, name + ".json"))
        tok = Tokenizer.from_file(os.path.join(out, name + ".json"))
        cases = []
        for line in TEST_LINES:
            enc = tok.encode(line)
            cases.append({"text": line, "ids": enc.ids, "tokens": enc.tokens, "type_ids": enc.type_ids,
                          "decoded": tok.decode(enc.ids, skip_special_tokens=True),
                          "decoded_with_special": tok.decode(enc.ids, skip_special_tokens=False)})
        pair = tok.encode(TEST_LINES[0], TEST_LINES[1])
        tok.enable_truncation(max_length=16)
        tok.enable_padding(length=16, pad_id=0, pad_token=tok.id_to_token(0))
        batch = tok.encode_batch(TEST_LINES[:4])
        goldens[name] = {
            "cases": cases,
            "pair": {"a": TEST_LINES[0], "b": TEST_LINES[1], "ids": pair.ids, "type_ids": pair.type_ids},
            "truncated_padded": {"max_length": 16, "pad_id": 0, "texts": TEST_LINES[:4],
                                 "ids": [e.ids for e in batch], "attention_mask": [e.attention_mask for e in batch]},
        }
        if name == "t5-unigram":
            # Characters the vocabulary lacks: one unknown id per run (tokenizers fuses them).
            tok.no_truncation()
            tok.no_padding()
            goldens[name]["unknown"] = [{"text": t, "ids": tok.encode(t).ids, "tokens": tok.encode(t).tokens}
                                        for t in ["日本語 ☃ and more", "zzqx ☃☃ Hello", "☃"]]
    with open(os.path.join(out, "test-text.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(line.replace("\n", "\\n").replace("\r", "\\r") for line in TEST_LINES) + "\n")
    with open(os.path.join(out, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": f"tokenizers {tokenizers.__version__}", "tokenizers": goldens}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
