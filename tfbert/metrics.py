"""The numbers of an evaluation, from true labels and predicted probabilities or scores.

Pure functions: NumPy arrays (or lists) in, JSON-ready dicts of plain Python
numbers out, so training, ``tfbert evaluate`` and a service report the same
numbers. The counting is scikit-learn's (``sklearn.metrics``) and the
correlations are scipy's (``scipy.stats``); what is written here is the input
checks, the layout of the dict, and the few places where tfbert's numbers are
defined differently from the library default (each says why). No function
compares task names: a task object picks the one it needs.

* :func:`classification_metrics` (one label per text): cross-entropy loss,
  accuracy, precision/recall/F1 per label, macro and weighted averages, the
  confusion matrix, and for two labels the precision-recall curve of the
  second (positive) label. The headline precision/recall/F1 is that of the
  positive label for two labels, the macro average otherwise.
* :func:`multilabel_metrics` (any number of labels per text): binary
  cross-entropy, per-label, micro and macro precision/recall/F1 at per-label
  thresholds (see :func:`tune_thresholds`), and subset accuracy.
* :func:`regression_metrics` (one score per text): MSE, RMSE, MAE, Pearson and
  Spearman correlations.

Precision, recall and F1 whose denominator is zero count as 0 (sklearn's
``zero_division=0``). scikit-learn and scipy take about two seconds to import,
so they are imported inside the functions that use them: importing this module
(and the task objects that use it) stays cheap.

Example:

>>> classification_metrics([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["neg", "pos"])["f1"]
1.0
"""
import warnings

import numpy as np

from tfbert.errors import DataError

# Decision thresholds tune_thresholds tries: a fixed grid gives the same answer
# on every run and costs one vectorised comparison per label, while searching
# every distinct probability overfits small validation sets.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
PR_CURVE_POINTS = 200
# Probabilities are clipped to [_CLIP, 1] (or [_CLIP, 1 - _CLIP]) before the log.
_CLIP = 1e-12


def _check_not_empty(labels):
    if np.size(labels) == 0:
        raise DataError("cannot evaluate on an empty split.")


def _shape_error(what, labels, probabilities):
    return DataError(f"{what}: labels have shape {tuple(np.shape(labels))} but predictions "
                     f"have shape {tuple(np.shape(probabilities))}.")


def _check_finite(what, values):
    """sklearn refuses NaN and infinity; say which row holds one (a diverged model, usually)."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(f"{what} must be finite numbers, but row {row} holds NaN or infinity.")


def classification_arrays(labels, probabilities, label_names):
    """``([n] int64 label ids, [n, k] float64 probabilities)``, checked against each other.

    Raises:
        DataError: on an empty input, shapes other than ``[n]`` and ``[n, k]``
            (``k = len(label_names)``), ids outside ``0..k-1`` or a non-finite
            probability.

    Example:

    >>> ids, probabilities = classification_arrays([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["n", "p"])
    >>> ids.tolist(), probabilities.shape
    ([1, 0], (2, 2))
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_not_empty(labels)
    num_classes = len(label_names)
    if (labels.ndim != 1 or probabilities.ndim != 2 or len(probabilities) != len(labels)
            or probabilities.shape[1] != num_classes):
        raise _shape_error(f"classification with {num_classes} labels expects labels [n] and "
                           f"probabilities [n, {num_classes}]", labels, probabilities)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"label ids must be in 0..{num_classes - 1} "
                        f"({', '.join(map(str, label_names))}); got {int(labels.min())}.."
                        f"{int(labels.max())}.")
    _check_finite("predicted probabilities", probabilities)
    return labels, probabilities


def multilabel_arrays(labels, probabilities, label_names, thresholds=None):
    """``([n, k] bool truth, [n, k] float64 probabilities, [k] thresholds)``, checked.

    A label is true where ``labels > 0.5``; ``thresholds`` default to 0.5 each.

    Raises:
        DataError: on an empty input, shapes other than ``[n, k]`` for both
            (``k = len(label_names)``), a number of thresholds other than
            ``k`` or a non-finite probability.

    Example:

    >>> truth, probabilities, thresholds = multilabel_arrays([[1, 0]], [[0.9, 0.2]], ["a", "b"])
    >>> truth.tolist(), thresholds.tolist()
    ([[True, False]], [0.5, 0.5])
    """
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_not_empty(labels)
    k = len(label_names)
    if labels.shape != probabilities.shape or labels.ndim != 2 or labels.shape[1] != k:
        raise _shape_error(f"multilabel with {k} labels expects multi-hot labels and "
                           f"probabilities, both [n, {k}]", labels, probabilities)
    thresholds = np.full(k, 0.5) if thresholds is None else np.asarray(thresholds, np.float64)
    if thresholds.shape != (k,):
        raise DataError(f"expected {k} thresholds (one per label), got shape "
                        f"{thresholds.shape}.")
    _check_finite("predicted probabilities", probabilities)
    return labels > 0.5, probabilities, thresholds


def regression_arrays(labels, predictions):
    """Labels and predicted scores as ``[n]`` float64 arrays (``[n, 1]`` is accepted too).

    Raises:
        DataError: on an empty input, other shapes, or a non-finite value.

    Example:

    >>> labels, scores = regression_arrays([1.0, 2.0], [[1.5], [2.5]])
    >>> labels.shape, scores.tolist()
    ((2,), [1.5, 2.5])
    """
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    _check_not_empty(labels)
    flat_labels, flat_predictions = labels, predictions
    if labels.ndim == 2 and labels.shape[1] == 1:
        flat_labels = labels[:, 0]
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        flat_predictions = predictions[:, 0]
    if flat_labels.ndim != 1 or flat_labels.shape != flat_predictions.shape:
        raise _shape_error("regression expects labels [n] and predicted scores [n] or [n, 1]",
                           labels, predictions)
    _check_finite("labels", flat_labels)
    _check_finite("predicted scores", flat_predictions)
    return flat_labels, flat_predictions


def _prf(precision, recall, f1):
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _per_label(label_names, precision, recall, f1, support, thresholds=None):
    table = {}
    for i, name in enumerate(label_names):
        row = {**_prf(precision[i], recall[i], f1[i]), "support": int(support[i])}
        if thresholds is not None:
            row["threshold"] = float(thresholds[i])
        table[str(name)] = row
    return table


def classification_metrics(labels, probabilities, label_names):
    """Metrics of single-label predictions as a JSON-ready dict.

    Args:
        labels: ``[n]`` integer label ids.
        probabilities: ``[n, k]`` softmax probabilities, ``k = len(label_names)``.
        label_names: names of the labels, in id order; with two, the second is
            the positive one (``pos`` for IMDB).

    Returns:
        ``examples, task, loss, accuracy, precision, recall, f1, average,
        label_names, confusion_matrix`` (rows true, columns predicted),
        ``per_label`` (name -> precision/recall/f1/support), ``macro``,
        ``weighted``; with two labels also ``average_precision`` and
        ``pr_curve`` (``precision, recall, thresholds``, at most about
        ``PR_CURVE_POINTS`` thresholds).

    Example:

    >>> classification_metrics([0, 2], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],
    ...                        ["a", "b", "c"])["accuracy"]
    1.0
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    labels, probabilities = classification_arrays(labels, probabilities, label_names)
    ids = np.arange(len(label_names))
    predicted = probabilities.argmax(axis=-1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=ids, average=None, zero_division=0)
    binary = len(label_names) == 2
    headline = slice(1, 2) if binary else slice(None)
    metrics = {
        "examples": int(len(labels)),
        "task": "classification",
        "loss": _cross_entropy(probabilities[np.arange(len(labels)), labels]),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision[headline].mean()),
        "recall": float(recall[headline].mean()),
        "f1": float(f1[headline].mean()),
        "average": f"binary (positive label {label_names[1]!r})" if binary else "macro",
        "label_names": list(label_names),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=ids).tolist(),
        "per_label": _per_label(label_names, precision, recall, f1, support),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "weighted": _prf(*(np.average(s, weights=support) for s in (precision, recall, f1))),
    }
    if binary:
        metrics.update(_binary_curve(labels == 1, probabilities[:, 1]))
    return metrics


def _cross_entropy(probability_of_truth):
    """Mean ``-log p`` of the true labels' probabilities, clipped to ``[1e-12, 1]``.

    Not sklearn's ``log_loss``: that clips at the float epsilon (about 2e-16)
    and rescales every row to sum to 1, which changes the loss tfbert has
    always reported for a confidently wrong or not-normalised prediction.
    """
    return float(-np.mean(np.log(np.clip(probability_of_truth, _CLIP, 1.0))))


def _binary_curve(positive, scores):
    """``average_precision`` and the thinned ``pr_curve`` of the positive label's scores."""
    from sklearn.metrics import average_precision_score, precision_recall_curve
    if not positive.any():
        # sklearn warns and sets recall to 1 when there is no positive; tfbert reports
        # recall 0 and average precision 0 (nothing to find, nothing found).
        thresholds = np.unique(scores)
        precision = np.r_[np.zeros(len(thresholds)), 1.0]
        return {"average_precision": 0.0,
                "pr_curve": _subsample_curve(precision, np.zeros_like(precision), thresholds)}
    precision, recall, thresholds = precision_recall_curve(positive, scores)
    return {"average_precision": float(average_precision_score(positive, scores)),
            "pr_curve": _subsample_curve(precision, recall, thresholds)}


def _subsample_curve(precision, recall, thresholds, points=PR_CURVE_POINTS):
    """The curve as lists, thinned to about ``points`` evenly spaced thresholds.

    The last point (recall 0, precision 1, which no threshold reaches) is kept.
    """
    keep = np.arange(len(thresholds))
    if len(thresholds) > points:
        keep = np.unique(np.linspace(0, len(thresholds) - 1, points).round().astype(np.int64))
    return {"precision": np.r_[precision[keep], precision[-1]].tolist(),
            "recall": np.r_[recall[keep], recall[-1]].tolist(),
            "thresholds": thresholds[keep].tolist()}


def _indicator_scores(truth, predicted, average=None):
    """sklearn's precision, recall, F1 (and support) per column of two ``[n, k]`` bool arrays."""
    from sklearn.metrics import precision_recall_fscore_support
    k = truth.shape[1]
    if k == 1:
        # sklearn reads an [n, 1] array as one binary label vector, not an indicator of one
        # label; an all-negative second column keeps it an indicator and adds no counts.
        truth, predicted = (np.hstack([a, np.zeros_like(a)]) for a in (truth, predicted))
    scores = precision_recall_fscore_support(truth, predicted, average=average,
                                             zero_division=0)
    return tuple(s[:k] for s in scores) if average is None else scores[:3]


def multilabel_metrics(labels, probabilities, label_names, thresholds=None):
    """Metrics of multi-label predictions at per-label thresholds, as a JSON-ready dict.

    Args:
        labels: ``[n, k]`` multi-hot 0/1 labels, ``k = len(label_names)``.
        probabilities: ``[n, k]`` independent sigmoid probabilities.
        label_names: names of the labels, in column order.
        thresholds: ``[k]`` decision thresholds, a label is predicted when its
            probability is ``>=`` its threshold (default 0.5 each).

    Returns:
        ``examples, task, loss, thresholds, per_label`` (with ``threshold``),
        ``micro, macro, precision, recall, f1`` (macro), ``subset_accuracy``,
        ``accuracy`` (the same), ``average, label_names``.

    Example:

    >>> multilabel_metrics([[1, 0], [1, 1]], [[0.9, 0.2], [0.7, 0.4]], ["a", "b"],
    ...                    thresholds=[0.5, 0.3])["subset_accuracy"]
    1.0
    """
    from sklearn.metrics import accuracy_score
    truth, probabilities, thresholds = multilabel_arrays(labels, probabilities, label_names,
                                                         thresholds)
    predicted = probabilities >= thresholds
    # Binary cross-entropy with tfbert's clipping, not sklearn's (see _cross_entropy).
    clipped = np.clip(probabilities, _CLIP, 1 - _CLIP)
    loss = float(-np.mean(np.where(truth, np.log(clipped), np.log(1 - clipped))))
    precision, recall, f1, support = _indicator_scores(truth, predicted)
    subset_accuracy = float(accuracy_score(truth, predicted))
    return {
        "examples": int(len(truth)),
        "task": "multilabel",
        "loss": loss,
        "thresholds": thresholds.tolist(),
        "per_label": _per_label(label_names, precision, recall, f1, support, thresholds),
        "micro": _prf(*_indicator_scores(truth, predicted, average="micro")),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "subset_accuracy": subset_accuracy,
        "accuracy": subset_accuracy,
        "average": "macro over labels",
        "label_names": list(label_names),
    }


def regression_metrics(labels, predictions, label_names):
    """Metrics of predicted scores as a JSON-ready dict.

    Args:
        labels: ``[n]`` true scores.
        predictions: ``[n]`` or ``[n, 1]`` predicted scores.
        label_names: the name of the score, e.g. ``["stars"]`` (stored only).

    Returns:
        ``examples, task, loss`` (the MSE), ``mse, rmse, mae, pearson,
        spearman, label_names``. A correlation is NaN when either side is
        constant (it is undefined there).

    Example:

    >>> round(regression_metrics([1, 2, 3], [1.5, 2, 3.5], ["stars"])["mae"], 4)
    0.3333
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error
    labels, predictions = regression_arrays(labels, predictions)
    mse = float(mean_squared_error(labels, predictions))
    return {
        "examples": int(len(labels)),
        "task": "regression",
        "loss": mse,
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(mean_absolute_error(labels, predictions)),
        "pearson": _correlation(pearsonr, labels, predictions),
        "spearman": _correlation(spearmanr, labels, predictions),
        "label_names": list(label_names) if label_names is not None else [],
    }


def _correlation(statistic, x, y):
    """scipy's correlation ``statistic(x, y)``; NaN when either side is constant.

    Checked here rather than left to scipy, which returns NaN too but with a
    warning the user cannot act on (and refuses a single example). Its
    near-constant warning is silenced for the same reason.
    """
    from scipy.stats import NearConstantInputWarning
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NearConstantInputWarning)
        return float(statistic(x, y).statistic)


def tune_thresholds(labels, probabilities, candidates=None):
    """Per-label decision thresholds maximising each label's F1 on (validation) data.

    Tune on a validation split, then pass the result as ``thresholds`` to
    :func:`multilabel_metrics` on the test split: rare labels often need a
    threshold well below 0.5 to be predicted at all.

    Args:
        labels: ``[n, k]`` multi-hot 0/1 labels.
        probabilities: ``[n, k]`` independent sigmoid probabilities.
        candidates: thresholds to try; default ``THRESHOLD_GRID`` (``0.05, 0.06,
            ..., 0.95``). A fixed grid is stable (the same answer on every run,
            no threshold fitted to a single example's probability) and fast
            (one comparison per candidate).

    Returns:
        ``[k]`` thresholds. Among equally good candidates, the one closest to
        0.5 wins (the lower one on an exact tie); a label with no positives in
        the data keeps 0.5.

    Example::

        thresholds = tune_thresholds(data.validation.labels, val_probabilities)
        multilabel_metrics(test_labels, test_probabilities, names, thresholds)
    """
    num_labels = np.shape(labels)[1] if np.ndim(labels) == 2 else 0
    truth, probabilities, _ = multilabel_arrays(labels, probabilities, range(num_labels))
    candidates = np.sort(THRESHOLD_GRID if candidates is None else np.asarray(candidates, float))
    # Closest to 0.5 first (the lower on a tie), so argmax picks it among equal F1s.
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="mergesort")]
    thresholds = np.full(truth.shape[1], 0.5)
    for j in np.flatnonzero(truth.any(axis=0)):
        # Column c of `predicted` is the label's decisions at candidate c: sklearn's F1 of
        # each column against the same truth is the F1 of each candidate.
        predicted = probabilities[:, j, None] >= candidates[None, :]
        repeated = np.repeat(truth[:, j, None], len(candidates), axis=1)
        f1 = _indicator_scores(repeated, predicted)[2]
        thresholds[j] = candidates[int(np.argmax(f1))]
    return thresholds
