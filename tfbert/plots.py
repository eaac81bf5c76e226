"""Plots people look at rather than read: training curves.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they
render the same in scripts, servers and threads. In a notebook running
``%matplotlib inline`` (Colab's default), the returned figure is displayed when
it is the last value of a cell.
"""
from matplotlib.figure import Figure


def plot_history(history, path=None):
    """Loss and accuracy per epoch, training vs validation, side by side.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``
            (``keras.callbacks.History.history``).
        path: write a PNG there when given.

    Returns:
        The ``matplotlib`` figure.

    Example::

        fig = tfbert.plot_history(result.history, "curves.png")
    """
    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig = Figure(figsize=(5.5 * max(1, len(metrics)), 4), layout="constrained")
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        epochs = range(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation")
        ax.set_title(metric.capitalize())
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(list(epochs))
        ax.grid(alpha=0.3)
        ax.legend()
    if path:
        fig.savefig(path, dpi=100)
    return fig
