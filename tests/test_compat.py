"""tfbert.compat against the installed tf-keras and tensorflow-hub: pinned versions, real objects.

Each function is checked against what the library itself then does (where Keras
resumes, what EarlyStopping restores, what ModelCheckpoint saves, where
tensorflow_hub looks), on a one-layer Keras model: fast, no BERT.
"""
import importlib.metadata
import os

import numpy as np
import pytest

from tfbert import compat

X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = X.sum(axis=1, keepdims=True)
STEPS_PER_EPOCH = 4   # 16 rows, batches of 4


@pytest.mark.parametrize("distribution", sorted(compat.WRITTEN_FOR))
def test_installed_versions_are_the_ones_compat_was_written_for(distribution):
    expected = compat.WRITTEN_FOR[distribution]
    installed = importlib.metadata.version(distribution)
    assert installed == expected, (
        f"{distribution} {installed} is installed but tfbert/compat.py was written for "
        f"{expected}: check each function of tfbert/compat.py against {distribution} "
        f"{installed}'s sources, then update WRITTEN_FOR there.")


def _model():
    from tfbert._tf import tf_keras
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(1)])
    model.compile(tf_keras.optimizers.SGD(0.01), "mse")
    return model


def _callback(**methods):
    from tfbert._tf import tf_keras
    return type("Probe", (tf_keras.callbacks.Callback,), methods)()


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("save_freq, stop_at", [
    (3, (1, 2)),          # last backup after epoch 1, step 1: goes on at step 2
    (1, (1, 0)),          # last backup at epoch 0's last step: goes on at epoch 1, step 0
    ("epoch", (1, 2)),    # backed up at the end of epoch 0: goes on at epoch 1, step 0
])
def test_backup_position_is_where_keras_resumes(tmp_path, save_freq, stop_at):
    from tfbert._tf import tf_keras
    backup = str(tmp_path / "backup")
    assert compat.backup_position(backup, STEPS_PER_EPOCH) is None

    def stop(self, batch, logs=None):
        if (self.epoch, batch) == stop_at:
            raise _Interrupted

    def note_epoch(self, epoch, logs=None):
        self.epoch = epoch
    interrupt = _callback(on_epoch_begin=note_epoch, on_train_batch_begin=stop)
    with pytest.raises(_Interrupted):
        _model().fit(X, Y, batch_size=4, epochs=3, verbose=0, callbacks=[
            tf_keras.callbacks.BackupAndRestore(backup, save_freq=save_freq), interrupt])
    position = compat.backup_position(backup, STEPS_PER_EPOCH)

    seen = []

    def record(self, batch, logs=None):
        seen.append((self.epoch, int(batch)))
    resumed = _callback(on_epoch_begin=note_epoch, on_train_batch_begin=record)
    _model().fit(X, Y, batch_size=4, epochs=3, verbose=0, callbacks=[
        tf_keras.callbacks.BackupAndRestore(backup, save_freq=save_freq), resumed])
    assert position == seen[0]
    assert position != (0, 0)   # there was a backup to resume from


def test_early_stopping_best_reads_what_keras_kept():
    from tfbert._tf import tf_keras
    early_stopping = tf_keras.callbacks.EarlyStopping("loss", patience=5,
                                                      restore_best_weights=True)
    assert compat.early_stopping_best(early_stopping)[2] is None   # no epoch yet
    model = _model()
    history = model.fit(X, Y, batch_size=4, epochs=3, verbose=0, callbacks=[early_stopping])
    losses = history.history["loss"]
    best_epoch, best, weights = compat.early_stopping_best(early_stopping)
    assert best_epoch == int(np.argmin(losses))
    assert best == pytest.approx(min(losses))
    assert len(weights) == len(model.get_weights())


def test_restored_early_stopping_counts_on_and_restores_the_given_weights():
    from tfbert._tf import tf_keras
    model = _model()
    best_weights = [np.full_like(w, 0.5) for w in model.get_weights()]
    early_stopping = tf_keras.callbacks.EarlyStopping("loss", patience=2,
                                                      restore_best_weights=True)
    # A resumed run: epoch 0 was best (loss 1e-9, unbeatable), one epoch has passed since.
    restore = _callback(on_train_begin=lambda self, logs=None: compat.restore_early_stopping(
        early_stopping, best=1e-9, best_epoch=0, wait=1, best_weights=best_weights))
    history = model.fit(X, Y, batch_size=4, initial_epoch=1, epochs=5, verbose=0,
                        callbacks=[early_stopping, restore])
    assert len(history.history["loss"]) == 1         # the wait reached the patience at once
    for restored, expected in zip(model.get_weights(), best_weights):
        np.testing.assert_array_equal(restored, expected)
    assert compat.early_stopping_best(early_stopping)[:2] == (0, 1e-9)


@pytest.mark.parametrize("best, saved", [(1e-9, False), (1e9, True)])
def test_checkpoint_best_decides_what_is_saved(tmp_path, best, saved):
    from tfbert._tf import tf_keras
    path = str(tmp_path / "best")
    checkpoint = tf_keras.callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True,
                                                    save_weights_only=True)
    compat.set_checkpoint_best(checkpoint, best)
    _model().fit(X, Y, batch_size=4, epochs=1, verbose=0, callbacks=[checkpoint])
    assert os.path.exists(path + ".index") == saved


def test_hub_cache_folder_is_where_tensorflow_hub_looks(tmp_path, monkeypatch):
    import tensorflow_hub as hub
    from tfbert._tf import tf
    handle = "https://tfhub.dev/example/never-downloaded/1"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    folder = compat.hub_cache_folder(handle)
    assert os.path.dirname(folder) == str(tmp_path)
    module = tf.Module()
    module.scale = tf.Variable(3.0)
    tf.saved_model.save(module, folder)
    # A cached handle resolves to that folder without any download.
    assert hub.resolve(handle) == folder
    assert float(hub.load(handle).scale.numpy()) == 3.0


def test_weights_checkpoint_saves_the_weights_without_the_optimizer(tmp_path):
    from tfbert._tf import tf
    path = str(tmp_path / "best")
    model = _model()
    checkpoint = compat.weights_checkpoint(path, monitor="loss", save_best_only=True)
    model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[checkpoint])
    names = [name for name, _ in tf.train.list_variables(path)]
    assert any("kernel" in name for name in names)
    assert not [name for name in names if "optimizer" in name]
    fresh = _model()
    iterations = int(fresh.optimizer.iterations.numpy())
    fresh.load_weights(path)
    for restored, expected in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(restored, expected)
    assert int(fresh.optimizer.iterations.numpy()) == iterations


def test_back_up_now_writes_the_position_keras_is_at(tmp_path):
    from tfbert._tf import tf_keras
    backup = tf_keras.callbacks.BackupAndRestore(str(tmp_path), save_freq=1000)
    stop = _callback(on_train_batch_end=lambda self, batch, logs=None: (
        compat.back_up_now(backup), setattr(self.model, "stop_training", True))
        if batch == 1 and getattr(self, "_epoch", 0) == 1 else None,
        on_epoch_begin=lambda self, epoch, logs=None: setattr(self, "_epoch", epoch))
    model = _model()
    # Keras deletes its backup at the end of fit; a crash (here: an error) keeps it.
    crash = _callback(on_train_end=lambda self, logs=None: (_ for _ in ()).throw(
        RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        model.fit(X, Y, batch_size=4, epochs=3, verbose=0, callbacks=[crash, backup, stop])
    assert compat.backup_position(str(tmp_path), STEPS_PER_EPOCH) == (1, 2)
