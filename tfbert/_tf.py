"""TensorFlow, tf-keras and tensorflow-text, imported in the order tfbert needs.

Every tfbert module imports TensorFlow from here::

    from tfbert._tf import tf, tf_keras
"""
import warnings

import tfbert._setup  # noqa: F401  (sets TF_USE_LEGACY_KERAS first)
from tfbert.errors import SetupError

# tensorflow-hub 0.16 imports pkg_resources (hence the setuptools<81 pin); its warning is noise.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

import tensorflow as tf
import tf_keras

try:
    import tensorflow_text  # noqa: F401  (registers the ops BERT preprocessors use)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise SetupError(
        f"tensorflow-text could not be imported ({exc}). BERT preprocessing models need it, "
        f"in the version matching tensorflow {tf.__version__}: "
        f"pip install 'tensorflow-text=={'.'.join(tf.__version__.split('.')[:2])}.*'"
    ) from exc

__all__ = ["tf", "tf_keras"]
