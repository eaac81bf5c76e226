"""tfbert's own Keras callbacks on a one-layer model: fast, no BERT."""
import json
import os
import signal

import numpy as np
import pytest

from tfbert import compat
from tfbert.callbacks import BackupOnSignal, RunRecorder, TrainingInterrupted
from tfbert.errors import TrainingError

X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = X.sum(axis=1, keepdims=True)
STEPS_PER_EPOCH = 4   # 16 rows, batches of 4


def _model():
    from tfbert._tf import tf_keras
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(1)])
    model.compile(tf_keras.optimizers.SGD(0.01), "mse", metrics=["mae"])
    return model


def _signal_at(number, epoch, batch):
    """A callback that sends this process ``number`` at the start of step ``batch`` of
    ``epoch``, as ``kill`` from outside would."""
    from tfbert._tf import tf_keras

    class Send(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.epoch = e

        def on_train_batch_begin(self, b, logs=None):
            if (self.epoch, b) == (epoch, batch):
                os.kill(os.getpid(), number)
    return Send()


@pytest.mark.parametrize("number, error", [(signal.SIGTERM, TrainingError),
                                           (signal.SIGINT, TrainingInterrupted)])
def test_a_signal_backs_up_the_step_under_way_and_stops(tmp_path, number, error):
    from tfbert._tf import tf_keras
    backup_dir = str(tmp_path / "backup")
    before = signal.getsignal(number)
    backup = tf_keras.callbacks.BackupAndRestore(backup_dir, save_freq=1000)
    model = _model()
    with pytest.raises(error, match="resume at epoch 2, step 3") as raised:
        model.fit(X, Y, batch_size=4, epochs=3, verbose=0,
                  callbacks=[_signal_at(number, 1, 1), backup,
                             BackupOnSignal(backup, backup_dir)])
    assert signal.Signals(number).name in str(raised.value) and backup_dir in str(raised.value)
    assert isinstance(raised.value, KeyboardInterrupt) == (number == signal.SIGINT)
    assert compat.backup_position(backup_dir, STEPS_PER_EPOCH) == (1, 2)
    assert int(model.optimizer.iterations.numpy()) == STEPS_PER_EPOCH + 2
    assert signal.getsignal(number) is before               # handlers put back


def test_without_a_signal_nothing_changes(tmp_path):
    from tfbert._tf import tf_keras
    backup_dir = str(tmp_path / "backup")
    before = signal.getsignal(signal.SIGTERM)
    backup = tf_keras.callbacks.BackupAndRestore(backup_dir, save_freq=1000)
    history = _model().fit(X, Y, batch_size=4, epochs=2, verbose=0,
                           callbacks=[backup, BackupOnSignal(backup, backup_dir)])
    assert len(history.history["loss"]) == 2
    assert signal.getsignal(signal.SIGTERM) is before
    assert compat.backup_position(backup_dir, STEPS_PER_EPOCH) is None   # Keras removed it


def test_run_recorder_keeps_steps_and_epochs_and_a_resumed_run_drops_later_steps(tmp_path):
    recorder = RunRecorder(str(tmp_path), step_interval=2)
    model = _model()
    model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[recorder])
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["mae"]) == 2
    steps = history["steps"]
    assert steps["step"] == [2, 4, 6, 8] and steps["epoch"] == [0.5, 1.0, 1.5, 2.0]
    assert len(steps["loss"]) == len(steps["mae"]) == 4
    assert steps["loss"][1] == pytest.approx(history["loss"][0])   # epoch end: the epoch's mean
    assert (tmp_path / "training_curves.png").stat().st_size > 5000

    # A run resumed from a backup at step 5 drops the steps recorded after it.
    model.optimizer.iterations.assign(5)
    resumed = RunRecorder(str(tmp_path), history, step_interval=2)
    model.fit(X, Y, batch_size=4, initial_epoch=1, epochs=2, verbose=0, callbacks=[resumed])
    assert resumed.history["steps"]["step"] == [2, 4, 6, 8, 9]


@pytest.mark.parametrize("plot_each_epoch, drawn_after", [(True, [1, 3]), (False, [3])])
def test_curves_are_redrawn_only_after_epochs_long_beside_drawing_and_at_the_end(
        tmp_path, monkeypatch, plot_each_epoch, drawn_after):
    """Drawing takes 0.3 s here and an epoch milliseconds: the first epoch is drawn (nothing
    is known of the cost yet), the second is not, and the end draws the last one."""
    import time
    from tfbert import callbacks
    drawn = []

    def slow_plot(history, path):
        time.sleep(0.3)
        drawn.append(len(history["loss"]))
    monkeypatch.setattr(callbacks, "plot_history", slow_plot)
    recorder = RunRecorder(str(tmp_path), plot_each_epoch=plot_each_epoch)
    _model().fit(X, Y, batch_size=4, epochs=3, verbose=0, callbacks=[recorder])
    assert drawn == drawn_after
    assert len(json.loads((tmp_path / "history.json").read_text())["loss"]) == 3
