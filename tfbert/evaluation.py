"""Evaluate a classifier on a split: its task's metrics, worst mistakes and report.

Scores come from the same task function the export's serving signature runs,
and the numbers from :mod:`tfbert.metrics` (scikit-learn, scipy), so training,
``tfbert evaluate`` and a service report the same numbers. What is measured
depends on the task (:mod:`tfbert.tasks`): for classification the loss,
accuracy, per-label precision/recall/F1 with macro and weighted averages, the
confusion matrix and (binary) the precision-recall curve; for multi-label
data micro/macro scores at the tuned thresholds and subset accuracy; for
regression MSE, RMSE, MAE, Pearson and Spearman.

Example::

    metrics = tfbert.evaluate(result.model, data.test, report_dir="runs/imdb/report_test")
    metrics["f1"]
"""
import numpy as np

from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.metrics import tune_thresholds
from tfbert.reports import format_mistakes, save_metrics, write_report
from tfbert.tasks import get_task

__all__ = ["evaluate", "evaluate_scores", "predict_scores", "compute_metrics", "worst_mistakes",
           "format_metrics", "format_mistakes", "write_report", "save_metrics",
           "tune_thresholds", "probabilities_from_logits"]


def compute_metrics(labels, probabilities, label_names, task="classification", thresholds=None):
    """Loss and quality metrics of predictions against the true labels, as a JSON-ready dict.

    Args:
        labels: ``[n]`` integer class ids (classification), ``[n, k]`` multi-hot
            0/1 (multilabel) or ``[n]`` float scores (regression).
        probabilities: ``[n, k]`` class probabilities (classification),
            ``[n, k]`` independent sigmoids (multilabel) or ``[n]``/``[n, 1]``
            predicted scores (regression).
        label_names: names of the labels, in id order (for regression, the
            name of the score; stored only).
        task: a task name or :class:`tfbert.tasks.Task`.
        thresholds: multilabel only: ``[k]`` decision thresholds (default 0.5).

    Example:

    >>> compute_metrics([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["neg", "pos"])["f1"]
    1.0
    """
    return get_task(task).compute_metrics(labels, probabilities, label_names, thresholds)


def worst_mistakes(texts, labels, probabilities, label_names, task="classification",
                   thresholds=None, pairs=None, k=10):
    """The ``k`` most confident wrong predictions, most confident first (see
    :meth:`tfbert.tasks.Task.worst_mistakes`)."""
    return get_task(task).worst_mistakes(texts, labels, probabilities, label_names,
                                         thresholds, pairs, k)


def format_metrics(metrics, title="Evaluation"):
    """The metrics as an aligned block of plain text, laid out by the task that computed them.

    Example::

        print(format_metrics(compute_metrics([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["n", "p"])))
    """
    return get_task(metrics.get("task", "classification")).format_metrics(metrics, title)


def probabilities_from_logits(logits):
    """``[n, classes]`` probabilities from ``[n, 1]`` (sigmoid) or ``[n, k]`` (softmax) logits,
    by the classification task's output function."""
    from tfbert._tf import tf
    logits = tf.constant(np.asarray(logits, dtype=np.float32))
    names = [str(i) for i in range(max(2, logits.shape[-1]))]
    return get_task("classification").outputs(logits, names)["probabilities"].numpy().astype(
        np.float64)


def predict_scores(model, split, batch_size=PREDICT_BATCH_SIZE):
    """What a :class:`~tfbert.models.BertClassifier` predicts for a split, tokenizing once.

    Class probabilities ``[n, classes]``, per-label probabilities (multi-label)
    or scores ``[n]`` (regression), in the split's order, from the task's output
    function. Texts are predicted sorted by length, so each batch is padded only
    to texts like its own.
    """
    from tfbert.data import length_order, make_dataset
    order = length_order(split.texts, split.pairs)
    dataset = make_dataset(split.take(order), model.preprocessor, batch_size=batch_size)
    logits = model.core.predict(dataset.map(lambda inputs, label: inputs), verbose=0)
    task = model.task
    outputs = task.outputs(logits[np.argsort(order)], model.label_names, model.thresholds)
    return outputs[task.scores_key].numpy().astype(np.float64)


def evaluate_scores(split, scores, label_names, task="classification", thresholds=None,
                    path=None, report_dir=None, title="Evaluation", verbose=True, mistakes=10,
                    report_if_exists="replace"):
    """Metrics and the worst mistakes of predictions ``scores`` on ``split``; shown and saved.

    Prints the metrics and the five worst mistakes (unless ``verbose=False``),
    writes the metrics as JSON to ``path`` and the full report (see
    :func:`~tfbert.reports.write_report`, which ``report_if_exists`` is passed
    to as ``if_exists``) to ``report_dir`` when given, and returns the metrics.
    ``metrics["mistakes_total"]`` counts every wrong prediction (regression:
    every example), of which the ``mistakes`` worst are kept.
    """
    task = get_task(task)
    metrics = task.compute_metrics(split.labels, scores, label_names, thresholds)
    every = task.worst_mistakes(split.texts, split.labels, scores, label_names, thresholds,
                                pairs=split.pairs, k=None)
    metrics["mistakes_total"], worst = len(every), every[:mistakes]
    if verbose:
        print(task.format_metrics(metrics, title))
        if worst:
            print(format_mistakes(worst, task, limit=5, total=len(every)))
    if path:
        save_metrics(metrics, path)
    if report_dir:
        metrics["report_files"] = write_report(report_dir, metrics, worst, title=title,
                                               labels=split.labels, scores=scores,
                                               total_mistakes=len(every),
                                               if_exists=report_if_exists)
    return metrics


def evaluate(model, split, label_names=None, path=None, batch_size=PREDICT_BATCH_SIZE, verbose=True,
             thresholds=None, report_dir=None, title="Evaluation"):
    """Evaluate an in-memory classifier on a :class:`~tfbert.data.TextSplit`.

    Prints the metrics and worst mistakes (unless ``verbose=False``), saves the
    metrics as JSON when ``path`` is given and a report folder (metrics per
    label, confusion matrix or precision-recall plot, worst mistakes) when
    ``report_dir`` is given, and returns the metrics as a dict. The label
    names and (multi-label) thresholds are the model's; ``label_names`` and
    ``thresholds`` override them.

    Example::

        metrics = tfbert.evaluate(result.model, data.test, report_dir="runs/trec/report_test")
        metrics["macro"]["f1"]
    """
    label_names = model.label_names if label_names is None else list(label_names)
    thresholds = model.thresholds if thresholds is None else thresholds
    return evaluate_scores(split, predict_scores(model, split, batch_size), label_names,
                           model.task, thresholds, path=path, report_dir=report_dir,
                           title=title, verbose=verbose)
