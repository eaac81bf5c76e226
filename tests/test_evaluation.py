"""Metrics on hand-made cases whose answers are known."""
import json
import math
import os

import numpy as np
import pytest

from tfbert.errors import DataError
from tfbert.evaluation import (compute_metrics, evaluate_scores, format_metrics,
                               format_mistakes, probabilities_from_logits, save_metrics,
                               tune_thresholds, worst_mistakes, write_report)


def test_binary_metrics_by_hand(tmp_path):
    labels = [1, 1, 1, 0, 0]
    # predictions: pos, pos, neg, pos, neg -> TP=2, FN=1, FP=1, TN=1
    probabilities = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    metrics = compute_metrics(labels, probabilities, ["neg", "pos"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.3, 0.9]))
    assert metrics["loss"] == pytest.approx(expected_loss)
    assert metrics["confusion_matrix"] == [[1, 1], [1, 2]]
    path = save_metrics(metrics, str(tmp_path / "out" / "eval.json"))
    assert json.load(open(path))["f1"] == pytest.approx(2 / 3)


def test_multiclass_metrics_are_macro_averages():
    labels = [0, 1, 2, 2]
    probabilities = np.eye(3)[[0, 2, 2, 1]]  # right, wrong (1->2), right, wrong (2->1)
    metrics = compute_metrics(labels, probabilities, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(0.5)
    # per class precision: a 1/1, b 0/1, c 1/2; recall: a 1/1, b 0/1, c 1/2
    assert metrics["precision"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["f1"] == pytest.approx((1 + 0 + 0.5) / 3)


def test_probabilities_from_sigmoid_and_softmax_logits():
    binary = probabilities_from_logits([[0.0], [math.log(3)]])
    np.testing.assert_allclose(binary, [[0.5, 0.5], [0.25, 0.75]])
    multi = probabilities_from_logits([[0.0, 0.0, math.log(2)]])
    np.testing.assert_allclose(multi, [[0.25, 0.25, 0.5]])


# The 3-class case: rows are true labels, columns predictions.
#        a  b  c   support
#   a    3  1  0   4
#   b    1  2  1   4
#   c    0  0  2   2
THREE_CLASS_LABELS = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
THREE_CLASS_PREDICTED = [0, 0, 0, 1, 0, 1, 1, 2, 2, 2]


def test_three_class_per_label_macro_and_weighted_by_hand():
    from sklearn.metrics import classification_report
    probabilities = np.full((10, 3), 0.1)
    probabilities[np.arange(10), THREE_CLASS_PREDICTED] = 0.8
    metrics = compute_metrics(THREE_CLASS_LABELS, probabilities, ["a", "b", "c"])
    assert metrics["task"] == "classification"
    assert metrics["confusion_matrix"] == [[3, 1, 0], [1, 2, 1], [0, 0, 2]]
    assert metrics["accuracy"] == pytest.approx(7 / 10)
    per_label = metrics["per_label"]
    # precision = diagonal / column sum, recall = diagonal / row sum
    assert per_label["a"] == pytest.approx({"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4,
                                            "support": 4})
    assert per_label["b"] == pytest.approx({"precision": 2 / 3, "recall": 1 / 2, "f1": 4 / 7,
                                            "support": 4})
    assert per_label["c"] == pytest.approx({"precision": 2 / 3, "recall": 1, "f1": 4 / 5,
                                            "support": 2})
    assert metrics["macro"] == pytest.approx({"precision": 25 / 36, "recall": 3 / 4,
                                              "f1": 99 / 140})
    assert metrics["weighted"] == pytest.approx({"precision": 7 / 10, "recall": 7 / 10,
                                                 "f1": 241 / 350})
    assert (metrics["precision"], metrics["f1"]) == (metrics["macro"]["precision"],
                                                     metrics["macro"]["f1"])
    assert "average_precision" not in metrics and "pr_curve" not in metrics

    report = classification_report(THREE_CLASS_LABELS, THREE_CLASS_PREDICTED,
                                   target_names=["a", "b", "c"], output_dict=True)
    for name in ("a", "b", "c"):
        assert per_label[name]["f1"] == pytest.approx(report[name]["f1-score"])
        assert per_label[name]["support"] == report[name]["support"]
    for ours, theirs in (("macro", "macro avg"), ("weighted", "weighted avg")):
        assert metrics[ours] == pytest.approx({"precision": report[theirs]["precision"],
                                               "recall": report[theirs]["recall"],
                                               "f1": report[theirs]["f1-score"]})

    text = format_metrics(metrics, title="test split")
    assert text.startswith("test split (10 examples, macro):")
    assert "weighted avg" in text and "macro avg" in text
    assert [line.split()[0] for line in text.splitlines()[7:11]] == ["precision", "a", "b", "c"]


def test_binary_average_precision_and_curve_by_hand():
    from sklearn.metrics import average_precision_score, precision_recall_curve
    labels = [0, 0, 1, 1]
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    metrics = compute_metrics(labels, np.stack([1 - scores, scores], axis=1), ["neg", "pos"])
    # From the highest score down: 0.8 (pos) P=1 R=1/2; 0.4 (neg) P=1/2 R=1/2;
    # 0.35 (pos) P=2/3 R=1; 0.1 (neg). AP = 1/2 * 1 + 1/2 * 2/3.
    assert metrics["average_precision"] == pytest.approx(1 / 2 + 1 / 3)
    assert metrics["average_precision"] == pytest.approx(average_precision_score(labels, scores))
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    np.testing.assert_allclose(metrics["pr_curve"]["precision"], precision)
    np.testing.assert_allclose(metrics["pr_curve"]["recall"], recall)
    np.testing.assert_allclose(metrics["pr_curve"]["thresholds"], thresholds)


def test_average_precision_matches_sklearn_with_ties_and_long_curves_are_thinned():
    from sklearn.metrics import average_precision_score
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 3000)
    scores = np.round(np.clip(labels * 0.2 + rng.random(3000), 0, 1), 2)  # many ties
    metrics = compute_metrics(labels, np.stack([1 - scores, scores], axis=1), ["neg", "pos"])
    assert metrics["average_precision"] == pytest.approx(average_precision_score(labels, scores))
    labels = rng.integers(0, 2, 5000)
    scores = rng.random(5000)
    curve = compute_metrics(labels, np.stack([1 - scores, scores], axis=1), ["n", "p"])["pr_curve"]
    assert len(curve["thresholds"]) <= 200
    assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) + 1
    assert (curve["recall"][0], curve["recall"][-1], curve["precision"][-1]) == (1.0, 0.0, 1.0)


MULTILABEL_NAMES = ["a", "b", "c", "d"]
MULTILABEL_LABELS = [[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
MULTILABEL_PROBABILITIES = [[0.9, 0.2, 0.6, 0.1],
                            [0.4, 0.35, 0.8, 0.1],
                            [0.7, 0.1, 0.1, 0.1],
                            [0.2, 0.35, 0.65, 0.1],
                            [0.1, 0.2, 0.3, 0.1]]
MULTILABEL_THRESHOLDS = [0.5, 0.3, 0.7, 0.5]


def test_multilabel_metrics_with_thresholds_by_hand():
    from sklearn.metrics import precision_recall_fscore_support
    metrics = compute_metrics(MULTILABEL_LABELS, MULTILABEL_PROBABILITIES, MULTILABEL_NAMES,
                              task="multilabel", thresholds=MULTILABEL_THRESHOLDS)
    # Predicted sets: {a}, {b, c}, {a}, {b}, {}. Per label (tp, fp, fn):
    # a (2, 0, 0), b (1, 1, 1), c (0, 1, 2), d (0, 0, 0) -> F1 1, 1/2, 0, 0 (d: no support).
    assert metrics["task"] == "multilabel"
    assert metrics["thresholds"] == MULTILABEL_THRESHOLDS
    per_label = metrics["per_label"]
    assert per_label["a"] == pytest.approx({"precision": 1, "recall": 1, "f1": 1, "support": 2,
                                            "threshold": 0.5})
    assert per_label["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                            "support": 2, "threshold": 0.3})
    assert per_label["c"]["f1"] == 0 and per_label["c"]["support"] == 2
    assert per_label["d"] == pytest.approx({"precision": 0, "recall": 0, "f1": 0, "support": 0,
                                            "threshold": 0.5})
    # micro: tp 3, fp 2, fn 3
    assert metrics["micro"] == pytest.approx({"precision": 3 / 5, "recall": 1 / 2, "f1": 6 / 11})
    assert metrics["macro"] == pytest.approx({"precision": 3 / 8, "recall": 3 / 8, "f1": 3 / 8})
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == pytest.approx((3 / 8,) * 3)
    assert metrics["subset_accuracy"] == metrics["accuracy"] == pytest.approx(1 / 5)
    truth = np.array(MULTILABEL_LABELS, dtype=float)
    p = np.array(MULTILABEL_PROBABILITIES)
    assert metrics["loss"] == pytest.approx(-np.mean(truth * np.log(p)
                                                     + (1 - truth) * np.log(1 - p)))
    assert metrics["average"] == "macro over labels"

    predicted = (p >= MULTILABEL_THRESHOLDS).astype(int)
    for average in ("micro", "macro"):
        expected = precision_recall_fscore_support(MULTILABEL_LABELS, predicted, average=average,
                                                   zero_division=0)[:3]
        assert tuple(metrics[average].values()) == pytest.approx(expected)

    text = format_metrics(metrics)
    assert "subset accuracy" in text and "micro f1" in text and "threshold" in text


def test_multilabel_thresholds_default_to_one_half():
    metrics = compute_metrics(MULTILABEL_LABELS, MULTILABEL_PROBABILITIES, MULTILABEL_NAMES,
                              task="multilabel")
    assert metrics["thresholds"] == [0.5] * 4
    assert metrics["per_label"]["b"]["f1"] == 0  # no probability of b reaches 0.5


def test_regression_metrics_with_ties_by_hand():
    from scipy.stats import pearsonr, spearmanr
    labels = [1, 2, 2, 3, 5]
    predictions = np.array([[1.5], [2], [1], [3], [3]])
    metrics = compute_metrics(labels, predictions, ["score"], task="regression")
    # errors 0.5, 0, -1, 0, -2
    assert metrics["mse"] == metrics["loss"] == pytest.approx(5.25 / 5)
    assert metrics["rmse"] == pytest.approx(math.sqrt(5.25 / 5))
    assert metrics["mae"] == pytest.approx(3.5 / 5)
    assert metrics["pearson"] == pytest.approx(4.2 / math.sqrt(9.2 * 3.2))
    # ranks: labels [1, 2.5, 2.5, 4, 5], predictions [2, 3, 1, 4.5, 4.5]
    assert metrics["spearman"] == pytest.approx(15 / 19)
    assert metrics["pearson"] == pytest.approx(pearsonr(labels, predictions[:, 0])[0])
    assert metrics["spearman"] == pytest.approx(spearmanr(labels, predictions[:, 0])[0])
    assert metrics["label_names"] == ["score"] and metrics["examples"] == 5
    text = format_metrics(metrics)
    assert "(5 examples, regression)" in text and "spearman   0.7895" in text


@pytest.mark.parametrize("task, labels, probabilities, shapes", [
    ("classification", [0, 1, 1], [[0.5, 0.5], [0.2, 0.8]], ["(3,)", "(2, 2)"]),
    ("classification", [0, 1], [[0.2, 0.3, 0.5], [0.2, 0.8, 0.0]], ["(2,)", "(2, 3)"]),
    ("multilabel", [[0, 1], [1, 1]], [[0.2, 0.3, 0.5], [0.2, 0.8, 0.0]], ["(2, 2)", "(2, 3)"]),
    ("regression", [1.0, 2.0], [[1.0, 2.0]], ["(2,)", "(1, 2)"]),
])
def test_shape_mismatch_names_both_shapes(task, labels, probabilities, shapes):
    names = ["a", "b"] if task != "regression" else ["score"]
    with pytest.raises(DataError) as error:
        compute_metrics(labels, probabilities, names, task=task)
    assert all(shape in str(error.value) for shape in shapes)


@pytest.mark.parametrize("task", ["classification", "multilabel", "regression"])
def test_empty_input_is_a_data_error(task):
    with pytest.raises(DataError, match="empty"):
        compute_metrics([], [], ["a", "b"], task=task)


def test_tune_thresholds_maximises_each_labels_f1():
    labels = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]])
    probabilities = np.array([[0.9, 0.9, 0.8],
                              [0.6, 0.1, 0.7],
                              [0.55, 0.6, 0.2],
                              [0.3, 0.2, 0.1],
                              [0.1, 0.3, 0.15]])
    # Label 0: F1 is 1/2 above 0.6, 4/5 in (0.55, 0.6], 2/3 in (0.3, 0.55], 6/7 in (0.1, 0.3]
    # and 3/4 below: the best grid points are 0.11 .. 0.30, and 0.30 is closest to 0.5.
    # Label 1 has no positives: it keeps 0.5. Label 2 is separated by any threshold in
    # (0.2, 0.7]: 0.5 itself wins.
    thresholds = tune_thresholds(labels, probabilities)
    np.testing.assert_allclose(thresholds, [0.30, 0.5, 0.5])
    f1 = compute_metrics(labels, probabilities, ["x", "y", "z"], "multilabel",
                         thresholds)["per_label"]["x"]["f1"]
    assert f1 == pytest.approx(6 / 7)
    # Custom candidates; on an exact tie in distance to 0.5 the lower one wins.
    np.testing.assert_allclose(tune_thresholds(labels[:, 2:], probabilities[:, 2:],
                                               candidates=[0.6, 0.4]), [0.4])


def test_worst_mistakes_classification_most_confident_first():
    texts = ["fine", "wrong a bit", "right", "very wrong", "wrong"]
    probabilities = [[0.2, 0.8], [0.45, 0.55], [0.9, 0.1], [0.05, 0.95], [0.3, 0.7]]
    labels = [1, 0, 0, 0, 0]
    pairs = [f"pair {i}" for i in range(5)]
    mistakes = worst_mistakes(texts, labels, probabilities, ["neg", "pos"], pairs=pairs, k=2)
    assert mistakes == [
        {"text": "very wrong", "text_pair": "pair 3", "label": "neg", "predicted": "pos",
         "confidence": 0.95},
        {"text": "wrong", "text_pair": "pair 4", "label": "neg", "predicted": "pos",
         "confidence": 0.7},
    ]
    assert len(worst_mistakes(texts, labels, probabilities, ["neg", "pos"])) == 3
    json.dumps(mistakes)


def test_worst_mistakes_multilabel_ranked_by_largest_wrong_decision():
    texts = [f"text {i}" for i in range(5)]
    mistakes = worst_mistakes(texts, MULTILABEL_LABELS, MULTILABEL_PROBABILITIES,
                              MULTILABEL_NAMES, task="multilabel",
                              thresholds=MULTILABEL_THRESHOLDS)
    # Wrong decisions: row 0 c (|0.6-1| = 0.4), row 1 c (0.8), row 2 b (0.9),
    # row 3 b (0.35) and c (0.35); row 4 is right.
    assert [m["text"] for m in mistakes] == ["text 2", "text 1", "text 0", "text 3"]
    assert mistakes[0] == {"text": "text 2", "labels": ["a", "b"], "predicted": ["a"],
                           "confidence": pytest.approx(0.9)}
    assert mistakes[3]["labels"] == ["c"] and mistakes[3]["predicted"] == ["b"]
    assert mistakes[3]["confidence"] == pytest.approx(0.35)


def test_worst_mistakes_regression_ranked_by_absolute_error():
    mistakes = worst_mistakes(["a", "b", "c"], [1.0, 2.0, 3.0], np.array([[1.5], [4.0], [2.0]]),
                              ["score"], task="regression", k=2)
    assert mistakes == [{"text": "b", "label": 2.0, "predicted": 4.0, "error": 2.0},
                        {"text": "c", "label": 3.0, "predicted": 2.0, "error": 1.0}]
    assert all(type(value) is float for value in mistakes[0].values() if value != "b")


def test_format_mistakes_truncates_long_texts():
    mistakes = [{"text": "x" * 300, "label": "neg", "predicted": "pos", "confidence": 0.9},
                {"text": "short", "label": "pos", "predicted": "neg", "confidence": 0.8}]
    text = format_mistakes(mistakes, limit=1, width=40)
    assert text.startswith("worst mistakes: the 1 most confident of 2\n") and "short" not in text
    assert "x" * 39 + "\u2026" in text and "x" * 40 not in text
    assert "confidence 0.9000: true neg, predicted pos" in text
    regression = format_mistakes([{"text": "t", "label": 1.0, "predicted": 3.0, "error": 2.0}],
                                 task="regression")
    assert "error 2.0000" in regression
    assert regression.startswith("largest errors: all 1, largest first")


def test_format_mistakes_heading_counts_every_mistake_not_just_those_listed():
    mistakes = [{"text": f"t{i}", "label": "neg", "predicted": "pos", "confidence": 0.9}
                for i in range(10)]
    text = format_mistakes(mistakes, limit=5, total=93)
    assert text.splitlines()[0] == "worst mistakes: the 5 most confident of 93"
    assert len([line for line in text.splitlines() if "text: t" in line]) == 5
    assert format_mistakes(mistakes[:2], total=2).splitlines()[0] == (
        "worst mistakes: all 2, most confident first")
    assert format_mistakes([]) == "worst mistakes: none."


def test_evaluate_scores_counts_all_mistakes_and_keeps_the_worst(tmp_path, capsys):
    from tfbert.data import TextSplit
    labels = [0] * 20
    probabilities = np.array([[1 - p, p] for p in np.linspace(0.55, 0.99, 12)] +
                             [[0.9, 0.1]] * 8)          # 12 wrong, 8 right
    split = TextSplit([f"review {i}" for i in range(20)], labels)
    metrics = evaluate_scores(split, probabilities, ["neg", "pos"], mistakes=3,
                              report_dir=tmp_path / "report")
    assert metrics["mistakes_total"] == 12
    assert "worst mistakes: the 3 most confident of 12" in capsys.readouterr().out
    report = json.load(open(metrics["report_files"]["json"]))
    assert report["mistakes_total"] == 12
    assert [m["text"] for m in report["mistakes"]] == ["review 11", "review 10", "review 9"]
    text = open(metrics["report_files"]["text"], encoding="utf-8").read()
    assert "worst mistakes: the 3 most confident of 12" in text


def test_write_report_new_never_replaces_an_existing_report(tmp_path):
    metrics = compute_metrics(THREE_CLASS_LABELS, np.eye(3)[THREE_CLASS_PREDICTED],
                              ["a", "b", "c"])
    first = write_report(tmp_path / "report_test", metrics)
    (tmp_path / "report_test-2").mkdir()                  # taken, even though empty
    second = write_report(tmp_path / "report_test", metrics, if_exists="new")
    third = write_report(tmp_path / "report_test", metrics, if_exists="new")
    assert os.path.dirname(first["json"]) == str(tmp_path / "report_test")
    assert os.path.dirname(second["json"]) == str(tmp_path / "report_test-3")
    assert os.path.dirname(third["json"]) == str(tmp_path / "report_test-4")
    assert os.listdir(tmp_path / "report_test-2") == []
    assert sorted(os.listdir(tmp_path / "report_test")) == sorted(
        os.path.basename(p) for p in first.values())


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_write_report_binary_classification(tmp_path):
    labels = [1, 1, 1, 0, 0]
    probabilities = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    metrics = compute_metrics(labels, probabilities, ["neg", "pos"])
    mistakes = worst_mistakes([f"review {i}" for i in range(5)], labels, probabilities,
                              ["neg", "pos"])
    paths = write_report(tmp_path / "report", metrics, mistakes, title="test split")
    assert set(paths) == {"json", "text", "confusion_matrix", "pr_curve"}
    assert sorted(os.listdir(tmp_path / "report")) == ["confusion_matrix.png", "pr_curve.png",
                                                       "report.json", "report.txt"]
    report = json.load(open(paths["json"]))
    assert report["f1"] == pytest.approx(2 / 3)
    assert report["confusion_matrix"] == [[1, 1], [1, 2]]
    assert report["average_precision"] == pytest.approx(metrics["average_precision"])
    assert [m["text"] for m in report["mistakes"]] == ["review 3", "review 2"]
    text = open(paths["text"], encoding="utf-8").read()
    assert text.startswith("test split (5 examples") and "review 3" in text
    _assert_png(paths["confusion_matrix"])
    _assert_png(paths["pr_curve"])


def test_write_report_replaces_an_existing_report_atomically(tmp_path):
    old = tmp_path / "report"
    old.mkdir()
    (old / "stale.txt").write_text("old")
    (old / "report.json").write_text("{}")
    probabilities = np.eye(3)[THREE_CLASS_PREDICTED]
    metrics = compute_metrics(THREE_CLASS_LABELS, probabilities, ["a", "b", "c"])
    paths = write_report(str(old), metrics)
    assert set(paths) == {"json", "text", "confusion_matrix"}
    assert sorted(os.listdir(old)) == ["confusion_matrix.png", "report.json", "report.txt"]
    assert json.load(open(paths["json"]))["weighted"]["f1"] == pytest.approx(241 / 350)
    assert os.listdir(tmp_path) == ["report"]  # no temporary folders left behind


def test_write_report_leaves_the_old_report_when_writing_fails(tmp_path):
    old = tmp_path / "report"
    old.mkdir()
    (old / "report.json").write_text("{}")
    with pytest.raises(TypeError):
        write_report(old, {"task": "regression", "examples": 1, "mse": object()})
    assert os.listdir(old) == ["report.json"] and os.listdir(tmp_path) == ["report"]


def test_write_report_regression_scatter(tmp_path):
    labels, predictions = [1.0, 2.0, 2.0, 3.0, 5.0], [1.5, 2.0, 1.0, 3.0, 3.0]
    metrics = compute_metrics(labels, predictions, ["score"], task="regression")
    paths = write_report(tmp_path / "r", metrics, scores=predictions, labels=labels)
    assert set(paths) == {"json", "text", "scatter"}
    assert json.load(open(paths["json"]))["spearman"] == pytest.approx(15 / 19)
    _assert_png(paths["scatter"])
    assert set(write_report(tmp_path / "r", metrics)) == {"json", "text"}
