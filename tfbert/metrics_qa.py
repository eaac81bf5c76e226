"""The official SQuAD metrics: exact match and F1 over normalised answer text.

Pure Python, no TensorFlow: the same numbers as the official evaluation
scripts (``evaluate-v1.1.py`` and ``evaluate-v2.0.py``), so a tfbert report
can be put beside any published SQuAD result.

- :func:`normalize_answer`: lower-case, strip punctuation, the articles
  *a*/*an*/*the* and extra whitespace (the official normalisation);
- :func:`exact_match`, :func:`f1_score`: one prediction against its gold
  answers, the best over them;
- :func:`squad_scores`: a whole prediction set, in the official scripts' keys
  and scale (percent): v1.1 ``exact_match``/``f1``; v2.0 ``exact``/``f1``/``total``
  with the ``HasAns_*``/``NoAns_*`` breakdown;
- :func:`best_null_threshold`: the SQuAD 2.0 "no answer" threshold that maximises F1
  (the official ``find_best_thresh``), tuned on validation data.

Versions differ in two details, both kept: v2.0 drops gold answers that normalise
to nothing (and an unanswerable question's gold is the empty string), and v2.0
scores an empty prediction against an empty gold as F1 1 (v1.1: 0).

Example:

>>> normalize_answer("The  Norman-conquest!")
'normanconquest'
>>> round(f1_score("the 10th century", ["10th and 11th centuries"]), 4)
0.3333
>>> squad_scores({"q1": "France"}, {"q1": ["France", "the France"]})
{'exact_match': 100.0, 'f1': 100.0}
"""
import collections
import re
import string

__all__ = ["normalize_answer", "answer_tokens", "exact_match", "f1_score", "squad_scores",
           "best_null_threshold", "VERSIONS"]

VERSIONS = ("1.1", "2.0")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """Lower-case, drop punctuation, the articles a/an/the and extra whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text):
    """The normalised answer's words."""
    return normalize_answer(text).split() if text else []


def _exact(prediction, gold):
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _f1(prediction, gold, version):
    predicted, wanted = answer_tokens(prediction), answer_tokens(gold)
    if version == "2.0" and (not predicted or not wanted):
        return float(predicted == wanted)
    same = sum((collections.Counter(predicted) & collections.Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def _golds(golds, version):
    """The gold answers scored against: v2.0 drops those that normalise to nothing, and an
    unanswerable question (no gold left) has the empty string as its one gold answer."""
    if version == "1.1":
        return list(golds)
    return [gold for gold in golds if normalize_answer(gold)] or [""]


def exact_match(prediction, golds, version="1.1"):
    """1.0 when ``prediction`` normalises to the same text as one of ``golds``, else 0.0."""
    return max((_exact(prediction, gold) for gold in _golds(golds, version)), default=0.0)


def f1_score(prediction, golds, version="1.1"):
    """The best word-overlap F1 of ``prediction`` against any of ``golds`` (0 to 1)."""
    return max((_f1(prediction, gold, version) for gold in _golds(golds, version)),
               default=0.0)


def _check_version(version):
    if version not in VERSIONS:
        raise ValueError(f"SQuAD version must be one of {', '.join(VERSIONS)}, got {version!r}.")


def squad_scores(predictions, golds, version="1.1"):
    """Scores of ``predictions`` (``{question id: text}``) against ``golds`` (``{question id:
    [gold texts]}``, an empty list for an unanswerable question), as the official script
    prints them (percent).

    Every question in ``golds`` counts; one without a prediction scores 0 (the official
    scripts say so and do the same). v1.1: ``{"exact_match", "f1"}``; v2.0: ``{"exact",
    "f1", "total"}`` plus ``HasAns_exact/f1/total`` and ``NoAns_exact/f1/total`` for the
    groups present.
    """
    _check_version(version)
    exact, f1, has_answer = {}, {}, {}
    for qid, gold in golds.items():
        predicted = predictions.get(qid)
        has_answer[qid] = bool(gold)
        if predicted is None:
            exact[qid] = f1[qid] = 0.0
            continue
        exact[qid] = exact_match(predicted, gold, version)
        f1[qid] = f1_score(predicted, gold, version)
    if version == "1.1":
        n = max(len(golds), 1)
        return {"exact_match": 100.0 * sum(exact.values()) / n,
                "f1": 100.0 * sum(f1.values()) / n}
    scores = _group(exact, f1, list(golds))
    for name, wanted in (("HasAns", True), ("NoAns", False)):
        group = [qid for qid in golds if has_answer[qid] == wanted]
        if group:
            scores.update({f"{name}_{key}": value
                           for key, value in _group(exact, f1, group).items()})
    return scores


def _group(exact, f1, qids):
    n = len(qids)
    return {"exact": 100.0 * sum(exact[q] for q in qids) / max(n, 1),
            "f1": 100.0 * sum(f1[q] for q in qids) / max(n, 1), "total": n}


def best_null_threshold(predictions, golds, null_diffs):
    """The "no answer" threshold that maximises SQuAD 2.0 F1 (the official
    ``find_best_thresh``): a question is answered with nothing when its ``null_diffs[qid]``
    (the null score minus the best span's score) is above the threshold.

    ``predictions`` hold each question's best non-null answer. Returns ``(best F1 in
    percent, threshold)``; 0.0 is the threshold when answering every question is best.

    >>> best_null_threshold({"a": "x", "b": "y"}, {"a": ["x"], "b": []}, {"a": -2.0, "b": 1.0})
    (100.0, -2.0)
    """
    f1 = {qid: f1_score(predictions.get(qid, ""), gold, "2.0") for qid, gold in golds.items()}
    has_answer = {qid: bool(gold) for qid, gold in golds.items()}
    # Start with every question answered "nothing": each unanswerable one is right.
    score = best = sum(1 for qid in golds if not has_answer[qid])
    threshold = 0.0
    for qid in sorted(golds, key=lambda q: null_diffs[q]):
        # Raising the threshold past this question's diff makes it answered with its span.
        if has_answer[qid]:
            score += f1[qid]
        elif predictions.get(qid):
            score -= 1
        if score > best:
            best, threshold = score, float(null_diffs[qid])
    return 100.0 * best / max(len(golds), 1), threshold
