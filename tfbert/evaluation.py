"""Metrics from predicted probabilities (or scores) for three tasks, and reports.

Computed by :mod:`tfbert.metrics` (scikit-learn, scipy) from what a model (in
memory or exported) outputs, so training, ``tfbert evaluate`` and any service
report the same numbers:

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

from tfbert import metrics as _metrics
from tfbert.data import TASKS
from tfbert.errors import DataError
from tfbert.metrics import THRESHOLD_GRID, tune_thresholds  # noqa: F401  (public here too)
from tfbert.tasks import scores_from_logits


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
        return _metrics.classification_metrics(labels, probabilities, label_names)
    if task == "multilabel":
        return _metrics.multilabel_metrics(labels, probabilities, label_names, thresholds)
    if task == "regression":
        return _metrics.regression_metrics(labels, probabilities, label_names)
    raise DataError(f"unknown task {task!r}: use one of {', '.join(TASKS)}.")


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
        labels, probabilities = _metrics.classification_arrays(labels, probabilities,
                                                               label_names)
        predicted = probabilities.argmax(axis=-1)
        score = probabilities[np.arange(len(labels)), predicted]
        wrong = np.flatnonzero(predicted != labels)

        def describe(i):
            return {"label": str(label_names[labels[i]]),
                    "predicted": str(label_names[predicted[i]]), "confidence": float(score[i])}
    elif task == "multilabel":
        truth, probabilities, thresholds = _metrics.multilabel_arrays(labels, probabilities,
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
        labels, predicted = _metrics.regression_arrays(labels, probabilities)
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
