"""Multi-label classification: any number of labels per text.

One sigmoid per label and binary cross-entropy; per-label decision
thresholds are tuned on the validation split after training (the best F1 of
each label), kept with the model and applied by evaluation and serving.
Reported: per-label, micro and macro precision/recall/F1, subset accuracy.
"""
import numpy as np

from tfbert.tasks.base import (Prediction, Task, check_count, label_ids, score_cells,
                               score_table, sigmoid_log_odds)


class MultiLabel(Task):
    """Several labels per example (see the module docstring).

    Example:

    >>> from tfbert.tasks import get_task
    >>> labels, names = get_task("multilabel").encode_labels([(2, "joy,love"), (3, "anger")],
    ...                                                      "emotions.csv")
    >>> names, labels.tolist()
    (['anger', 'joy', 'love'], [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    """

    name = "multilabel"
    scores_key = "probabilities"
    metric_names = ("accuracy",)
    has_thresholds = True

    def encode_labels(self, raw_labels, source, label_names=None, separator=",",
                      score_name="score"):
        rows = [(row, [t.strip() for t in label.split(separator) if t.strip()] if separator
                 else [label]) for row, label in raw_labels]
        encoded, names = label_ids(rows, source, label_names)
        labels = np.zeros((len(encoded), len(names)), dtype=np.float32)
        for i, ids in enumerate(encoded):
            labels[i, ids] = 1.0
        return labels, names

    def describe(self, labels, label_names):
        counts = labels.sum(axis=0).astype(int)
        return ", ".join(f"{label}={n}" for label, n in zip(label_names, counts))

    def check_num_labels(self, num_labels):
        check_count("multi-label classification", num_labels, 1)

    def check_trainable(self, labels, label_names, source):
        from tfbert.errors import DataError
        if not labels.any():
            raise DataError(f"{source}: no training example has any label.")

    def head_units(self, num_labels):
        return num_labels

    def initial_bias(self, labels, num_labels):
        return sigmoid_log_odds(labels.mean(axis=0))

    def loss(self, num_labels):
        from tfbert._tf import tf_keras
        return tf_keras.losses.BinaryCrossentropy(from_logits=True)

    def metrics(self, num_labels):
        from tfbert._tf import tf_keras
        return [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]

    def outputs(self, logits, label_names, thresholds=None):
        """``probabilities`` ``[batch, labels]``, ``predicted`` (0/1 per label at the
        thresholds, 0.5 by default) and ``thresholds``."""
        from tfbert._tf import tf
        probabilities = tf.sigmoid(tf.cast(logits, tf.float32))
        thresholds = tf.constant(list(thresholds) if thresholds is not None
                                 else [0.5] * len(label_names), tf.float32)
        return {"probabilities": probabilities,
                "predicted": tf.cast(probabilities >= thresholds, tf.int32),
                "thresholds": tf.broadcast_to(thresholds, tf.shape(probabilities))}

    def predictions(self, texts, pairs, outputs, label_names):
        result = []
        for i, (row, chosen) in enumerate(zip(outputs["probabilities"], outputs["predicted"])):
            probabilities = {name: float(p) for name, p in zip(label_names, row)}
            result.append(Prediction(
                texts[i], probabilities=probabilities,
                labels=[name for name, on in zip(label_names, chosen) if on],
                text_pair=None if pairs is None else pairs[i]))
        return result

    def tune(self, labels, scores):
        from tfbert.metrics import tune_thresholds
        return [float(t) for t in tune_thresholds(labels, scores)]

    def compute_metrics(self, labels, scores, label_names, thresholds=None):
        from tfbert.metrics import multilabel_metrics
        return multilabel_metrics(labels, scores, label_names, thresholds)

    def _mistakes(self, labels, scores, label_names, thresholds):
        from tfbert.metrics import multilabel_arrays
        truth, scores, thresholds = multilabel_arrays(labels, scores, label_names, thresholds)
        predicted = scores >= thresholds
        confidence = np.where(predicted != truth, np.abs(scores - truth), -1.0).max(axis=1)
        wrong = np.flatnonzero(confidence >= 0)

        def names(row):
            return [str(label_names[j]) for j in np.flatnonzero(row)]

        def describe(i):
            return {"labels": names(truth[i]), "predicted": names(predicted[i]),
                    "confidence": float(confidence[i])}
        return wrong[np.argsort(-confidence[wrong], kind="mergesort")], describe

    def format_metrics(self, metrics, title):
        lines = [f"{title} ({metrics['examples']:,} examples, multilabel):",
                 f"  {'loss':<16} {metrics['loss']:.4f}",
                 f"  {'subset accuracy':<16} {metrics['subset_accuracy']:.4f}"]
        for average in ("micro", "macro"):
            lines += [f"  {f'{average} {key}':<16} {metrics[average][key]:.4f}"
                      for key in ("precision", "recall", "f1")]
        rows = [(name, *score_cells(row), f"{row['threshold']:.2f}")
                for name, row in metrics["per_label"].items()]
        return "\n".join(lines + ["", score_table(rows, ("threshold",))])

    def describe_mistake(self, mistake):
        return (f"confidence {mistake['confidence']:.4f}: true "
                f"[{', '.join(mistake['labels'])}], predicted "
                f"[{', '.join(mistake['predicted'])}]")
