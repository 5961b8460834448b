"""Task metrics as the reference libraries compute them, the goldens for Sources/Training/Metrics:
fixtures/metrics/goldens.json.

- entities: seqeval's default (conlleval-compatible, not strict) mode: get_entities' chunks and
  precision_recall_fscore_support per type and micro/macro/weighted (classification_report's rows).
  seqeval's macro average over zero types is NaN, stored as null.
- squad: the official SQuAD v1.1 evaluate script's normalize_answer, exact match and token F1
  (written out below as that script defines them), max over the references, averaged x100.
- rouge: Google's rouge_score RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"]) without a
  stemmer, per pair, and the plain mean over pairs.

Usage: python metric_goldens.py FIXTURES_DIR
"""

import collections
import json
import math
import os
import random
import re
import string
import sys
from importlib.metadata import version

from rouge_score import rouge_scorer
from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


# SQuAD v1.1's evaluate-v1.1.py, as published.
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def squad_f1(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_em(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def number(x):
    x = float(x)
    return None if math.isnan(x) else x


def scores(p, r, f, s):
    return {"precision": number(p), "recall": number(r), "f1": number(f), "support": int(s)}


def entity_case(name, y_true, y_pred):
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None)
    names = sorted({t for t, _, _ in get_entities(y_true)} | {t for t, _, _ in get_entities(y_pred)})
    averages = {a: scores(*precision_recall_fscore_support(y_true, y_pred, average=a))
                for a in ("micro", "macro", "weighted")}
    if averages["macro"]["precision"] is None:
        averages["macro"] = None
    return {"name": name, "references": y_true, "predictions": y_pred,
            "reference_entities": [list(e) for e in get_entities(y_true)],
            "prediction_entities": [list(e) for e in get_entities(y_pred)],
            "types": [dict(type=n, **scores(*row)) for n, *row in zip(names, p, r, f, s)], **averages}


def entity_cases():
    cases = [
        ("seqeval docstring", [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
         [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]),
        ("no entities anywhere", [["O", "O"], ["O"]], [["O", "O"], ["O"]]),
        ("empty sequences", [[], []], [[], []]),
        ("empty predictions", [["B-PER", "I-PER", "O", "B-LOC"]], [["O", "O", "O", "O"]]),
        ("only predicted entities", [["O", "O", "O"]], [["B-PER", "O", "S-LOC"]]),
        ("I without B", [["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
        ("I after another type", [["B-PER", "I-LOC", "I-LOC", "O"]], [["B-PER", "B-LOC", "I-LOC", "O"]]),
        ("IOBES", [["S-LOC", "B-PER", "I-PER", "E-PER", "O", "S-ORG", "S-ORG"]],
         [["S-LOC", "B-PER", "E-PER", "E-PER", "O", "B-ORG", "E-ORG"]]),
        ("E and I after E or S", [["B-A", "E-A", "E-A", "S-A", "I-A", "S-A", "E-A", "O", "E-A", "I-A"]],
         [["B-A", "E-A", "I-A", "S-A", "E-A", "O", "O", "O", "E-A", "E-A"]]),
        ("mixed schemes", [["B-PER", "E-PER", "I-PER", "S-PER", "I-PER", "B-PER", "S-PER"]],
         [["B-PER", "I-PER", "I-PER", "S-PER", "B-PER", "B-PER", "I-PER"]]),
        ("sentence boundaries stop chunks", [["B-PER", "I-PER"], ["I-PER", "O"], ["I-PER"]],
         [["B-PER", "I-PER"], ["B-PER", "O"], ["B-PER"]]),
        ("untyped and hyphenated types", [["B", "I", "O", "B-ORG-X", "I-ORG-X", "B-ORG", "I-ORG-X"]],
         [["B", "I", "I", "B-ORG-X", "I-ORG", "B-ORG", "I-ORG-X"]]),
        ("unknown tag letters", [["X-PER", "X-PER", ".-PER", "O", "PER", "I-ER", "O"]],
         [["B-PER", "X-PER", ".-PER", "O", "B-ER", "I-ER", "O"]]),
        ("dot tag continues across O", [[".-A", "O", "I-B"], [".-A"], ["I-A"]], [["B-A", "O", "I-B"], ["O"], ["I-A"]]),
        ("unicode types", [["B-ÉTÉ", "I-ÉTÉ", "O", "B-Straße", "B-日本"]], [["B-ÉTÉ", "I-ÉTÉ", "O", "B-Straße", "I-日本"]]),
        ("type order is code point order", [["B-b", "O", "B-B", "O", "B-_", "B-a"]], [["B-b", "O", "B-a", "O", "B-_", "B-Z"]]),
    ]
    out = [entity_case(*c) for c in cases]
    rng = random.Random(7)
    pool = ["O", "O", "O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-MISC", "I-MISC"]
    for k in range(10):
        lengths = [rng.randint(0, 12) for _ in range(rng.randint(1, 5))]
        y_true = [[rng.choice(pool) for _ in range(n)] for n in lengths]
        y_pred = [[t if rng.random() < 0.6 else rng.choice(pool) for t in seq] for seq in y_true]
        out.append(entity_case(f"random {k}", y_true, y_pred))
    return out


def squad_cases():
    pairs = [
        ("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]),
        ("the Broncos", ["Denver Broncos"]),
        ("The", ["a"]),
        ("a an the", [""]),
        ("", [""]),
        ("", ["something"]),
        ("!!!", ["?"]),
        ("...the...", ["The."]),
        ("theatre and another", ["the atre and a nother"]),
        ("Café au lait", ["cafe au lait", "CAFÉ AU LAIT!"]),
        ("Ångström  units", ["ångström\tunits"]),
        ("the_a a_the", ["a_the the_a"]),
        ("éthe éa the", ["the"]),
        ("one one one two", ["one two two", "one"]),
        ("1,000 (approx.)", ["1000 approx"]),
        ("  spaced\nout\u00a0words\x1cend ", ["spaced out words end"]),
        ("İstanbul", ["i̇stanbul"]),
        ("Smith's 'quote' — dash", ["smiths quote — dash"]),
        ("x", ["y", "x y", "x"]),
        ("the the the", ["an"]),
    ]
    out = []
    for prediction, references in pairs:
        out.append({"prediction": prediction, "references": references,
                    "normalized_prediction": normalize_answer(prediction),
                    "exact_match": float(max(squad_em(prediction, r) for r in references)),
                    "f1": float(max(squad_f1(prediction, r) for r in references))})
    total = len(out)
    aggregate = {"exact_match": 100.0 * sum(c["exact_match"] for c in out) / total,
                 "f1": 100.0 * sum(c["f1"] for c in out) / total}
    return {"cases": out, "aggregate": aggregate}


def rouge_cases():
    pairs = [
        ("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."),
        ("identical text here", "identical text here"),
        ("no overlap at all", "completely different words"),
        ("", ""),
        ("something", ""),
        ("", "something"),
        ("!!! ... ???", "a b c"),
        ("Café naïve Ünïcode 東京 résumé", "cafe naive unicode resume"),
        ("the cat sat on the mat\nthe dog sat on the log", "the cat sat\non the log the dog"),
        ("first sentence here.\n\nsecond one there.\n", "second one here.\nfirst sentence there."),
        ("a b c d e\nf g h", "a c e\nb d\nf h g"),
        ("win\r\nwindows line\r\nends", "win windows\r\nline ends"),
        ("the the the the", "the the"),
        ("It's 3.14, not 2,718 — K-9 (unit)", "its 3 14 not 2 718 k 9 unit"),
        ("KELVIN \u212a sign", "kelvin k sign"),
        ("one two three four five six", "six five four three two one"),
        ("abab\nbaba\nabab", "ab ab ba\nab"),
        ("a a b\nb a", "a b\na a b b"),
        ("   \n \n", "word\n  \n"),
        # rougeLsum depends on which LCS the backtrack picks when two are equally long.
        ("c b b\na a c\nc", "a\nb a c\na"),
        ("c a\nc c b\nc", "b\nc b c\nb a c"),
    ]
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=False)
    out = []
    for reference, prediction in pairs:
        s = scorer.score(reference, prediction)
        out.append({"reference": reference, "prediction": prediction,
                    "reference_tokens": rouge_scorer.tokenizers.DefaultTokenizer(False).tokenize(reference),
                    **{t: {"precision": s[t].precision, "recall": s[t].recall, "fmeasure": s[t].fmeasure}
                       for t in ROUGE_TYPES}})
    mean = {t: {k: sum(c[t][k] for c in out) / len(out) for k in ("precision", "recall", "fmeasure")}
            for t in ROUGE_TYPES}
    return {"cases": out, "mean": mean}


def main(fixtures):
    folder = os.path.join(fixtures, "metrics")
    os.makedirs(folder, exist_ok=True)
    goldens = {"versions": {p: version(p) for p in ("seqeval", "rouge-score")},
               "entities": entity_cases(), "squad": squad_cases(), "rouge": rouge_cases()}
    target = os.path.join(folder, "goldens.json")
    with open(target, "w") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{target}: {len(goldens['entities'])} entity, {len(goldens['squad']['cases'])} squad, "
          f"{len(goldens['rouge']['cases'])} rouge cases")


if __name__ == "__main__":
    main(sys.argv[1])
