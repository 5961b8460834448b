"""Task fixtures (synthetic data sets) and task-head goldens, from transformers 5.24 / peft 0.21.2 /
tokenizers (eager attention, f32). Every data set is generated here from word lists and templates
with fixed seeds (nothing is downloaded); the JSONL files are compact (separators "," and ":"),
UTF-8, one object a line.

Task data:
fixtures/tasks/ner/train.jsonl (300 lines), test.jsonl (80): {"tokens": [word, ...], "ner_tags":
  [IOB2 tag, ...]}, tags from NER_LABELS (O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC,
  I-MISC); punctuation is its own word; some sentences have no entity. The test set draws about half
  of its names, organisations, places and MISC entities from lists the training set never uses.
fixtures/tasks/qa/train.jsonl (300), test.jsonl (80), SQuAD v1.1 style: {"id", "title", "context",
  "question", "answers": {"text": [...], "answer_start": [char offset, ...]}} about made-up
  companies, people and towns; every answer is checked to be context[start:start+len(text)]. Every
  tenth context is long (more than 250 words of filler around the facts, the asked fact anywhere),
  so a 128-token window with stride 32 needs several windows. A few test questions have two answers
  (a year and "in YEAR", a full name and the surname).
fixtures/tasks/summarization/train.jsonl (150), test.jsonl (40): {"text", "summary"}: 3-5 sentence
  news-like texts (product launches, matches, council votes, prizes, storms) and a one-sentence
  summary made from the facts the text always states.
fixtures/tasks/instructions/messages.jsonl (60): {"messages": [{"role", "content"}, ...]} with an
  optional system message first, some with two user/assistant turns; the last message is the
  assistant's. fixtures/tasks/instructions/prompt-completion.jsonl (60): {"prompt", "completion"}
  (the prompt ends "Answer:", the completion starts with a space). Tasks: reverse a word, the capital
  of a made-up country given in the prompt, small-number arithmetic.

Word-split tokenization:
fixtures/tokenizers/pretokenized.json: {"tiny-bert": {"tokenizer": "fixtures/tiny-bert/tokenizer.json",
  "singles": [{"words", "ids", "tokens", "word_ids", "type_ids", "offsets"}], "pairs": [{"a", "b",
  "ids", "tokens", "word_ids", "type_ids", "sequence_ids", "offsets"}]}, "tiny-roberta": {... the
  same for fixtures/models/tiny-roberta/tokenizer.json}}: Tokenizer.from_file(...).encode(words,
  is_pretokenized=True) (pairs: encode(a, b, is_pretokenized=True)) with the tokenizers as stored
  (the RoBERTa one has add_prefix_space false: no word gets a "Ġ", a space inside a word does).
  word_ids and sequence_ids are null on special tokens; word ids restart at 0 in the second
  sequence; offsets are [start, end] characters within the token's own word.

Task heads (encoder weights copied from fixtures/tiny-bert and fixtures/models/tiny-roberta, the head
drawn from a seeded N(0, 0.1) for weight and bias, saved with save_pretrained + tokenizer.json):
fixtures/models/tiny-bert-ner/, tiny-roberta-ner/: BertForTokenClassification /
  RobertaForTokenClassification, 9 labels, id2label/label2id = NER_LABELS.
fixtures/models/tiny-bert-qa/, tiny-roberta-qa/: BertForQuestionAnswering /
  RobertaForQuestionAnswering (qa_outputs: Linear(hidden, 2); id2label LABEL_0, LABEL_1).
fixtures/models/tiny-bert-ner-parity.safetensors, tiny-roberta-ner-parity.safetensors: what
  model_goldens.parity records (input_ids, attention_mask, token_type_ids (BERT only), labels
  [B, T] (-100 but on each word's first sub-token), eval `logits` [B, T, 9], `last_hidden_state`,
  `loss`, `grad.<parameter>` for every parameter, ten `adamw_losses`) on a right-padded batch of
  three word-split sentences; tiny-bert-ner-batch.json, tiny-roberta-ner-batch.json: {"label_names",
  "words", "tags", "input_ids", "token_type_ids" (BERT only), "attention_mask", "word_ids" (null on
  specials and padding), "labels"} of that batch.
fixtures/models/tiny-bert-qa-parity.safetensors, tiny-roberta-qa-parity.safetensors: the same
  record by qa_parity below, with `start_positions`, `end_positions` [B] in place of labels and
  `start_logits`, `end_logits` [B, T] in place of logits (no `logits` key); loss is transformers'
  (CE(start) + CE(end)) / 2. The batch: three (question, context) text pairs (plain encode),
  right-padded; the third context does not hold the answer, so its positions are 0 (the first
  special token), as transformers' SQuAD preprocessing labels such windows.
  tiny-bert-qa-batch.json, tiny-roberta-qa-batch.json: {"questions", "contexts", "answers" ({"text",
  "answer_start"} each), "input_ids", "token_type_ids" (BERT only), "attention_mask", "offsets"
  ([0, 0] on padding), "sequence_ids", "start_positions", "end_positions"}.
RoBERTa takes no token_type_ids (type_vocab_size 1) and pads with id 1; its positions start at 2,
so its rows stay at most 38 tokens (max_position_embeddings 40); the BERT rows at most 40.

PEFT adapters on the heads (r 4, alpha 8, query+value, PEFT's own modules_to_save for the task type;
lora_B and the modules_to_save copies moved by seeded noise x0.1; base_model_name_or_path relative):
fixtures/peft/tiny-bert-ner-lora/ (TOKEN_CLS: classifier saved) and
  fixtures/models/tiny-bert-ner-lora-logits.safetensors: {"logits": [B, T, 9]} on the NER batch.
fixtures/peft/tiny-bert-qa-lora/ (QUESTION_ANS: qa_outputs saved) and
  fixtures/models/tiny-bert-qa-lora-logits.safetensors: {"start_logits", "end_logits": [B, T]} on the
  QA batch.

Usage: python task_goldens.py FIXTURES_DIR
"""
import json
import os
import random
import re
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import (BertConfig, BertForQuestionAnswering, BertForTokenClassification, RobertaConfig,
                          RobertaForQuestionAnswering, RobertaForTokenClassification)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_goldens import parity  # noqa: E402

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

# Word lists: the second list of each pair is seen only by the test sets.
FIRST = (["Ada", "Boris", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya", "Lars",
          "Mira", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Samir", "Tomas", "Uma", "Viktor", "Wen", "Yusuf",
          "Zora", "Amara", "Bruno", "Chloe", "Diego", "Freya"],
         ["Anouk", "Benedikt", "Calla", "Emeka", "Ilse", "Kenji", "Leonie", "Matteo", "Noor", "Sven", "Talia", "Vasco"])
LAST = (["Kern", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Novak", "Brennan", "Castillo", "Fischer",
         "Gallo", "Ivanova", "Jensen", "Kowalski", "Larsen", "Mendes", "Nakamura", "Olsen", "Petrov", "Quinn",
         "Rossi", "Schulz", "Torres", "Varga", "Weber", "Yilmaz", "Zhang", "Abbott", "Dubois", "Ferreira"],
        ["Achterberg", "Bianchi", "Delacroix", "Eriksen", "Gutierrez", "Hollis", "Iwasaki", "Mbeki", "Pellegrini",
         "Sorensen", "Thorne", "Vukovic"])
ORGS = (["Veltrix Labs", "Orion Freight Company", "Kestrel Media", "Silver Pine Bank", "Greenfield University",
         "Northwind Trading", "Bramble Foods", "Halcyon Energy", "Blue Harbor Insurance", "Red Maple Studios",
         "Atlas Rail", "Copperleaf Pharma", "United Textile Workers", "Summit Airlines", "Ironbridge Capital",
         "Lumen Robotics", "Westbrook Hospital", "Pioneer Motors", "Harbor City Council", "Meridian News Agency"],
        ["Quarry Hill Bank", "Solstice Games", "Driftwood Shipping", "Ember Analytics", "Granite Peak College",
         "Lakeshore Dairy"])
LOCS = (["Berlin", "Lisbon", "Oslo", "New York", "Rio de Janeiro", "Port Elms", "Lake Tarvin", "Lowmere", "Castellan",
         "Brightwater", "North Vale", "Kyoto", "Nairobi", "Valparaiso", "Cape Orla", "Dunmore", "Santa Rita",
         "East Holm", "Tbilisi", "Glenford"],
        ["Marrow Bay", "Kilnsey", "Saint Aubin", "Ostrava", "Fenwick Falls", "Quito"])
NATIONALITIES = (["French", "German", "Italian", "Japanese", "Brazilian", "Kenyan", "Norwegian", "Spanish", "Dutch",
                  "Polish"],
                 ["Chilean", "Finnish", "Georgian"])
EVENTS = (["Olympic Games", "World Cup", "Nobel Prize", "Tour de France", "Booker Prize", "Winter Festival",
           "Harvest Fair", "Golden Reel Award"],
          ["Silver Quill Prize", "Spring Regatta"])

NER_TEMPLATES = [
    "{PER} works for {ORG} in {LOC} .", "{ORG} opened a new office in {LOC} last year .",
    "{PER} , a {NAT} writer , lives in {LOC} .", "Shares of {ORG} rose 4 percent on Monday .",
    "{PER} said the {EVENT} would be held in {LOC} .", "Mr. {LAST} met {PER} in {LOC} on Tuesday .",
    "{LOC} is home to {ORG} .", "According to {PER} , {ORG} will hire 200 people .",
    "{PER} won the {EVENT} in 1998 .", "The {NAT} government signed a deal with {ORG} .",
    "{ORG} was founded in {LOC} in 1975 .", "{PER} and {PER} arrived in {LOC} on Friday .",
    "Police in {LOC} said {PER} was not injured .", "{PER} , chief executive of {ORG} , resigned .",
    "The {EVENT} attracted 3,000 visitors to {LOC} .", "{ORG} bought a stake in {ORG} for 12 million dollars .",
    "{PER} moved from {LOC} to {LOC} in 2004 .", "Dr. {LAST} studies {NAT} poetry at {ORG} .",
    "{NAT} fans celebrated in {LOC} after the match .", "Ms. {LAST} joined {ORG} in March .",
    "Flights from {LOC} to {LOC} were cancelled .", "{PER} will represent {LOC} at the {EVENT} .",
    "A spokesman for {ORG} declined to comment .", "{PER} spoke {NAT} at the meeting .",
    "The river near {LOC} flooded again .", "{ORG} reported a profit of 5.2 million euros .",
    "{PER} ( {ORG} ) finished second .", "Born in {LOC} , {PER} played for {ORG} .",
    "{PER} thanked the {NAT} ambassador , {PER} .", "Tickets for the {EVENT} in {LOC} sold out .",
]
NER_PLAIN = [
    "The weather was cold all week .", "Prices rose by 3 percent in March .", "It was a quiet day at the office .",
    "Nobody answered the phone .", "The meeting ended early , and everyone went home .",
    "Sales fell slightly in the second quarter .",
]

# QA, summarization and instructions share these (made-up) names.
PLACES = ["Port Elms", "Lowmere", "Castellan", "Brightwater", "North Vale", "Cape Orla", "Dunmore", "East Holm",
          "Glenford", "Marrow Bay", "Kilnsey", "Saint Aubin", "Fenwick Falls", "Tarvin", "Ashcombe", "Wrenfield"]
COMPANY_PREFIXES = ["Veltrix", "Orion", "Kestrel", "Bramble", "Northwind", "Halcyon", "Copperleaf", "Lumen",
                    "Meridian", "Ironbridge", "Solstice", "Driftwood", "Ember", "Granite", "Lakeshore", "Redfern",
                    "Tidewater", "Larkspur", "Cobalt", "Juniper", "Alder", "Marlow", "Sable", "Quarry"]
COMPANY_SUFFIXES = ["Systems", "Labs", "Foods", "Freight", "Media", "Energy", "Textiles", "Robotics", "Games",
                    "Pharma"]
PRODUCTS = ["solar panels", "bicycles", "board games", "goat cheese", "delivery drones", "school software",
            "wool blankets", "electric boats", "garden tools", "hearing aids", "running shoes", "desk lamps"]
FIELDS = ["chemistry", "music", "law", "architecture", "medicine", "history", "economics", "geology"]
UNIVERSITIES = ["the University of Lowmere", "Castellan Institute of Technology", "Brightwater College",
                "the Royal Academy of Dunmore"]
AWARDS = ["Silver Quill Prize", "Harlow Medal", "Golden Reel Award", "Marin Prize for Science", "Aster Prize"]
RIVERS = ["Ossel", "Varne", "Kell", "Amber", "Linden", "Morrow"]
FAMOUS_FOR = ["its glass bridge", "a spring flower market", "smoked fish", "an old stone lighthouse",
              "its jazz festival", "painted wooden houses"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FILLERS = [
    "The region is known for its mild winters and long summers.", "Most visitors arrive by train from the coast.",
    "A weekly market is held in the main square on Saturdays.",
    "The local newspaper has been printed in the same building for decades.",
    "Several old bridges cross the valley to the north of the centre.",
    "Farmers in the area grow barley, potatoes and apples.", "The nearest airport is about two hours away by car.",
    "In the autumn the hills are covered in red and yellow leaves.", "Many residents commute to larger towns for work.",
    "The public library was renovated and now has a small cinema.", "Cycling paths connect the surrounding villages.",
    "A folk music festival takes place every other summer.", "The old railway station now houses a small museum.",
    "Fishing boats still leave the harbour before dawn.", "Schools in the district teach two foreign languages.",
    "The clock on the town hall has never been replaced.", "Heavy snow sometimes closes the mountain roads in winter.",
    "Tourists often photograph the painted houses along the canal.",
    "A regional football club plays its home games nearby.", "The surrounding forests are home to deer and foxes.",
    "Local bakers are proud of their dark rye bread.", "An annual charity run raises money for the hospital.",
    "The main road was widened after years of traffic jams.", "Evening concerts are held in the park in summer.",
    "Several artists have opened studios in the former warehouses.",
    "The climate has become noticeably drier in recent years.", "A ferry crosses the lake twice a day in good weather.",
    "Children learn to swim in the heated pool by the school.", "The market square is lined with cafes and small shops.",
    "Volunteers maintain the walking trails in the nature reserve.",
    "Wind turbines on the ridge supply much of the electricity.", "A new bus line links the station with the suburbs.",
]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def pick(rng, lists, test):
    """One entry of a (train, test-only) word-list pair: the test sets take half of theirs from test-only."""
    return rng.choice(lists[1] if test and rng.random() < 0.5 else lists[0])


def person(rng, test=False):
    return pick(rng, FIRST, test) + " " + pick(rng, LAST, test)


# ---------------------------------------------------------------------------------------------- NER

def ner_sentence(rng, test):
    if rng.random() < 0.1:
        return rng.choice(NER_PLAIN).split(" "), None
    template = rng.choice(NER_TEMPLATES)
    tokens, tags, used = [], [], []
    for word in template.split(" "):
        if not (word.startswith("{") and word.endswith("}")):
            tokens.append(word)
            tags.append("O")
            continue
        kind = word[1:-1]
        while True:
            if kind == "PER":
                value = person(rng, test) if rng.random() < 0.75 else pick(rng, LAST, test)
            elif kind == "LAST":
                value = pick(rng, LAST, test)
            else:
                value = pick(rng, {"ORG": ORGS, "LOC": LOCS, "NAT": NATIONALITIES, "EVENT": EVENTS}[kind], test)
            if value not in used:
                break
        used.append(value)
        entity = {"PER": "PER", "LAST": "PER", "ORG": "ORG", "LOC": "LOC", "NAT": "MISC", "EVENT": "MISC"}[kind]
        for i, part in enumerate(value.split(" ")):
            tokens.append(part)
            tags.append(("B-" if i == 0 else "I-") + entity)
    return tokens, tags


def ner_data(count, seed, test, exclude=()):
    rng = random.Random(seed)
    rows, seen = [], set(exclude)
    while len(rows) < count:
        tokens, tags = ner_sentence(rng, test)
        if tags is None:
            tags = ["O"] * len(tokens)
        elif " ".join(tokens) in seen:
            continue
        seen.add(" ".join(tokens))
        assert len(tokens) == len(tags) and all(tag in NER_LABELS for tag in tags)
        rows.append({"tokens": tokens, "ner_tags": tags})
    return rows


# ----------------------------------------------------------------------------------------------- QA

def fill(template, values):
    """The template with its {field}s filled in, and each field's start character."""
    text, starts, position = "", {}, 0
    for match in re.finditer(r"\{(\w+)\}", template):
        text += template[position:match.start()]
        starts[match.group(1)] = len(text)
        text += values[match.group(1)]
        position = match.end()
    return text + template[position:], starts


def company(rng):
    return rng.choice(COMPANY_PREFIXES) + " " + rng.choice(COMPANY_SUFFIXES)


def qa_record(rng, test):
    """(title, intro sentence, other fact sentences, questions): sentences are templates; each
    question is (template, field, alternatives), an alternative being (prefix, suffix-field) pairs."""
    kind = rng.choice(["company", "person", "town"])
    if kind == "company":
        name = company(rng)
        values = {"C": name, "YEAR": str(rng.randint(1890, 2015)), "FOUNDER": person(rng, test),
                  "CITY": rng.choice(PLACES), "CEO": person(rng, test), "PRODUCT": rng.choice(PRODUCTS),
                  "N": str(rng.randint(12, 4800))}
        intro = "{C} was founded in {YEAR} by {FOUNDER}."
        facts = [rng.choice(["The company is based in {CITY}.", "Its headquarters are in {CITY}."]),
                 "Its chief executive is {CEO}.", "{C} is best known for its {PRODUCT}.", "It employs {N} people."]
        questions = [(rng.choice(["Who founded {C}?", "Who was the founder of {C}?"]), "FOUNDER"),
                     (rng.choice(["In which year was {C} founded?", "When was {C} founded?"]), "YEAR"),
                     (rng.choice(["Where is {C} located?", "In which city is {C} based?"]), "CITY"),
                     (rng.choice(["Who is the CEO of {C}?", "Who runs {C}?"]), "CEO"),
                     ("What is {C} best known for?", "PRODUCT"), ("How many people does {C} employ?", "N")]
    elif kind == "person":
        name = person(rng, test)
        surname = name.split(" ")[1]
        values = {"P": name, "L": surname, "CITY": rng.choice(PLACES), "YEAR": str(rng.randint(1900, 1995)),
                  "FIELD": rng.choice(FIELDS), "UNI": rng.choice(UNIVERSITIES), "AWARD": rng.choice(AWARDS),
                  "CITY2": rng.choice(PLACES)}
        values["YEAR2"] = str(int(values["YEAR"]) + rng.randint(25, 50))
        intro = "{P} was born in {CITY} in {YEAR}."
        facts = ["{L} studied {FIELD} at {UNI}.", "In {YEAR2} {L} won the {AWARD}.", "{L} later moved to {CITY2}."]
        if values["CITY2"] == values["CITY"]:
            facts.pop()
        questions = [("Where was {P} born?", "CITY"), ("In which year was {P} born?", "YEAR"),
                     ("What did {P} study?", "FIELD"), ("Where did {P} study?", "UNI"),
                     ("Which prize did {P} win?", "AWARD"), ("When did {P} win the {AWARD}?", "YEAR2")]
        if len(facts) == 3:
            questions.append(("Where did {P} move to?", "CITY2"))
    else:
        name = rng.choice(PLACES)
        values = {"T": name, "RIVER": rng.choice(RIVERS), "N": str(rng.randint(800, 60000)),
                  "MAYOR": person(rng, test), "THING": rng.choice(FAMOUS_FOR), "YEAR": str(rng.randint(1100, 1700))}
        intro = "{T} is a small town on the {RIVER} river."
        facts = ["It has about {N} inhabitants.", "The mayor of {T} is {MAYOR}.", "{T} is famous for {THING}.",
                 "The town was first mentioned in {YEAR}."]
        questions = [("On which river is {T}?", "RIVER"), ("How many people live in {T}?", "N"),
                     ("Who is the mayor of {T}?", "MAYOR"), ("What is {T} famous for?", "THING"),
                     ("When was {T} first mentioned?", "YEAR")]
    return name, values, intro, facts, questions


def qa_example(rng, index, split, long):
    test = split == "test"
    title, values, intro, facts, questions = qa_record(rng, test)
    question, field = rng.choice(questions)
    asked = next(s for s in [intro] + facts if "{" + field + "}" in s)
    others = [s for s in facts if s != asked]
    chosen = rng.sample(others, rng.randint(0 if asked != intro else 1, min(len(others), 3)))
    sentences = [intro] + ([] if asked == intro else [asked]) + chosen
    sentences = [intro] + sorted(sentences[1:], key=lambda s: facts.index(s))
    if long:
        fillers = rng.sample(FILLERS, len(FILLERS))
        body, words = [], len(" ".join(sentences).split())
        while words <= 250:
            body.append(fillers.pop())
            words += len(body[-1].split())
        for sentence in sentences[1:]:
            body.insert(rng.randint(0, len(body)), sentence)
        sentences = [intro] + body
    elif rng.random() < 0.2:
        sentences.insert(rng.randint(1, len(sentences)), rng.choice(FILLERS))
    context, start = "", None
    for sentence in sentences:
        text, starts = fill(sentence, values)
        if sentence == asked:
            start = len(context) + (1 if context else 0) + starts[field]
        context = (context + " " + text) if context else text
    answer = values[field]
    answers = {"text": [answer], "answer_start": [start]}
    # A few test questions accept a second form: "in YEAR" for a year, the surname for a full name.
    year = field.startswith("YEAR") and context[start - 3:start] == "in "
    if test and (year or field in ("FOUNDER", "CEO", "MAYOR")) and rng.random() < 0.25:
        if year:
            answers["text"].append("in " + answer)
            answers["answer_start"].append(start - 3)
        else:
            surname = answer.split(" ")[1]
            answers["text"].append(surname)
            answers["answer_start"].append(start + len(answer) - len(surname))
    for text, offset in zip(answers["text"], answers["answer_start"]):
        assert context[offset:offset + len(text)] == text, (context, text, offset)
    assert not long or len(context.split()) > 250
    return {"id": f"{split}-{index:04d}", "title": title, "context": context,
            "question": fill(question, values)[0], "answers": answers}


def qa_data(count, seed, split):
    rng = random.Random(seed)
    return [qa_example(rng, i, split, long=i % 10 == 7) for i in range(count)]


# ------------------------------------------------------------------------------------ Summarization

def summary_example(rng):
    kind = rng.randrange(5)
    if kind == 0:
        v = {"C": company(rng), "CITY": rng.choice(PLACES), "PRODUCT": rng.choice(PRODUCTS),
             "MONTH": rng.choice(MONTHS), "CEO": person(rng), "YEAR": str(rng.randint(1890, 2015)),
             "N": str(rng.randint(12, 4800))}
        required = ["{C}, a company based in {CITY}, has announced a new range of {PRODUCT}.",
                    "The {PRODUCT} will go on sale in {MONTH}."]
        optional = ["Chief executive {CEO} said the launch was the largest in the company's history.",
                    "{C} was founded in {YEAR}.", "The company employs {N} people.",
                    "Analysts expect strong demand before the end of the year."]
        summary = "{C} of {CITY} will start selling a new range of {PRODUCT} in {MONTH}."
    elif kind == 1:
        teams = rng.sample([p + " " + s for p in PLACES[:8] for s in ["Rovers", "United", "Athletic", "Town"]], 2)
        a = rng.randint(1, 5)
        v = {"T1": teams[0], "T2": teams[1], "A": str(a), "B": str(rng.randint(0, a - 1)), "DAY": rng.choice(DAYS),
             "SCORER": person(rng), "MIN": str(rng.randint(50, 89)), "ATT": str(rng.randint(900, 30000)),
             "POS": rng.choice(["first", "second", "third", "fourth"]), "MONTH": rng.choice(MONTHS)}
        required = ["{T1} beat {T2} {A}-{B} on {DAY}.", "{SCORER} scored the winning goal after {MIN} minutes."]
        optional = ["A crowd of {ATT} watched the match.", "The result moves {T1} to {POS} place in the league.",
                    "{T2} had not lost at home since {MONTH}.", "Both teams finished the game with ten players."]
        summary = "{T1} beat {T2} {A}-{B}, with {SCORER} scoring the winner."
    elif kind == 2:
        v = {"TOWN": rng.choice(PLACES), "DAY": rng.choice(DAYS), "COST": str(rng.randint(2, 40)),
             "BUILDING": rng.choice(["library", "swimming pool", "bridge", "primary school", "bus station",
                                     "concert hall"]),
             "MAYOR": person(rng), "MONTH": rng.choice(MONTHS), "AGE": str(rng.randint(40, 120)),
             "YEARS": rng.choice(["two", "three", "four"])}
        required = ["The council of {TOWN} voted on {DAY} to build a new {BUILDING}.",
                    "The project will cost {COST} million crowns."]
        optional = ["Mayor {MAYOR} said work would begin in {MONTH}.",
                    "Some residents had opposed the plan because of the cost.",
                    "The old {BUILDING} was built more than {AGE} years ago.",
                    "Construction is expected to take {YEARS} years."]
        summary = "{TOWN} will build a new {BUILDING} for {COST} million crowns."
    elif kind == 3:
        job, work = rng.choice([("painter", "portraits of fishermen"), ("novelist", "a novel about a lighthouse keeper"),
                                ("chemist", "work on cheaper batteries"), ("architect", "a library built from timber"),
                                ("composer", "a symphony for children's choir"),
                                ("photographer", "pictures of mountain villages")])
        name = person(rng)
        v = {"P": name, "L": name.split(" ")[1], "NAT": rng.choice(NATIONALITIES[0]), "JOB": job, "WORK": work,
             "CITY": rng.choice(PLACES), "AWARD": rng.choice(AWARDS), "DAY": rng.choice(DAYS),
             "N": str(rng.randint(10, 90)), "P2": person(rng)}
        required = ["{P}, a {NAT} {JOB} from {CITY}, has won the {AWARD}.", "The prize was announced on {DAY}."]
        optional = ["{L} is best known for {WORK}.", "The award comes with {N} thousand crowns.",
                    "{L} said the prize came as a surprise.", "Previous winners include {P2}."]
        summary = "{NAT} {JOB} {P} has won the {AWARD}."
    else:
        v = {"CITY": rng.choice(PLACES), "DAY": rng.choice(DAYS), "DAYS": rng.choice(["two", "three", "four", "five"]),
             "MM": str(rng.randint(60, 240)), "RIVER": rng.choice(RIVERS), "YEAR": str(rng.randint(1950, 2015)),
             "MAYOR": person(rng)}
        required = ["Heavy rain hit {CITY} on {DAY}, flooding several streets.",
                    "Schools in the city were closed for {DAYS} days."]
        optional = ["About {MM} millimetres of rain fell in a single day.",
                    "The {RIVER} river rose to its highest level since {YEAR}.",
                    "Mayor {MAYOR} asked residents to stay at home.", "No injuries were reported."]
        summary = "Heavy rain flooded streets in {CITY} and closed schools for {DAYS} days."
    extra = rng.sample(optional, rng.randint(1, 3))
    sentences = required[:1] + sorted(required[1:] + extra, key=lambda s: (required + optional).index(s))
    return {"text": " ".join(fill(s, v)[0] for s in sentences), "summary": fill(summary, v)[0]}


def summary_data(count, seed):
    rng = random.Random(seed)
    return [summary_example(rng) for _ in range(count)]


# ------------------------------------------------------------------------------------- Instructions

WORDS = ["lantern", "river", "garden", "pencil", "window", "copper", "silver", "planet", "bridge", "harbor", "meadow",
         "candle", "rocket", "puzzle", "forest", "marble", "kettle", "violin", "saddle", "tunnel"]
COUNTRIES = [("Veldoria", "Marrow Bay"), ("Ostrelia", "Kilnsey"), ("Bramoria", "Saint Aubin"), ("Quessa", "Tarvin"),
             ("Lunmark", "Ashcombe"), ("Tessaly", "Wrenfield"), ("Corvania", "Port Elms"), ("Ildra", "Lowmere"),
             ("Pentavia", "Castellan"), ("Sorvik", "Dunmore"), ("Narrowland", "East Holm"), ("Zelmont", "Glenford")]
SYSTEMS = ["You are a concise assistant.", "You are a helpful assistant. Answer briefly."]


def instruction(rng, task):
    """(prompt, answer, follow-up prompt, follow-up answer) of one task."""
    if task == 0:
        a, b = rng.sample(WORDS, 2)
        return (f'Reverse the word "{a}".', a[::-1], f'Now reverse "{b}".', b[::-1])
    if task == 1:
        country, capital = rng.choice(COUNTRIES)
        return (f"{country} is a country whose capital is {capital}. What is the capital of {country}?",
                f"The capital of {country} is {capital}.", f"Which country has {capital} as its capital?",
                f"{country}.")
    a, b, c = rng.randint(1, 20), rng.randint(1, 20), rng.randint(2, 5)
    op = rng.choice(["+", "-", "*"])
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return (f"What is {a} {op} {b}?", f"{a} {op} {b} = {value}.", f"And what is that times {c}?",
            f"{value} * {c} = {value * c}.")


def messages_data(count, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        prompt, answer, follow, follow_answer = instruction(rng, i % 3)
        messages = [{"role": "system", "content": rng.choice(SYSTEMS)}] if i % 4 == 0 else []
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        if i % 5 == 1:
            messages += [{"role": "user", "content": follow}, {"role": "assistant", "content": follow_answer}]
        rows.append({"messages": messages})
    return rows


def prompt_completion_data(count, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        if i % 3 == 0:
            word = rng.choice(WORDS)
            rows.append({"prompt": f'Reverse the word "{word}".\nAnswer:', "completion": " " + word[::-1]})
        elif i % 3 == 1:
            country, capital = rng.choice(COUNTRIES)
            rows.append({"prompt": f"Fact: The capital of {country} is {capital}.\n"
                                   f"Question: What is the capital of {country}?\nAnswer:",
                         "completion": " " + capital})
        else:
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            op = rng.choice(["+", "-", "*"])
            value = {"+": a + b, "-": a - b, "*": a * b}[op]
            rows.append({"prompt": f"Question: What is {a} {op} {b}?\nAnswer:", "completion": f" {value}"})
    return rows


def task_data(fixtures):
    tasks = os.path.join(fixtures, "tasks")
    train = ner_data(300, 11, test=False)
    write_jsonl(os.path.join(tasks, "ner", "train.jsonl"), train)
    write_jsonl(os.path.join(tasks, "ner", "test.jsonl"),
                ner_data(80, 12, test=True, exclude=[" ".join(row["tokens"]) for row in train]))
    write_jsonl(os.path.join(tasks, "qa", "train.jsonl"), qa_data(300, 21, "train"))
    write_jsonl(os.path.join(tasks, "qa", "test.jsonl"), qa_data(80, 22, "test"))
    write_jsonl(os.path.join(tasks, "summarization", "train.jsonl"), summary_data(150, 31))
    write_jsonl(os.path.join(tasks, "summarization", "test.jsonl"), summary_data(40, 32))
    write_jsonl(os.path.join(tasks, "instructions", "messages.jsonl"), messages_data(60, 41))
    write_jsonl(os.path.join(tasks, "instructions", "prompt-completion.jsonl"), prompt_completion_data(60, 42))


# -------------------------------------------------------------------------------- Word-split goldens

SINGLES = [["Hello", "world", "!"], ["U.S.", "officials", "met", "in", "Washington", "."],
           ["Héllo", "wörld", "café", "naïve"], ["In", "1999", ",", "3.14", "and", "42nd"],
           ["Mr.", "O'Neil", "is", "well-known"], ["single"], ["New York", "City", "日本"],
           ["Tokens", ",", "batches", "and", "gradients", ":", "the", "usual", "suspects", "."]]
PAIRS = [(["What", "is", "it", "?"], ["It", "is", "a", "mill", "."]), (["U.S.", "team"], ["Héllo", "wörld"]),
         (["one"], ["two"]), (["Who", "founded", "Acme", "?"], ["Acme", "was", "founded", "in", "1999", "."])]
TOKENIZERS = [("tiny-bert", "tiny-bert/tokenizer.json"), ("tiny-roberta", "models/tiny-roberta/tokenizer.json")]


def encoding_record(encoding, pair=False):
    record = {"ids": encoding.ids, "tokens": encoding.tokens, "word_ids": encoding.word_ids,
              "type_ids": encoding.type_ids}
    if pair:
        record["sequence_ids"] = encoding.sequence_ids
    record["offsets"] = [list(offset) for offset in encoding.offsets]
    return record


def pretokenized(fixtures):
    goldens = {}
    for name, path in TOKENIZERS:
        tok = Tokenizer.from_file(os.path.join(fixtures, path))
        singles = [{"words": words, **encoding_record(tok.encode(words, is_pretokenized=True))} for words in SINGLES]
        pairs = [{"a": a, "b": b, **encoding_record(tok.encode(a, b, is_pretokenized=True), pair=True)}
                 for a, b in PAIRS]
        goldens[name] = {"tokenizer": "fixtures/" + path, "singles": singles, "pairs": pairs}
    with open(os.path.join(fixtures, "tokenizers", "pretokenized.json"), "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False)


# ------------------------------------------------------------------------------------ Model goldens

NER_BATCH = [(["Ada", "Kern", "joined", "Veltrix", "Labs", "in", "Port", "Elms", "."],
              ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "O"]),
             (["The", "French", "team", "won", "."], ["O", "B-MISC", "O", "O", "O"]),
             (["U.S.", "officials", "met", "Mr.", "Okafor", "."], ["B-LOC", "O", "O", "O", "B-PER", "O"])]
# (question, context, answer or None): the last context is a window without the answer.
QA_BATCH = [("Where is Acme?", "Acme is in Oslo.", "Oslo"), ("When was it built?", "It was built in 1999.", "1999"),
            ("Who runs the mill?", "The river ran past the mill.", None)]


def head_model(model_cls, config_cls, base, out, tokenizer, head, seed, **config_kwargs):
    """model_cls with the encoder of the checkpoint at `base` and a seeded N(0, 0.1) head, saved to `out`."""
    config = config_cls.from_pretrained(base, **config_kwargs)
    torch.manual_seed(seed)
    model = model_cls(config)
    prefix = config.model_type + "."
    encoder = {k: v for k, v in load_file(os.path.join(base, "model.safetensors")).items()
               if k.startswith(prefix) and ".pooler." not in k}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    assert not unexpected and all(k.startswith(head + ".") for k in missing), (missing, unexpected)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in getattr(model, head).parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g) * 0.1)
    model.save_pretrained(out)
    shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.json"))


def pad(rows, value, length):
    return [row + [value] * (length - len(row)) for row in rows]


def ner_batch(tok, pad_id, types, limit):
    """transformers' tokenize_and_align_labels: the label on each word's first sub-token, -100 elsewhere."""
    encodings = [tok.encode(words, is_pretokenized=True) for words, _ in NER_BATCH]
    labels = []
    for encoding, (_, tags) in zip(encodings, NER_BATCH):
        row, previous = [], None
        for word in encoding.word_ids:
            row.append(-100 if word is None or word == previous else NER_LABELS.index(tags[word]))
            previous = word
        labels.append(row)
    length = max(len(e.ids) for e in encodings)
    assert length <= limit, length
    source = {"label_names": NER_LABELS, "words": [w for w, _ in NER_BATCH], "tags": [t for _, t in NER_BATCH],
              "input_ids": pad([e.ids for e in encodings], pad_id, length)}
    if types:
        source["token_type_ids"] = pad([e.type_ids for e in encodings], 0, length)
    source["attention_mask"] = pad([[1] * len(e.ids) for e in encodings], 0, length)
    source["word_ids"] = pad([e.word_ids for e in encodings], None, length)
    source["labels"] = pad(labels, -100, length)
    return source


def qa_batch(tok, pad_id, types, limit):
    """Text pairs; the answer's tokens found from the offsets as transformers' prepare_train_features does."""
    encodings = [tok.encode(q, c) for q, c, _ in QA_BATCH]
    starts, ends, answers = [], [], []
    for encoding, (_, context, answer) in zip(encodings, QA_BATCH):
        context_tokens = [i for i, s in enumerate(encoding.sequence_ids) if s == 1]
        offsets = encoding.offsets
        if answer is None:
            answers.append({"text": [], "answer_start": []})
            starts.append(0)
            ends.append(0)
            continue
        first = context.index(answer)
        last = first + len(answer)
        answers.append({"text": [answer], "answer_start": [first]})
        assert offsets[context_tokens[0]][0] <= first and offsets[context_tokens[-1]][1] >= last
        starts.append(max(i for i in context_tokens if offsets[i][0] <= first))
        ends.append(min(i for i in context_tokens if offsets[i][1] >= last))
    length = max(len(e.ids) for e in encodings)
    assert length <= limit, length
    source = {"questions": [q for q, _, _ in QA_BATCH], "contexts": [c for _, c, _ in QA_BATCH], "answers": answers,
              "input_ids": pad([e.ids for e in encodings], pad_id, length)}
    if types:
        source["token_type_ids"] = pad([e.type_ids for e in encodings], 0, length)
    source["attention_mask"] = pad([[1] * len(e.ids) for e in encodings], 0, length)
    source["offsets"] = pad([[list(o) for o in e.offsets] for e in encodings], [0, 0], length)
    source["sequence_ids"] = pad([e.sequence_ids for e in encodings], None, length)
    source["start_positions"] = starts
    source["end_positions"] = ends
    return source


def tensors(source, keys):
    return {key: torch.tensor(source[key], dtype=torch.int64) for key in keys if key in source}


def qa_parity(model_cls, folder, batch, out_path):
    """model_goldens.parity for question answering: start/end positions for labels, start/end logits."""
    model = model_cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    positions = ("start_positions", "end_positions")
    with torch.no_grad():
        outputs = model(**{k: v for k, v in batch.items() if k not in positions}, output_hidden_states=True)
    tensors = dict(batch)
    tensors["start_logits"] = outputs.start_logits
    tensors["end_logits"] = outputs.end_logits
    tensors["last_hidden_state"] = outputs.hidden_states[-1]

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.config.attention_probs_dropout_prob = 0.0
    model.train()
    loss = model(**batch).loss
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    for name, parameter in model.named_parameters():
        tensors["grad." + name] = parameter.grad.detach().clone()
    model.zero_grad()

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in tensors.items()}, out_path,
              metadata={"generator": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}"})


def lora_adapter(model_cls, folder, relative, task_type, out, seed):
    base = model_cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    # Relative, whatever FIXTURES_DIR is: PEFT takes it for adapter_config.json and README.md from these.
    base.config.name_or_path = relative
    base.name_or_path = relative
    torch.manual_seed(seed)  # lora_A's (Kaiming) init draws from the global generator
    model = get_peft_model(base, LoraConfig(task_type=task_type, r=4, lora_alpha=8, target_modules=["query", "value"]))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                parameter.add_(torch.randn(parameter.shape, generator=g) * 0.1)
    model.eval()
    model.save_pretrained(out)
    return model


def model_goldens(fixtures):
    models = os.path.join(fixtures, "models")
    id2label = dict(enumerate(NER_LABELS))
    label2id = {label: i for i, label in enumerate(NER_LABELS)}
    qa_labels = {"id2label": {0: "LABEL_0", 1: "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}}
    families = [("tiny-bert", os.path.join(fixtures, "tiny-bert"), BertConfig, BertForTokenClassification,
                 BertForQuestionAnswering, 0, True, 40),
                ("tiny-roberta", os.path.join(models, "tiny-roberta"), RobertaConfig, RobertaForTokenClassification,
                 RobertaForQuestionAnswering, 1, False, 38)]
    sources = {}
    for seed, (name, base, config_cls, ner_cls, qa_cls, pad_id, types, limit) in enumerate(families):
        tok = Tokenizer.from_file(os.path.join(base, "tokenizer.json"))
        ner = os.path.join(models, name + "-ner")
        head_model(ner_cls, config_cls, base, ner, os.path.join(base, "tokenizer.json"), "classifier", 100 + seed,
                   id2label=id2label, label2id=label2id)
        source = ner_batch(tok, pad_id, types, limit)
        with open(os.path.join(models, name + "-ner-batch.json"), "w", encoding="utf-8") as f:
            json.dump(source, f, ensure_ascii=False)
        batch = tensors(source, ["input_ids", "attention_mask", "token_type_ids", "labels"])
        parity(ner_cls, ner, batch, os.path.join(models, name + "-ner-parity.safetensors"))
        sources[name + "-ner"] = batch

        qa = os.path.join(models, name + "-qa")
        head_model(qa_cls, config_cls, base, qa, os.path.join(base, "tokenizer.json"), "qa_outputs", 200 + seed,
                   **qa_labels)
        source = qa_batch(tok, pad_id, types, limit)
        with open(os.path.join(models, name + "-qa-batch.json"), "w", encoding="utf-8") as f:
            json.dump(source, f, ensure_ascii=False)
        batch = tensors(source, ["input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"])
        qa_parity(qa_cls, qa, batch, os.path.join(models, name + "-qa-parity.safetensors"))
        sources[name + "-qa"] = batch

    peft = os.path.join(fixtures, "peft")
    batch = sources["tiny-bert-ner"]
    lora = lora_adapter(BertForTokenClassification, os.path.join(models, "tiny-bert-ner"), "fixtures/models/tiny-bert-ner",
                        "TOKEN_CLS", os.path.join(peft, "tiny-bert-ner-lora"), 300)
    with torch.no_grad():
        logits = lora(**{k: v for k, v in batch.items() if k != "labels"}).logits
    save_file({"logits": logits.contiguous()}, os.path.join(models, "tiny-bert-ner-lora-logits.safetensors"))

    batch = sources["tiny-bert-qa"]
    lora = lora_adapter(BertForQuestionAnswering, os.path.join(models, "tiny-bert-qa"), "fixtures/models/tiny-bert-qa",
                        "QUESTION_ANS", os.path.join(peft, "tiny-bert-qa-lora"), 301)
    with torch.no_grad():
        outputs = lora(**{k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")})
    save_file({"start_logits": outputs.start_logits.contiguous(), "end_logits": outputs.end_logits.contiguous()},
              os.path.join(models, "tiny-bert-qa-lora-logits.safetensors"))


def main(fixtures):
    task_data(fixtures)
    pretokenized(fixtures)
    model_goldens(fixtures)


if __name__ == "__main__":
    main(sys.argv[1])
