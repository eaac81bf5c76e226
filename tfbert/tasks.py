"""What each task asks of the model: head size, loss, metric, and how logits read.

Three tasks, named as :data:`tfbert.data.TASKS`:

- ``"classification"``: one label per example. Two classes use one logit and a
  sigmoid (as the TensorFlow tutorial does); more use a softmax.
- ``"multilabel"``: any number of labels per example; one sigmoid per label,
  binary cross-entropy, and per-label decision thresholds tuned on validation.
- ``"regression"``: one score per example; a linear output and mean squared error.

Example::

    from tfbert import tasks
    tasks.head_units("multilabel", 28)               # 28
    loss, metrics = tasks.loss_and_metrics("regression", 1)
"""
import numpy as np

from tfbert.data import TASKS
from tfbert.errors import ModelError

__all__ = ["TASKS", "head_units", "check_task", "loss_and_metrics", "metric_names",
           "monitor_mode", "scores_from_logits", "tf_scores_from_logits"]


def check_task(task, num_classes):
    """Raise :class:`ModelError` unless ``task`` and ``num_classes`` go together."""
    if task not in TASKS:
        raise ModelError(f"task must be one of {', '.join(TASKS)}, got {task!r}.")
    if task == "classification" and num_classes < 2:
        raise ModelError(f"num_classes must be at least 2 for classification, got "
                         f"{num_classes}.")
    if task == "multilabel" and num_classes < 1:
        raise ModelError(f"num_classes must be at least 1 for multi-label classification, "
                         f"got {num_classes}.")


def head_units(task, num_classes):
    """Logits per example: 1 for binary classification and regression, else one per label."""
    if task == "regression" or (task == "classification" and num_classes == 2):
        return 1
    return num_classes


def loss_and_metrics(task, num_classes):
    """The Keras loss (on logits) and the metric shown while training, for ``task``."""
    from tfbert._tf import tf_keras
    if task == "regression":
        return (tf_keras.losses.MeanSquaredError(),
                [tf_keras.metrics.MeanAbsoluteError(name="mae"), _pearson_metric()])
    if task == "multilabel" or num_classes == 2:
        return (tf_keras.losses.BinaryCrossentropy(from_logits=True),
                [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
    return (tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def metric_names(task, num_classes):
    """Names of the metrics :func:`loss_and_metrics` tracks, without building them (building
    a metric creates variables, which must wait for a multi-worker strategy)."""
    return ["mae", "pearson"] if task == "regression" else ["accuracy"]


def monitor_mode(monitor):
    """``"min"`` for losses and errors (``val_loss``, ``val_mae``), ``"max"`` for the rest."""
    name = monitor.removeprefix("val_")
    return "min" if name in ("loss", "mae", "mse", "rmse") else "max"


def _pearson_metric():
    """Pearson correlation of predictions and labels over the whole epoch (not a mean of
    per-batch values), from running sums; shown as ``pearson`` / ``val_pearson``."""
    from tfbert._tf import tf, tf_keras

    class Pearson(tf_keras.metrics.Metric):
        def __init__(self, name="pearson", **kwargs):
            super().__init__(name=name, **kwargs)
            self.sums = self.add_weight(name="sums", shape=(6,), initializer="zeros",
                                        dtype=tf.float64)

        def update_state(self, y_true, y_pred, sample_weight=None):
            x = tf.reshape(tf.cast(y_pred, tf.float64), [-1])
            y = tf.reshape(tf.cast(y_true, tf.float64), [-1])
            self.sums.assign_add(tf.stack([tf.cast(tf.size(x), tf.float64), tf.reduce_sum(x),
                                           tf.reduce_sum(y), tf.reduce_sum(x * x),
                                           tf.reduce_sum(y * y), tf.reduce_sum(x * y)]))

        def result(self):
            n, sx, sy, sxx, syy, sxy = tf.unstack(self.sums)
            covariance = n * sxy - sx * sy
            spread = tf.sqrt(tf.maximum(n * sxx - sx * sx, 0.0)
                             * tf.maximum(n * syy - sy * sy, 0.0))
            return tf.cast(tf.math.divide_no_nan(covariance, spread), tf.float32)

        def reset_state(self):
            self.sums.assign(tf.zeros_like(self.sums))

    return Pearson()


def label_dtype(task, num_classes):
    """The dtype Keras wants the labels in for this task's loss."""
    return "int64" if task == "classification" and num_classes > 2 else "float32"


def scores_from_logits(task, logits):
    """NumPy logits -> class probabilities ``[n, classes]`` (classification), per-label
    probabilities ``[n, labels]`` (multi-label) or scores ``[n]`` (regression)."""
    logits = np.asarray(logits, dtype=np.float64)
    if task == "regression":
        return logits.reshape(-1)
    if task == "multilabel":
        return 1.0 / (1.0 + np.exp(-logits))
    if logits.ndim == 1 or logits.shape[-1] == 1:
        positive = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - positive, positive], axis=-1)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def tf_scores_from_logits(task, logits):
    """:func:`scores_from_logits` in TensorFlow, for serving signatures."""
    from tfbert._tf import tf
    if task == "regression":
        return tf.reshape(logits, [-1])
    if task == "multilabel":
        return tf.sigmoid(logits)
    if logits.shape[-1] == 1:
        positive = tf.sigmoid(logits)
        return tf.concat([1.0 - positive, positive], axis=-1)
    return tf.nn.softmax(logits, axis=-1)
