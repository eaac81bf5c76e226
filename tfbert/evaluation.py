"""Metrics from predicted probabilities (or scores) for three tasks, and reports.

Computed in NumPy from what a model (in memory or exported) outputs, so
training, ``tfbert evaluate`` and any service report the same numbers:

* ``"classification"`` (one label per text): cross-entropy loss, accuracy,
  precision/recall/F1 per label, macro and weighted averages, the confusion
  matrix, and for binary tasks the precision-recall curve of the positive
  label (the second one: ``pos`` for IMDB). The headline precision/recall/F1
  is that of the positive label for binary tasks, the macro average otherwise.
* ``"multilabel"`` (any number of labels per text, one sigmoid each): binary
  cross-entropy, per-label, micro and macro precision/recall/F1 at per-label
  decision thresholds (see :func:`tune_thresholds`), and subset accuracy.
* ``"regression"`` (one score per text): MSE, RMSE, MAE, Pearson and Spearman
  correlations.

:func:`worst_mistakes` lists the most confident wrong predictions, and
:func:`write_report` writes metrics, mistakes and plots to a folder at once.

Example::

    metrics = tfbert.evaluate(result.model, data.test, data.label_names,
                              path="runs/imdb/eval_test.json")
"""
import json
import os
import tempfile

import numpy as np

from tfbert.data import TASKS
from tfbert.errors import DataError
from tfbert.tasks import scores_from_logits
# Decision thresholds tune_thresholds tries: a fixed grid gives the same answer
# on every run and costs one vectorised comparison per label, while searching
# every distinct probability overfits small validation sets.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
_PR_CURVE_POINTS = 200


def probabilities_from_logits(logits):
    """``[n, classes]`` probabilities from ``[n, 1]`` (sigmoid) or ``[n, k]`` (softmax) logits."""
    return scores_from_logits("classification", logits)


def compute_metrics(labels, probabilities, label_names, task="classification", thresholds=None):
    """Loss and quality metrics of predictions against the true labels, as a JSON-ready dict.

    Args:
        labels: ``[n]`` integer class ids (classification), ``[n, k]`` multi-hot
            0/1 (multilabel) or ``[n]`` float scores (regression).
        probabilities: ``[n, k]`` softmax probabilities (classification),
            ``[n, k]`` independent sigmoids (multilabel) or ``[n]``/``[n, 1]``
            predicted scores (regression).
        label_names: names of the labels, in id order (for regression, the
            name of the score, e.g. ``["stars"]``; stored only).
        task: ``"classification"``, ``"multilabel"`` or ``"regression"``.
        thresholds: multilabel only: ``[k]`` decision thresholds, a label is
            predicted when its probability is ``>=`` its threshold (default 0.5).

    Precision, recall and F1 whose denominator is zero count as 0 (sklearn's
    ``zero_division=0``): a label with neither support nor predictions gets F1 0,
    which pulls the macro average down.

    Raises:
        DataError: on an empty input, mismatched shapes or an unknown task.

    Example::

        compute_metrics([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["neg", "pos"])["f1"]   # 1.0
        compute_metrics([[1, 0], [1, 1]], [[0.9, 0.2], [0.7, 0.4]], ["a", "b"],
                        task="multilabel", thresholds=[0.5, 0.3])["subset_accuracy"]   # 1.0
    """
    if task == "classification":
        return _classification_metrics(labels, probabilities, label_names)
    if task == "multilabel":
        return _multilabel_metrics(labels, probabilities, label_names, thresholds)
    if task == "regression":
        return _regression_metrics(labels, probabilities, label_names)
    raise DataError(f"unknown task {task!r}: use one of {', '.join(TASKS)}.")


def _check_not_empty(labels):
    if np.size(labels) == 0:
        raise DataError("cannot evaluate on an empty split.")


def _shape_error(what, labels, probabilities):
    return DataError(f"{what}: labels have shape {tuple(np.shape(labels))} but predictions "
                     f"have shape {tuple(np.shape(probabilities))}.")


def _ratio(numerator, denominator):
    """Elementwise ``numerator / denominator``, 0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def _scores(true_pos, false_pos, false_neg):
    """Precision, recall and F1 from counts (arrays or scalars), 0 when undefined."""
    precision = _ratio(true_pos, true_pos + false_pos)
    recall = _ratio(true_pos, true_pos + false_neg)
    f1 = _ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg)
    return precision, recall, f1


def _prf(precision, recall, f1):
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _classification_metrics(labels, probabilities, label_names):
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
    predicted = probabilities.argmax(axis=-1)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos = np.diag(confusion)
    support = confusion.sum(axis=1)
    precision, recall, f1 = _scores(true_pos, confusion.sum(axis=0) - true_pos,
                                    support - true_pos)
    if num_classes == 2:
        chosen = slice(1, 2)
        average = f"binary (positive label {label_names[1]!r})"
    else:
        chosen = slice(None)
        average = "macro"
    weights = support / support.sum()
    metrics = {
        "examples": int(len(labels)),
        "task": "classification",
        "loss": loss,
        "accuracy": float(true_pos.sum() / len(labels)),
        "precision": float(precision[chosen].mean()),
        "recall": float(recall[chosen].mean()),
        "f1": float(f1[chosen].mean()),
        "average": average,
        "label_names": list(label_names),
        "confusion_matrix": confusion.tolist(),
        "per_label": _per_label(label_names, precision, recall, f1, support),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "weighted": _prf(weights @ precision, weights @ recall, weights @ f1),
    }
    if num_classes == 2:
        curve_precision, curve_recall, curve_thresholds = _pr_curve(labels == 1,
                                                                    probabilities[:, 1])
        metrics["average_precision"] = _average_precision(curve_precision, curve_recall)
        metrics["pr_curve"] = _subsample_curve(curve_precision, curve_recall, curve_thresholds)
    return metrics


def _per_label(label_names, precision, recall, f1, support, thresholds=None):
    table = {}
    for i, name in enumerate(label_names):
        row = {**_prf(precision[i], recall[i], f1[i]), "support": int(support[i])}
        if thresholds is not None:
            row["threshold"] = float(thresholds[i])
        table[str(name)] = row
    return table


def _pr_curve(positive, scores):
    """Precision, recall and thresholds as sklearn's ``precision_recall_curve`` returns them.

    Thresholds are the distinct scores in increasing order; precision and recall
    have one more entry, the point (recall 0, precision 1) no threshold reaches.
    """
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order].astype(np.float64)
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_pos = np.cumsum(positive)[last_of_each_score]
    precision = true_pos / (last_of_each_score + 1)
    recall = true_pos / true_pos[-1] if true_pos[-1] > 0 else np.zeros_like(true_pos)
    return (np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0],
            scores[last_of_each_score][::-1])


def _average_precision(precision, recall):
    """Area under the precision-recall curve as a step sum: sum_n (R_n - R_n-1) P_n.

    Like sklearn's ``average_precision_score`` (no interpolation); 0 when there
    are no positives.
    """
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def _subsample_curve(precision, recall, thresholds, points=_PR_CURVE_POINTS):
    """The curve as lists, thinned to about ``points`` evenly spaced thresholds."""
    keep = np.arange(len(thresholds))
    if len(thresholds) > points:
        keep = np.unique(np.linspace(0, len(thresholds) - 1, points).round().astype(np.int64))
    return {"precision": np.r_[precision[keep], precision[-1]].tolist(),
            "recall": np.r_[recall[keep], recall[-1]].tolist(),
            "thresholds": thresholds[keep].tolist()}


def _multilabel_arrays(labels, probabilities, label_names, thresholds):
    """Boolean truth, probabilities and thresholds, checked against each other."""
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
    return labels > 0.5, probabilities, thresholds


def _multilabel_metrics(labels, probabilities, label_names, thresholds):
    truth, probabilities, thresholds = _multilabel_arrays(labels, probabilities, label_names,
                                                          thresholds)
    predicted = probabilities >= thresholds
    clipped = np.clip(probabilities, 1e-12, 1 - 1e-12)
    loss = float(-np.mean(np.where(truth, np.log(clipped), np.log(1 - clipped))))
    true_pos = (truth & predicted).sum(axis=0)
    false_pos = (~truth & predicted).sum(axis=0)
    false_neg = (truth & ~predicted).sum(axis=0)
    precision, recall, f1 = _scores(true_pos, false_pos, false_neg)
    subset_accuracy = float(np.all(truth == predicted, axis=1).mean())
    return {
        "examples": int(len(truth)),
        "task": "multilabel",
        "loss": loss,
        "thresholds": thresholds.tolist(),
        "per_label": _per_label(label_names, precision, recall, f1, truth.sum(axis=0),
                                thresholds),
        "micro": _prf(*_scores(true_pos.sum(), false_pos.sum(), false_neg.sum())),
        "macro": _prf(precision.mean(), recall.mean(), f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "subset_accuracy": subset_accuracy,
        "accuracy": subset_accuracy,
        "average": "macro over labels",
        "label_names": list(label_names),
    }


def _regression_arrays(labels, predictions):
    """Labels and predicted scores as ``[n]`` arrays (``[n, 1]`` is accepted too)."""
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
    return flat_labels, flat_predictions


def _regression_metrics(labels, predictions, label_names):
    labels, predictions = _regression_arrays(labels, predictions)
    errors = predictions - labels
    mse = float(np.mean(errors ** 2))
    return {
        "examples": int(len(labels)),
        "task": "regression",
        "loss": mse,
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(errors))),
        "pearson": _pearson(labels, predictions),
        "spearman": _pearson(_ranks(labels), _ranks(predictions)),
        "label_names": list(label_names) if label_names is not None else [],
    }


def _pearson(x, y):
    """Pearson correlation; NaN when either side is constant (it is undefined there)."""
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    return float(np.sum(dx * dy) / denominator) if denominator > 0 else float("nan")


def _ranks(values):
    """1-based ranks; tied values share the mean of their ranks: ``[1, 5, 5] -> [1, 2.5, 2.5]``."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(starts + (sizes + 1) / 2, sizes)
    return ranks


def tune_thresholds(labels, probabilities, candidates=None):
    """Per-label decision thresholds maximising each label's F1 on (validation) data.

    Tune on a validation split, then pass the result as ``thresholds`` to
    :func:`compute_metrics` on the test split: rare labels often need a
    threshold well below 0.5 to be predicted at all.

    Args:
        labels: ``[n, k]`` multi-hot 0/1 labels.
        probabilities: ``[n, k]`` independent sigmoid probabilities.
        candidates: thresholds to try; default ``0.05, 0.06, ..., 0.95``. A
            fixed grid is stable (the same answer on every run, no threshold
            fitted to a single example's probability) and fast (one comparison
            per candidate).

    Returns:
        ``[k]`` thresholds. Among equally good candidates, the one closest to
        0.5 wins (the lower one on an exact tie); a label with no positives in
        the data keeps 0.5.

    Example::

        thresholds = tune_thresholds(data.validation.labels, val_probabilities)
        compute_metrics(test_labels, test_probabilities, names, "multilabel", thresholds)
    """
    num_labels = np.shape(labels)[1] if np.ndim(labels) == 2 else 0
    truth, probabilities, _ = _multilabel_arrays(labels, probabilities, range(num_labels), None)
    candidates = np.sort(THRESHOLD_GRID if candidates is None else np.asarray(candidates, float))
    # Closest to 0.5 first (the lower on a tie), so argmax picks it among equal F1s.
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="mergesort")]
    thresholds = np.full(truth.shape[1], 0.5)
    for j in range(truth.shape[1]):
        if not truth[:, j].any():
            continue
        predicted = probabilities[:, j, None] >= candidates[None, :]
        positive = truth[:, j, None]
        f1 = _scores((positive & predicted).sum(0), (~positive & predicted).sum(0),
                     (positive & ~predicted).sum(0))[2]
        thresholds[j] = candidates[int(np.argmax(f1))]
    return thresholds


def worst_mistakes(texts, labels, probabilities, label_names, task="classification",
                   thresholds=None, pairs=None, k=10):
    """The ``k`` most confident wrong predictions, most confident first: what to look at first.

    Classification: rows whose top label is wrong, ranked by its probability;
    each ``{"text", "label", "predicted", "confidence"}``. Multilabel: rows whose
    predicted label set (probability ``>=`` threshold) is not the true one,
    ranked by the largest ``|probability - truth|`` among the wrongly decided
    labels; each ``{"text", "labels", "predicted", "confidence"}`` (name lists).
    Regression: all rows ranked by absolute error; each ``{"text", "label",
    "predicted", "error"}``. With ``pairs`` (the second text of sentence-pair
    tasks) each dict also has ``"text_pair"``. Values are plain Python types.

    Example::

        for m in worst_mistakes(split.texts, split.labels, probabilities, names, k=3):
            print(f"{m['confidence']:.2f} {m['label']} -> {m['predicted']}: {m['text']}")
    """
    if task == "classification":
        labels = np.asarray(labels, dtype=np.int64)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        predicted = probabilities.argmax(axis=-1)
        score = probabilities[np.arange(len(labels)), predicted]
        wrong = np.flatnonzero(predicted != labels)

        def describe(i):
            return {"label": str(label_names[labels[i]]),
                    "predicted": str(label_names[predicted[i]]), "confidence": float(score[i])}
    elif task == "multilabel":
        truth, probabilities, thresholds = _multilabel_arrays(labels, probabilities,
                                                              label_names, thresholds)
        predicted = probabilities >= thresholds
        score = np.where(predicted != truth, np.abs(probabilities - truth), -1.0).max(axis=1)
        wrong = np.flatnonzero(score >= 0)

        def names(row):
            return [str(label_names[j]) for j in np.flatnonzero(row)]

        def describe(i):
            return {"labels": names(truth[i]), "predicted": names(predicted[i]),
                    "confidence": float(score[i])}
    elif task == "regression":
        labels, predicted = _regression_arrays(labels, probabilities)
        score = np.abs(predicted - labels)
        wrong = np.arange(len(labels))

        def describe(i):
            return {"label": float(labels[i]), "predicted": float(predicted[i]),
                    "error": float(score[i])}
    else:
        raise DataError(f"unknown task {task!r}: use one of {', '.join(TASKS)}.")
    worst = wrong[np.argsort(-score[wrong], kind="mergesort")][:k]
    mistakes = []
    for i in worst:
        mistake = {"text": str(texts[i])}
        if pairs is not None:
            mistake["text_pair"] = str(pairs[i])
        mistakes.append({**mistake, **describe(i)})
    return mistakes


def format_metrics(metrics, title="Evaluation"):
    """The metrics as an aligned block of plain text, for the task they were computed for.

    Classification: the headline numbers, then a per-label table with macro and
    weighted averages (like sklearn's ``classification_report``). Multilabel:
    loss, subset accuracy, micro/macro scores and a per-label table with the
    thresholds. Regression: MSE, RMSE, MAE, Pearson and Spearman.

    Example::

        print(format_metrics(metrics, title="test split"))
    """
    task = metrics.get("task", "classification")
    if task == "regression":
        lines = [f"{title} ({metrics['examples']:,} examples, regression):"]
        lines += [f"  {key:<10} {metrics[key]:.4f}"
                  for key in ("mse", "rmse", "mae", "pearson", "spearman")]
        return "\n".join(lines)
    if task == "multilabel":
        lines = [f"{title} ({metrics['examples']:,} examples, multilabel):",
                 f"  {'loss':<16} {metrics['loss']:.4f}",
                 f"  {'subset accuracy':<16} {metrics['subset_accuracy']:.4f}"]
        for average in ("micro", "macro"):
            lines += [f"  {f'{average} {key}':<16} {metrics[average][key]:.4f}"
                      for key in ("precision", "recall", "f1")]
        rows = [(name, *_row(row), f"{row['threshold']:.2f}")
                for name, row in metrics["per_label"].items()]
        return "\n".join(lines + ["", _table(rows, ("threshold",))])
    lines = [f"{title} ({metrics['examples']:,} examples, {metrics['average']}):"]
    for key in ("loss", "accuracy", "precision", "recall", "f1"):
        lines.append(f"  {key:<10} {metrics[key]:.4f}")
    if "average_precision" in metrics:
        lines.append(f"  {'avg prec':<10} {metrics['average_precision']:.4f}")
    if "per_label" in metrics:
        examples = str(metrics["examples"])
        rows = [(name, *_row(row)) for name, row in metrics["per_label"].items()]
        rows += [("", "", "", "", ""),
                 ("macro avg", *_row(metrics["macro"]), examples),
                 ("weighted avg", *_row(metrics["weighted"]), examples)]
        lines += ["", _table(rows)]
    return "\n".join(lines)


def _row(scores):
    """``precision, recall, f1[, support]`` of a score dict as strings."""
    cells = tuple(f"{scores[key]:.4f}" for key in ("precision", "recall", "f1"))
    return cells + ((str(scores["support"]),) if "support" in scores else ())


def _table(rows, extra=()):
    """Right-aligned columns under a ``precision recall f1 support`` header."""
    rows = [("", "precision", "recall", "f1", "support", *extra), *rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(("  " + "  ".join(str(cell).rjust(width)
                                        for cell, width in zip(row, widths))).rstrip()
                     for row in rows)


def format_mistakes(mistakes, limit=10, width=100):
    """The worst mistakes (from :func:`worst_mistakes`) as readable plain text.

    Texts longer than ``width`` characters end in an ellipsis.

    Example::

        print(format_mistakes(worst_mistakes(texts, labels, probabilities, names), limit=5))
    """
    mistakes = list(mistakes)
    if not mistakes:
        return "Worst mistakes: none."
    shown = mistakes[:limit]
    lines = [f"Worst mistakes ({len(shown)} of {len(mistakes)}):"]
    for number, mistake in enumerate(shown, 1):
        if "error" in mistake:
            summary = (f"error {mistake['error']:.4f}: true {mistake['label']:.4f}, "
                       f"predicted {mistake['predicted']:.4f}")
        elif "labels" in mistake:
            summary = (f"confidence {mistake['confidence']:.4f}: true "
                       f"[{', '.join(mistake['labels'])}], predicted "
                       f"[{', '.join(mistake['predicted'])}]")
        else:
            summary = (f"confidence {mistake['confidence']:.4f}: true {mistake['label']}, "
                       f"predicted {mistake['predicted']}")
        lines.append(f"{number:>3}. {summary}")
        lines.append(f"     text: {_shorten(mistake['text'], width)}")
        if "text_pair" in mistake:
            lines.append(f"     pair: {_shorten(mistake['text_pair'], width)}")
    return "\n".join(lines)


def _shorten(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:max(width - 1, 0)] + "\u2026"


def write_report(directory, metrics, mistakes=(), title=None, predictions=None, labels=None):
    """Write an evaluation report folder at once: JSON, text and plots.

    Files: ``report.json`` (the metrics plus ``"mistakes"``), ``report.txt``
    (:func:`format_metrics` and :func:`format_mistakes`), ``confusion_matrix.png``
    (single-label classification), ``pr_curve.png`` (binary classification) and
    ``scatter.png`` (regression, when ``predictions`` and ``labels`` are given).

    The folder is built beside ``directory`` and renamed into place, and an
    existing report is renamed aside before and deleted after, so a crash
    never leaves a half-written report: readers see the old one or the new one.

    Returns:
        ``{"json", "text", "confusion_matrix", "pr_curve", "scatter"}`` -> path,
        with only the files written.

    Example::

        write_report("runs/imdb/report", metrics,
                     worst_mistakes(split.texts, split.labels, probabilities, names))
    """
    import shutil
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.new-", dir=parent)
    try:
        # mkdtemp makes the folder private; give it the parent's access, never group/world write.
        os.chmod(staging, os.stat(parent).st_mode & 0o755)
        written = _write_report_files(staging, metrics, list(mistakes), title,
                                      predictions, labels)
        _move_into_place(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {key: os.path.join(directory, filename) for key, filename in written.items()}


def _move_into_place(new, directory):
    """Rename folder ``new`` to ``directory``, replacing (then deleting) what was there."""
    import shutil
    if not os.path.lexists(directory):
        os.replace(new, directory)
        return
    parent, name = os.path.split(directory)
    aside = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
    old = os.path.join(aside, name)
    os.replace(directory, old)
    try:
        os.replace(new, directory)
    except BaseException:
        os.replace(old, directory)  # put the previous report back
        os.rmdir(aside)
        raise
    shutil.rmtree(aside)


def _write_report_files(folder, metrics, mistakes, title, predictions, labels):
    """Write the report into ``folder``; return ``{key: file name}`` of what was written."""
    from tfbert import plots
    title = title or "Evaluation"
    task = metrics.get("task", "classification")
    written = {"json": "report.json", "text": "report.txt"}
    with open(os.path.join(folder, written["json"]), "w", encoding="utf-8") as f:
        json.dump(_json_safe({**metrics, "mistakes": mistakes}), f, indent=2)
        f.write("\n")
    text = format_metrics(metrics, title)
    if mistakes:
        text += "\n\n" + format_mistakes(mistakes)
    with open(os.path.join(folder, written["text"]), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    if task == "classification" and "confusion_matrix" in metrics:
        written["confusion_matrix"] = "confusion_matrix.png"
        plots.plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"],
                                    os.path.join(folder, written["confusion_matrix"]))
    if task == "classification" and "pr_curve" in metrics:
        written["pr_curve"] = "pr_curve.png"
        plots.plot_pr_curve(metrics["pr_curve"]["precision"], metrics["pr_curve"]["recall"],
                            metrics["average_precision"],
                            os.path.join(folder, written["pr_curve"]))
    if task == "regression" and predictions is not None and labels is not None:
        written["scatter"] = "scatter.png"
        plots.plot_regression(labels, predictions, os.path.join(folder, written["scatter"]))
    return written


def _json_safe(value):
    """``value`` with NaN/inf floats as ``None``, so strict JSON parsers read the file."""
    if isinstance(value, dict):
        return {key: _json_safe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_metrics(metrics, path):
    """Write ``metrics`` as indented JSON to ``path`` (folders are created; NaN -> null)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(metrics), f, indent=2)
        f.write("\n")
    return path


def predict_scores(model, split, batch_size=64):
    """What a :func:`~tfbert.build_classifier` model predicts for a split, tokenizing once.

    Class probabilities ``[n, classes]``, per-label probabilities (multi-label)
    or scores ``[n]`` (regression), in the split's order. Texts are predicted
    sorted by length, so each batch is padded only to texts like its own.
    """
    from tfbert.data import length_order, make_dataset
    order = length_order(split.texts, split.pairs)
    dataset = make_dataset(split.take(order), model.preprocessor, batch_size=batch_size)
    logits = model.core.predict(dataset.map(_inputs_only), verbose=0)
    return scores_from_logits(model.config.task, logits[np.argsort(order)])


def _inputs_only(inputs, label):
    return inputs


def predict_probabilities(model, split, batch_size=64):
    """Class probabilities of a classification model on a split (see :func:`predict_scores`)."""
    return predict_scores(model, split, batch_size)


def evaluate_scores(split, scores, label_names, task="classification", thresholds=None,
                    path=None, report_dir=None, title="Evaluation", verbose=True, mistakes=10):
    """Metrics and the worst mistakes of predictions ``scores`` on ``split``; shown and saved.

    Prints the metrics and the five worst mistakes (unless ``verbose=False``),
    writes the metrics as JSON to ``path`` and the full report (see
    :func:`write_report`) to ``report_dir`` when given, and returns the metrics.
    """
    metrics = compute_metrics(split.labels, scores, label_names, task, thresholds)
    worst = worst_mistakes(split.texts, split.labels, scores, label_names, task, thresholds,
                           pairs=split.pairs, k=mistakes)
    if verbose:
        print(format_metrics(metrics, title))
        if worst:
            print(format_mistakes(worst, limit=5))
    if path:
        save_metrics(metrics, path)
    if report_dir:
        files = write_report(report_dir, metrics, worst, title=title,
                             predictions=scores if task == "regression" else None,
                             labels=split.labels if task == "regression" else None)
        metrics["report_files"] = files
    return metrics


def evaluate(model, split, label_names, path=None, batch_size=64, verbose=True,
             thresholds=None, report_dir=None, title="Evaluation"):
    """Evaluate an in-memory classifier on a :class:`~tfbert.data.TextSplit`.

    Prints the metrics and worst mistakes (unless ``verbose=False``), saves the
    metrics as JSON when ``path`` is given and a report folder (metrics per
    label, confusion matrix or precision-recall plot, worst mistakes) when
    ``report_dir`` is given, and returns the metrics as a dict.

    Args:
        thresholds: per-label decision thresholds of a multi-label model
            (``TrainResult.thresholds``); default 0.5.

    Example::

        metrics = tfbert.evaluate(result.model, data.test, data.label_names,
                                  report_dir="runs/trec/report_test")
        metrics["macro"]["f1"]
    """
    return evaluate_scores(split, predict_scores(model, split, batch_size), label_names,
                           model.config.task, thresholds, path=path, report_dir=report_dir,
                           title=title, verbose=verbose)
