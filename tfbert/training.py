"""Fine-tune a classifier: one call that compiles, fits and records everything.

:func:`train` builds the model and AdamW optimizer (linear warmup, then linear
decay, from tf-models-official) inside the distribution strategy's scope,
tokenizes every text once, and fits with early stopping (best weights
restored), checkpoints, TensorBoard logs, and the history saved as JSON and as
a PNG of the training curves. Keras' progress bar stays on.

Example::

    import tfbert
    data = tfbert.load_data("aclImdb.tar.xz", max_examples=2000)
    result = tfbert.train(data, model="/models/tiny_bert", epochs=2, run_dir="runs/imdb")
    result.history["val_accuracy"]
"""
import dataclasses
import json
import math
import os
import time

from tfbert._tf import dtype_policy, tf, tf_keras
from tfbert.data import make_dataset
from tfbert.distribute import describe, select_strategy
from tfbert.errors import TfbertError, TrainingError
from tfbert.models import build_classifier
from tfbert.registry import DEFAULT_MODEL, ModelSpec
from tfbert.plots import plot_history
from tfbert.tasks import check_task, label_dtype, loss_and_metrics, metric_names, monitor_mode


@dataclasses.dataclass
class TrainConfig:
    """The settings of a training run; saved next to its outputs and in the export."""

    model: str = DEFAULT_MODEL
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    seq_length: int = 128
    dropout: float = 0.1
    pooling: str = "cls"
    patience: int = 2
    monitor: str = "val_loss"
    seed: int = 42
    jit_compile: bool = False
    mixed_precision: str | None = None
    deterministic: bool = False
    rebuild_encoder: bool = False

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seq_length"):
            if getattr(self, name) < 1:
                raise TfbertError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.learning_rate <= 0:
            raise TfbertError(f"learning_rate must be positive, got {self.learning_rate}.")
        if not 0 <= self.warmup_fraction < 1:
            raise TfbertError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` produced: the model (best weights), history and where files went."""

    model: object
    history: dict
    run_dir: str
    label_names: list
    config: TrainConfig
    train_seconds: float
    examples_per_second: float
    thresholds: list | None = None

    @property
    def files(self):
        """Paths of the run's outputs, by kind."""
        return {kind: os.path.join(self.run_dir, name) for kind, name in _RUN_FILES.items()}


_RUN_FILES = {"history": "history.json", "curves": "training_curves.png",
              "checkpoints": "checkpoints", "tensorboard": "logs", "config": "config.json",
              "thresholds": "thresholds.json", "backup": "backup"}


def create_optimizer(learning_rate, num_examples, batch_size, epochs, warmup_fraction=0.1):
    """AdamW with linear warmup over ``warmup_fraction`` of the steps, then linear decay to 0.

    The step count is derived from the data size, batch size and epochs, as in
    the TensorFlow tutorial.
    """
    from official.nlp import optimization
    steps_per_epoch = math.ceil(num_examples / batch_size)
    num_train_steps = steps_per_epoch * epochs
    return optimization.create_optimizer(
        init_lr=learning_rate, num_train_steps=num_train_steps,
        num_warmup_steps=int(warmup_fraction * num_train_steps), optimizer_type="adamw")


class _RunRecorder(tf_keras.callbacks.Callback):
    """Times the training part of each epoch and writes history JSON + curves after each."""

    def __init__(self, run_dir, history=None):
        super().__init__()
        self.run_dir = run_dir
        self.history = history or {}
        self.train_seconds = 0.0
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self._start = None

    def on_epoch_end(self, epoch, logs=None):
        self.on_test_begin()
        for key, value in (logs or {}).items():
            values = self.history.setdefault(key, [])
            del values[epoch:]  # a resumed run redoes the epoch it was killed in
            values.append(float(value))
        with open(os.path.join(self.run_dir, _RUN_FILES["history"]), "w") as f:
            json.dump(self.history, f, indent=2)
        plot_history(self.history, os.path.join(self.run_dir, _RUN_FILES["curves"]))


class _StopOnNonFiniteLoss(tf_keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite, and remembers it."""

    def __init__(self):
        super().__init__()
        self.fault = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        optimizer = self.model.optimizer
        step = int(optimizer.iterations.numpy())
        rate = optimizer.learning_rate
        try:
            rate = float(rate(optimizer.iterations - 1) if callable(rate) else rate)
        except (TypeError, ValueError):
            rate = float("nan")
        self.fault = {"step": step, "epoch": None, "loss": float(loss), "learning_rate": rate}
        self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.fault is not None and self.fault["epoch"] is None:
            self.fault["epoch"] = epoch + 1


class _ResumeState(tf_keras.callbacks.Callback):
    """Carries early stopping's and the best checkpoint's state across a resumed run.

    Keras' BackupAndRestore brings back the weights, optimizer and step; the
    best value of the monitored metric so far (and its weights) live in the
    history and the best checkpoint, and are handed back to the callbacks that
    track them.
    """

    def __init__(self, history, checkpoint_path, early_stopping, checkpoint, monitor):
        super().__init__()
        self.history = history
        self.monitor = monitor
        self.checkpoint_path = checkpoint_path
        self.early_stopping = early_stopping
        self.checkpoint = checkpoint

    def on_train_begin(self, logs=None):
        values = self.history.get(self.monitor, [])
        sign = 1 if monitor_mode(self.monitor) == "min" else -1
        finite = [(sign * value, i) for i, value in enumerate(values) if math.isfinite(value)]
        if not finite or not tf.io.gfile.exists(self.checkpoint_path + ".index"):
            return
        best, best_epoch = min(finite)
        best *= sign
        self.checkpoint.best = best
        self.early_stopping.best = best
        self.early_stopping.best_epoch = best_epoch
        self.early_stopping.wait = len(values) - 1 - best_epoch
        # Runs before BackupAndRestore (see train()), which then puts back the weights and
        # the optimizer state (iterations, slots) of the backup over those loaded here.
        self.model.load_weights(self.checkpoint_path)
        self.early_stopping.best_weights = self.model.get_weights()


def train(data, model=None, *, epochs=5, batch_size=32, learning_rate=3e-5,
          warmup_fraction=0.1, seq_length=128, dropout=0.1, pooling="cls", patience=2,
          monitor="val_loss", seed=42,
          run_dir=None, strategy="auto", callbacks=(), verbose="auto", jit_compile=False,
          mixed_precision=None, backup_steps=200, deterministic=False, rebuild_encoder=False):
    """Fine-tune a BERT classifier on ``data`` and return a :class:`TrainResult`.

    A run that crashed or was killed resumes where it was when called again
    with the same ``run_dir``. A NaN or infinite loss stops training at once
    with a :class:`~tfbert.errors.TrainingError` naming the step and learning
    rate; the best weights so far are restored first.

    The task (classification, multi-label, regression) and whether examples are
    text pairs come from ``data``. For multi-label data the per-label decision
    thresholds that maximise each label's F1 on the validation split are tuned
    after training (``result.thresholds``, also in ``thresholds.json``).

    Args:
        data: a :class:`~tfbert.data.TextData` (see :func:`~tfbert.load_data`).
        model: a model name or folder (built here, inside the strategy scope), or
            a model from :func:`~tfbert.build_classifier` (build it inside
            ``strategy.scope()`` yourself). Default: :data:`~tfbert.models.DEFAULT_MODEL`.
        epochs, batch_size, learning_rate: as in the TensorFlow tutorial (5, 32, 3e-5).
        warmup_fraction: share of the steps spent warming the learning rate up.
        seq_length, dropout, pooling: passed to :func:`~tfbert.build_classifier`.
        patience: epochs without a better ``monitor`` value before stopping
            early; the weights of the best epoch are restored either way.
        monitor: what "best" means: ``"val_loss"`` (default), or the task's
            validation metric: ``"val_accuracy"`` (classification, multi-label),
            ``"val_pearson"`` or ``"val_mae"`` (regression). Loss is the safe
            choice; a metric helps where the loss stops falling early while the
            metric people report keeps improving (small pair tasks such as MRPC).
        seed: seeds weights, dropout and shuffling.
        run_dir: where checkpoints, TensorBoard logs, ``history.json``,
            ``training_curves.png`` and ``config.json`` go (default ``runs/<model>``).
        strategy: ``"auto"``, ``"tpu"``, ``"mirrored"``, ``"default"`` or a
            ``tf.distribute.Strategy``.
        callbacks: extra Keras callbacks.
        deterministic: make TensorFlow's ops deterministic (slower on some
            ops): with the same seed, data and settings, two runs give the same
            weights and metrics. It stays on for the rest of the process.
        backup_steps: save the run's state (weights, optimizer, position) every
            this many steps into ``run_dir/backup``; running the same call again
            after a crash resumes from there. Removed when training finishes.
        jit_compile: compile training steps with XLA. Off by default: a TF Hub
            encoder (a restored SavedModel) is recompiled on every step when it
            is trained, which is slower than no XLA; a rebuilt encoder
            (``rebuild_encoder``) compiles once (see BENCHMARKS.md).
        mixed_precision: ``None`` (float32), ``"mixed_float16"`` (GPUs),
            ``"mixed_bfloat16"`` (TPUs, CPUs with AVX512-BF16 or AMX) or ``"auto"``
            (float16 on a GPU, bfloat16 on a TPU, float32 on a CPU): the Keras
            dtype policy of the layers tfbert builds; the output layer stays
            float32. A TF Hub encoder computes in the dtype it was exported
            with; a rebuilt one follows the policy.
        rebuild_encoder: run the encoder as a Keras ``BertEncoder`` rebuilt with
            the TF Hub encoder's weights (see :func:`~tfbert.build_classifier`),
            so that ``mixed_precision`` and ``jit_compile`` reach inside it.
        verbose: Keras' progress display (``"auto"``: a progress bar).
    """
    given_model = model if isinstance(model, tf_keras.Model) else None
    source = model or DEFAULT_MODEL
    if given_model is not None:
        model_name = given_model.config.model
    else:
        model_name = source.name if isinstance(source, ModelSpec) else os.fspath(source)
    config = TrainConfig(
        model=model_name,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        warmup_fraction=warmup_fraction, seq_length=seq_length, dropout=dropout,
        pooling=pooling, patience=patience, monitor=monitor, seed=seed, jit_compile=jit_compile,
        mixed_precision=mixed_precision, deterministic=deterministic,
        rebuild_encoder=rebuild_encoder)
    _check_trainable(data)
    try:
        check_task(data.task, data.num_classes)
    except TfbertError as exc:
        raise TfbertError(f"{data.source}: {exc} (labels: {data.label_names})") from None
    monitors = ["val_loss"] + [f"val_{name}" for name in metric_names(data.task, data.num_classes)]
    if monitor not in monitors:
        raise TfbertError(f"monitor={monitor!r} is not measured for a {data.task} task; "
                          f"choose one of {', '.join(monitors)}.")
    run_dir = run_dir or os.path.join("runs", os.path.basename(config.model.rstrip("/")))
    os.makedirs(run_dir, exist_ok=True)
    tf_keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()

    if given_model is not None:
        strategy = given_model.distribute_strategy
    else:
        strategy = select_strategy(strategy)
    print(f"Training {config.model} on {len(data.train):,} examples "
          f"({len(data.validation):,} for validation) with {describe(strategy)}.")
    policy = resolve_precision(mixed_precision, strategy)
    with strategy.scope(), dtype_policy(policy):
        if given_model is None:
            classifier = build_classifier(source, num_classes=data.num_classes,
                                          dropout=dropout, seq_length=seq_length,
                                          pooling=pooling, task=data.task,
                                          text_pairs=data.text_pairs,
                                          rebuild_encoder=rebuild_encoder)
            classifier.core.get_layer("classifier").bias.assign(
                initial_bias(data.train, data.num_classes))
        else:
            classifier = given_model
            _check_model_fits(classifier.config, data)
        optimizer = create_optimizer(learning_rate, len(data.train), batch_size, epochs,
                                     warmup_fraction)
        loss, metrics = loss_and_metrics(data.task, data.num_classes)
        classifier.core.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                                jit_compile=jit_compile)

    tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    # Every worker of a cluster must run the same number of equal steps.
    drop_remainder = tpu or isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    steps_per_epoch = (len(data.train) // batch_size if drop_remainder
                       else math.ceil(len(data.train) / batch_size))
    if steps_per_epoch == 0:
        raise TfbertError(f"{data.source}: {len(data.train)} training examples do not fill one "
                          f"batch of {batch_size}, and {describe(strategy)} drops partial "
                          "batches; lower --batch-size.")
    backup_dir = os.path.join(run_dir, _RUN_FILES["backup"])
    history = {}
    start = _backup_position(backup_dir, steps_per_epoch)
    if start is not None:
        # Killed after the last step, before the backup was removed: nothing left to run.
        start = min(start, (epochs - 1, steps_per_epoch))
        print(f"Resuming the interrupted run saved in {backup_dir} at epoch {start[0] + 1}, "
              f"step {start[1] + 1} (delete that folder to start over).")
        history_path = os.path.join(run_dir, _RUN_FILES["history"])
        if os.path.isfile(history_path):
            with open(history_path) as f:
                history = json.load(f)
    datasets = {
        name: make_dataset(getattr(data, name), classifier.preprocessor, batch_size,
                           shuffle=(name == "train"), seed=seed,
                           drop_remainder=drop_remainder,
                           label_dtype=label_dtype(data.task, data.num_classes),
                           dynamic_padding=not tpu,
                           epochs=epochs if name == "train" else None,
                           start=start or (0, 0))
        for name in ("train", "validation")}
    recorder = _RunRecorder(run_dir, history)
    best_path = os.path.join(run_dir, _RUN_FILES["checkpoints"], "best")
    mode = monitor_mode(monitor)
    early_stopping = tf_keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                                      patience=patience,
                                                      restore_best_weights=True, verbose=1)
    checkpoint = tf_keras.callbacks.ModelCheckpoint(best_path, monitor=monitor, mode=mode,
                                                    save_best_only=True, save_weights_only=True)
    non_finite = _StopOnNonFiniteLoss()
    fit_callbacks = [
        early_stopping,
        checkpoint,
        # Before BackupAndRestore: reading the best checkpoint also restores the optimizer
        # saved with it, which the backup's restore must then overwrite.
        _ResumeState(history, best_path, early_stopping, checkpoint, monitor),
        # Saves weights, optimizer and position often enough that a crash costs minutes.
        tf_keras.callbacks.BackupAndRestore(backup_dir, save_freq=max(1, min(
            steps_per_epoch, backup_steps))),
        non_finite,
        tf_keras.callbacks.TensorBoard(os.path.join(run_dir, _RUN_FILES["tensorboard"]),
                                       profile_batch=0),
        recorder,
        *callbacks,
    ]
    with open(os.path.join(run_dir, _RUN_FILES["config"]), "w") as f:
        json.dump({**dataclasses.asdict(config), "label_names": data.label_names,
                   "data": data.source}, f, indent=2)
    try:
        classifier.core.fit(datasets["train"], validation_data=datasets["validation"],
                            epochs=epochs, steps_per_epoch=steps_per_epoch,
                            callbacks=fit_callbacks, verbose=verbose)
    except tf.errors.ResourceExhaustedError as exc:
        raise TrainingError(
            f"out of memory with batch size {batch_size} and sequence length {seq_length} "
            f"({str(exc).splitlines()[0][:160]}). Lower --batch-size (e.g. "
            f"{max(1, batch_size // 2)}) or --seq-length; the run resumes from "
            f"{backup_dir} if a backup was written.") from None
    epochs_run = len(recorder.history.get("loss", []))
    if non_finite.fault is not None:
        fault = non_finite.fault
        kept = (f"the weights of epoch {early_stopping.best_epoch + 1} (best {monitor} "
                f"{early_stopping.best:.4f}) are restored in the model and kept in {best_path}"
                if early_stopping.best_weights is not None else
                "no epoch had finished, so there are no good weights to keep")
        result = TrainResult(classifier, recorder.history, run_dir, list(data.label_names),
                             config, recorder.train_seconds, 0.0)
        raise TrainingError(
            f"training stopped at step {fault['step']} (epoch {fault['epoch']}): the loss became "
            f"{fault['loss']} with learning rate {fault['learning_rate']:.3g}; {kept}. Try a "
            "lower learning rate (or check the data for extreme values).", result)
    speed = epochs_run * len(data.train) / recorder.train_seconds if recorder.train_seconds else 0.0
    print(f"Trained {epochs_run} epoch(s) in {recorder.train_seconds:.1f} s "
          f"({speed:.1f} examples/s); outputs in {run_dir}")
    thresholds = None
    if data.task == "multilabel":
        from tfbert.evaluation import predict_scores, tune_thresholds
        thresholds = tune_thresholds(data.validation.labels,
                                     predict_scores(classifier, data.validation)).tolist()
        with open(os.path.join(run_dir, _RUN_FILES["thresholds"]), "w") as f:
            json.dump(dict(zip(data.label_names, thresholds)), f, indent=2)
        print(f"Per-label thresholds tuned on the validation split: "
              f"{os.path.join(run_dir, _RUN_FILES['thresholds'])}")
    return TrainResult(classifier, recorder.history, run_dir, list(data.label_names), config,
                       recorder.train_seconds, speed, thresholds)


def _backup_position(backup_dir, steps_per_epoch):
    """``(epoch, step)`` where a run backed up in ``backup_dir`` goes on, or None.

    Read from the checkpoint Keras' ``BackupAndRestore`` writes, with the rule
    Keras itself applies when it restores it, so that the data stream can start
    at the same place as the restored model.
    """
    latest = tf.train.latest_checkpoint(os.path.join(backup_dir, "chief"))
    if latest is None:
        return None
    reader = tf.train.load_checkpoint(latest)
    epoch = int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    step = int(reader.get_tensor("ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    if step < 0:                          # saved at an epoch's end
        return epoch + 1, 0
    return (epoch + 1, 0) if step == steps_per_epoch - 1 else (epoch, step + 1)


PRECISIONS = (None, "mixed_float16", "mixed_bfloat16", "auto")


def resolve_precision(mixed_precision, strategy):
    """The Keras dtype policy name for ``mixed_precision`` on ``strategy``'s devices."""
    if mixed_precision not in PRECISIONS:
        raise TfbertError(f"mixed_precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                          f"got {mixed_precision!r}.")
    if mixed_precision != "auto":
        return mixed_precision or "float32"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "float32"


def initial_bias(split, num_classes):
    """Output biases that start the head at the training labels' base rates.

    Log-odds of each label's frequency (sigmoid heads), log-frequencies
    (softmax), or the mean score (regression): the first steps then learn from
    the texts instead of spending themselves on the base rate, which matters
    most for rare labels (GoEmotions' start at 0.5 and need hundreds of steps
    to come down) and for scores far from 0 (STS-B's 0 to 5).
    """
    import numpy as np
    labels = split.labels
    if split.task == "regression":
        return np.array([labels.mean()], dtype=np.float32)
    if split.task == "multilabel":
        rate = labels.mean(axis=0)
    else:
        rate = np.bincount(labels, minlength=num_classes)[:num_classes] / len(labels)
        if num_classes > 2:
            return np.log(np.clip(rate, 1e-3, 1.0)).astype(np.float32)
        rate = rate[1:]
    rate = np.clip(rate, 1e-3, 1 - 1e-3)
    return np.log(rate / (1 - rate)).astype(np.float32)


def _check_trainable(data):
    """Refuse training data a classifier cannot learn from: one class, or constant scores."""
    import numpy as np
    from tfbert.errors import DataError
    train_labels = data.train.labels
    if data.task == "classification" and len(np.unique(train_labels)) < 2:
        only = data.label_names[int(train_labels[0])]
        raise DataError(f"{data.source}: every training example has the label {only!r}; a "
                        "classifier needs examples of at least two labels.")
    if data.task == "regression" and np.ptp(train_labels) == 0:
        raise DataError(f"{data.source}: every training score is {train_labels[0]:g}; there "
                        "is nothing to learn.")
    if data.task == "multilabel" and not train_labels.any():
        raise DataError(f"{data.source}: no training example has any label.")


def _check_model_fits(config, data):
    """Raise unless a given model was built for ``data``'s task, labels and inputs."""
    wanted = {"task": data.task, "num_segments": 2 if data.text_pairs else 1}
    if data.task != "regression":
        wanted["num_classes"] = data.num_classes
    for key, value in wanted.items():
        if getattr(config, key) != value:
            raise TfbertError(f"the model was built with {key}={getattr(config, key)!r} but the "
                              f"data {data.source} needs {key}={value!r}.")
