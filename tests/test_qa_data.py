"""SQuAD-format data: the reader (v1.1, v2.0, bad input), the split by article, and the
windows over long contexts with answers mapped to token positions and back."""
import json
import os

import numpy as np
import pytest

from tfbert.data.squad import (QAExample, gold_answers, load_squad, read_squad,
                               split_by_article)
from tfbert.errors import DataError

SQUAD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                     "shared", "data", "squad")


def squad_json(path, articles, version="1.1"):
    """Write ``articles`` (``[(title, [(context, [qa, ...]), ...]), ...]``) as SQuAD JSON."""
    data = [{"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paras]}
            for title, paras in articles]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": version, "data": data}, f)
    return str(path)


def qa(qid, question, *answers, start=None, **extra):
    return {"id": qid, "question": question, **extra,
            "answers": [{"text": a, "answer_start": start} for a in answers]}


CONTEXT = "The film was shot in Paris. Paris is the capital of France."


def test_reads_v1_and_moves_offsets_to_the_text(tmp_path):
    path = squad_json(tmp_path / "a.json", [
        ("Films", [(CONTEXT, [qa("q1", "Where was it shot?", "Paris", start=21),
                              qa("q2", "What is the capital?", "Paris", start=29),
                              qa("q3", "Which country?", "France", start=0)])])])
    examples, version = read_squad(path)
    assert version == "1.1" and [e.qid for e in examples] == ["q1", "q2", "q3"]
    q1, q2, q3 = examples
    assert q1.answers[0].start == 21 and CONTEXT[21:26] == "Paris"
    assert q2.answers[0].start == 28             # the occurrence nearest the given 29
    assert CONTEXT[q3.answers[0].start:q3.answers[0].end] == "France"
    assert q1.article == "Films" and not q1.is_impossible
    assert gold_answers(examples)["q3"] == ["France"]


def test_reads_v2_unanswerable_questions():
    examples, version = read_squad(os.path.join(SQUAD, "squad_v2_two_articles.json"))
    assert version == "2.0" and len(examples) == 626
    impossible = [e for e in examples if e.is_impossible]
    assert len(impossible) == 626 - 293
    assert all(e.answers == () and e.plausible_answers for e in impossible)
    for e in examples:
        for a in e.answers + e.plausible_answers:
            assert e.context[a.start:a.end] == a.text


@pytest.mark.parametrize("articles, message", [
    ([], "no questions"),
    ([("Films", [("", [qa("q1", "Where?", "Paris")])])],
     r"'Films', paragraph 1 \(question q1\): no 'context'"),
    ([("Films", [(CONTEXT, [qa("q1", "", "Paris")])])], "'Films', question q1: no 'question'"),
    ([("Films", [(CONTEXT, [qa("q7", "Where?", "London")])])],
     "'Films', question q7: the answer 'London' is not in its context"),
    ([("Films", [(CONTEXT, [qa("q1", "Where?")])])], "question q1: no 'answers'"),
    ([("Films", [(CONTEXT, [qa("q1", "A?", "Paris"), qa("q1", "B?", "Paris")])])],
     "question q1: the id is used twice"),
])
def test_bad_input_is_one_line_naming_article_and_question(tmp_path, articles, message):
    path = squad_json(tmp_path / "bad.json", articles)
    with pytest.raises(DataError, match=message) as info:
        read_squad(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_empty_and_non_squad_files(tmp_path):
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(DataError, match="empty.json: the file is empty"):
        read_squad(str(tmp_path / "empty.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="no 'data' list"):
        read_squad(str(tmp_path / "list.json"))
    with pytest.raises(DataError, match="no such file"):
        read_squad(str(tmp_path / "missing.json"))


def test_split_by_article_never_splits_an_article():
    examples = [QAExample(f"{a}{i}", "q?", "c", article=a) for a in "abcdefghij"
                for i in range(3)]
    kept, held = split_by_article(examples, 0.2, seed=1)
    assert len(held) == 6 and len(kept) == 24
    assert not {e.article for e in kept} & {e.article for e in held}
    assert split_by_article(examples, 0.2, seed=1) == (kept, held)      # seeded
    assert len(split_by_article(examples, 3)[1]) == 9
    with pytest.raises(DataError, match="split by article"):
        split_by_article(examples[:3], 1)


def test_load_squad_dev_file_by_article():
    data = load_squad(os.path.join(SQUAD, "dev-v1.1.json"), validation_articles=12)
    assert len({e.article for e in data.train}) == 36
    assert len({e.article for e in data.validation}) == 12
    assert len(data.train) + len(data.validation) == 10570
    assert "36 article(s)" in data.summary()


# ---------------------------------------------------------------------------- features

WORDS = [f"w{i}" for i in range(60)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "zurich", "'", "s", "is", "in",
         "where", "?", ".", "the", "##s", *WORDS]


@pytest.fixture(scope="module")
def tokenizer():
    from tfbert.data.qa_features import QATokenizer
    return QATokenizer(VOCAB)


def test_tokenizer_offsets_are_characters_of_the_original_text(tokenizer):
    text = "Où?  Café Zürich's  w3s"
    (ids, starts, ends), = tokenizer.tokenize([text])
    pieces = [text[s:e] for s, e in zip(starts, ends)]
    assert [VOCAB[i] for i in ids] == ["[UNK]", "?", "cafe", "zurich", "'", "s", "w3", "##s"]
    assert pieces == ["Où", "?", "Café", "Zürich", "'", "s", "w3", "s"]
    assert tokenizer.lower_case and tokenizer.cls_id == 2 and tokenizer.sep_id == 3


def test_window_starts_cover_the_context():
    from tfbert.data.qa_features import window_starts
    assert window_starts(10, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 4)]
    assert window_starts(3, 4, 2) == [(0, 3)]
    assert window_starts(0, 4, 2) == [(0, 0)]
    assert window_starts(9, 4, 8) == [(0, 4), (4, 4), (8, 1)]   # stride capped at the room


def test_windows_map_answers_to_tokens_and_back(tokenizer):
    from tfbert.data.qa_features import make_features
    from tfbert.data.squad import Answer
    context = " ".join(WORDS[:40]) + "."
    start = context.index("w21 w22")
    examples = [
        QAExample("a", "Where is w21?", context, (Answer("w21 w22", start),), "t"),
        QAExample("b", "Where?", context, (), "t", is_impossible=True),
        QAExample("c", "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10", "w0 is in w5.",
                  (Answer("w5", 9),), "t"),
    ]
    seq_length, stride = 20, 5
    features = make_features(examples, tokenizer, seq_length=seq_length, doc_stride=stride,
                             max_query_length=6)
    ids = features.inputs["input_word_ids"]
    assert ids.shape[1] == seq_length and ids.dtype == np.int32
    windows_a = np.nonzero(features.example_index == 0)[0]
    assert len(windows_a) == len(np.nonzero(features.example_index == 1)[0]) > 3
    holding = [w for w in windows_a if features.start_positions[w] > 0]
    assert holding                             # some windows hold the answer ...
    for w in holding:                          # ... and cut it back exactly
        s, e = features.start_positions[w], features.end_positions[w]
        assert features.answer_text(w, s, e) == "w21 w22"
        assert features.char_span(w, s, e) == (start, start + len("w21 w22"))
        assert features.inputs["input_type_ids"][w, s] == 1
    for w in set(windows_a) - set(holding):    # the others point at [CLS]
        assert features.end_positions[w] == 0
    # Unanswerable: every window points at [CLS].
    assert not features.start_positions[features.example_index == 1].any()
    # Each context token is read in exactly one window (its max-context one), and the
    # windows together hold every token of the context.
    covered = {}
    for w in windows_a:
        for t in np.nonzero(features.max_context[w])[0]:
            key = tuple(features.offsets[w, t])
            covered[key] = covered.get(key, 0) + 1
    assert len(covered) == 41 and set(covered.values()) == {1}
    # Layout of a window: [CLS] question [SEP] context [SEP], question cut to 6 tokens.
    (w,) = np.nonzero(features.example_index == 2)[0]
    row = [VOCAB[i] for i in ids[w, :features.inputs["input_mask"][w].sum()]]
    assert row == ["[CLS]", "w1", "w2", "w3", "w4", "w5", "w6", "[SEP]", "w0", "is", "in",
                   "w5", ".", "[SEP]"]
    assert features.inputs["input_type_ids"][w, :14].tolist() == [0] * 8 + [1] * 6
    assert features.answer_text(w, features.start_positions[w], features.end_positions[w]) \
        == "w5"
    assert (features.offsets[w, :8] == -1).all() and features.answer_text(w, 0, 0) == ""


def test_features_refuse_settings_without_room(tokenizer):
    from tfbert.data.qa_features import make_features
    with pytest.raises(DataError, match="leaves no room"):
        make_features([QAExample("a", "q", "c")], tokenizer, seq_length=10,
                      max_query_length=8)


def test_gold_spans_of_real_questions_cut_back_to_their_answers(minilm):
    """On the last 3,000 SQuAD dev questions with all-MiniLM-L6-v2's WordPiece vocabulary,
    the gold token span of the first window that holds it is cut back to an answer the
    official score counts as exact for 99.0% (what is left: answers inside a word piece,
    such as "2" in "129"; measured 2026-12-03); every question has such a window."""
    from tfbert.data.qa_features import QATokenizer, make_features
    from tfbert.metrics_qa import squad_scores
    from tfbert.registry import resolve_model
    examples = read_squad(os.path.join(SQUAD, "dev-v1.1.json"))[0][-3000:]
    tokenizer = QATokenizer.from_preprocessor(resolve_model(minilm).preprocess)
    features = make_features(examples, tokenizer, seq_length=256, doc_stride=128)
    cut = {}
    for w in np.nonzero(features.start_positions > 0)[0]:
        qid = features.examples[features.example_index[w]].qid
        cut.setdefault(qid, features.answer_text(w, features.start_positions[w],
                                                 features.end_positions[w]))
    assert len(cut) == len(examples)
    scores = squad_scores(cut, gold_answers(examples))
    assert scores["exact_match"] >= 98.5 and scores["f1"] >= 98.5, scores
