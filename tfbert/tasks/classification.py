"""Single-label classification: one label per text, two or more classes.

Two classes use one logit and a sigmoid (as the TensorFlow tutorial does);
more use a softmax. Reported: per-class precision/recall/F1, macro and
weighted averages, the confusion matrix, and for two classes the
precision-recall curve of the positive (second) label.
"""
import numpy as np

from tfbert.tasks.base import (Prediction, Task, check_count, label_ids, score_cells,
                               score_table)


class Classification(Task):
    """One label per example (see the module docstring).

    Example:

    >>> from tfbert.tasks import get_task
    >>> task = get_task("classification")
    >>> task.head_units(2), task.head_units(6)
    (1, 6)
    """

    name = "classification"
    scores_key = "probabilities"
    metric_names = ("accuracy",)

    def encode_labels(self, raw_labels, source, label_names=None, separator=",",
                      score_name="score"):
        encoded, names = label_ids([(row, [label]) for row, label in raw_labels], source,
                                   label_names)
        return np.asarray([ids[0] for ids in encoded], dtype=np.int64), names

    def describe(self, labels, label_names):
        counts = np.bincount(labels, minlength=len(label_names))
        return ", ".join(f"{label}={n}" for label, n in zip(label_names, counts))

    def stratify(self, labels):
        return labels

    def check_num_labels(self, num_labels):
        check_count("classification", num_labels, 2)

    def check_trainable(self, labels, label_names, source):
        from tfbert.errors import DataError
        if len(np.unique(labels)) < 2:
            raise DataError(f"{source}: every training example has the label "
                            f"{label_names[int(labels[0])]!r}; a classifier needs examples of "
                            "at least two labels.")

    def head_units(self, num_labels):
        return 1 if num_labels == 2 else num_labels

    def label_dtype(self, num_labels):
        return "float32" if num_labels == 2 else "int64"

    def initial_bias(self, labels, num_labels):
        """Log-odds of the positive rate (two classes) or log-frequencies (softmax)."""
        from tfbert.tasks.base import sigmoid_log_odds
        rate = np.bincount(labels, minlength=num_labels)[:num_labels] / len(labels)
        if num_labels > 2:
            return np.log(np.clip(rate, 1e-3, 1.0)).astype(np.float32)
        return sigmoid_log_odds(rate[1:])

    def loss(self, num_labels):
        from tfbert._tf import tf_keras
        if num_labels == 2:
            return tf_keras.losses.BinaryCrossentropy(from_logits=True)
        return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self, num_labels):
        from tfbert._tf import tf_keras
        if num_labels == 2:
            return [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
        return [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def outputs(self, logits, label_names, thresholds=None):
        """``probabilities`` ``[batch, classes]``, ``label_id`` and ``label``."""
        from tfbert._tf import tf
        logits = tf.cast(logits, tf.float32)
        if logits.shape[-1] == 1:
            positive = tf.sigmoid(logits)
            probabilities = tf.concat([1.0 - positive, positive], axis=-1)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "label_id": label_id,
                "label": tf.gather(tf.constant(list(label_names)), label_id)}

    def predictions(self, texts, pairs, outputs, label_names):
        result = []
        for i, row in enumerate(outputs["probabilities"]):
            probabilities = {name: float(p) for name, p in zip(label_names, row)}
            result.append(Prediction(texts[i], label_names[int(row.argmax())], float(row.max()),
                                     probabilities,
                                     text_pair=None if pairs is None else pairs[i]))
        return result

    def compute_metrics(self, labels, scores, label_names, thresholds=None):
        from tfbert.metrics import classification_metrics
        return classification_metrics(labels, scores, label_names)

    def _mistakes(self, labels, scores, label_names, thresholds):
        labels = np.asarray(labels, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        predicted = scores.argmax(axis=-1)
        confidence = scores[np.arange(len(labels)), predicted]
        wrong = np.flatnonzero(predicted != labels)

        def describe(i):
            return {"label": str(label_names[labels[i]]),
                    "predicted": str(label_names[predicted[i]]),
                    "confidence": float(confidence[i])}
        return wrong[np.argsort(-confidence[wrong], kind="mergesort")], describe

    def format_metrics(self, metrics, title):
        lines = [f"{title} ({metrics['examples']:,} examples, {metrics['average']}):"]
        for key in ("loss", "accuracy", "precision", "recall", "f1"):
            lines.append(f"  {key:<10} {metrics[key]:.4f}")
        if "average_precision" in metrics:
            lines.append(f"  {'avg prec':<10} {metrics['average_precision']:.4f}")
        examples = str(metrics["examples"])
        rows = [(name, *score_cells(row)) for name, row in metrics["per_label"].items()]
        rows += [("", "", "", "", ""),
                 ("macro avg", *score_cells(metrics["macro"]), examples),
                 ("weighted avg", *score_cells(metrics["weighted"]), examples)]
        return "\n".join(lines + ["", score_table(rows)])

    def describe_mistake(self, mistake):
        return (f"confidence {mistake['confidence']:.4f}: true {mistake['label']}, "
                f"predicted {mistake['predicted']}")

    def plots(self, metrics, folder, labels=None, scores=None):
        import os
        from tfbert import plots
        written = {"confusion_matrix": "confusion_matrix.png"}
        plots.plot_confusion_matrix(metrics["confusion_matrix"], metrics["label_names"],
                                    os.path.join(folder, written["confusion_matrix"]))
        if "pr_curve" in metrics:
            written["pr_curve"] = "pr_curve.png"
            plots.plot_pr_curve(metrics["pr_curve"]["precision"], metrics["pr_curve"]["recall"],
                                metrics["average_precision"],
                                os.path.join(folder, written["pr_curve"]))
        return written
