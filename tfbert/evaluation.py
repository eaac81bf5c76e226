"""Classification metrics from predicted probabilities: loss, accuracy, precision, recall, F1.

Computed in NumPy from the probabilities a model (in memory or exported)
gives, so training, ``tfbert evaluate`` and any service report the same
numbers. Binary tasks report precision/recall/F1 of the second label (the
positive one: ``pos`` for IMDB); multi-class tasks report macro averages.

Example::

    metrics = tfbert.evaluate(result.model, data.test, data.label_names,
                              path="runs/imdb/eval_test.json")
"""
import json
import os

import numpy as np

from tfbert.errors import DataError


def probabilities_from_logits(logits):
    """``[n, classes]`` probabilities from ``[n, 1]`` (sigmoid) or ``[n, k]`` (softmax) logits."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        positive = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - positive, positive], axis=-1)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def compute_metrics(labels, probabilities, label_names):
    """Loss (cross-entropy), accuracy, precision, recall and F1.

    Args:
        labels: ``[n]`` integer class ids.
        probabilities: ``[n, classes]`` predicted probabilities.
        label_names: names of the classes, in id order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(labels) == 0:
        raise DataError("cannot evaluate on an empty split.")
    num_classes = len(label_names)
    predicted = probabilities.argmax(axis=-1)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos = np.diag(confusion).astype(np.float64)
    predicted_counts = confusion.sum(axis=0)
    actual_counts = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted_counts, out=np.zeros(num_classes),
                          where=predicted_counts > 0)
    recall = np.divide(true_pos, actual_counts, out=np.zeros(num_classes),
                       where=actual_counts > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(num_classes),
                   where=(precision + recall) > 0)
    if num_classes == 2:
        chosen = slice(1, 2)
        average = f"binary (positive label {label_names[1]!r})"
    else:
        chosen = slice(None)
        average = "macro"
    return {
        "examples": int(len(labels)),
        "loss": loss,
        "accuracy": float(true_pos.sum() / len(labels)),
        "precision": float(precision[chosen].mean()),
        "recall": float(recall[chosen].mean()),
        "f1": float(f1[chosen].mean()),
        "average": average,
        "label_names": list(label_names),
        "confusion_matrix": confusion.tolist(),
    }


def format_metrics(metrics, title="Evaluation"):
    """The headline metrics as a short aligned block of text."""
    lines = [f"{title} ({metrics['examples']:,} examples, {metrics['average']}):"]
    for key in ("loss", "accuracy", "precision", "recall", "f1"):
        lines.append(f"  {key:<10} {metrics[key]:.4f}")
    return "\n".join(lines)


def save_metrics(metrics, path):
    """Write ``metrics`` as indented JSON to ``path`` (folders are created)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    return path


def predict_probabilities(model, split, batch_size=64):
    """Probabilities of a :func:`~tfbert.build_classifier` model on a split, tokenizing once."""
    from tfbert.data import make_dataset
    dataset = make_dataset(split, model.preprocessor, batch_size=batch_size)
    logits = model.core.predict(dataset.map(lambda inputs, label: inputs), verbose=0)
    return probabilities_from_logits(logits)


def evaluate(model, split, label_names, path=None, batch_size=64, verbose=True):
    """Evaluate an in-memory classifier on a :class:`~tfbert.data.TextSplit`.

    Prints the metrics (unless ``verbose=False``), saves them as JSON when
    ``path`` is given, and returns them as a dict.
    """
    metrics = compute_metrics(split.labels, predict_probabilities(model, split, batch_size),
                              label_names)
    if verbose:
        print(format_metrics(metrics))
    if path:
        save_metrics(metrics, path)
    return metrics
