"""Pick the ``tf.distribute`` strategy for the hardware at hand.

TPU when a TPU is attached (Colab, Cloud TPU VMs, ``TPU_NAME``), MirroredStrategy
over the local GPUs, and TensorFlow's default strategy on a CPU.

Example::

    strategy = tfbert.select_strategy()          # or "tpu", "mirrored", "default"
    with strategy.scope():
        model = tfbert.build_classifier(...)
"""
import os

from tfbert._tf import tf
from tfbert.errors import TfbertError

STRATEGIES = ("auto", "tpu", "mirrored", "default")


def _tpu_hinted():
    """Whether a TPU is plausibly attached, without asking a metadata server that may hang."""
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
        return True
    return os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0")


def _tpu_strategy():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def select_strategy(strategy="auto"):
    """Return a ``tf.distribute.Strategy``.

    Args:
        strategy: ``"auto"`` (TPU, else GPUs, else the default strategy),
            ``"tpu"``, ``"mirrored"`` (all local GPUs, or the CPU), ``"default"``,
            or a ``tf.distribute.Strategy`` instance, returned as it is.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise TfbertError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if strategy == "tpu" or (strategy == "auto" and _tpu_hinted()):
        try:
            return _tpu_strategy()
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:
            if strategy == "tpu":
                raise TfbertError(f"no TPU could be initialised: {exc}") from None
    gpus = tf.config.list_physical_devices("GPU")
    if strategy == "mirrored" or (strategy == "auto" and gpus):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy):
    """A one-line description, e.g. ``MirroredStrategy with 2 replica(s)``."""
    name = type(strategy).__name__
    if name == "_DefaultDistributionStrategy":
        return "the default strategy (one device)"
    return f"{name} with {strategy.num_replicas_in_sync} replica(s)"
