"""Fine-tune and evaluate a question answering model on SQuAD-format data.

:func:`train_qa` is :func:`tfbert.train` for extractive QA. ``train`` reads
labelled texts (a :class:`~tfbert.data.TextData`, one example per text), while
QA trains on windows of contexts and is judged on answers assembled from all
windows of a question, so it has its own loop around the same parts: AdamW
with linear warmup and decay (:func:`tfbert.optimizer.create_optimizer`), early
stopping with the best epoch's weights restored, the best weights checkpointed,
TensorBoard logs, ``history.json`` and the training curves
(:class:`~tfbert.callbacks.RunRecorder`), a NaN loss stopping at once. After each
epoch :class:`SquadEvaluation` answers the validation questions and logs the
official ``val_exact_match`` and ``val_f1`` (and, from the same logits, ``val_loss``
and the start/end accuracies: one pass over the validation windows, not two), so the best epoch is chosen by F1
(``monitor="val_f1"``, the default). For SQuAD 2.0 data the null threshold is
then tuned on the validation questions. Backups and resuming are ``train``'s own
(:func:`tfbert.training.resume_point`, :func:`tfbert.callbacks.backup_callbacks`,
:class:`~tfbert.callbacks.ResumeState`): an interrupted run called again with the same
``run_dir`` goes on from its backup.

Not yet: distribution strategies (QA trains on one device's strategy).

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
from scipy.special import logsumexp

from tfbert import compat
from tfbert._tf import tf, tf_keras
from tfbert.callbacks import ResumeState, RunRecorder, StopOnNonFiniteLoss, backup_callbacks
from tfbert.config import TrainConfig, check_lr_schedule
from tfbert.data.pipeline import epoch_stream
from tfbert.data.squad import gold_answers
from tfbert.errors import TfbertError, TrainingError
from tfbert.qa import build_qa_model
from tfbert.recommended import SPAN_DROPOUT
from tfbert.tasks import get_task, monitor_mode
from tfbert.tasks.question_answering import best_answers
from tfbert.runs import remove_if_empty
from tfbert.optimizer import create_optimizer
from tfbert.training import resume_point

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


def qa_dataset(features, batch_size, shuffle=False, seed=42, epochs=None, start=(0, 0)):
    """``(inputs, [start, end])`` batches of :class:`~tfbert.data.qa_features.QAFeatures`
    (a fresh seeded order each epoch when shuffling). With ``epochs`` (and ``shuffle``), one
    stream of that many epochs from ``start=(epoch, batch)``, as ``train``'s
    (:func:`~tfbert.data.pipeline.epoch_stream`): a resumed run sees the batches it had left."""
    labels = np.stack([features.start_positions, features.end_positions], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices((features.inputs, labels))
    if shuffle and epochs is not None:
        return epoch_stream(lambda epoch_seed: dataset.shuffle(
            len(features), seed=epoch_seed, reshuffle_each_iteration=False).batch(batch_size),
            seed, epochs, start).prefetch(tf.data.AUTOTUNE)
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class SquadEvaluation(tf_keras.callbacks.Callback):
    """After each epoch, answer the validation questions and log ``val_exact_match`` and
    ``val_f1`` (official SQuAD scores, percent; for 2.0 data, the best over null thresholds,
    as the official script's ``final_f1``)."""

    def __init__(self, features, version, path=None, results=(), recorder=None):
        super().__init__()
        self.features, self.version, self.path = features, version, path
        self.recorder = recorder   # a RunRecorder whose training clock stops before the pass
        self.golds = gold_answers(features.examples)
        # (metrics, null threshold) of each epoch; a resumed run's from its ``path`` file.
        self.results = [tuple(r) for r in results]

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
        del self.results[epoch:]     # a resumed run redoes the epoch it was stopped in
        self.results.append((metrics, threshold))
        if self.path is not None:
            with open(self.path, "w") as f:
                json.dump(self.results, f)
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
        losses.append(logsumexp(z, axis=1) - z[rows, gold[:, which]])
        scores[f"val_{name}"] = float(np.mean(z.argmax(axis=1) == gold[:, which]))
    scores["val_loss"] = float(np.mean((losses[0] + losses[1]) / 2))
    return scores


def train_qa(data, model=None, *, run_dir, epochs=2, batch_size=32, learning_rate=5e-5,
             warmup_fraction=0.1, lr_schedule=None, seq_length=384, doc_stride=128,
             max_query_length=64, dropout=SPAN_DROPOUT, patience=2, monitor="val_f1", seed=42,
             rebuild_encoder=None, backup_steps=TrainConfig.backup_steps,
             jit_compile=TrainConfig.jit_compile, callbacks=(), verbose="auto"):
    """Fine-tune a span model on ``data`` (a :class:`~tfbert.data.squad.QAData`); returns a
    :class:`QATrainResult` whose ``model`` answers raw strings (:meth:`~tfbert.qa.QAModel.answer`).

    The best epoch by ``monitor`` (``"val_f1"``, ``"val_exact_match"``, ``"val_loss"``,
    ``"val_start_accuracy"``, ``"val_end_accuracy"``) is kept; ``run_dir`` gets
    ``checkpoints/best``, ``logs/`` (TensorBoard), ``history.json``,
    ``training_curves.png``, ``config.json``, ``validation.json`` (scores and, for
    SQuAD 2.0, the tuned null threshold) and ``validation_epochs.json`` (each epoch's).

    As in :func:`tfbert.train`, the weights, optimizer and step are backed up in
    ``run_dir/backup`` every ``backup_steps`` steps and at once on SIGTERM/SIGINT (which
    then stop with a message saying how to resume); calling ``train_qa`` again with the
    same ``run_dir`` resumes there, with early stopping's state and each epoch's scores
    carried over. A finished run removes its backup.

    ``lr_schedule``: how the learning rate falls after warmup
    (:func:`tfbert.optimizer.create_optimizer`; default: the task's, ``"huggingface"``).

    ``jit_compile`` compiles the training step with XLA: faster on CPU at 256 tokens
    (BENCHMARKS.md, qa), after about half a minute of compiling for each of the two batch
    shapes (full batches and an epoch's last).

    Example::

        result = train_qa(data, "all-minilm-l6-v2", run_dir="runs/squad", backup_steps=100)
        # killed? the same call again resumes from runs/squad/backup
    """
    if monitor not in TASK.monitors():
        raise TfbertError(f"monitor={monitor!r} is not measured for question answering; "
                          f"choose one of {', '.join(TASK.monitors())}.")
    if not data.train or not data.validation:
        raise TfbertError(f"{data.source}: question answering needs training and validation "
                          "questions.")
    lr_schedule = lr_schedule or TASK.lr_schedule
    check_lr_schedule(lr_schedule)
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
                                 warmup_fraction, lr_schedule)
    qa_model.compile(optimizer=optimizer, loss=TASK.loss(), metrics=TASK.metrics(),
                     jit_compile=jit_compile)
    steps_per_epoch = math.ceil(len(train_features) / batch_size)
    run = _RunCallbacks(run_dir, validation_features, data.version, monitor, patience,
                        steps_per_epoch, epochs, backup_steps)
    _write_config(run_dir, qa_model, data, locals_=dict(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        warmup_fraction=warmup_fraction, lr_schedule=lr_schedule, patience=patience,
        monitor=monitor, seed=seed, jit_compile=jit_compile))
    # No validation_data: SquadEvaluation logs val_loss and the accuracies from its own
    # pass over the validation windows.
    qa_model.fit(qa_dataset(train_features, batch_size, shuffle=True, seed=seed,
                            epochs=epochs, start=run.start or (0, 0)),
                 epochs=epochs, steps_per_epoch=steps_per_epoch,
                 callbacks=run.callbacks(callbacks), verbose=verbose)
    # Keras deleted its backup (backup/chief); a finished run leaves no empty folder.
    remove_if_empty(run.backup_dir)
    if run.non_finite.fault is not None:
        raise TrainingError(f"training stopped at step {run.non_finite.fault['step']}: the "
                            f"loss became {run.non_finite.fault['loss']}; try a lower "
                            "learning rate.")
    metrics, threshold = _best_epoch_scores(run.evaluation, run.recorder.history, monitor,
                                            qa_model)
    qa_model.with_null_threshold(threshold)
    with open(os.path.join(run_dir, "validation.json"), "w") as f:
        json.dump({**metrics, "null_threshold": threshold}, f, indent=2)
    print(f"Validation: exact match {metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f}; "
          f"outputs in {run_dir}")
    return QATrainResult(qa_model, run.recorder.history, run_dir, metrics, threshold,
                         run.recorder.train_seconds)


class _RunCallbacks:
    """The callbacks of a :func:`train_qa` run, and its resume position: those of
    :func:`tfbert.train` (early stopping, best checkpoint, backups, resume state, TensorBoard,
    records) after :class:`SquadEvaluation`, whose per-epoch scores a resumed run reads back
    from ``validation_epochs.json``."""

    def __init__(self, run_dir, features, version, monitor, patience, steps_per_epoch, epochs,
                 backup_steps):
        self.start, history = resume_point(run_dir, steps_per_epoch, epochs)
        scores_path = os.path.join(run_dir, "validation_epochs.json")
        results = []
        if self.start is not None and os.path.isfile(scores_path):
            with open(scores_path) as f:
                results = json.load(f)
        self.recorder = RunRecorder(run_dir, history)
        self.evaluation = SquadEvaluation(features, version, scores_path, results,
                                          self.recorder)
        self.non_finite = StopOnNonFiniteLoss()
        self.backup_dir = os.path.join(run_dir, "backup")
        self.best_path = os.path.join(run_dir, "checkpoints", "best")
        self.monitor, self.patience = monitor, patience
        self.backup = backup_callbacks(self.backup_dir, steps_per_epoch, backup_steps)
        self.run_dir = run_dir

    def callbacks(self, extra):
        mode = monitor_mode(self.monitor)
        early_stopping = tf_keras.callbacks.EarlyStopping(
            monitor=self.monitor, mode=mode, patience=self.patience,
            restore_best_weights=True, verbose=1)
        checkpoint = compat.weights_checkpoint(self.best_path, monitor=self.monitor,
                                               mode=mode, save_best_only=True)
        backup, on_signal = self.backup
        return [
            self.evaluation,     # first: the callbacks after it read val_f1 from the logs
            early_stopping,
            checkpoint,
            # In train's order: early stopping's state first, then the backup's weights.
            ResumeState(self.recorder.history, self.best_path, early_stopping, checkpoint,
                        self.monitor),
            backup,
            self.non_finite,
            tf_keras.callbacks.TensorBoard(os.path.join(self.run_dir, "logs"), profile_batch=0),
            self.recorder,
            on_signal,
            *extra,
        ]


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
