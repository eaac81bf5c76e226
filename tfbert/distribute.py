"""Pick the ``tf.distribute`` strategy for the hardware at hand.

TPU when a TPU is attached (Colab, Cloud TPU VMs, ``TPU_NAME``),
MultiWorkerMirroredStrategy when ``TF_CONFIG`` describes a cluster of several
workers (TensorFlow's own multi-worker engine: every worker runs the same
script), MirroredStrategy over the local GPUs, and TensorFlow's default
strategy on a CPU.

Example::

    strategy = tfbert.select_strategy()          # or "tpu", "mirrored", "default"
    with strategy.scope():
        model = tfbert.build_classifier(...)
"""
import json
import os

from tfbert._tf import tf
from tfbert.config import STRATEGIES
from tfbert.errors import TfbertError


def cluster_workers():
    """How many workers ``TF_CONFIG`` names (0 when it names no cluster)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        raise TfbertError(f"TF_CONFIG is not valid JSON: {raw[:80]!r}") from None
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def is_chief():
    """Whether this process writes shared outputs (exports): the chief, or worker 0 without
    one, or the only process when there is no cluster."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    config = json.loads(raw)
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


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
        strategy: ``"auto"`` (TPU, else a ``TF_CONFIG`` cluster, else GPUs,
            else the default strategy), ``"tpu"``, ``"multiworker"``,
            ``"mirrored"`` (all local GPUs, or the CPU), ``"default"``, or a
            ``tf.distribute.Strategy`` instance, returned as it is.
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
    if strategy == "multiworker" or (strategy == "auto" and cluster_workers() > 1):
        if cluster_workers() < 1:
            raise TfbertError("strategy 'multiworker' needs TF_CONFIG to describe the cluster "
                              "(see the README's 'Training on several machines').")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if strategy == "mirrored" or (strategy == "auto" and gpus):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy):
    """A one-line description, e.g. ``MirroredStrategy with 2 replica(s)``."""
    name = type(strategy).__name__
    if name == "_DefaultDistributionStrategy":
        return "the default strategy (one device)"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return (f"MultiWorkerMirroredStrategy over {cluster_workers()} worker(s), "
                f"{strategy.num_replicas_in_sync} replica(s)")
    return f"{name} with {strategy.num_replicas_in_sync} replica(s)"
