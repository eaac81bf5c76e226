"""Plots people look at rather than read: training curves and evaluation plots.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they
render the same in scripts, servers and threads. In a notebook running
``%matplotlib inline`` (Colab's default), the returned figure is displayed when
it is the last value of a cell.
"""
import numpy as np
from matplotlib.figure import Figure

# History keys that are not a quality metric worth a panel of their own.
_NOT_METRICS = ("loss", "lr", "learning_rate", "steps")


def _history_metric(history):
    """The metric plotted beside the loss: accuracy or Pearson if tracked, else the first
    other one."""
    for preferred in ("accuracy", "pearson"):
        if preferred in history:
            return preferred
    others = [key for key in history if not key.startswith("val_") and key not in _NOT_METRICS]
    return others[0] if others else None


def plot_history(history, path=None):
    """Loss and one metric, training vs validation, side by side: per epoch, and per step.

    The metric is ``accuracy`` (or ``pearson``) when the history has it, otherwise the first
    other training metric (e.g. ``mae`` or ``root_mean_squared_error`` for
    regression, ``f1_score`` for multilabel). When the history has ``"steps"``
    (as :func:`~tfbert.train` records them: the training values every few
    steps, averaged since the epoch began, at ``epoch`` = a fraction of epochs),
    they are drawn as a thin line under the epoch points, so a one-epoch run
    shows its learning too.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``
            (``keras.callbacks.History.history``, or ``TrainResult.history``).
        path: write a PNG there when given.

    Returns:
        The ``matplotlib`` figure.

    Example::

        fig = tfbert.plot_history(result.history, "curves.png")
    """
    metrics = [m for m in ("loss", _history_metric(history)) if m in history]
    steps = history.get("steps") or {}
    fig = Figure(figsize=(5.5 * max(1, len(metrics)), 4), layout="constrained")
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        epochs = range(1, len(history[metric]) + 1)
        if steps.get(metric):
            ax.plot(steps["epoch"], steps[metric], "-", linewidth=1, alpha=0.6, color="C0",
                    label="training, per step (mean so far in the epoch)")
        ax.plot(epochs, history[metric], "o-", color="C0", label="training, per epoch")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", color="C1", label="validation")
        ax.set_title(metric.replace("_", " ").capitalize())
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(range(0 if steps.get(metric) else 1, len(epochs) + 1))
        ax.grid(alpha=0.3)
        ax.legend()
    if path:
        fig.savefig(path, dpi=100)
    return fig


def plot_confusion_matrix(confusion, label_names, path=None, normalize=True):
    """The confusion matrix as a heat map: true labels down, predicted labels across.

    Args:
        confusion: ``[k, k]`` counts, ``confusion[true][predicted]`` (the
            ``"confusion_matrix"`` of :func:`~tfbert.evaluation.compute_metrics`).
        label_names: names of the ``k`` labels, in id order.
        path: write a PNG there when given.
        normalize: colour each row by its share of the true label (recall on
            the diagonal), so rare labels stay readable; cells show the share
            and the count. With ``False``, colours and cells are raw counts.

    Returns:
        The ``matplotlib`` figure.

    Example::

        fig = plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"],
                                    "confusion_matrix.png")
    """
    counts = np.asarray(confusion, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    values = shares if normalize else counts
    k = len(label_names)
    size = max(4.0, 0.7 * k + 2.5)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, values.max()))
    fig.colorbar(image, ax=ax, label="share of true label" if normalize else "examples")
    for i in range(k):
        for j in range(k):
            text = f"{shares[i, j]:.0%}\n({counts[i, j]:,})" if normalize else f"{counts[i, j]:,}"
            dark = values[i, j] > 0.5 * image.norm.vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    names = [str(name) for name in label_names]
    slanted = max(map(len, names), default=0) > 6  # long names would overlap
    ax.set_xticks(range(k), names, rotation=45 if slanted else 0,
                  ha="right" if slanted else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    if path:
        fig.savefig(path, dpi=100)
    return fig


def plot_pr_curve(precision, recall, average_precision, path=None, positive_rate=None):
    """Precision against recall of the positive label, as a step curve, over the chance
    baseline (a classifier guessing at random has precision = the positive rate).

    Args:
        precision, recall: the curve (``metrics["pr_curve"]`` of a binary
            :func:`~tfbert.evaluation.compute_metrics`).
        average_precision: the area under it, shown in the legend.
        path: write a PNG there when given.
        positive_rate: the share of positive examples (the baseline). Default:
            the precision at recall 1 of the curve's lowest threshold, where
            scikit-learn's curve starts (every example called positive).

    Returns:
        The ``matplotlib`` figure.

    Example::

        curve = metrics["pr_curve"]
        fig = plot_pr_curve(curve["precision"], curve["recall"],
                            metrics["average_precision"], "pr_curve.png")
    """
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(recall, precision, drawstyle="steps-post",
            label=f"average precision = {average_precision:.3f}")
    if positive_rate is None and len(recall) and recall[0] == 1:
        positive_rate = precision[0]
    if positive_rate is not None:
        ax.axhline(positive_rate, linestyle="--", color="gray",
                   label=f"chance (positive rate {positive_rate:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    if path:
        fig.savefig(path, dpi=100)
    return fig


def plot_regression(labels, predictions, path=None):
    """Predicted against true scores, with the ``predicted == true`` diagonal.

    Args:
        labels: ``[n]`` true scores.
        predictions: ``[n]`` or ``[n, 1]`` predicted scores.
        path: write a PNG there when given.

    Returns:
        The ``matplotlib`` figure.

    Example::

        fig = plot_regression(split.labels, model_scores, "scatter.png")
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(labels, predictions, s=12, alpha=0.5 if len(labels) > 200 else 0.8)
    if len(labels):
        low = min(labels.min(), predictions.min())
        high = max(labels.max(), predictions.max())
        ax.plot([low, high], [low, high], "--", color="gray", label="perfect prediction")
        ax.legend(loc="upper left")
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score")
    ax.set_title(f"Predicted vs true ({len(labels):,} examples)")
    ax.grid(alpha=0.3)
    if path:
        fig.savefig(path, dpi=100)
    return fig
