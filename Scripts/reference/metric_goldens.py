"""Task metrics as the reference libraries compute them, the goldens for Sources/Training/Metrics:
fixtures/metrics/goldens.json.

- entities: seqeval's default (conlleval-compatible, not strict) mode: get_entities' chunks and
  precision_recall_fscore_support per type and micro/macro/weighted (classification_report's rows).
  seqeval's macro average over zero types is NaN, stored as null.
- squad: the official SQuAD v1.1 evaluate script's normalize_answer, exact match and token F1
  (written out below as that script defines them), max over the references, averaged x100.
- rouge: Google's rouge_score RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"]) without a
  stemmer, per pair, and the plain mean over pairs.
- rouge_stemmed: the same with use_stemmer=True, on the same pairs plus some whose words differ only
  by suffix. rouge_score stems with nltk's PorterStemmer() in its default NLTK_EXTENSIONS mode, and
  only tokens longer than 3 characters.
- stemmer: "word stem" lines from that stemmer. `words` are tokens as rouge_score's tokenizer
  produces them: the docstring words of this Python's standard library seen at least 3 times, words
  that exercise every rule and special case, and the tokens of capitalised and accented text.
  `direct` are inputs only a direct stem() call sees, for its own lowercasing and length check.

Usage: python metric_goldens.py FIXTURES_DIR
"""

import ast
import collections
import json
import math
import os
import platform
import random
import re
import string
import sys
import sysconfig
from importlib.metadata import version

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize, tokenizers
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


ROUGE_PAIRS = [
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

# Pairs that score higher once suffixes are stripped, and tokens of 3 characters or fewer that the
# stemmer alone would change ("was" -> "wa") but rouge_score leaves alone.
STEMMED_PAIRS = [
    ("running runs ran", "run running ran"),
    ("She gave generously.", "a generous gift, generously given"),
    ("relational conditional rational", "relate condition rationally"),
    ("The cats were running and jumped over the fences", "A cat runs and jumps over a fence"),
    ("Skies flies\nDYING lying tying", "sky fly\ndie lie tie"),
    ("was has this his dies ties", "wa ha thi his die tie"),
    ("proceed exceeded succeeding agreed feed", "proceeds exceeds succeeds agree feeding"),
    ("hopping hissing falling filing failing", "hop hiss fall file fail"),
    ("nationalization organizers hopefulness callousness", "nationalize organize hopeful callous"),
]


def rouge_cases(pairs, use_stemmer):
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=use_stemmer)
    tokenizer = tokenizers.DefaultTokenizer(use_stemmer)
    out = []
    for reference, prediction in pairs:
        s = scorer.score(reference, prediction)
        out.append({"reference": reference, "prediction": prediction,
                    "reference_tokens": tokenizer.tokenize(reference),
                    **{t: {"precision": s[t].precision, "recall": s[t].recall, "fmeasure": s[t].fmeasure}
                       for t in ROUGE_TYPES}})
    mean = {t: {k: sum(c[t][k] for c in out) / len(out) for k in ("precision", "recall", "fmeasure")}
            for t in ROUGE_TYPES}
    return {"cases": out, "mean": mean}


# Words for each of the stemmer's steps, rules, conditions and special cases.
RULE_WORDS = """
caresses caress cats ponies ties dies lies pies flies skies sky ss sses ies s is as us gas bus yes
feed agreed bleed deed need speed greed indeed freed proceed exceed succeed proceeded exceeding succeeded
plastered bled motoring sing sings ring king thing string during ed ing red shed sled
conflated troubled sized hopping tanned falling hissing fizzed failing filing buzzing rolling missed
died spied tied lied cried fried dying lying tying running swimming stopped planned hoped hoping
agreeing seeing being iced aced owed used
happy enjoy spy fly try by cry dry say boy toy syzygy yyyy yyy yy y ay sly daily employ deploy
played paying buying saying obeying coyly slyly shyness dryness
relational conditional rational sensational operational national valenci hesitanci valency
digitizer organizer sanitizer tokenizer conformabli possibly visibly radicalli finally fully
differentli vileli analogousli vietnamization predication operator feudalism decisiveness
hopefulness callousness jealousness seriousness formaliti sensitiviti sensibiliti hopefully
carefully usefulli geology theology archaeology biology analogy apology logi ology
normalization generalization nationalism conditionally relationally
triplicate formative formalize electriciti electrical hopeful goodness authenticate duplicate
normalize historical
revival allowance inference airliner gyroscopic adjustable defensible irritant replacement
adjustment dependent adoption homologou communism activate angulariti homologous effective
bowdlerize generously generous union onion position decision vision cement element
probate rate cease controll roll fall tell excel
innings inning outings outing cannings canning howe news
1990s mp3s x86 4ever h2o 2nd 3rd 10th utf8 iso8601 ipv6 sha256 100s 20ies 42 7
"""

# Capitalised and accented text: the stemmer sees only the tokens rouge_score's tokenizer leaves.
TOKENIZED_TEXT = ("RUNNING Generously NATIONALISATION Café's naïvely résumés façades Übermensch Straße "
                  "İstanbul ΣΟΦΙΑ Ångströms crème brûlée piñatas Zoë coöperation jalapeños São Kraków Dvořák")

# Inputs only a direct stem() call sees: upper case, non-ASCII letters (consonants to Porter), "İs",
# which lowercases to three code points but is two long, so it is returned lowercased only, and
# capital sigmas, which str.lower makes final ("ς") at the end of a word, looking past apostrophes.
DIRECT_WORDS = ["Running", "CARESSES", "Skies", "DYING", "News", "Generously", "naïvely", "Café",
                "Ärztinnen", "İs", "İİİİ", "façades", "ÉTÉS", "Straße", "jalapeños",
                "ΟΔΟΣ", "ΣΟΦΙΑΣ", "ΣΣ", "ΑΣ'", "ΑΣ'Α", "1Σ"]


def stemmer_goldens():
    stemmer = tokenizers.DefaultTokenizer(use_stemmer=True)._stemmer
    assert isinstance(stemmer, porter.PorterStemmer) and stemmer.mode == porter.PorterStemmer.NLTK_EXTENSIONS
    counts = collections.Counter()
    root = sysconfig.get_paths()["stdlib"]
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(d for d in folders if d not in ("test", "tests", "idlelib", "lib2to3", "site-packages"))
        for name in sorted(f for f in files if f.endswith(".py")):
            try:
                tree = ast.parse(open(os.path.join(folder, name), encoding="utf-8").read())
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    counts.update(w for w in (ast.get_docstring(node) or "").split() if w.isascii() and w.isalpha() and w.islower())
    corpus = {w for w, n in counts.items() if n >= 3}
    words = sorted(corpus | set(RULE_WORDS.split()) | set(tokenize.tokenize(TOKENIZED_TEXT, None)))
    assert all(tokenize.tokenize(w, None) == [w] for w in words), "every word is a token rouge_score can produce"
    return {"mode": stemmer.mode,
            "source": f"Python {platform.python_version()}'s standard library docstrings: {len(corpus)} words seen at least 3 times",
            "words": [f"{w} {stemmer.stem(w)}" for w in words],
            "direct": [f"{w} {stemmer.stem(w)}" for w in DIRECT_WORDS]}


def main(fixtures):
    folder = os.path.join(fixtures, "metrics")
    os.makedirs(folder, exist_ok=True)
    goldens = {"versions": {p: version(p) for p in ("seqeval", "rouge-score", "nltk")},
               "entities": entity_cases(), "squad": squad_cases(), "rouge": rouge_cases(ROUGE_PAIRS, False),
               "rouge_stemmed": rouge_cases(ROUGE_PAIRS + STEMMED_PAIRS, True), "stemmer": stemmer_goldens()}
    target = os.path.join(folder, "goldens.json")
    with open(target, "w") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{target}: {len(goldens['entities'])} entity, {len(goldens['squad']['cases'])} squad, "
          f"{len(goldens['rouge']['cases'])} rouge, {len(goldens['rouge_stemmed']['cases'])} stemmed rouge cases, "
          f"{len(goldens['stemmer']['words'])} stemmer words")


if __name__ == "__main__":
    main(sys.argv[1])
