"""Fine-tune a classifier: one call that builds, fits and records everything.

:func:`train` runs named stages: check the data and settings, build the model
and AdamW optimizer (linear warmup, then linear decay, from tf-models-official)
inside the distribution strategy's scope, make datasets that tokenize every
text once, fit with early stopping (best weights restored), checkpoints,
backups, TensorBoard logs and the history saved as JSON and as a PNG of the
training curves, and finish (the task's decision settings tuned on validation).
Every default lives in :class:`TrainConfig`, which the command line reads too.

Example::

    import tfbert
    data = tfbert.load_data("aclImdb.tar.xz", max_examples=2000)
    result = tfbert.train(data, model="/models/tiny_bert", epochs=2, run_dir="runs/imdb")
    result.history["val_accuracy"]
    result.classifier.predict(["A wonderful film."])[0].label
"""
import dataclasses
import json
import math
import os

from tfbert import compat
from tfbert._tf import dtype_policy, tf, tf_keras
from tfbert.callbacks import ResumeState, RunRecorder, StopOnNonFiniteLoss, backup_callbacks
from tfbert.config import LONG_TEXT_SETTINGS, PRECISIONS, TrainConfig
from tfbert.data import make_dataset
from tfbert.distribute import describe, select_strategy
from tfbert.errors import TfbertError, TrainingError
from tfbert.long_text import windows_as_examples
from tfbert.models import build_classifier
from tfbert.optimizer import create_optimizer
from tfbert.registry import ModelSpec, recommended_settings
from tfbert.runs import next_version, remove_if_empty
from tfbert.tasks import monitor_mode

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_precision",
           "PRECISIONS"]

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
    features: dict | None = None    # freeze_encoder: per split, the cache path, reused, seconds

    @property
    def files(self):
        """Paths of the run's outputs, by kind."""
        return {kind: os.path.join(self.run_dir, name) for kind, name in _RUN_FILES.items()}

    @property
    def classifier(self):
        """The trained model as a :class:`~tfbert.serving.Classifier`: ``predict(texts)``
        returns the same :class:`~tfbert.Prediction` objects as an export would."""
        from tfbert.serving import Classifier
        return Classifier(self.model)


_RUN_FILES = {"history": "history.json", "curves": "training_curves.png",
              "checkpoints": "checkpoints", "tensorboard": "logs", "config": "config.json",
              "thresholds": "thresholds.json", "backup": "backup"}


def train(data, model=None, *, run_dir=None, callbacks=(), verbose="auto", **settings):
    """Fine-tune a BERT classifier on ``data`` and return a :class:`TrainResult`.

    A run that crashed or was killed resumes where it was when called again
    with the same ``run_dir``. A NaN or infinite loss stops training at once
    with a :class:`~tfbert.errors.TrainingError` naming the step and learning
    rate; the best weights so far are restored first.

    The task (classification, multi-label, regression) and whether examples are
    text pairs come from ``data``. After training the task tunes its decision
    settings on the validation split: for multi-label data the per-label
    thresholds that maximise each label's F1 (``result.thresholds``, kept in the
    model's config and in ``thresholds.json``).

    Args:
        data: a :class:`~tfbert.data.TextData` (see :func:`~tfbert.load_data`).
        model: a model name or folder (built here, inside the strategy scope), or
            a model from :func:`~tfbert.build_classifier` (build it inside
            ``strategy.scope()`` yourself). Default: :data:`~tfbert.models.DEFAULT_MODEL`.
        run_dir: where checkpoints, TensorBoard logs, ``history.json``,
            ``training_curves.png`` and ``config.json`` go (default ``runs/<model>/<N>``,
            a new N for each run; an interrupted run there is resumed).
        callbacks: extra Keras callbacks.
        verbose: Keras' progress display (``"auto"``: a progress bar).
        **settings: any field of :class:`TrainConfig` (its docs and defaults):
            ``epochs``, ``batch_size`` (the TensorFlow tutorial's 5, 32),
            ``learning_rate``, ``seq_length`` and ``pooling`` (unset: the model's
            recommendation, :func:`~tfbert.registry.recommended_settings`, e.g. mean
            pooling and 1e-4 for all-MiniLM-L6-v2, the tutorial's ``[CLS]`` and 3e-5 for
            Small BERT), ``warmup_fraction``, ``lr_schedule``, ``dropout``, ``patience``,
            ``monitor`` (``"val_loss"``,
            or the task's ``"val_accuracy"``, ``"val_pearson"``, ``"val_mae"``:
            a metric helps where the loss stops falling early while the metric
            people report keeps improving, as on MRPC), ``seed``, ``strategy``
            (a name or a ``tf.distribute.Strategy``), ``backup_steps``,
            ``deterministic`` (op determinism, on for the rest of the process),
            ``jit_compile``, ``mixed_precision`` (``None``, ``"mixed_float16"``,
            ``"mixed_bfloat16"`` or ``"auto"``), ``rebuild_encoder`` (unset: rebuilt
            whenever that is proven exact) and ``freeze_encoder`` (feature-based: each
            text's pooled features computed once and cached in ``run_dir/features``, then
            only the head trained, with the head-only defaults
            :data:`~tfbert.recommended.HEAD_ONLY_SETTINGS`; see :mod:`tfbert.features`).
    """
    strategy = settings.pop("strategy", "auto")
    if isinstance(model, tf_keras.Model):
        settings = {**settings, **_model_settings(model.config)}
    elif model is not None:
        settings["model"] = model.name if isinstance(model, ModelSpec) else os.fspath(model)
    config = TrainConfig.from_settings(
        {**settings, "strategy": strategy if isinstance(strategy, str)
         else type(strategy).__name__})
    _check(data, config)
    config = _with_recommended(config, model)
    if config.lr_schedule is None:
        config = dataclasses.replace(config, lr_schedule=data.task.lr_schedule)
    if run_dir is None:     # runs/<model>/<N>: a new folder per run, an interrupted one resumed
        runs = os.path.join("runs", os.path.basename(config.model.rstrip("/")))
        run_dir = os.path.join(runs, str(next_version(None, runs)))
    os.makedirs(run_dir, exist_ok=True)
    tf_keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if isinstance(model, tf_keras.Model):
        strategy = model.distribute_strategy
    elif isinstance(strategy, str):
        strategy = select_strategy(strategy)
    print(f"Training {config.model} on {len(data.train):,} examples "
          f"({len(data.validation):,} for validation) with {describe(strategy)}.")
    if config.freeze_encoder:
        print(f"Encoder frozen: only the head trains, on features cached in {run_dir}/features "
              f"(learning rate {config.learning_rate:g}, up to {config.epochs} epochs).")
    classifier = _build(data, model, config, strategy)
    config = dataclasses.replace(config, rebuild_encoder=classifier.config.rebuild_encoder,
                                 stride=classifier.config.stride)
    plan = _Plan(data, config, strategy, run_dir)
    _write_config(run_dir, config, classifier, data)
    if config.freeze_encoder:       # feature-based: the head alone, on cached features
        from tfbert.features import fit_head
        fit_head(classifier, plan, lambda: create_optimizer(
            config.learning_rate, len(data.train), config.batch_size, config.epochs,
            config.warmup_fraction, config.lr_schedule), callbacks, verbose)
        if plan.non_finite.fault is not None:
            raise _non_finite_error(classifier, plan)
    else:
        _fit(classifier, plan.datasets(classifier), plan, plan.callbacks(callbacks), verbose)
    return _finish(data, classifier, config, plan)


def _with_recommended(config, model):
    """``config`` with the settings left unset taken from the model's recommendations
    (printed, and recorded in ``config.json`` as what ran)."""
    spec = (ModelSpec(model.config.model, model.config.encoder, model.config.preprocess)
            if isinstance(model, tf_keras.Model)
            else model if isinstance(model, ModelSpec) else config.model)
    config, taken = config.with_recommended(recommended_settings(spec))
    if taken:
        print(f"Settings recommended for {config.model}: "
              + ", ".join(f"{name}={value}" for name, value in taken.items())
              + " (set any of them to change it; `tfbert models` lists them).")
    return config


def _model_settings(model_config):
    """The training settings a given model fixes (recorded as what actually ran)."""
    return {"model": model_config.model, "seq_length": model_config.seq_length,
            "dropout": model_config.dropout, "pooling": model_config.pooling,
            "rebuild_encoder": model_config.rebuild_encoder, **model_config.long_text}


def _check(data, config):
    """Refuse data the task cannot learn from, and a monitor the task does not measure."""
    task = data.task
    task.check_trainable(data.train.labels, data.label_names, data.source)
    try:
        task.check_num_labels(data.num_classes)
    except TfbertError as exc:
        raise TfbertError(f"{data.source}: {exc} (labels: {data.label_names})") from None
    if config.monitor not in task.monitors():
        raise TfbertError(f"monitor={config.monitor!r} is not measured for a {task} task; "
                          f"choose one of {', '.join(task.monitors())}.")


def _build(data, model, config, strategy):
    """The classifier (built in the strategy's scope, head bias at the base rates), compiled."""
    task = data.task
    policy = resolve_precision(config.mixed_precision, strategy)
    with strategy.scope(), dtype_policy(policy):
        if isinstance(model, tf_keras.Model):
            classifier = model
            _check_model_fits(classifier.config, data)
        else:
            classifier = build_classifier(model or config.model, dropout=config.dropout,
                                          seq_length=config.seq_length, pooling=config.pooling,
                                          task=task, text_pairs=data.text_pairs,
                                          rebuild_encoder=config.rebuild_encoder,
                                          trainable=not config.freeze_encoder,
                                          label_names=data.label_names,
                                          **{name: getattr(config, name)
                                             for name in LONG_TEXT_SETTINGS})
            classifier.core.get_layer("classifier").bias.assign(
                task.initial_bias(data.train.labels, data.num_classes))
        optimizer = create_optimizer(config.learning_rate, len(data.train), config.batch_size,
                                     config.epochs, config.warmup_fraction, config.lr_schedule)
        classifier.core.compile(optimizer=optimizer, loss=task.loss(data.num_classes),
                                metrics=task.metrics(data.num_classes),
                                jit_compile=config.jit_compile)
    return classifier


def resume_point(run_dir, steps_per_epoch, epochs):
    """``(start, history)`` of a run in ``run_dir``: where an interrupted run goes on
    (``(epoch, step)`` from its backup, announced) and its recorded history; ``(None, {})``
    when there is no backup to resume from. Shared by :func:`train` and
    :func:`tfbert.qa_training.train_qa`.

    Example::

        start, history = resume_point("runs/imdb", steps_per_epoch=782, epochs=3)
    """
    backup_dir = os.path.join(run_dir, _RUN_FILES["backup"])
    start = compat.backup_position(backup_dir, steps_per_epoch)
    if start is None:
        return None, {}
    # Killed after the last step, before the backup was removed: nothing left to run.
    start = min(start, (epochs - 1, steps_per_epoch))
    print(f"Resuming the interrupted run saved in {backup_dir} at epoch {start[0] + 1}, step "
          f"{start[1] + 1} (delete that folder to start over).")
    history_path = os.path.join(run_dir, _RUN_FILES["history"])
    if not os.path.isfile(history_path):
        return start, {}
    with open(history_path) as f:
        return start, json.load(f)


class _Plan:
    """Where a run's steps, files and resume position come from."""

    def __init__(self, data, config, strategy, run_dir):
        self.data, self.config, self.run_dir = data, config, run_dir
        self.tpu = isinstance(strategy, tf.distribute.TPUStrategy)
        # Every worker of a cluster must run the same number of equal steps.
        self.drop_remainder = self.tpu or isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy)
        n, batch = len(data.train), config.batch_size
        self.steps_per_epoch = n // batch if self.drop_remainder else math.ceil(n / batch)
        if self.steps_per_epoch == 0:
            raise TfbertError(f"{data.source}: {n} training examples do not fill one batch of "
                              f"{batch}, and {describe(strategy)} drops partial batches; lower "
                              "--batch-size.")
        self.backup_dir = self.path("backup")
        self.best_path = os.path.join(self.path("checkpoints"), "best")
        self.start, self.history = resume_point(run_dir, self.steps_per_epoch, config.epochs)

    def path(self, kind):
        return os.path.join(self.run_dir, _RUN_FILES[kind])

    def datasets(self, classifier):
        """Training (one seeded stream of every epoch, from the resume position) and
        validation datasets, tokenized once."""
        data, config = self.data, self.config
        datasets = {name: make_dataset(getattr(data, name), classifier.preprocessor,
                                       config.batch_size, shuffle=(name == "train"),
                                       seed=config.seed, drop_remainder=self.drop_remainder,
                                       label_dtype=data.task.label_dtype(data.num_classes),
                                       dynamic_padding=not self.tpu,
                                       epochs=config.epochs if name == "train" else None,
                                       start=self.start or (0, 0))
                    for name in ("train", "validation")}
        if config.chunk_loss == "windows":     # validation still scores the pooled texts
            datasets["train"] = datasets["train"].map(windows_as_examples)
        return datasets

    def callbacks(self, extra):
        config, mode = self.config, monitor_mode(self.config.monitor)
        self.recorder = RunRecorder(self.run_dir, self.history)
        self.early_stopping = tf_keras.callbacks.EarlyStopping(
            monitor=config.monitor, mode=mode, patience=config.patience,
            restore_best_weights=True, verbose=1)
        # The best epoch's weights only; the optimizer is in the backup alone.
        checkpoint = compat.weights_checkpoint(self.best_path, monitor=config.monitor,
                                               mode=mode, save_best_only=True)
        self.non_finite = StopOnNonFiniteLoss()
        backup, on_signal = backup_callbacks(self.backup_dir, self.steps_per_epoch,
                                             config.backup_steps)
        return [
            self.early_stopping,
            checkpoint,
            # Before BackupAndRestore: the weights read from the best checkpoint are then
            # replaced by the backup's (with the optimizer's state and the step).
            ResumeState(self.history, self.best_path, self.early_stopping, checkpoint,
                         config.monitor),
            # Saves weights, optimizer and position often enough that a crash costs minutes.
            backup,
            self.non_finite,
            tf_keras.callbacks.TensorBoard(self.path("tensorboard"), profile_batch=0),
            self.recorder,
            # SIGTERM/SIGINT: a backup at the step under way (after the epoch's records).
            on_signal,
            *extra,
        ]


def _write_config(run_dir, config, classifier, data):
    """``config.json``: the settings that ran, the model's own config, the data."""
    with open(os.path.join(run_dir, _RUN_FILES["config"]), "w") as f:
        json.dump({**dataclasses.asdict(config), "classifier": classifier.config.to_json(),
                   "label_names": data.label_names, "data": data.source}, f, indent=2)


def _fit(classifier, datasets, plan, callbacks, verbose):
    config = plan.config
    try:
        classifier.core.fit(datasets["train"], validation_data=datasets["validation"],
                            epochs=config.epochs, steps_per_epoch=plan.steps_per_epoch,
                            callbacks=callbacks, verbose=verbose)
        # Keras deleted its backup (backup/chief); a finished run leaves no empty folder.
        remove_if_empty(plan.backup_dir)
    except tf.errors.ResourceExhaustedError as exc:
        raise TrainingError(
            f"out of memory with batch size {config.batch_size} and sequence length "
            f"{config.seq_length} ({str(exc).splitlines()[0][:160]}). Lower --batch-size (e.g. "
            f"{max(1, config.batch_size // 2)}) or --seq-length; the run resumes from "
            f"{plan.backup_dir} if a backup was written.") from None
    except tf.errors.InvalidArgumentError as exc:
        if not (config.deterministic and "random ops must have a seed" in str(exc)):
            raise
        # A SavedModel's ops keep the seeds they were traced with; converted models have none.
        raise TrainingError(
            "deterministic=True: the TF Hub encoder's dropout ops have no random seed (it was "
            "exported without one), and TensorFlow will not run them deterministically. Leave "
            "rebuild_encoder unset (the rebuilt encoder seeds its dropout) or train without "
            "deterministic.") from None
    if plan.non_finite.fault is not None:
        raise _non_finite_error(classifier, plan)


def _non_finite_error(classifier, plan):
    fault, monitor = plan.non_finite.fault, plan.config.monitor
    best_epoch, best, weights = compat.early_stopping_best(plan.early_stopping)
    kept = (f"the weights of epoch {best_epoch + 1} (best {monitor} {best:.4f}) are restored "
            f"in the model and kept in {plan.best_path}" if weights is not None else
            "no epoch had finished, so there are no good weights to keep")
    result = TrainResult(classifier, plan.recorder.history, plan.run_dir,
                         list(plan.data.label_names), plan.config, plan.recorder.train_seconds,
                         0.0)
    return TrainingError(
        f"training stopped at step {fault['step']} (epoch {fault['epoch']}): the loss became "
        f"{fault['loss']} with learning rate {fault['learning_rate']:.3g}; {kept}. Try a "
        "lower learning rate (or check the data for extreme values).", result)


def _finish(data, classifier, config, plan):
    """Report the speed, tune the task's decision settings on validation, build the result."""
    recorder = plan.recorder
    epochs_run = len(recorder.history.get("loss", []))
    seconds = recorder.train_seconds
    speed = epochs_run * len(data.train) / seconds if seconds else 0.0
    print(f"Trained {epochs_run} epoch(s) in {seconds:.1f} s ({speed:.1f} examples/s); "
          f"outputs in {plan.run_dir}")
    thresholds = None
    if data.task.has_thresholds:
        from tfbert.evaluation import predict_scores
        thresholds = data.task.tune(data.validation.labels,
                                    predict_scores(classifier, data.validation))
        classifier.with_thresholds(thresholds)
        with open(plan.path("thresholds"), "w") as f:
            json.dump(dict(zip(data.label_names, thresholds)), f, indent=2)
        print(f"Per-label thresholds tuned on the validation split: {plan.path('thresholds')}")
    return TrainResult(classifier, recorder.history, plan.run_dir, list(data.label_names),
                       config, seconds, speed, thresholds, getattr(plan, "features", None))


def resolve_precision(mixed_precision, strategy):
    """The Keras dtype policy name for ``mixed_precision`` (one of :data:`PRECISIONS`, checked
    by :class:`TrainConfig`) on ``strategy``'s devices."""
    if mixed_precision != "auto":
        return mixed_precision or "float32"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), where
    ``mixed_bfloat16`` pays; elsewhere bfloat16 is emulated and slower than float32.
    Reads the Linux CPU flags (False where there are none to read)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def _check_model_fits(model_config, data):
    """Raise unless a given model was built for ``data``'s task, labels and inputs."""
    wanted = {"task": data.task.name, "num_segments": 2 if data.text_pairs else 1}
    if data.task.fixed_num_labels is None:
        wanted["num_classes"] = data.num_classes
    for key, value in wanted.items():
        if getattr(model_config, key) != value:
            raise TfbertError(f"the model was built with {key}={getattr(model_config, key)!r} "
                              f"but the data {data.source} needs {key}={value!r}.")
