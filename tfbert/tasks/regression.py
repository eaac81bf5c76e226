"""Regression: one score per text (STS-B similarity, star ratings).

One linear output and mean squared error; the bias starts at the mean
training score. Reported: MSE, RMSE, MAE, Pearson and Spearman correlations
and a scatter plot of predicted against true scores.
"""
import numpy as np

from tfbert.tasks.base import Prediction, Task, is_number


class Regression(Task):
    """One score per example (see the module docstring).

    Example:

    >>> from tfbert.tasks import get_task
    >>> scores, names = get_task("regression").encode_labels([(2, "3.5"), (3, "1.25")],
    ...                                                      "stsb.tsv", score_name="score")
    >>> scores.tolist(), names
    ([3.5, 1.25], ['score'])
    """

    name = "regression"
    scores_key = "score"
    metric_names = ("mae", "pearson")
    fixed_num_labels = 1

    def default_label_names(self, num_labels):
        return ["score"]

    def encode_labels(self, raw_labels, source, label_names=None, separator=",",
                      score_name="score"):
        from tfbert.errors import DataError
        scores = []
        for row_number, label in raw_labels:
            if not is_number(label):
                raise DataError(f"{source}, row {row_number}: score {label!r} is not a finite "
                                "number.")
            scores.append(float(label))
        return np.asarray(scores, dtype=np.float32), [str(score_name)]

    def describe_label_names(self, label_names):
        return f"score {label_names[0]!r}"

    def describe(self, labels, label_names):
        return (f"mean {labels.mean():.3g}, range {labels.min():.3g} to "
                f"{labels.max():.3g}")

    def check_trainable(self, labels, label_names, source):
        from tfbert.errors import DataError
        if np.ptp(labels) == 0:
            raise DataError(f"{source}: every training score is {labels[0]:g}; there "
                            "is nothing to learn.")

    def head_units(self, num_labels):
        return 1

    def initial_bias(self, labels, num_labels):
        return np.array([labels.mean()], dtype=np.float32)

    def loss(self, num_labels):
        from tfbert._tf import tf_keras
        return tf_keras.losses.MeanSquaredError()

    def metrics(self, num_labels):
        from tfbert._tf import tf_keras
        return [tf_keras.metrics.MeanAbsoluteError(name="mae"), pearson_metric()]

    def outputs(self, logits, label_names, thresholds=None):
        """``score`` ``[batch]``."""
        from tfbert._tf import tf
        return {"score": tf.reshape(tf.cast(logits, tf.float32), [-1])}

    def empty_scores(self, num_labels):
        return np.zeros((0,), dtype=np.float64)

    def predictions(self, texts, pairs, outputs, label_names):
        return [Prediction(texts[i], score=float(score),
                           text_pair=None if pairs is None else pairs[i])
                for i, score in enumerate(outputs["score"])]

    def compute_metrics(self, labels, scores, label_names, thresholds=None):
        from tfbert.metrics import regression_metrics
        return regression_metrics(labels, scores, label_names)

    def _mistakes(self, labels, scores, label_names, thresholds):
        from tfbert.metrics import regression_arrays
        labels, predicted = regression_arrays(labels, scores)
        error = np.abs(predicted - labels)

        def describe(i):
            return {"label": float(labels[i]), "predicted": float(predicted[i]),
                    "error": float(error[i])}
        return np.argsort(-error, kind="mergesort"), describe

    def format_metrics(self, metrics, title):
        lines = [f"{title} ({metrics['examples']:,} examples, regression):"]
        lines += [f"  {key:<10} {metrics[key]:.4f}"
                  for key in ("mse", "rmse", "mae", "pearson", "spearman")]
        return "\n".join(lines)

    def describe_mistake(self, mistake):
        return (f"error {mistake['error']:.4f}: true {mistake['label']:.4f}, "
                f"predicted {mistake['predicted']:.4f}")

    def mistakes_heading(self, shown, total):
        if shown < total:
            return f"largest errors: the {shown} largest of {total:,}"
        return f"largest errors: all {total:,}, largest first"

    def plots(self, metrics, folder, labels=None, scores=None):
        import os
        from tfbert import plots
        if labels is None or scores is None:
            return {}
        plots.plot_regression(labels, scores, os.path.join(folder, "scatter.png"))
        return {"scatter": "scatter.png"}


def pearson_metric():
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
