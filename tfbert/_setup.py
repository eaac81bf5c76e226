"""Prepare the environment before anything imports TensorFlow: tf-keras, and quiet logs.

**tf-keras.** ``hub.KerasLayer`` and ``official.nlp.optimization.create_optimizer``
build tf-keras objects; Keras 3 rejects them ("Only instances of keras.Layer can be
added to a Sequential model", "KerasTensor is symbolic"). TensorFlow decides
which Keras ``tf.keras`` means the first time ``tf.keras`` is touched, reading
``TF_USE_LEGACY_KERAS``. ``import tfbert`` runs this module: it sets that
variable, and refuses to go on if Keras 3 was wired in earlier, because mixing
the two fails silently later.

**Quiet by default.** TensorFlow prints lines that do not concern a tfbert user:
C++ log lines such as ``E ... failed call to cuInit`` on a machine without a GPU
or oneDNN's ``DT_INT64`` note, tf-keras's "Compiled the loaded model, but the
compiled metrics have yet to be built" when a SavedModel loads, and INFO lines
such as ``Assets written to ...`` (twice in notebooks). Unless the user set
``TF_CPP_MIN_LOG_LEVEL`` (kept as set), this module sets it before TensorFlow
loads: ``3`` (no C++ INFO, WARNING or ERROR lines) on machines without an NVIDIA
GPU, ``2`` on machines with one, where a failing cuInit is a real error. Errors
tfbert and TensorFlow raise still reach the user as exceptions.
``set_verbosity(True)`` (``tfbert --verbose``) brings every line back.

It imports nothing heavy.

Example::

    import tfbert._setup
    tfbert._setup.set_verbosity(True)   # before TensorFlow loads, for the C++ lines too
"""
import glob
import logging
import os
import sys

from tfbert.errors import SetupError

os.environ["TF_USE_LEGACY_KERAS"] = "1"

# What the user set, if anything (empty counts as unset): respected as is, quiet or verbose.
USER_CPP_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL") or None
# TensorFlow's Python log lines tfbert hides while quiet (prefixes of the message).
NOISE = (
    "Compiled the loaded model, but the compiled metrics have yet to be built",
    "Assets written to",
)
_state = {"verbose": False}


def _has_nvidia_gpu():
    """Whether this machine has NVIDIA GPU hardware (its driver's device files)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or bool(glob.glob("/proc/driver/nvidia/gpus/*"))


def quiet_cpp_level():
    """The ``TF_CPP_MIN_LOG_LEVEL`` tfbert uses when the user set none: ``"3"`` hides
    ERROR lines too (cuInit's on GPU-less machines, oneDNN's INT64 note), ``"2"`` keeps
    them where a GPU could fail to start."""
    return "2" if _has_nvidia_gpu() else "3"


class _NoiseFilter(logging.Filter):
    """Drops the ``NOISE`` records of the ``tensorflow`` logger unless tfbert is verbose."""

    def filter(self, record):
        if _state["verbose"]:
            return True
        message = str(record.msg)
        return not message.startswith(NOISE)


_FILTER = _NoiseFilter()


def set_verbosity(verbose):
    """Show TensorFlow's log lines (``verbose=True``) or hide the noise (the default).

    ``TF_CPP_MIN_LOG_LEVEL`` is read once, when TensorFlow loads: call this before
    (the ``tfbert`` command does, first thing) for the C++ lines to follow. A
    ``TF_CPP_MIN_LOG_LEVEL`` the user set is never changed.

    Example::

        from tfbert._setup import set_verbosity
        set_verbosity(True)    # cuInit, oneDNN, "Assets written to ..." lines come back
    """
    _state["verbose"] = bool(verbose)
    if USER_CPP_LEVEL is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else quiet_cpp_level()
    logger = logging.getLogger("tensorflow")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    if "tensorflow" in sys.modules:
        quiet_python_logs()


def quiet_python_logs():
    """After TensorFlow loads: its logger at WARNING while quiet (in Jupyter TensorFlow
    sets INFO, which prints every "Assets written to ..." line), INFO when verbose."""
    import tensorflow as tf  # already imported: callers check

    tf.get_logger().setLevel(logging.INFO if _state["verbose"] else logging.WARNING)


def _keras_version_in_use(tf_module):
    """The version ``tf.keras`` resolved to, or None while it is still unresolved."""
    loader = tf_module.__dict__.get("keras")
    return getattr(loader, "__dict__", {}).get("__version__")


def _check_keras_wiring():
    tf_module = sys.modules.get("tensorflow")
    if tf_module is None:
        return
    version = _keras_version_in_use(tf_module)
    if version is not None and version.startswith("3."):
        raise SetupError(
            "Keras 3 is already wired into tensorflow (tf.keras was used before tfbert was "
            "imported), and TF Hub layers only work with tf-keras. Fix: import tfbert before "
            "anything touches tf.keras, or set TF_USE_LEGACY_KERAS=1 before importing "
            "tensorflow (export TF_USE_LEGACY_KERAS=1 in the shell; in a notebook, restart "
            "the kernel and run `import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'` or "
            "`import tfbert` first)."
        )


_check_keras_wiring()
set_verbosity(os.environ.get("TFBERT_VERBOSE", "") not in ("", "0"))
