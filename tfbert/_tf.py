"""TensorFlow, tf-keras and tensorflow-text, imported in the order tfbert needs.

Every tfbert module imports TensorFlow from here::

    from tfbert._tf import tf, tf_keras
"""
import contextlib
import warnings

import tfbert._setup  # sets TF_USE_LEGACY_KERAS and the C++ log level first
from tfbert.errors import SetupError

# tensorflow-hub 0.16 imports pkg_resources (hence the setuptools<81 pin); its warning is noise.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import tensorflow as tf
import tf_keras

tfbert._setup.quiet_python_logs()

_MINOR = ".".join(tf.__version__.split(".")[:2])
_FIX = f"pip install 'tensorflow-text=={_MINOR}.*'"
try:
    import tensorflow_text  # noqa: F401  (registers the ops BERT preprocessors use)
except (ImportError, tf.errors.NotFoundError) as exc:
    # NotFoundError: a build for another TensorFlow whose op library does not load.
    raise SetupError(
        f"tensorflow-text could not be imported ({str(exc).splitlines()[0][:200]}). BERT "
        f"preprocessing models need it, in the version matching tensorflow {tf.__version__}: "
        f"{_FIX}") from None
_text_version = getattr(tensorflow_text, "__version__", _MINOR)
if ".".join(_text_version.split(".")[:2]) != _MINOR:
    raise SetupError(
        f"tensorflow-text {_text_version} does not match tensorflow {tf.__version__}: their "
        f"ops are built for one TensorFlow version each. {_FIX}")


@contextlib.contextmanager
def dtype_policy(name):
    """Keras' global dtype policy set to ``name`` while layers are built, then put back."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


@contextlib.contextmanager
def op_determinism_paused():
    """TensorFlow's op determinism off while the block runs, then as it was.

    For random ops that only inspect a model (they do not shape any run's results): a
    restored SavedModel's unseeded dropout raises "random ops must have a seed specified"
    while determinism is on (``train(..., deterministic=True)`` turns it on for the process).
    """
    from tensorflow.python.framework import config   # no public switch back off in TF 2.20
    enabled = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    try:
        yield
    finally:
        if enabled:
            config.enable_op_determinism()


__all__ = ["tf", "tf_keras", "dtype_policy", "op_determinism_paused"]
