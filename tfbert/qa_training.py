"""Fine-tune and evaluate a question answering model on SQuAD-format data.

:func:`train_qa` is :func:`tfbert.train` for extractive QA. ``train`` reads
labelled texts (a :class:`~tfbert.data.TextData`, one example per text), while
QA trains on windows of contexts and is judged on answers assembled from all
windows of a question, so it has its own loop around the same parts: AdamW
with linear warmup and decay (:func:`tfbert.training.create_optimizer`), early
stopping with the best epoch's weights restored, the best weights checkpointed,
TensorBoard logs, ``history.json`` and the training curves
(:class:`~tfbert.callbacks.RunRecorder`), a NaN loss stopping at once. After each
epoch :class:`SquadEvaluation` answers the validation questions and logs the
official ``val_exact_match`` and ``val_f1`` (and, from the same logits, ``val_loss``
and the start/end accuracies: one pass over the validation windows, not two), so the best epoch is chosen by F1
(``monitor="val_f1"``, the default). For SQuAD 2.0 data the null threshold is
then tuned on the validation questions.

Not yet: resuming an interrupted run (``train``'s backups) and distribution
strategies; both train on one process from the start.

Example::

    from tfbert.data.squad import load_squad
    from tfbert.qa_training import train_qa, evaluate_qa
    data = load_squad("../shared/data/squad/dev-v1.1.json", validation_articles=12)
    result = train_qa(data, model="all-minilm-l6-v2", epochs=2, run_dir="runs/squad")
    evaluate_qa(result.model, data.validation)["f1"]
    result.model.answer(["Who?"], ["Rollo led the Norse."])[0].answer
"""
import dataclasses
import json
import math
import os

import numpy as np

from tfbert import compat
from tfbert._tf import tf, tf_keras
from tfbert.callbacks import RunRecorder, StopOnNonFiniteLoss
from tfbert.data.squad import gold_answers
from tfbert.errors import TfbertError, TrainingError
from tfbert.qa import build_qa_model
from tfbert.tasks import get_task, monitor_mode
from tfbert.tasks.question_answering import best_answers
from tfbert.training import create_optimizer

__all__ = ["train_qa", "evaluate_qa", "QATrainResult", "SquadEvaluation", "qa_dataset",
           "window_scores"]

TASK = get_task("question-answering")


@dataclasses.dataclass
class QATrainResult:
    """What :func:`train_qa` produced: the model (best weights), history, where files went,
    the validation scores and the SQuAD 2.0 null threshold (None for 1.1 data)."""

    model: object
    history: dict
    run_dir: str
    validation: dict
    null_threshold: float | None
    train_seconds: float


def qa_dataset(features, batch_size, shuffle=False, seed=42):
    """``(inputs, [start, end])`` batches of :class:`~tfbert.data.qa_features.QAFeatures`
    (a fresh seeded order each epoch when shuffling)."""
    labels = np.stack([features.start_positions, features.end_positions], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices((features.inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class SquadEvaluation(tf_keras.callbacks.Callback):
    """After each epoch, answer the validation questions and log ``val_exact_match`` and
    ``val_f1`` (official SQuAD scores, percent; for 2.0 data, the best over null thresholds,
    as the official script's ``final_f1``)."""

    def __init__(self, features, version, recorder=None):
        super().__init__()
        self.features, self.version = features, version
        self.recorder = recorder   # a RunRecorder whose training clock stops before the pass
        self.golds = gold_answers(features.examples)
        self.results = []     # (metrics, null threshold) of each epoch

    def scores(self, model, logits=None):
        logits = model.window_logits(self.features) if logits is None else logits
        answers = best_answers(self.features, logits,
                               model.config.n_best, model.config.max_answer_length)
        predictions = {a.qid: a.answer for a in answers}
        metrics = TASK.compute_metrics(self.golds, predictions, version=self.version)
        threshold = None
        if self.version == "2.0":
            diffs = {a.qid: a.null_score_diff for a in answers}
            threshold = TASK.tune(self.golds, predictions, diffs)
            thresholded = {qid: "" if diffs[qid] > threshold else text
                           for qid, text in predictions.items()}
            metrics = TASK.compute_metrics(self.golds, thresholded, version=self.version)
        return metrics, threshold

    def on_epoch_end(self, epoch, logs=None):
        if self.recorder is not None:     # as a Keras validation pass would: not training time
            self.recorder.on_test_begin()
        logits = self.model.window_logits(self.features)
        metrics, threshold = self.scores(self.model, logits)
        self.results.append((metrics, threshold))
        if logs is not None:
            logs.update(window_scores(self.features, logits))
            logs["val_exact_match"] = metrics["exact_match"]
            logs["val_f1"] = metrics["f1"]


def window_scores(features, logits):
    """``val_loss`` (the mean of the start and end cross-entropies) and
    ``val_start_accuracy``/``val_end_accuracy`` of the windows, from the logits
    :class:`SquadEvaluation` computes anyway: what a Keras validation pass would log,
    without a second pass over the validation windows."""
    logits = np.asarray(logits, np.float64)
    gold = np.stack([features.start_positions, features.end_positions], axis=1)
    rows, scores, losses = np.arange(len(gold)), {}, []
    for which, name in enumerate(TASK.metric_names):
        z = logits[..., which]
        top = z.max(axis=1)
        log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        losses.append(log_norm - z[rows, gold[:, which]])
        scores[f"val_{name}"] = float(np.mean(z.argmax(axis=1) == gold[:, which]))
    scores["val_loss"] = float(np.mean((losses[0] + losses[1]) / 2))
    return scores


def train_qa(data, model=None, *, run_dir, epochs=2, batch_size=32, learning_rate=5e-5,
             warmup_fraction=0.1, seq_length=384, doc_stride=128, max_query_length=64,
             dropout=0.1, patience=2, monitor="val_f1", seed=42, rebuild_encoder=None,
             callbacks=(), verbose="auto"):
    """Fine-tune a span model on ``data`` (a :class:`~tfbert.data.squad.QAData`); returns a
    :class:`QATrainResult` whose ``model`` answers raw strings (:meth:`~tfbert.qa.QAModel.answer`).

    The best epoch by ``monitor`` (``"val_f1"``, ``"val_exact_match"``, ``"val_loss"``,
    ``"val_start_accuracy"``, ``"val_end_accuracy"``) is kept; ``run_dir`` gets
    ``checkpoints/best``, ``logs/`` (TensorBoard), ``history.json``,
    ``training_curves.png``, ``config.json`` and ``validation.json`` (scores and, for
    SQuAD 2.0, the tuned null threshold).
    """
    if monitor not in TASK.monitors():
        raise TfbertError(f"monitor={monitor!r} is not measured for question answering; "
                          f"choose one of {', '.join(TASK.monitors())}.")
    if not data.train or not data.validation:
        raise TfbertError(f"{data.source}: question answering needs training and validation "
                          "questions.")
    os.makedirs(run_dir, exist_ok=True)
    tf_keras.utils.set_random_seed(seed)
    qa_model = model if isinstance(model, tf_keras.Model) else build_qa_model(
        model, seq_length=seq_length, doc_stride=doc_stride,
        max_query_length=max_query_length, dropout=dropout, rebuild_encoder=rebuild_encoder)
    train_features = qa_model.features(data.train)
    validation_features = qa_model.features(data.validation)
    print(f"Training {qa_model.config.model} on {len(data.train):,} questions "
          f"({len(train_features):,} windows; {len(data.validation):,} questions for "
          "validation).")
    optimizer = create_optimizer(learning_rate, len(train_features), batch_size, epochs,
                                 warmup_fraction)
    qa_model.compile(optimizer=optimizer, loss=TASK.loss(), metrics=TASK.metrics())
    recorder = RunRecorder(run_dir)
    evaluation = SquadEvaluation(validation_features, data.version, recorder)
    non_finite = StopOnNonFiniteLoss()
    best_path = os.path.join(run_dir, "checkpoints", "best")
    mode = monitor_mode(monitor)
    fit_callbacks = [
        evaluation,          # first: the callbacks after it read val_f1 from the logs
        tf_keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                         restore_best_weights=True, verbose=1),
        compat.weights_checkpoint(best_path, monitor=monitor, mode=mode, save_best_only=True),
        non_finite,
        tf_keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), profile_batch=0),
        recorder,
        *callbacks,
    ]
    _write_config(run_dir, qa_model, data, locals_=dict(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        warmup_fraction=warmup_fraction, patience=patience, monitor=monitor, seed=seed))
    # No validation_data: SquadEvaluation logs val_loss and the accuracies from its own
    # pass over the validation windows.
    qa_model.fit(qa_dataset(train_features, batch_size, shuffle=True, seed=seed),
                 epochs=epochs, steps_per_epoch=math.ceil(len(train_features) / batch_size),
                 callbacks=fit_callbacks, verbose=verbose)
    if non_finite.fault is not None:
        raise TrainingError(f"training stopped at step {non_finite.fault['step']}: the loss "
                            f"became {non_finite.fault['loss']}; try a lower learning rate.")
    metrics, threshold = _best_epoch_scores(evaluation, recorder.history, monitor, qa_model)
    qa_model.with_null_threshold(threshold)
    with open(os.path.join(run_dir, "validation.json"), "w") as f:
        json.dump({**metrics, "null_threshold": threshold}, f, indent=2)
    print(f"Validation: exact match {metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f}; "
          f"outputs in {run_dir}")
    return QATrainResult(qa_model, recorder.history, run_dir, metrics, threshold,
                         recorder.train_seconds)


def _best_epoch_scores(evaluation, history, monitor, qa_model):
    """The validation scores of the epoch whose weights early stopping restored (the best by
    ``monitor``), without answering the validation questions again."""
    values = history.get(monitor, [])
    if len(values) != len(evaluation.results) or not values:
        return evaluation.scores(qa_model)
    pick = np.argmin if monitor_mode(monitor) == "min" else np.argmax
    return evaluation.results[int(pick(values))]


def _write_config(run_dir, qa_model, data, locals_):
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({**locals_, "qa_model": qa_model.config.to_json(), "data": data.source,
                   "version": data.version}, f, indent=2)


def evaluate_qa(model, examples, path=None, k=10):
    """The official SQuAD scores of ``model`` on ``examples`` with the ``k`` worst answers
    (most confident, not fully right); written as JSON to ``path`` when given."""
    examples = list(examples)
    answers = model.answer_examples(examples)
    version = "2.0" if any(e.is_impossible for e in examples) else "1.1"
    metrics = TASK.compute_metrics(gold_answers(examples),
                                   {a.qid: a.answer for a in answers}, version=version)
    metrics["worst_mistakes"] = TASK.worst_mistakes(examples, answers, k=k)
    if path is not None:
        with open(path, "w") as f:
            json.dump(metrics, f, indent=2)
    return metrics
