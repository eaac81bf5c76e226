"""tfbert.metrics against hand-computed cases and against the implementation it replaced.

The reference functions at the end are tfbert's hand-written NumPy metrics as
they were before sklearn/scipy took over (evaluation.py at e115edd, input checks
left out): every dict tfbert.metrics returns must equal theirs to 1e-9, on
random inputs with ties and on the edge cases. Fast: no TensorFlow.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from tfbert.errors import DataError
from tfbert.metrics import (PR_CURVE_POINTS, THRESHOLD_GRID, classification_arrays,
                            classification_metrics, multilabel_arrays, multilabel_metrics,
                            regression_arrays, regression_metrics, tune_thresholds)


def assert_same(ours, reference, path="metrics"):
    """Same keys, list lengths and plain Python types; floats within 1e-9 (NaN == NaN)."""
    if isinstance(reference, dict):
        assert list(ours) == list(reference), path
        for key in reference:
            assert_same(ours[key], reference[key], f"{path}.{key}")
    elif isinstance(reference, list):
        assert isinstance(ours, list) and len(ours) == len(reference), path
        for i, (a, b) in enumerate(zip(ours, reference)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(reference, float):
        assert type(ours) is float, f"{path}: {type(ours)}"
        assert (math.isnan(ours) and math.isnan(reference)) or abs(ours - reference) <= 1e-9, (
            f"{path}: {ours} != {reference}")
    else:
        assert type(ours) is type(reference) and ours == reference, f"{path}: {ours!r}"


def random_probabilities(rng, n, k, decimals):
    """Rows summing to about 1, rounded so that many scores tie."""
    p = rng.random((n, k))
    return np.round(p / p.sum(axis=1, keepdims=True), decimals)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("seed", range(12))
def test_classification_equals_the_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 300)), int(rng.integers(2, 6))
    labels = rng.integers(0, k, n)
    probabilities = random_probabilities(rng, n, k, decimals=seed % 4 + 1)
    names = [f"label {i}" for i in range(k)]
    metrics = classification_metrics(labels, probabilities, names)
    assert_same(metrics, reference_classification(labels, probabilities, names))
    json.dumps(metrics, allow_nan=False)


def test_label_with_no_support_counts_zero_and_pulls_the_macro_average_down():
    # Rows true, columns predicted: c is never true (predicted once), d never true nor predicted.
    labels = [0, 0, 1, 1]
    probabilities = np.eye(4)[[0, 2, 1, 0]] * 0.7 + 0.075
    metrics = classification_metrics(labels, probabilities, ["a", "b", "c", "d"])
    assert metrics["confusion_matrix"] == [[1, 0, 1, 0], [1, 1, 0, 0], [0] * 4, [0] * 4]
    assert metrics["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 0}
    assert metrics["per_label"]["d"] == metrics["per_label"]["c"]
    # a: P 1/2 R 1/2 F 1/2, b: P 1 R 1/2 F 2/3
    assert metrics["macro"] == pytest.approx({"precision": 1.5 / 4, "recall": 1 / 4,
                                              "f1": (1 / 2 + 2 / 3) / 4})
    assert metrics["weighted"] == pytest.approx({"precision": 3 / 4, "recall": 1 / 2,
                                                 "f1": 7 / 12})
    assert (metrics["precision"], metrics["average"]) == (metrics["macro"]["precision"], "macro")
    assert_same(metrics, reference_classification(np.array(labels), probabilities, "abcd"))


def test_loss_clips_at_1e_12_and_does_not_renormalise_rows():
    # sklearn's log_loss would clip at ~2e-16 and rescale the rows to sum to 1.
    probabilities = np.array([[1.0, 0.0], [0.3, 0.3]])
    loss = classification_metrics([1, 0], probabilities, ["n", "p"])["loss"]
    assert loss == pytest.approx((-math.log(1e-12) - math.log(0.3)) / 2, rel=1e-12)


def test_binary_headline_is_the_positive_label_and_the_curve_matches_sklearn():
    from sklearn.metrics import average_precision_score, precision_recall_curve
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    scores = np.array([0.1, 0.9, 0.4, 0.4, 0.4, 0.8, 0.2, 0.65])  # a tie across the classes
    metrics = classification_metrics(labels, np.stack([1 - scores, scores], 1), ["neg", "pos"])
    # Predicted positive: 0.9, 0.8, 0.65 -> TP 2, FP 1, FN 2.
    assert (metrics["precision"], metrics["recall"]) == pytest.approx((2 / 3, 1 / 2))
    assert metrics["f1"] == pytest.approx(4 / 7)
    assert metrics["average"] == "binary (positive label 'pos')"
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    assert metrics["pr_curve"] == {"precision": precision.tolist(), "recall": recall.tolist(),
                                   "thresholds": thresholds.tolist()}
    assert metrics["pr_curve"]["thresholds"] == [0.1, 0.2, 0.4, 0.65, 0.8, 0.9]
    # From the top: 0.9 (P 1, R 1/4), 0.8 (neg), 0.65 (P 2/3, R 1/2),
    # 0.4 x3 (two pos: P 4/6, R 1): AP = 1/4 * 1 + 1/4 * 2/3 + 1/2 * 2/3.
    assert metrics["average_precision"] == pytest.approx(1 / 4 + 1 / 6 + 1 / 3)
    assert metrics["average_precision"] == pytest.approx(average_precision_score(labels, scores))


@pytest.mark.filterwarnings("error")
def test_binary_without_positives_has_recall_and_average_precision_zero():
    scores = np.array([0.3, 0.7, 0.3, 0.1])
    metrics = classification_metrics([0, 0, 0, 0], np.stack([1 - scores, scores], 1), "np")
    assert metrics["average_precision"] == 0.0
    assert metrics["pr_curve"] == {"precision": [0.0, 0.0, 0.0, 1.0],
                                   "recall": [0.0, 0.0, 0.0, 0.0],
                                   "thresholds": [0.1, 0.3, 0.7]}
    assert metrics["per_label"]["p"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 0}
    assert_same(metrics, reference_classification(np.zeros(4, int),
                                                  np.stack([1 - scores, scores], 1), "np"))


def test_long_pr_curves_are_thinned_to_evenly_spaced_thresholds():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 1000)
    scores = np.round(rng.random(1000), 4)  # ~900 distinct scores, some ties
    probabilities = np.stack([1 - scores, scores], 1)
    metrics = classification_metrics(labels, probabilities, ["neg", "pos"])
    curve = metrics["pr_curve"]
    distinct = np.unique(scores)
    assert len(distinct) > PR_CURVE_POINTS == len(curve["thresholds"])
    assert len(curve["precision"]) == len(curve["recall"]) == PR_CURVE_POINTS + 1
    # The lowest and highest thresholds are kept, and the end point (recall 0, precision 1).
    assert (curve["thresholds"][0], curve["thresholds"][-1]) == (distinct[0], distinct[-1])
    assert (curve["recall"][0], curve["recall"][-1], curve["precision"][-1]) == (1.0, 0.0, 1.0)
    assert curve["thresholds"] == distinct[np.linspace(0, len(distinct) - 1,
                                                       PR_CURVE_POINTS).round().astype(int)
                                           ].tolist()
    assert_same(metrics, reference_classification(labels, probabilities, ["neg", "pos"]))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("seed", range(8))
def test_multilabel_equals_the_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 200)), int(rng.integers(1, 7))
    truth = rng.random((n, k)) < rng.random(k) * 0.6
    truth[:, 0] = False  # a label with no positives
    probabilities = np.round(rng.random((n, k)), 2)
    probabilities[0, -1] = 1.0  # clipped to 1 - 1e-12 in the loss
    names = [f"l{i}" for i in range(k)]
    thresholds = rng.choice(THRESHOLD_GRID, k)
    for chosen in (None, thresholds):
        metrics = multilabel_metrics(truth.astype(float), probabilities, names, chosen)
        assert_same(metrics, reference_multilabel(truth, probabilities, names, chosen))
    assert np.array_equal(tune_thresholds(truth, probabilities),
                          reference_tune_thresholds(truth, probabilities))


def test_multilabel_label_without_positives_and_a_single_label():
    truth = np.array([[1, 0], [1, 0], [0, 0]])
    probabilities = np.array([[0.9, 0.6], [0.4, 0.1], [0.6, 0.2]])
    metrics = multilabel_metrics(truth, probabilities, ["a", "b"])
    # a: TP 1, FP 1, FN 1; b: no positives, one false positive.
    assert metrics["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 0, "threshold": 0.5}
    assert metrics["micro"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 2, "f1": 2 / 5})
    assert metrics["macro"] == pytest.approx({"precision": 1 / 4, "recall": 1 / 4, "f1": 1 / 4})
    assert metrics["subset_accuracy"] == 0.0
    # One label: sklearn would read [n, 1] as a binary vector; still a one-label indicator.
    single = multilabel_metrics(truth[:, :1], probabilities[:, :1], ["a"])
    assert single["per_label"]["a"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2,
                                                      "f1": 1 / 2, "support": 2,
                                                      "threshold": 0.5})
    assert single["micro"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2})
    assert single["subset_accuracy"] == pytest.approx(1 / 3)
    assert tune_thresholds(truth, probabilities)[1] == 0.5


def test_tune_thresholds_picks_the_candidate_closest_to_one_half_among_equal_f1s():
    truth = np.array([[1], [0], [1], [0]])
    probabilities = np.array([[0.8], [0.3], [0.7], [0.35]])
    # Every threshold in (0.35, 0.7] separates the classes: 0.5 wins.
    assert tune_thresholds(truth, probabilities).tolist() == [0.5]
    # 0.4 and 0.6 both separate them and are as far from 0.5: the lower wins.
    assert tune_thresholds(truth, probabilities, candidates=[0.6, 0.4]).tolist() == [0.4]
    # Equal F1 from different counts: 0.75 (TP 1, FN 1) and 0.2 (TP 2, FP 2), 2/3 each.
    assert tune_thresholds(truth, probabilities, candidates=[0.2, 0.75]).tolist() == [0.75]
    # A higher F1 beats closeness to 0.5: 0.85 separates (F1 1), 0.5 does not (4/5).
    separated_high = np.array([[0.95], [0.8], [0.9], [0.3]])
    assert tune_thresholds(truth, separated_high, candidates=[0.5, 0.85]).tolist() == [0.85]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("seed", range(6))
def test_regression_equals_the_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = np.round(rng.normal(size=n), 1)  # ties in both, for the Spearman ranks
    predictions = np.round(labels + rng.normal(size=n), 1)[:, None]
    metrics = regression_metrics(labels, predictions, ["score"])
    assert_same(metrics, reference_regression(labels, predictions[:, 0], ["score"]))


@pytest.mark.filterwarnings("error")
def test_correlations_are_nan_without_warnings_when_a_side_is_constant():
    labels = np.array([1.0, 2.0, 3.0])
    for constant in (np.full(3, 2.0), np.full(3, 0.1)):
        for metrics in (regression_metrics(labels, constant, ["s"]),
                        regression_metrics(constant, labels, ["s"])):
            assert math.isnan(metrics["pearson"]) and math.isnan(metrics["spearman"])
    # The former code returned 0.0 here: the mean of [0.1] * 3 is not exactly 0.1.
    one = regression_metrics([2.0], [3.0], None)
    assert (one["mse"], one["mae"], one["label_names"]) == (1.0, 1.0, [])
    assert math.isnan(one["pearson"]) and math.isnan(one["spearman"])
    near = regression_metrics(labels, [1.0, 1.0, 1.0 + 1e-13], ["s"])
    assert near["spearman"] == pytest.approx(math.sqrt(3) / 2)


@pytest.mark.parametrize("call, message", [
    (lambda: classification_arrays([], np.zeros((0, 2)), "ab"), "cannot evaluate on an empty"),
    (lambda: classification_arrays([0, 1, 1], [[0.5, 0.5]] * 2, "ab"),
     r"expects labels \[n\] and probabilities \[n, 2\]: labels have shape \(3,\) but "
     r"predictions have shape \(2, 2\)"),
    (lambda: classification_arrays([0, 2], [[0.5, 0.5]] * 2, ["neg", "pos"]),
     r"label ids must be in 0..1 \(neg, pos\); got 0..2"),
    (lambda: classification_arrays([0, 1], [[0.5, np.nan]] * 2, "ab"),
     "predicted probabilities must be finite numbers, but row 0 holds NaN"),
    (lambda: multilabel_arrays([], [], "ab"), "cannot evaluate on an empty"),
    (lambda: multilabel_arrays([[0, 1]], [[0.2, 0.3, 0.5]], "ab"),
     r"multilabel with 2 labels .* \(1, 2\) but predictions have shape \(1, 3\)"),
    (lambda: multilabel_arrays([[0, 1]], [[0.2, 0.3]], "ab", [0.5]),
     r"expected 2 thresholds \(one per label\), got shape \(1,\)"),
    (lambda: regression_arrays([], []), "cannot evaluate on an empty"),
    (lambda: regression_arrays([1.0, 2.0], [[1.0, 2.0]]),
     r"labels have shape \(2,\) but predictions have shape \(1, 2\)"),
    (lambda: regression_arrays([1.0, 2.0], [1.0, np.inf]),
     "predicted scores must be finite numbers, but row 1 holds NaN or infinity"),
])
def test_array_checks_raise_data_errors_naming_what_is_wrong(call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_array_helpers_return_checked_arrays():
    truth, probabilities, thresholds = multilabel_arrays([[1, 0.0]], [[0.9, 0.2]], "ab")
    assert truth.tolist() == [[True, False]] and thresholds.tolist() == [0.5, 0.5]
    labels, scores = regression_arrays([[1], [2]], [[1.5], [2.5]])
    assert labels.shape == scores.shape == (2,) and scores.dtype == np.float64
    ids, _ = classification_arrays([1.0, 0.0], [[0.2, 0.8], [0.6, 0.4]], "np")
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0]


def test_importing_metrics_loads_neither_tensorflow_nor_sklearn():
    code = ("import sys, tfbert.metrics; "
            "print(sorted(m for m in ('tensorflow', 'sklearn', 'scipy.stats') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- The reference: tfbert's metrics before sklearn/scipy (e115edd), checks left out. ---

def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def _scores(true_pos, false_pos, false_neg):
    return (_ratio(true_pos, true_pos + false_pos), _ratio(true_pos, true_pos + false_neg),
            _ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg))


def _prf(precision, recall, f1):
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _per_label(names, precision, recall, f1, support, thresholds=None):
    table = {}
    for i, name in enumerate(names):
        row = {**_prf(precision[i], recall[i], f1[i]), "support": int(support[i])}
        if thresholds is not None:
            row["threshold"] = float(thresholds[i])
        table[str(name)] = row
    return table


def reference_classification(labels, probabilities, names):
    k = len(names)
    predicted = probabilities.argmax(axis=-1)
    picked = probabilities[np.arange(len(labels)), labels]
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos, support = np.diag(confusion), confusion.sum(axis=1)
    precision, recall, f1 = _scores(true_pos, confusion.sum(axis=0) - true_pos,
                                    support - true_pos)
    chosen = slice(1, 2) if k == 2 else slice(None)
    weights = support / support.sum()
    metrics = {
        "examples": len(labels), "task": "classification",
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))),
        "accuracy": float(true_pos.sum() / len(labels)),
        "precision": float(precision[chosen].mean()), "recall": float(recall[chosen].mean()),
        "f1": float(f1[chosen].mean()),
        "average": f"binary (positive label {names[1]!r})" if k == 2 else "macro",
        "label_names": list(names), "confusion_matrix": confusion.tolist(),
        "per_label": _per_label(names, precision, recall, f1, support),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "weighted": _prf(weights @ precision, weights @ recall, weights @ f1),
    }
    if k == 2:
        order = np.argsort(-probabilities[:, 1], kind="mergesort")
        scores, positive = probabilities[order, 1], (labels[order] == 1).astype(np.float64)
        last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
        tp = np.cumsum(positive)[last]
        precision = np.r_[(tp / (last + 1))[::-1], 1.0]
        recall = np.r_[(tp / tp[-1] if tp[-1] > 0 else np.zeros_like(tp))[::-1], 0.0]
        thresholds = scores[last][::-1]
        metrics["average_precision"] = float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))
        keep = np.arange(len(thresholds))
        if len(thresholds) > 200:
            keep = np.unique(np.linspace(0, len(thresholds) - 1, 200).round().astype(np.int64))
        metrics["pr_curve"] = {"precision": np.r_[precision[keep], precision[-1]].tolist(),
                               "recall": np.r_[recall[keep], recall[-1]].tolist(),
                               "thresholds": thresholds[keep].tolist()}
    return metrics


def reference_multilabel(truth, probabilities, names, thresholds):
    thresholds = np.full(len(names), 0.5) if thresholds is None else np.asarray(thresholds)
    predicted = probabilities >= thresholds
    clipped = np.clip(probabilities, 1e-12, 1 - 1e-12)
    tp, fp = (truth & predicted).sum(axis=0), (~truth & predicted).sum(axis=0)
    fn = (truth & ~predicted).sum(axis=0)
    precision, recall, f1 = _scores(tp, fp, fn)
    subset_accuracy = float(np.all(truth == predicted, axis=1).mean())
    return {
        "examples": len(truth), "task": "multilabel",
        "loss": float(-np.mean(np.where(truth, np.log(clipped), np.log(1 - clipped)))),
        "thresholds": thresholds.tolist(),
        "per_label": _per_label(names, precision, recall, f1, truth.sum(axis=0), thresholds),
        "micro": _prf(*_scores(tp.sum(), fp.sum(), fn.sum())),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "precision": float(precision.mean()), "recall": float(recall.mean()),
        "f1": float(f1.mean()), "subset_accuracy": subset_accuracy,
        "accuracy": subset_accuracy, "average": "macro over labels", "label_names": list(names),
    }


def _pearson(x, y):
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    return float(np.sum(dx * dy) / denominator) if denominator > 0 else float("nan")


def _ranks(values):
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(starts + (sizes + 1) / 2, sizes)
    return ranks


def reference_regression(labels, predictions, names):
    errors = predictions - labels
    mse = float(np.mean(errors ** 2))
    return {"examples": len(labels), "task": "regression", "loss": mse, "mse": mse,
            "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(errors))),
            "pearson": _pearson(labels, predictions),
            "spearman": _pearson(_ranks(labels), _ranks(predictions)), "label_names": names}


def reference_tune_thresholds(truth, probabilities):
    candidates = THRESHOLD_GRID[np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="mergesort")]
    thresholds = np.full(truth.shape[1], 0.5)
    for j in range(truth.shape[1]):
        if truth[:, j].any():
            predicted = probabilities[:, j, None] >= candidates[None, :]
            positive = truth[:, j, None]
            f1 = _scores((positive & predicted).sum(0), (~positive & predicted).sum(0),
                         (positive & ~predicted).sum(0))[2]
            thresholds[j] = candidates[int(np.argmax(f1))]
    return thresholds
