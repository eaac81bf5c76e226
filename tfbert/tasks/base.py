"""The :class:`Task` seam: what one kind of prediction problem asks of every stage.

A task object knows everything that differs between kinds of problems, so that
data, models, training, evaluation, export and serving ask it instead of
comparing task names: how labels are encoded and summarised, the head's size,
loss and metrics, the initial bias, whether training data can be learned from,
the ONE TensorFlow function from logits to outputs (used by evaluation, the
in-memory classifier and the export's serving signature alike), how outputs
become :class:`Prediction` objects, and the report (metrics, worst mistakes,
text, plots).

Adding a kind of problem is one subclass registered in :mod:`tfbert.tasks`.
Nothing here imports TensorFlow at import time.
"""
import dataclasses
import math

import numpy as np

from tfbert.errors import DataError, ModelError

MISSING_MARKERS = ("nan", "null", "n/a", "#n/a")


@dataclasses.dataclass
class Prediction:
    """One example's prediction.

    ``label``/``probability``: the top class (classification). ``labels``: the
    labels at or above their thresholds (multi-label). ``score``: the predicted
    value (regression). ``probabilities``: every label's probability.
    """

    text: str
    label: str | None = None
    probability: float | None = None
    probabilities: dict | None = None
    labels: list | None = None
    score: float | None = None
    text_pair: str | None = None

    def to_json(self):
        """A JSON-ready dict with the fields that apply to the task."""
        record = {"text": self.text}
        if self.text_pair is not None:
            record["text_pair"] = self.text_pair
        if self.score is not None:
            record["score"] = self.score
        elif self.labels is not None:
            record["labels"] = [{"label": name, "probability": self.probabilities[name]}
                                for name in self.labels]
            record["probabilities"] = self.probabilities
        else:
            record.update(label=self.label, probability=self.probability,
                          probabilities=self.probabilities)
        return record

    def __str__(self):
        """One tab-separated line: the prediction, then the text(s)."""
        texts = self.text if self.text_pair is None else f"{self.text}\t{self.text_pair}"
        if self.score is not None:
            return f"{self.score:.4f}\t{texts}"
        if self.labels is not None:
            shown = ",".join(f"{name}:{self.probabilities[name]:.3f}" for name in self.labels)
            return f"{shown or '-'}\t{texts}"
        return f"{self.label}\t{self.probability:.4f}\t{texts}"


class Task:
    """Base class of the task objects; subclasses fill in every method.

    Attributes:
        name: the task's name (``--task NAME``).
        scores_key: the output holding the scores metrics are computed from.
        metric_names: what Keras tracks while training (``val_`` + name can be monitored).
        lr_schedule: how the learning rate falls after warmup unless the run says
            (:data:`~tfbert.config.LR_SCHEDULES`, :func:`tfbert.optimizer.create_optimizer`).
    """

    name = None
    scores_key = None
    metric_names = ()
    fixed_num_labels = None    # a task whose head size does not depend on the labels
    has_thresholds = False     # per-label decision thresholds, tuned by :meth:`tune`
    lr_schedule = "bert"       # tf-models-official's, as the TensorFlow tutorial

    # A task equals its name, so user code and tests may compare ``data.task`` with a
    # string; tfbert's own modules call the task's methods instead.
    def __eq__(self, other):
        if isinstance(other, Task):
            return self.name == other.name
        return isinstance(other, str) and self.name == other

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<task {self.name}>"

    # --------------------------------------------------------------- labels and data
    def encode_labels(self, raw_labels, source, label_names=None, separator=",",
                      score_name="score"):
        """``[(row_number, label_string), ...]`` -> ``(labels, label_names)``; errors name
        ``source`` and the row."""
        raise NotImplementedError

    def describe_label_names(self, label_names):
        """What the labels are, in a few words (``"3 labels"``)."""
        return f"{len(label_names)} labels"

    def describe(self, labels, label_names):
        """A short description of a split's labels, for :meth:`TextData.summary`."""
        raise NotImplementedError

    def stratify(self, labels):
        """Labels to stratify seeded splits and subsets by, or None (no strata)."""
        return None

    def default_label_names(self, num_labels):
        """Label names when none are given: ``"0"``, ``"1"``, ..."""
        return [str(i) for i in range(num_labels)]

    def check_num_labels(self, num_labels):
        """Raise :class:`ModelError` unless a head over ``num_labels`` labels makes sense."""

    def check_trainable(self, labels, label_names, source):
        """Raise :class:`DataError` when ``labels`` cannot be learned from."""

    # --------------------------------------------------------------------- the model
    def head_units(self, num_labels):
        """Logits per example."""
        raise NotImplementedError

    def label_dtype(self, num_labels):
        """The dtype the loss wants the labels in."""
        return "float32"

    def initial_bias(self, labels, num_labels):
        """Output biases that start the head at the training labels' base rates (or mean)."""
        raise NotImplementedError

    def loss(self, num_labels):
        """The Keras loss, on logits."""
        raise NotImplementedError

    def metrics(self, num_labels):
        """The Keras metrics shown while training (named as :attr:`metric_names`)."""
        raise NotImplementedError

    def monitors(self):
        """What ``monitor=`` may name for this task."""
        return ["val_loss"] + [f"val_{name}" for name in self.metric_names]

    # -------------------------------------------------------------------- outputs
    def outputs(self, logits, label_names, thresholds=None):
        """THE function from logits to named outputs (TensorFlow, traceable): what the
        export's ``serving_default`` returns and what evaluation reads its scores from."""
        raise NotImplementedError

    def empty_scores(self, num_labels):
        """Scores of zero examples."""
        return np.zeros((0, num_labels), dtype=np.float64)

    def predictions(self, texts, pairs, outputs, label_names):
        """:class:`Prediction` objects from the NumPy ``outputs`` of a batch."""
        raise NotImplementedError

    def tune(self, labels, scores):
        """Decision settings fitted on validation data after training (multi-label
        thresholds), or None when the task has none."""
        return None

    # --------------------------------------------------------------------- reports
    def compute_metrics(self, labels, scores, label_names, thresholds=None):
        """Loss and quality metrics as a JSON-ready dict (see :mod:`tfbert.metrics`)."""
        raise NotImplementedError

    def worst_mistakes(self, texts, labels, scores, label_names, thresholds=None,
                       pairs=None, k=10):
        """The ``k`` most confident wrong predictions, most confident first."""
        rows, describe = self._mistakes(labels, scores, label_names, thresholds)
        mistakes = []
        for i in rows[:k]:
            mistake = {"text": str(texts[i])}
            if pairs is not None:
                mistake["text_pair"] = str(pairs[i])
            mistakes.append({**mistake, **describe(i)})
        return mistakes

    def _mistakes(self, labels, scores, label_names, thresholds):
        """``(row indices, worst first; row -> dict)``."""
        raise NotImplementedError

    def format_metrics(self, metrics, title):
        """The metrics as an aligned block of plain text."""
        raise NotImplementedError

    def describe_mistake(self, mistake):
        """One line saying what went wrong in a mistake from :meth:`worst_mistakes`."""
        raise NotImplementedError

    def mistakes_heading(self, shown, total):
        """The heading over the ``shown`` worst of ``total`` mistakes in a report."""
        if shown < total:
            return f"worst mistakes: the {shown} most confident of {total:,}"
        return f"worst mistakes: all {total:,}, most confident first"

    def plots(self, metrics, folder, labels=None, scores=None):
        """Write the task's evaluation plots into ``folder``; ``{key: file name}``."""
        return {}


# ---------------------------------------------------------------- shared label helpers

def is_number(text):
    """Whether ``text`` reads as a finite float."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def sorted_label_names(labels):
    """Distinct labels in numeric order when all are integers, else sorted as strings."""
    unique = set(labels)
    try:
        if all(str(int(v)) == v for v in unique):
            return [str(v) for v in sorted(int(v) for v in unique)]
    except ValueError:
        pass
    return sorted(unique)


def label_ids(raw_rows, source, label_names):
    """``[(row_number, [token, ...]), ...]`` -> ``(ids per row, label_names)``.

    Tokens are label names, or integers indexing ``label_names``; names are
    sorted when not given. Errors name ``source`` and the row.
    """
    if label_names is None:
        label_names = sorted_label_names(t for _, row in raw_rows for t in row)
    label_names = [str(name) for name in label_names]
    ids = {name: i for i, name in enumerate(label_names)}
    encoded = []
    for row_number, row in raw_rows:
        row_ids = []
        for token in row:
            if token in ids:
                row_ids.append(ids[token])
            elif token.isdigit() and int(token) < len(label_names):
                row_ids.append(int(token))
            else:
                shown = ", ".join(map(repr, label_names[:30])) + (
                    ", ..." if len(label_names) > 30 else "")
                raise DataError(f"{source}, row {row_number}: label {token!r} is not one of "
                                f"{shown}.")
        encoded.append(row_ids)
    return encoded, label_names


def sigmoid_log_odds(rate):
    """Log-odds of base rates, clipped away from 0 and 1."""
    rate = np.clip(rate, 1e-3, 1 - 1e-3)
    return np.log(rate / (1 - rate)).astype(np.float32)


def check_count(name, num_labels, minimum):
    if num_labels < minimum:
        raise ModelError(f"num_classes must be at least {minimum} for {name}, got "
                         f"{num_labels}.")


def score_cells(scores):
    """``precision, recall, f1[, support]`` of a score dict as strings."""
    cells = tuple(f"{scores[key]:.4f}" for key in ("precision", "recall", "f1"))
    return cells + ((str(scores["support"]),) if "support" in scores else ())


def score_table(rows, extra=()):
    """Right-aligned columns under a ``precision recall f1 support`` header."""
    rows = [("", "precision", "recall", "f1", "support", *extra), *rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(("  " + "  ".join(str(cell).rjust(width)
                                        for cell, width in zip(row, widths))).rstrip()
                     for row in rows)
