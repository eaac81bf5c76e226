"""The Keras callbacks a training run adds to Keras' own (early stopping, checkpoints,
backups, TensorBoard): the run's records, the stop on a non-finite loss, the
hand-over of early stopping's state to a resumed run, and the backup on SIGTERM/SIGINT.
"""
import json
import math
import os
import signal
import threading
import time

from tfbert import compat
from tfbert._tf import tf, tf_keras
from tfbert.errors import TrainingError
from tfbert.plots import plot_history
from tfbert.tasks import monitor_mode

__all__ = ["RunRecorder", "StopOnNonFiniteLoss", "ResumeState", "BackupOnSignal",
           "TrainingInterrupted", "backup_callbacks"]


class RunRecorder(tf_keras.callbacks.Callback):
    """Times the training part of each epoch and writes the history JSON after each, and
    the curves after each epoch that took at least ten times as long as drawing them
    (so they cost at most a tenth of the run), and at the end.

    The history holds one value per epoch for each metric Keras logs, and under
    ``"steps"`` the training loss and metrics every ``step_interval`` steps
    (default: about 50 points an epoch) as Keras' progress bar shows them (the
    mean since the epoch began), with the global step and the epoch as a
    fraction, so that even a one-epoch run shows how it learned.

    Example::

        recorder = RunRecorder("runs/imdb")
        model.fit(data, epochs=2, callbacks=[recorder])
        recorder.history["val_loss"], recorder.history["steps"]["loss"]
    """

    def __init__(self, run_dir, history=None, step_interval=None, plot_each_epoch=True):
        """``plot_each_epoch=False``: draw the curves once, when training ends."""
        super().__init__()
        self.plot_each_epoch = plot_each_epoch
        self.run_dir = run_dir
        self.history = history or {}
        self.step_interval = step_interval
        self.train_seconds = 0.0
        self._start = self._epoch_start = None
        self._plot_seconds = 0.0        # how long the last drawing took
        self._plotted = True            # the curves show every finished epoch

    def on_train_begin(self, logs=None):
        self._steps_per_epoch = self.params.get("steps") or 1
        self._interval = self.step_interval or max(1, self._steps_per_epoch // 50)
        # Runs after BackupAndRestore: a resumed run goes on from the backup's step and drops
        # the steps the interrupted run recorded after it.
        self._step = int(self.model.optimizer.iterations.numpy())
        steps = self.history.setdefault("steps", {})
        kept = sum(step <= self._step for step in steps.get("step", []))
        for values in steps.values():
            del values[kept:]

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self._interval and batch != self._steps_per_epoch - 1:
            return
        steps = self.history["steps"]
        record = {"step": self._step, "epoch": self._step / self._steps_per_epoch,
                  **{key: float(value) for key, value in (logs or {}).items()}}
        for key, value in record.items():
            steps.setdefault(key, []).append(value)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._epoch_start = time.perf_counter()

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
        with open(os.path.join(self.run_dir, "history.json"), "w") as f:
            json.dump(self.history, f, indent=2)
        self._plotted = False
        epoch_seconds = time.perf_counter() - self._epoch_start
        if self.plot_each_epoch and epoch_seconds >= 10 * self._plot_seconds:
            self._plot()

    def on_train_end(self, logs=None):
        if not self._plotted:
            self._plot()

    def _plot(self):
        start = time.perf_counter()
        plot_history(self.history, os.path.join(self.run_dir, "training_curves.png"))
        self._plot_seconds = time.perf_counter() - start
        self._plotted = True


class StopOnNonFiniteLoss(tf_keras.callbacks.TerminateOnNaN):
    """Keras' ``TerminateOnNaN`` (stops at the first step whose loss is NaN or infinite)
    that also remembers the step, epoch, loss and learning rate for the error message."""

    def __init__(self):
        super().__init__()
        self.fault = None

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.fault is None:
            optimizer = self.model.optimizer
            rate = optimizer.learning_rate
            try:
                rate = float(rate(optimizer.iterations - 1) if callable(rate) else rate)
            except (TypeError, ValueError):
                rate = float("nan")
            self.fault = {"step": int(optimizer.iterations.numpy()), "epoch": None,
                          "loss": float(loss), "learning_rate": rate}
        super().on_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.fault is not None and self.fault["epoch"] is None:
            self.fault["epoch"] = epoch + 1


class ResumeState(tf_keras.callbacks.Callback):
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
        # Runs before BackupAndRestore (see tfbert.training), which then puts back the weights and
        # the optimizer state (iterations, slots) of the backup over those loaded here.
        self.model.load_weights(self.checkpoint_path)
        compat.set_checkpoint_best(self.checkpoint, best)
        compat.restore_early_stopping(self.early_stopping, best, best_epoch,
                                      len(values) - 1 - best_epoch, self.model.get_weights())


class TrainingInterrupted(TrainingError, KeyboardInterrupt):
    """Training stopped by Ctrl-C (SIGINT) after backing up: a ``KeyboardInterrupt``, so
    code that handles Ctrl-C still does, and a :class:`~tfbert.errors.TrainingError`, so
    the command line prints how to resume."""


class BackupOnSignal(tf_keras.callbacks.Callback):
    """On SIGTERM or SIGINT during ``fit``: back up at once, then stop, saying how to resume.

    A preempted VM, ``kill`` or a notebook's interrupt button sends one of these
    first. The handlers (installed for the length of ``fit``, from the main
    thread only) note the signal; at the end of the step under way, ``backup``
    (the run's ``tf_keras.callbacks.BackupAndRestore``) writes the state there,
    and training stops with a :class:`~tfbert.errors.TrainingError` (SIGTERM)
    or :class:`TrainingInterrupted` (SIGINT) naming the step the same command
    resumes at. A second signal acts at once, as it would without tfbert.
    Place it after ``backup`` and after the callbacks that record an epoch.

    Example::

        backup = tf_keras.callbacks.BackupAndRestore("runs/imdb/backup", save_freq=200)
        model.fit(data, epochs=3, callbacks=[backup, BackupOnSignal(backup, "runs/imdb/backup")])
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, backup, backup_dir):
        super().__init__()
        self.backup, self.backup_dir = backup, backup_dir
        self.received = None
        self._previous = {}

    def on_train_begin(self, logs=None):
        self.received = None
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._receive)
                              for number in self.SIGNALS}

    def _receive(self, number, frame):
        self.received = signal.Signals(number)
        self._restore()

    def _restore(self):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None:
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        if self.received is not None:   # arrived during validation
            self._stop()

    def on_train_end(self, logs=None):
        self._restore()

    def _stop(self):
        compat.back_up_now(self.backup)
        self._restore()
        epoch, step = compat.backup_position(self.backup_dir, self.params["steps"])
        error = TrainingInterrupted if self.received == signal.SIGINT else TrainingError
        raise error(f"training stopped by {self.received.name}; its state is saved in "
                    f"{self.backup_dir}. Run the same command again (in Python: the same call "
                    f"with the same run_dir) to resume at epoch {epoch + 1}, step {step + 1}.")


def backup_callbacks(backup_dir, steps_per_epoch, backup_steps):
    """A run's backups: ``(backup, on_signal)``, Keras' ``BackupAndRestore`` in ``backup_dir``
    every ``backup_steps`` steps (at least once an epoch) and the :class:`BackupOnSignal`
    that backs up at once on SIGTERM/SIGINT. Place ``backup`` after :class:`ResumeState`
    and ``on_signal`` after the callbacks that record an epoch.

    Example::

        backup, on_signal = backup_callbacks("runs/imdb/backup", 782, 200)
        model.fit(data, epochs=3, callbacks=[resume_state, backup, recorder, on_signal])
    """
    backup = tf_keras.callbacks.BackupAndRestore(
        backup_dir, save_freq=max(1, min(steps_per_epoch, backup_steps)))
    return backup, BackupOnSignal(backup, backup_dir)
