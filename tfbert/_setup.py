"""Put TensorFlow on the tf-keras (Keras 2) path before anything imports it.

``hub.KerasLayer`` and ``official.nlp.optimization.create_optimizer`` build
tf-keras objects; Keras 3 rejects them ("Only instances of keras.Layer can be
added to a Sequential model", "KerasTensor is symbolic"). TensorFlow decides
which Keras ``tf.keras`` means the first time ``tf.keras`` is touched, reading
``TF_USE_LEGACY_KERAS``. ``import tfbert`` runs this module: it sets that
variable, and refuses to go on if Keras 3 was wired in earlier, because mixing
the two fails silently later. It imports nothing heavy.
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
