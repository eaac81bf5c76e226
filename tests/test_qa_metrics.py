"""The SQuAD metrics: hand-computed cases, and the same numbers as the official scripts
(tf-models-official's copies of evaluate-v1.1.py and evaluate-v2.0.py) on real SQuAD data."""
import json
import os
import random

import pytest

from tfbert.metrics_qa import (best_null_threshold, exact_match, f1_score, normalize_answer,
                               squad_scores)

SQUAD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                     "shared", "data", "squad")


@pytest.mark.parametrize("text, normalized", [
    ("The Denver Broncos", "denver broncos"),
    ("  Denver   Broncos. ", "denver broncos"),
    ("an apple a day", "apple day"),
    ("theatre", "theatre"),               # articles are whole words only
    ("Saint-Étienne's", "saintétiennes"),  # punctuation dropped, letters kept
    ("A", ""),
])
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_and_f1_by_hand():
    golds = ["Denver Broncos", "the Denver Broncos team"]
    assert exact_match("denver broncos!", golds) == 1.0
    assert exact_match("Broncos", golds) == 0.0
    # "Broncos" vs "denver broncos": precision 1, recall 1/2 -> 2/3; vs the second gold
    # (denver broncos team): recall 1/3 -> 1/2; the best is 2/3.
    assert f1_score("Broncos", golds) == pytest.approx(2 / 3)
    # "the Denver Broncos won": tokens denver broncos won vs denver broncos: p 2/3, r 1 -> 0.8;
    # vs denver broncos team: p 2/3, r 2/3 -> 2/3.
    assert f1_score("the Denver Broncos won", golds) == pytest.approx(0.8)
    assert f1_score("Carolina", golds) == 0.0
    # Repeated words count once per occurrence on both sides.
    assert f1_score("broncos broncos", ["broncos"]) == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_v1_and_v2_differ_on_empty_answers():
    assert f1_score("", [""], version="1.1") == 0.0
    assert f1_score("", [], version="2.0") == 1.0      # unanswerable, answered with nothing
    assert exact_match("", [], version="2.0") == 1.0
    assert f1_score("Rollo", [], version="2.0") == 0.0
    # v2.0 ignores gold answers that normalise to nothing.
    assert exact_match("", ["the"], version="2.0") == 1.0
    assert exact_match("", ["the"], version="1.1") == 1.0      # "" == normalize("the")


def test_squad_scores_by_hand():
    golds = {"a": ["France"], "b": ["10th century", "the 10th century"], "c": ["Rollo"]}
    predictions = {"a": "france", "b": "10th"}        # c unanswered: scores 0
    scores = squad_scores(predictions, golds)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # b: "10th" vs "10th century": p 1, r 1/2 -> 2/3
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)

    golds_v2 = {"a": ["France"], "b": [], "c": ["Rollo"], "d": []}
    v2 = squad_scores({"a": "France", "b": "", "c": "Rollo the Walker", "d": "Normans"},
                      golds_v2, version="2.0")
    assert v2["total"] == 4 and v2["HasAns_total"] == 2 and v2["NoAns_total"] == 2
    assert v2["exact"] == pytest.approx(50.0)            # a and b
    assert v2["HasAns_exact"] == pytest.approx(50.0)
    assert v2["NoAns_exact"] == pytest.approx(50.0)
    assert v2["HasAns_f1"] == pytest.approx(100 * (1 + 2 * (1 / 2) * 1 / 1.5) / 2)
    with pytest.raises(ValueError, match="version"):
        squad_scores({}, golds, version="3")


def _golds(dataset):
    return {qa["id"]: [a["text"] for a in qa["answers"]]
            for article in dataset for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]}


def _noisy_predictions(golds, contexts, seed=0):
    """Predictions of every kind: exact, re-cased, cut, extended, wrong, empty."""
    rng = random.Random(seed)
    predictions = {}
    for qid, answers in golds.items():
        words = (answers[0] if answers else rng.choice(contexts)[:40]).split()
        kind = rng.randrange(6)
        if kind == 1:
            words = [w.upper() for w in words]
        elif kind == 2:
            words = words[1:] or words
        elif kind == 3:
            words = ["the"] + words + ["of", "it."]
        elif kind == 4:
            words = rng.choice(contexts).split()[:3]
        elif kind == 5:
            words = []
        predictions[qid] = " ".join(words)
    return predictions


def test_same_numbers_as_the_official_scripts():
    from official.nlp.tools import squad_evaluate_v1_1, squad_evaluate_v2_0
    with open(os.path.join(SQUAD, "dev-v1.1.json"), encoding="utf-8") as f:
        v1 = json.load(f)["data"][:6]
    with open(os.path.join(SQUAD, "squad_v2_two_articles.json"), encoding="utf-8") as f:
        v2 = json.load(f)["data"]
    for dataset, version in ((v1, "1.1"), (v2, "2.0")):
        golds = _golds(dataset)
        contexts = [p["context"] for a in dataset for p in a["paragraphs"]]
        predictions = _noisy_predictions(golds, contexts)
        ours = squad_scores(predictions, golds, version)
        if version == "1.1":
            official = squad_evaluate_v1_1.evaluate(dataset, predictions)
            assert ours["exact_match"] == pytest.approx(100 * official["exact_match"])
            assert ours["f1"] == pytest.approx(100 * official["final_f1"])
            assert 20 < ours["f1"] < 90     # the noise reaches every branch, not all right
        else:
            rng = random.Random(1)
            null_diffs = {qid: rng.uniform(-5, 5) for qid in golds}
            official = squad_evaluate_v2_0.evaluate(dataset, predictions, null_diffs)
            plain = squad_evaluate_v2_0.evaluate(dataset, predictions)
            for key in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
                assert ours[key] == pytest.approx(plain[key]), key
            best_f1, threshold = best_null_threshold(predictions, golds, null_diffs)
            assert best_f1 == pytest.approx(official["final_f1"])
            assert threshold == pytest.approx(official["final_f1_thresh"])


def test_best_null_threshold_by_hand():
    golds = {"a": ["Paris"], "b": [], "c": ["Rome"], "d": []}
    predictions = {"a": "Paris", "b": "Lyon", "c": "Milan", "d": "Nice"}
    # Answering in order of null_diffs: a (+1), c (+0, wrong), b (-1), d (-1).
    diffs = {"a": -3.0, "c": -1.0, "b": 0.5, "d": 2.0}
    best, threshold = best_null_threshold(predictions, golds, diffs)
    assert (best, threshold) == (pytest.approx(75.0), -3.0)
    # Nothing worth answering: the threshold stays below every diff (0.0 by convention).
    assert best_null_threshold({"b": "x"}, {"b": []}, {"b": 1.0}) == (100.0, 0.0)
