"""Each plot returns a labelled matplotlib Figure and writes a PNG when given a path."""
import numpy as np
from matplotlib.figure import Figure

from tfbert.plots import plot_confusion_matrix, plot_history, plot_pr_curve, plot_regression

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def _texts(labels):
    return [label.get_text() for label in labels]


def test_confusion_matrix_names_the_labels_and_annotates_cells(tmp_path):
    names = ["negative", "neutral", "positive"]
    fig = plot_confusion_matrix([[3, 1, 0], [1, 2, 1], [0, 0, 2]], names,
                                tmp_path / "cm.png")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert _texts(ax.get_xticklabels()) == names and _texts(ax.get_yticklabels()) == names
    assert "row-normalised" in ax.get_title()
    cells = _texts(ax.texts)
    assert len(cells) == 9 and cells[0] == "75%\n(3)" and cells[8] == "100%\n(2)"
    _assert_png(tmp_path / "cm.png")


def test_confusion_matrix_counts_and_empty_rows():
    fig = plot_confusion_matrix([[0, 0], [1, 4]], ["neg", "pos"], normalize=False)
    assert _texts(fig.axes[0].texts) == ["0", "0", "1", "4"]
    fig = plot_confusion_matrix([[0, 0], [1, 4]], ["neg", "pos"])  # a row without examples
    assert _texts(fig.axes[0].texts)[:2] == ["0%\n(0)", "0%\n(0)"]


def test_pr_curve_shows_the_average_precision(tmp_path):
    fig = plot_pr_curve([0.5, 2 / 3, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0], 0.8333,
                        tmp_path / "pr.png")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("recall", "precision")
    assert "0.833" in ax.get_legend().get_texts()[0].get_text()
    _assert_png(tmp_path / "pr.png")


def test_regression_scatter(tmp_path):
    fig = plot_regression([1.0, 2.0, 3.0], np.array([[1.2], [1.8], [3.5]]), tmp_path / "s.png")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true score", "predicted score")
    assert "3 examples" in ax.get_title()
    _assert_png(tmp_path / "s.png")


def test_history_plots_loss_and_accuracy(tmp_path):
    history = {"loss": [0.7, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.6, 0.55],
               "val_accuracy": [0.7, 0.75]}
    fig = plot_history(history, tmp_path / "curves.png")
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    _assert_png(tmp_path / "curves.png")


def test_history_plots_the_first_other_metric_for_regression():
    history = {"loss": [2.0, 1.0], "learning_rate": [1e-4, 5e-5],
               "root_mean_squared_error": [1.4, 1.0], "mae": [1.1, 0.8],
               "val_loss": [2.5, 1.5], "val_root_mean_squared_error": [1.6, 1.2]}
    fig = plot_history(history)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "root_mean_squared_error"]
    assert fig.axes[1].get_title() == "Root mean squared error"
    assert len(fig.axes[1].get_lines()) == 2  # training and validation
    assert [ax.get_ylabel() for ax in plot_history({"loss": [1.0]}).axes] == ["loss"]


def test_pr_curve_draws_the_chance_baseline_at_the_positive_rate():
    # scikit-learn's curve starts at recall 1 with every example called positive: 2 of 5.
    fig = plot_pr_curve([0.4, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.0], 0.8)
    baseline = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert len(baseline) == 1 and set(baseline[0].get_ydata()) == {0.4}
    assert "chance (positive rate 0.400)" in _texts(fig.axes[0].get_legend().get_texts())
    fig = plot_pr_curve([0.9, 1.0], [0.5, 0.0], 0.6, positive_rate=0.25)
    assert "chance (positive rate 0.250)" in _texts(fig.axes[0].get_legend().get_texts())


def test_history_with_steps_shows_a_one_epoch_run_learning(tmp_path):
    history = {"loss": [0.45], "accuracy": [0.8], "val_loss": [0.4], "val_accuracy": [0.82],
               "steps": {"step": [1, 2, 3, 4], "epoch": [0.25, 0.5, 0.75, 1.0],
                         "loss": [0.7, 0.6, 0.5, 0.45], "accuracy": [0.5, 0.6, 0.7, 0.8]}}
    fig = plot_history(history, tmp_path / "curves.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]  # "steps" is no metric
    loss = fig.axes[0]
    per_step = [line for line in loss.get_lines() if len(line.get_xdata()) == 4]
    assert len(per_step) == 1 and list(per_step[0].get_ydata()) == [0.7, 0.6, 0.5, 0.45]
    assert any("per step" in text for text in _texts(loss.get_legend().get_texts()))
    low, high = loss.get_ylim()
    assert low < 0.4 and high > 0.7          # not zoomed onto the two epoch dots
    _assert_png(tmp_path / "curves.png")
