"""Tiny random T5 and Flan-T5 models and their seq2seq goldens, from transformers 5.24 / peft 0.21.2 /
tokenizers (eager attention, f32).

Tokenizer (the same tokenizer.json in both model folders): SentencePiece-style Unigram, 300 ids,
<pad> = 0, </s> = 1, <unk> = 2 (model unk_id 2, byte_fallback false; the three are also the
special added_tokens), no <extra_id_N> sentinels. Pieces from tokenizers' UnigramTrainer (vocab_size
300) on the texts and summaries of fixtures/tasks/summarization/train.jsonl; the trainer's scores vary
from run to run, so the scores are re-estimated here by a deterministic EM over the same pieces (see
unigram_scores) and the vocab ordered specials, then score descending. Pipeline as transformers 5.24's
T5Tokenizer builds it: normalizer NFKC (in place of T5's Precompiled: a binary SentencePiece nmt_nfkc
charsmap that tokenizers cannot train and Sources/Tokenizers does not read), pre-tokenizer Sequence
[WhitespaceSplit, Metaspace(replacement "▁", prepend_scheme "always", split true)], post-processor
TemplateProcessing (single "$A </s>", pair "$A </s> $B </s>", every type id 0), decoder Metaspace
(replacement "▁", prepend_scheme "always", split true). transformers' AutoTokenizer on these folders
(T5Tokenizer) drops the NFKC normalizer and adds 100 <extra_id_N> at ids 300-399; the script asserts it
gives the same ids on every text below.

Models (save_pretrained: config.json, model.safetensors, generation_config.json {"decoder_start_token_id":
0, "eos_token_id": 1, "pad_token_id": 0}; plus tokenizer.json). T5's own initialisation (initializer_factor
1) from a torch seed, then every DenseReluDense weight times a gain (MODELS below; without it greedy
decoding of a random tiny T5 only repeats one token).
fixtures/models/tiny-t5/: T5ForConditionalGeneration, T5 v1.0 style: d_model 32, d_kv 8, 4 heads, d_ff
  64, 2 encoder and 2 decoder layers, 8 relative-attention buckets, max distance 20, relu, dropout 0.1,
  layer_norm_epsilon 1e-6, vocab 300, pad 0, eos 1, decoder_start 0. Tied: encoder.embed_tokens,
  decoder.embed_tokens and lm_head are shared.weight, and the decoder output is scaled by d_model**-0.5
  before lm_head. config.json as transformers 5.24 writes it ("tie_word_embeddings": true,
  "scale_decoder_outputs": true); model.safetensors holds shared.weight only (no embed_tokens, no lm_head).
fixtures/models/tiny-flan-t5/: Flan-T5 / T5 v1.1 style: the same but feed_forward_proj "gated-gelu"
  (wi_0, wi_1, gelu_new), 3 decoder layers, a separate lm_head.weight [300, 32] (N(0, 1)) in
  model.safetensors and no rescale. transformers 5.24's T5Config forces tie_word_embeddings to true (the
  value asked for survives only as scale_decoder_outputs) and from_pretrained unties lm_head only because
  the checkpoint holds a different lm_head.weight (it logs a warning); so config.json is rewritten as a hub
  Flan-T5's reads: "tie_word_embeddings": false, no "scale_decoder_outputs".

fixtures/models/tiny-t5-parity.safetensors, tiny-flan-t5-parity.safetensors (t5_parity below; B 3, T 43
source tokens, U 20 target tokens, d 32, V 300; i64 ids, f32 otherwise):
  input_ids [B, T] (right-padded with 0), attention_mask [B, T], labels [B, U] (target ids with </s>,
  padded with -100), decoder_input_ids [B, U] (transformers' _shift_right: 0, then labels[:, :-1] with
  -100 as 0); eval mode: encoder_last_hidden_state [B, T, d] (after the encoder's final_layer_norm),
  decoder_last_hidden_state [B, U, d] (after the decoder's final_layer_norm, before any rescale), logits
  [B, U, V]; dropout off (every nn.Dropout and every T5Attention's attention-prob dropout, a float), train
  mode, labels given (transformers shifts them): loss [1] (mean cross entropy over labels != -100),
  grad.<name> for every (name, parameter) of model.named_parameters() after one backward, adamw_losses
  [10]: ten AdamW steps (lr 1e-3, weight decay 0.01) on the same batch, each loss before its step.
  named_parameters, in order (tiny-t5, 47): shared.weight [V, d]; for encoder block i in 0-1:
  encoder.block.i.layer.0.SelfAttention.{q,k,v,o}.weight [32, 32], block 0 only
  encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [8, 4] (after o),
  encoder.block.i.layer.0.layer_norm.weight [32], encoder.block.i.layer.1.DenseReluDense.wi.weight [64, 32],
  .wo.weight [32, 64], encoder.block.i.layer.1.layer_norm.weight; encoder.final_layer_norm.weight; for
  decoder block i in 0-1: decoder.block.i.layer.0.SelfAttention.{q,k,v,o}.weight, block 0 only
  decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [8, 4], decoder.block.i.layer.0.
  layer_norm.weight, decoder.block.i.layer.1.EncDecAttention.{q,k,v,o}.weight (never a relative bias),
  decoder.block.i.layer.1.layer_norm.weight, decoder.block.i.layer.2.DenseReluDense.{wi,wo}.weight,
  decoder.block.i.layer.2.layer_norm.weight; decoder.final_layer_norm.weight. No
  encoder.embed_tokens.weight, decoder.embed_tokens.weight or lm_head.weight (tied to shared.weight, whose
  gradient sums all three uses). tiny-flan-t5 (66): the same with DenseReluDense.{wi_0,wi_1,wo}.weight
  ([64, 32], [64, 32], [32, 64]), decoder blocks 0-2, and lm_head.weight [V, d] last.
fixtures/models/tiny-t5-batch.json, tiny-flan-t5-batch.json (the same batch): {"sources", "targets",
  "input_ids", "attention_mask", "labels", "decoder_input_ids"}, the ids padded as in the tensors.

fixtures/models/tiny-t5-generate.json, tiny-flan-t5-generate.json: {"decoder_start_token_id": 0,
  "eos_token_id": 1, "pad_token_id": 0, "max_new_tokens": 12, "inputs": [{"source", "input_ids" (encoded
  with </s>, unpadded), "output_ids"}, ...] for three sources (the last 67 tokens), output_ids being what
  model.generate(input_ids, attention_mask, max_new_tokens=12, do_sample=False, num_beams=1) returns for
  the source alone (batch size 1): decoder_start_token_id first, then up to 12 ids, ending at the first
  </s> if one comes; "batched": {"input_ids", "attention_mask" (the three right-padded with 0),
  "output_ids" (one call on the three; a row that stops early is padded with pad_token_id),
  "equal_to_single" (each row is its single output followed only by padding)}}; tiny-t5's also "lora":
  the "inputs" list again with the output_ids of the adapter below. Every greedy pick beats the runner-up
  logit by more than 1e-3, and the outputs equal those of generate without a cache (asserted).

fixtures/peft/tiny-t5-lora/: get_peft_model(tiny-t5, LoraConfig(task_type SEQ_2_SEQ_LM, r 4, lora_alpha 8,
  target_modules q and v: the SelfAttention and EncDecAttention q and v of every block, 12 modules)), lora_B
  moved by seeded noise x0.1, eval, save_pretrained; base_model_name_or_path "fixtures/models/tiny-t5".
fixtures/models/tiny-t5-lora-logits.safetensors: {"logits": [B, U, V]} of that adapter on the parity batch
  (eval; input_ids, attention_mask, decoder_input_ids). The script also merges the adapter
  (merge_and_unload), saves and reloads it as T5ForConditionalGeneration in a temporary folder and asserts
  the same logits (within 1e-5); the merged folder is not kept.

Usage: python t5_goldens.py FIXTURES_DIR
"""
import collections
import json
import math
import os
import sys
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, DynamicCache, EncoderDecoderCache, T5Config, T5ForConditionalGeneration

torch.use_deterministic_algorithms(True)

SPECIALS = ["<pad>", "</s>", "<unk>"]
# Parity batch: (source, target). The second source has a double space (WhitespaceSplit drops it) and a
# character the tokenizer never saw ("ü": <unk>).
BATCH = [
    ("Lumen Robotics, a company based in Tarvin, has announced a new range of desk lamps.",
     "Lumen Robotics sells desk lamps."),
    ("Heavy rain hit Zürich on Monday,  flooding five streets. Schools were closed for two days.",
     "Rain flooded Zürich."),
    ("Dunmore Rovers beat Glenford City 3-1 on Sunday.", "Dunmore Rovers won 3-1."),
]
GENERATE = [
    "The desk lamps will go on sale in May.",
    "Ember Foods was founded in 1987.",
    "Heavy rain hit Ashcombe on Saturday, flooding several streets. Schools in the city were closed for "
    "three days. The Amber river rose to its highest level since 1997.",
]
MAX_NEW_TOKENS = 12
# (seed, feed-forward gain). With T5's own initialisation alone a random tiny T5 repeats one token in
# greedy decoding: every DenseReluDense weight times the gain (the feed-forward output times gain**2,
# gated gain**3) and these seeds give varied sequences, some ending in </s>, still well conditioned (f32
# logits within 1e-5 of f64 ones, relative to their spread; initializer_factor 3 instead makes that 1e-3).
MODELS = {"tiny-t5": (486, 4.0), "tiny-flan-t5": (410, 2.0)}


def tokenizer(corpus):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    # The trainer's pieces are stable, its scores are not (they vary in the last digits from run to run,
    # enough to reorder the ids): re-estimate the scores by a deterministic EM over the same pieces.
    pieces = [piece for piece, _ in json.loads(tok.to_str())["model"]["vocab"] if piece not in SPECIALS]
    words = collections.Counter(word for text in corpus
                                for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)))
    scores = unigram_scores(sorted(pieces), sorted(words.items()))
    vocab = [(piece, 0.0) for piece in SPECIALS] + sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    tok.model = models.Unigram(vocab, unk_id=2, byte_fallback=False)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return tok


def unigram_scores(pieces, words, iterations=10):
    """Unigram LM scores (log probabilities) by EM over (word, count) pairs, starting from substring counts."""
    longest = max(map(len, pieces))
    known = set(pieces)
    counts = dict.fromkeys(pieces, 0.0)
    for word, count in words:
        for start in range(len(word)):
            for end in range(start + 1, min(len(word), start + longest) + 1):
                if word[start:end] in known:
                    counts[word[start:end]] += count
    for _ in range(iterations + 1):
        # One extra count per piece keeps the pieces EM starves (a letter always inside longer pieces) finite.
        total = sum(counts[p] for p in pieces) + len(pieces)
        scores = {p: math.log((counts[p] + 1) / total) for p in pieces}
        counts = dict.fromkeys(pieces, 0.0)
        for word, count in words:
            n = len(word)
            edges = [[(end, word[start:end]) for end in range(start + 1, min(n, start + longest) + 1)
                      if word[start:end] in known] for start in range(n)]
            forward = [0.0] + [-math.inf] * n
            for start in range(n):
                for end, piece in edges[start]:
                    forward[end] = logadd(forward[end], forward[start] + scores[piece])
            backward = [-math.inf] * n + [0.0]
            for start in reversed(range(n)):
                for end, piece in edges[start]:
                    backward[start] = logadd(backward[start], scores[piece] + backward[end])
            for start in range(n):
                for end, piece in edges[start]:
                    counts[piece] += count * math.exp(forward[start] + scores[piece] + backward[end] - forward[n])
    return {p: round(scores[p], 6) for p in pieces}


def logadd(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def config(vocab_size, flan):
    return T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2,
                    num_decoder_layers=3 if flan else 2, relative_attention_num_buckets=8,
                    relative_attention_max_distance=20, feed_forward_proj="gated-gelu" if flan else "relu",
                    tie_word_embeddings=not flan, dropout_rate=0.1, layer_norm_epsilon=1e-6, pad_token_id=0,
                    eos_token_id=1, decoder_start_token_id=0)


def build(vocab_size, flan, seed, gain):
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config(vocab_size, flan))
    if flan:
        # transformers 5.24 ties lm_head whatever tie_word_embeddings says: give it its own weight, drawn as
        # T5's initialisation draws an untied lm_head (N(0, 1)).
        model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape))
        model.all_tied_weights_keys.pop("lm_head.weight", None)
        assert model.lm_head.weight is not model.shared.weight
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".DenseReluDense." in name:
                parameter.mul_(gain)
    return model


def random_model(folder, tok, flan, seed, gain):
    os.makedirs(folder, exist_ok=True)
    model = build(tok.get_vocab_size(), flan, seed, gain)
    model.save_pretrained(folder)
    if flan:
        path = os.path.join(folder, "config.json")
        with open(path) as f:
            saved = json.load(f)
        saved["tie_word_embeddings"] = False
        del saved["scale_decoder_outputs"]
        with open(path, "w") as f:
            f.write(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    tok.save(os.path.join(folder, "tokenizer.json"))
    # transformers' T5Tokenizer rebuilds its own pipeline from the vocabulary (no normalizer without a
    # Precompiled charsmap, 100 <extra_id_N> added at 300-399): the same ids on these texts all the same.
    auto = AutoTokenizer.from_pretrained(folder)
    for text in [s for pair in BATCH for s in pair] + GENERATE:
        assert auto(text)["input_ids"] == tok.encode(text).ids, text
    reloaded = load(folder)
    assert (reloaded.lm_head.weight is reloaded.shared.weight) == (not flan)
    assert reloaded.config.scale_decoder_outputs == (not flan)
    assert reloaded.encoder.embed_tokens.weight is reloaded.shared.weight
    assert reloaded.decoder.embed_tokens.weight is reloaded.shared.weight
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            assert torch.equal(parameter, reloaded.get_parameter(name)), name


def load(folder):
    return T5ForConditionalGeneration.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)


def pad(rows, value, length):
    return [row + [value] * (length - len(row)) for row in rows]


def shift_right(labels):
    """transformers' T5 _shift_right: decoder_start_token_id 0, then labels[:-1], -100 as pad 0."""
    return [[0] + [0 if i == -100 else i for i in row[:-1]] for row in labels]


def batch_source(tok):
    sources = [tok.encode(s).ids for s, _ in BATCH]
    targets = [tok.encode(t).ids for _, t in BATCH]
    length = max(map(len, sources))
    target_length = max(map(len, targets))
    labels = pad(targets, -100, target_length)
    return {"sources": [s for s, _ in BATCH], "targets": [t for _, t in BATCH],
            "input_ids": pad(sources, 0, length), "attention_mask": pad([[1] * len(s) for s in sources], 0, length),
            "labels": labels, "decoder_input_ids": shift_right(labels)}


def no_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout") and isinstance(module.dropout, float):
            module.dropout = 0.0  # T5Attention's attention-prob dropout is a float, not an nn.Dropout
    model.config.dropout_rate = 0.0


def t5_parity(folder, batch, out_path):
    model = load(folder)
    model.eval()
    assert torch.equal(model._shift_right(batch["labels"]), batch["decoder_input_ids"])
    with torch.no_grad():
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        decoder_input_ids=batch["decoder_input_ids"], output_hidden_states=True)
    tensors = dict(batch)
    tensors["encoder_last_hidden_state"] = outputs.encoder_last_hidden_state
    tensors["decoder_last_hidden_state"] = outputs.decoder_hidden_states[-1]
    tensors["logits"] = outputs.logits

    no_dropout(model)
    model.train()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}  # transformers shifts the labels
    loss = model(**inputs).loss
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    for name, parameter in model.named_parameters():
        tensors["grad." + name] = parameter.grad.detach().clone()
    model.zero_grad()

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert abs(losses[0] - tensors["loss"].item()) < 1e-6
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_path,
              metadata={"generator": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}"})


def greedy(model, ids, mask):
    settings = {"input_ids": ids, "attention_mask": mask, "max_new_tokens": MAX_NEW_TOKENS, "do_sample": False,
                "num_beams": 1}
    cache = {}
    if model.config.num_decoder_layers != model.config.num_layers:
        # generate sizes its DynamicCache from config.num_layers (the encoder's): with more decoder layers it
        # fails (IndexError in cache.update). A cache growing layer by layer is what the forward pass makes itself.
        cache["cache"] = EncoderDecoderCache(DynamicCache(), DynamicCache())
    with torch.no_grad():
        output = model.generate(**settings, **cache, output_scores=True, return_dict_in_generate=True)
        sequences = output.sequences.tolist()
        assert sequences == model.generate(**settings, use_cache=False).tolist()
    # Every greedy choice wins by a clear margin, so an f32 reimplementation picks the same ids.
    for scores in output.scores:
        top = scores.topk(2, dim=-1).values
        assert (top[:, 0] - top[:, 1]).min() > 1e-3, top
    return sequences


def generation(model, encoded):
    return [greedy(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.int64))[0] for ids in encoded]


def generation_goldens(folder, tok):
    model = load(folder)
    model.eval()
    encoded = [tok.encode(text).ids for text in GENERATE]
    assert len(encoded[-1]) > 20, len(encoded[-1])
    single = generation(model, encoded)
    length = max(map(len, encoded))
    ids = pad(encoded, 0, length)
    mask = pad([[1] * len(e) for e in encoded], 0, length)
    batched = greedy(model, torch.tensor(ids), torch.tensor(mask))
    equal = all(row[:len(one)] == one and all(i == 0 for i in row[len(one):]) for row, one in zip(batched, single))
    return {"decoder_start_token_id": model.generation_config.decoder_start_token_id,
            "eos_token_id": model.generation_config.eos_token_id, "pad_token_id": model.generation_config.pad_token_id,
            "max_new_tokens": MAX_NEW_TOKENS, "inputs": cases(encoded, single),
            "batched": {"input_ids": ids, "attention_mask": mask, "output_ids": batched, "equal_to_single": equal}}


def cases(encoded, outputs):
    return [{"source": text, "input_ids": ids, "output_ids": output}
            for text, ids, output in zip(GENERATE, encoded, outputs)]


def lora_adapter(folder, relative, out, seed):
    base = load(folder)
    # Relative, whatever FIXTURES_DIR is: PEFT takes it for adapter_config.json and README.md from these.
    base.config.name_or_path = relative
    base.name_or_path = relative
    torch.manual_seed(seed)  # lora_A's (Kaiming) init draws from the global generator
    model = get_peft_model(base, LoraConfig(task_type="SEQ_2_SEQ_LM", r=4, lora_alpha=8, target_modules=["q", "v"]))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.add_(torch.randn(parameter.shape, generator=g) * 0.1)
    model.eval()
    model.save_pretrained(out)
    return model


def main(fixtures):
    models_dir = os.path.join(fixtures, "models")
    with open(os.path.join(fixtures, "tasks", "summarization", "train.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    tok = tokenizer([row["text"] for row in rows] + [row["summary"] for row in rows])
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2]

    source = batch_source(tok)
    batch = {k: torch.tensor(source[k], dtype=torch.int64)
             for k in ("input_ids", "attention_mask", "labels", "decoder_input_ids")}
    for name, flan in [("tiny-t5", False), ("tiny-flan-t5", True)]:
        folder = os.path.join(models_dir, name)
        random_model(folder, tok, flan, *MODELS[name])
        with open(os.path.join(models_dir, name + "-batch.json"), "w", encoding="utf-8") as f:
            json.dump(source, f, ensure_ascii=False)
        t5_parity(folder, batch, os.path.join(models_dir, name + "-parity.safetensors"))
        goldens = generation_goldens(folder, tok)
        if not flan:
            lora = lora_adapter(folder, "fixtures/models/tiny-t5", os.path.join(fixtures, "peft", "tiny-t5-lora"), 410)
            with torch.no_grad():
                logits = lora(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              decoder_input_ids=batch["decoder_input_ids"]).logits
            save_file({"logits": logits.contiguous()}, os.path.join(models_dir, "tiny-t5-lora-logits.safetensors"))
            encoded = [case["input_ids"] for case in goldens["inputs"]]
            goldens["lora"] = cases(encoded, generation(lora, encoded))

            merged = lora.merge_and_unload()
            with tempfile.TemporaryDirectory() as tmp:
                merged.save_pretrained(tmp)
                reloaded = T5ForConditionalGeneration.from_pretrained(tmp, attn_implementation="eager",
                                                                      dtype=torch.float32)
                assert type(reloaded) is T5ForConditionalGeneration
                reloaded.eval()
                with torch.no_grad():
                    again = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                     decoder_input_ids=batch["decoder_input_ids"]).logits
                assert torch.allclose(again, logits, atol=1e-5), (again - logits).abs().max()
        with open(os.path.join(models_dir, name + "-generate.json"), "w", encoding="utf-8") as f:
            json.dump(goldens, f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
