"""Everything tfbert reads or sets inside tf-keras and tensorflow-hub that is not public API.

tfbert resumes interrupted runs and carries early stopping across them, backs
a run up the moment it is told to stop, keeps the best epoch's weights without
the optimizer, and finds TF Hub's download cache; Keras and tensorflow-hub offer
no public way to do these, so tfbert relies on their internals, here and nowhere else. They
were read from the versions in :data:`WRITTEN_FOR`; ``tests/test_compat.py``
fails when other versions are installed, and exercises each function on real
objects, so an upgrade is checked in one place.

TensorFlow is imported inside the functions: importing this module stays light.

Example::

    from tfbert import compat
    compat.backup_position("runs/imdb/backup", steps_per_epoch=782)   # (2, 120) or None
"""
import functools
import hashlib
import os

#: The distributions (pip names) and versions whose internals this module was written for.
WRITTEN_FOR = {"tf-keras": "2.20.1", "tensorflow-hub": "0.16.1"}

# The variables tf-keras' BackupAndRestore (src/distribute/worker_training_state.py) saves
# next to the model, under the "chief" sub-folder of its backup_dir.
_SAVED_EPOCH = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"
_SAVED_BATCH = "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"


def backup_position(backup_dir, steps_per_epoch):
    """``(epoch, step)`` where a run backed up in ``backup_dir`` goes on, or None.

    Read from the checkpoint Keras' ``BackupAndRestore`` writes
    (``backup_dir/chief``), with the rule Keras itself applies when it
    restores it, so that the data stream can start at the same place as the
    restored model: a backup made at an epoch's end (or at its last step)
    goes on at the next epoch's first step.

    Example::

        backup_position("runs/imdb/backup", 782)   # (1, 300): epoch 1, step 300 (0-based)
    """
    from tfbert._tf import tf
    latest = tf.train.latest_checkpoint(os.path.join(backup_dir, "chief"))
    if latest is None:
        return None
    reader = tf.train.load_checkpoint(latest)
    epoch = int(reader.get_tensor(_SAVED_EPOCH))
    step = int(reader.get_tensor(_SAVED_BATCH))
    if step < 0:                          # saved at an epoch's end
        return epoch + 1, 0
    return (epoch + 1, 0) if step == steps_per_epoch - 1 else (epoch, step + 1)


def restore_early_stopping(early_stopping, best, best_epoch, wait, best_weights):
    """Put a resumed run's state into a ``tf_keras.callbacks.EarlyStopping``.

    ``best`` is the best monitored value so far, reached at 0-based
    ``best_epoch``; ``wait`` the epochs since without improvement;
    ``best_weights`` the model's weights then (a list of arrays, as
    ``model.get_weights()`` returns). Call it after the callback's
    ``on_train_begin``, which resets them.

    Example::

        restore_early_stopping(early_stopping, best=0.31, best_epoch=1, wait=0,
                               best_weights=model.get_weights())
    """
    early_stopping.best = best
    early_stopping.best_epoch = best_epoch
    early_stopping.wait = wait
    early_stopping.best_weights = best_weights


def early_stopping_best(early_stopping):
    """``(best_epoch, best, best_weights)`` of an ``EarlyStopping``; weights None before any epoch.

    Example::

        epoch, value, weights = early_stopping_best(early_stopping)
        if weights is not None:
            print(f"best val_loss {value:.4f} at epoch {epoch + 1}")
    """
    return (getattr(early_stopping, "best_epoch", 0), getattr(early_stopping, "best", None),
            getattr(early_stopping, "best_weights", None))


def set_checkpoint_best(checkpoint, best):
    """Tell a ``tf_keras.callbacks.ModelCheckpoint(save_best_only=True)`` the best value so far.

    It then saves only epochs that beat ``best`` (a resumed run does not
    overwrite its best checkpoint with a worse epoch).

    Example::

        set_checkpoint_best(checkpoint, 0.31)
    """
    checkpoint.best = best


def back_up_now(backup):
    """Make a ``tf_keras.callbacks.BackupAndRestore`` write its backup now (during ``fit``).

    The backup records the epoch and the step Keras is at (set at each step's
    start), so call it at a step's end: the run then resumes at the next step.

    Example::

        back_up_now(backup)          # in on_train_batch_end, after a SIGTERM
    """
    backup._backup(epoch=backup._current_epoch)


def save_weights(model, path):
    """Write ``model``'s weights, and not its optimizer, as a TensorFlow checkpoint.

    ``model.save_weights`` also writes a compiled model's optimizer (AdamW's
    step and ``m``/``v`` slots: twice the weights again). This writes the same
    checkpoint layout without that branch, so ``model.load_weights(path)`` reads
    it and leaves the optimizer as it is.

    Example::

        save_weights(model, "runs/imdb/checkpoints/best")
        model.load_weights("runs/imdb/checkpoints/best")
    """
    from tfbert._tf import tf
    optimizer = getattr(model, "optimizer", None)
    children = tf.train.TrackableView(model).children(model)
    tf.train.Checkpoint(**{name: child for name, child in children.items()
                           if child is not optimizer}).write(path)


def weights_checkpoint(filepath, **kwargs):
    """A ``tf_keras.callbacks.ModelCheckpoint(filepath, save_weights_only=True, **kwargs)``
    whose checkpoints hold the weights only (written by :func:`save_weights`).

    Example::

        best = weights_checkpoint("runs/imdb/checkpoints/best", monitor="val_loss",
                                  save_best_only=True)
    """
    return _weights_checkpoint_class()(filepath, save_weights_only=True, **kwargs)


@functools.cache
def _weights_checkpoint_class():
    from tfbert._tf import tf_keras

    class WeightsCheckpoint(tf_keras.callbacks.ModelCheckpoint):
        def _save_handler(self, filepath):   # where ModelCheckpoint writes, once it decided to
            save_weights(self.model, filepath)

    return WeightsCheckpoint


def hub_cache_folder(handle):
    """The folder where tensorflow_hub caches (or would cache) the model at URL ``handle``.

    The layout of tensorflow_hub's resolver: ``<cache dir>/<sha1 of the handle>``,
    where the cache dir is ``$TFHUB_CACHE_DIR`` or tensorflow_hub's temp folder.

    Example::

        hub_cache_folder("https://tfhub.dev/google/small_bert/...")   # /tmp/tfhub_modules/5a1c...
    """
    import tfbert._tf  # noqa: F401  (TensorFlow set up before tensorflow_hub imports it)
    from tensorflow_hub import resolver
    cache_dir = resolver.tfhub_cache_dir(use_temp=True)
    return os.path.join(cache_dir, hashlib.sha1(handle.encode("utf8")).hexdigest())
