"""Import TensorFlow on the tf-keras (Keras 2) path, which TF Hub layers need.

``hub.KerasLayer`` and ``official.nlp.optimization.create_optimizer`` build
tf-keras objects; Keras 3 rejects them ("Only instances of keras.Layer can be
added to a Sequential model", "KerasTensor is symbolic"). TensorFlow decides
which Keras ``tf.keras`` means the first time ``tf.keras`` is touched, reading
``TF_USE_LEGACY_KERAS``. This module sets that variable before TensorFlow is
imported, and refuses to go on if Keras 3 was wired in earlier, because mixing
the two fails silently later.

Every tfbert module imports TensorFlow from here::

    from tfbert._tf import tf, tf_keras
"""
import os
import sys

from tfbert.errors import SetupError

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

try:
    import tensorflow_text  # noqa: E402,F401  (registers the ops BERT preprocessors use)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise SetupError(
        f"tensorflow-text could not be imported ({exc}). BERT preprocessing models need it, "
        f"in the version matching tensorflow {tf.__version__}: "
        f"pip install 'tensorflow-text=={'.'.join(tf.__version__.split('.')[:2])}.*'"
    ) from exc

__all__ = ["tf", "tf_keras"]
