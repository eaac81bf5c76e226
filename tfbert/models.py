"""BERT models by name or path, and the classifier built on them.

A model is a pair of TF Hub-format SavedModels: a preprocessor (raw strings to
``input_word_ids``/``input_mask``/``input_type_ids``) and an encoder (those ids
to ``pooled_output``). :func:`resolve_model` turns what a user typed (a name
from the TensorFlow "Classify text with BERT" tutorial, a local folder holding
``preprocess/`` and ``encoder/``, or two explicit handles) into a
:class:`ModelSpec`; :func:`build_classifier` turns that into a Keras model.

Example::

    import tfbert
    model = tfbert.build_classifier("small_bert/bert_en_uncased_L-4_H-512_A-8")
    model(tf.constant(["what a wonderful film"]))   # -> logits, shape [1, 1]
"""
import dataclasses
import difflib
import hashlib
import os

from tfbert._net import ensure_reachable
from tfbert._tf import tf, tf_keras
from tfbert.errors import ModelError

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
    close = difflib.get_close_matches(model, MODELS, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelError(f"model {model!r} is neither a known name nor an existing folder.{hint} "
                     "Known names are listed in tfbert.MODELS (`tfbert models`); a local model "
                     "is a folder holding TF Hub-format preprocess/ and encoder/.")


def _is_remote(handle):
    return handle.startswith(("http://", "https://", "gs://"))


def _is_saved_model(path):
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def _hub_cache_folder(handle):
    from tensorflow_hub import resolver
    cache_dir = resolver.tfhub_cache_dir(use_temp=True)
    return os.path.join(cache_dir, hashlib.sha1(handle.encode("utf8")).hexdigest())


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
    if handle.startswith("gs://") or _is_saved_model(_hub_cache_folder(handle)):
        return
    ensure_reachable(
        handle, what="model handle", error=ModelError,
        hint="Offline, use a local model: a folder holding TF Hub-format preprocess/ and "
             "encoder/ (e.g. one written by `tfbert convert`), passed as --model DIR or "
             "build_classifier('DIR'); or set TFHUB_CACHE_DIR to a cache that already holds "
             "this handle.")


def _hub_layer(handle, **kwargs):
    import tensorflow_hub as hub
    ensure_available(handle)
    # Reading variables through the local host lets the same code load models on TPUs.
    options = tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")
    return hub.KerasLayer(handle, load_options=options, **kwargs)


def build_preprocessor(model, seq_length=128, num_segments=1, preprocess=None):
    """A Keras model from raw strings to BERT encoder inputs of ``seq_length`` tokens.

    With ``num_segments=2`` it takes a list of two string batches (sentence
    pairs) and packs them with segment ids, as TF Hub preprocessors do.

    Example::

        pre = build_preprocessor("/models/tiny_bert", seq_length=64)
        pre(tf.constant(["hello world"]))["input_word_ids"].shape   # [1, 64]
    """
    import tensorflow_hub as hub
    spec = resolve_model(model, preprocess)
    ensure_available(spec.preprocess)
    options = tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")
    loaded = hub.load(spec.preprocess, options=options)
    inputs = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=f"text_{i}" if i else "text")
              for i in range(num_segments)]
    tokenize = hub.KerasLayer(loaded.tokenize, name="tokenize")
    pack = hub.KerasLayer(loaded.bert_pack_inputs, arguments=dict(seq_length=seq_length),
                          name="pack_inputs")
    outputs = pack([tokenize(text) for text in inputs])
    return tf_keras.Model(inputs if num_segments > 1 else inputs[0], outputs, name="preprocessor")


def encoder_inputs(seq_length=None):
    """Keras inputs for a BERT encoder; ``seq_length=None`` accepts any padded length."""
    return {name: tf_keras.layers.Input(shape=(seq_length,), dtype=tf.int32, name=name)
            for name in ("input_word_ids", "input_mask", "input_type_ids")}


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """What a classifier was built from; saved with every export."""

    model: str
    encoder: str
    preprocess: str
    num_classes: int
    dropout: float
    seq_length: int

    @property
    def units(self):
        """Logits per example: one for two classes (sigmoid), else one per class."""
        return 1 if self.num_classes == 2 else self.num_classes


def build_classifier(model=None, num_classes=2, dropout=0.1, seq_length=128, trainable=True,
                     preprocess=None, name="bert_classifier"):
    """Raw strings -> preprocessing -> BERT encoder -> dropout -> dense logits.

    The returned Keras model takes a batch of strings and returns logits: one
    unit for two classes (as the TensorFlow tutorial does; apply a sigmoid),
    ``num_classes`` units otherwise (apply a softmax). It carries its parts so
    training can run on token ids that were tokenized once:

    - ``model.preprocessor``: strings -> encoder inputs (``seq_length`` tokens);
    - ``model.core``: encoder inputs -> logits, sharing every weight with ``model``;
    - ``model.config``: a :class:`ClassifierConfig`.

    Build it inside ``strategy.scope()`` to train under a distribution strategy.

    Args:
        model: a model name, a folder with ``preprocess/`` + ``encoder/``, or an
            encoder handle (with ``preprocess``). Default: :data:`DEFAULT_MODEL`.
        num_classes: number of labels, at least 2.
        dropout: dropout rate before the dense layer.
        seq_length: tokens per text after packing (longer texts are truncated).
        trainable: whether the encoder's weights are fine-tuned.

    Example::

        model = build_classifier("/models/tiny_bert", num_classes=2, seq_length=64)
        logits = model(tf.constant(["great film", "awful film"]))    # shape [2, 1]
    """
    if num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got {num_classes}.")
    if not 0 <= dropout < 1:
        raise ModelError(f"dropout must be in [0, 1), got {dropout}.")
    spec = resolve_model(model or DEFAULT_MODEL, preprocess)
    config = ClassifierConfig(spec.name, spec.encoder, spec.preprocess, num_classes, dropout,
                              seq_length)
    preprocessor = build_preprocessor(spec, seq_length=seq_length)
    encoder = _hub_layer(spec.encoder, trainable=trainable, name="encoder")
    ids = encoder_inputs()
    pooled = encoder(ids)["pooled_output"]
    hidden = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    logits = tf_keras.layers.Dense(config.units, name="classifier")(hidden)
    core = tf_keras.Model(ids, logits, name="core")
    text = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
    classifier = tf_keras.Model(text, core(preprocessor(text)), name=name)
    classifier.preprocessor = preprocessor
    classifier.core = core
    classifier.config = config
    return classifier
