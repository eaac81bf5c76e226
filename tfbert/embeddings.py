"""Sentence embeddings: one vector per text from an encoder with no head.

all-MiniLM-L6-v2 is a sentence-embedding model: sentence-transformers runs it as
Transformer -> mean pooling over the real tokens -> L2 normalisation, cutting texts
at 256 word pieces. :func:`embed` does the same in TensorFlow (the same vectors, to
float32 precision: ``tests/test_embeddings.py`` checks them against
sentence-transformers), so the vectors of a TF Serving export match the PyTorch ones.
Any other model embeds the same way with the pooling it recommends.

Texts go through in length-sorted batches, each padded to its own longest text (as
prediction does). An empty string is embedded as sentence-transformers embeds it:
``[CLS] [SEP]`` alone.

Example::

    vectors = tfbert.embed(["A wonderful film.", "A great movie.", "Tax forms."])
    vectors.shape                                       # (3, 384), unit length
    tfbert.similarity(vectors[:1], vectors[1:])         # [[0.8.., 0.0..]]
"""
import numpy as np

from tfbert._tf import tf, tf_keras
from tfbert.config import POOLINGS, PREDICT_BATCH_SIZE
from tfbert.data.pipeline import length_order
from tfbert.errors import ExportError, ModelError
from tfbert.exports import new_version, write_export_metadata
from tfbert.layers import TrimPadding, pool
from tfbert.models import build_preprocessor, encoder_layer
from tfbert.recommended import EMBEDDING_SEQ_LENGTH
from tfbert.registry import recommended_settings, resolve_model
from tfbert.serving import LoadedEmbedder, load_model

__all__ = ["EMBEDDING_MODEL", "Embedder", "build_embedder", "embed", "similarity"]

EMBEDDING_MODEL = "all-minilm-l6-v2"
_SHOW_PROGRESS_FROM = 2048      # texts: shorter lists embed in a few seconds
_CHECK_TEXTS = ("A wonderful film.", "", "Ein Film über Menschen — « très bien » 😀 映画",
                "A long review that fills every position of the model. " * 120)


class Embedder:
    """A model from raw strings to one vector each: preprocessing -> encoder -> pooling
    (-> L2 normalisation). Build it with :func:`build_embedder`.

    Attributes:
        model: the Keras model (``[batch]`` strings -> ``[batch, hidden]`` float32).
        settings: what it was built with (model, pooling, normalize, seq_length).
    """

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        # One graph for every batch (each is cut to its own longest text): calling the Keras
        # model eagerly runs it op by op, several times slower on short texts.
        self._batch = tf.function(lambda text: model(text, training=False),
                                  input_signature=[tf.TensorSpec([None], tf.string)])

    @property
    def dimension(self):
        """The length of each vector (the encoder's hidden size)."""
        return int(self.model.output.shape[-1])

    def embed(self, texts, batch_size=PREDICT_BATCH_SIZE, progress=None):
        """A float32 array ``[len(texts), dimension]``, in input order.

        ``progress``: show a progress bar (default: for lists of 2,048 texts or more).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}.")
        if not all(isinstance(text, str) for text in texts):
            bad = next(i for i, text in enumerate(texts) if not isinstance(text, str))
            raise ModelError(f"texts[{bad}] is {type(texts[bad]).__name__}, not a string.")
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        order = length_order(texts)
        starts = range(0, len(texts), batch_size)
        if progress if progress is not None else len(texts) >= _SHOW_PROGRESS_FROM:
            from tqdm import tqdm
            starts = tqdm(starts, desc="Embedding", unit=" batches", mininterval=1.0)
        chunks = [self._batch(tf.constant([texts[i] for i in order[start:start + batch_size]]))
                  .numpy() for start in starts]
        return np.concatenate(chunks)[np.argsort(order)].astype(np.float32)

    def export(self, directory, version=None, check_texts=None):
        """Write a SavedModel ``directory/<version>/`` whose ``serving_default`` takes ``text``
        (a batch of raw strings) and returns ``embedding`` (``[batch, dimension]``); return
        its path. Versioned, never overwritten, and reloaded and checked against this
        embedder before it is renamed into place, like classifier exports;
        ``tfbert.load_model(path).embed(texts)`` reads it back.

        Example::

            path = tfbert.build_embedder("all-minilm-l6-v2").export("saved_models/minilm")
            tfbert.load_model(path).embed(["A wonderful film."]).shape   # (1, 384)
        """
        module = tf.Module()
        module.model = self.model
        module.serve = tf.function(
            lambda text: {"embedding": self.model(text, training=False)},
            input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        with new_version(directory, version) as (staging, target):
            tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
            write_export_metadata(staging, LoadedEmbedder.kind,
                                  {"embedder": self.settings, "dimension": self.dimension})
            texts = list(check_texts or _CHECK_TEXTS)
            difference = float(np.abs(load_model(staging).embed(texts, batch_size=2)
                                       - self.embed(texts, batch_size=len(texts))).max())
            if not difference <= 1e-5:
                raise ExportError(f"the reloaded export differs from the embedder by "
                                  f"{difference:.2e}; nothing was written to {target}.")
        return target


def build_embedder(model=EMBEDDING_MODEL, pooling=None, normalize=True, seq_length=None):
    """An :class:`Embedder` for ``model`` (a name, a TF Hub-format folder, or a trained
    :class:`~tfbert.models.BertClassifier`, whose fine-tuned encoder it then uses).

    Args:
        pooling: ``"mean"`` (the average over real tokens) or ``"cls"`` (the encoder's
            ``pooled_output``). Default: the model's recommendation (``"mean"`` for
            all-MiniLM-L6-v2); a classifier's own pooling.
        normalize: scale each vector to unit length (as sentence-transformers does for
            all-MiniLM-L6-v2); dot products are then cosines.
        seq_length: word pieces kept per text, ``[CLS]``/``[SEP]`` included. Default:
            the model's ``embedding_seq_length`` (256 for all-MiniLM-L6-v2, its
            sentence-transformers ``max_seq_length``), else its recommended ``seq_length``;
            a classifier's own.
    """
    from tfbert.models import BertClassifier
    if isinstance(model, BertClassifier):
        config = model.config
        if config.truncation == "chunks":
            raise ModelError("a classifier reading texts in chunks has no one vector per text; "
                             "embed with its model folder, or a classifier of another "
                             "truncation.")
        pooling = pooling or config.pooling
        preprocessor = build_preprocessor(config.model, seq_length or config.seq_length,
                                          preprocess=config.preprocess) \
            if seq_length else model.preprocessor
        encoder = model.core.get_layer("encoder")
        name, seq_length = config.model, seq_length or config.seq_length
    else:
        spec = resolve_model(model)
        recommended = recommended_settings(spec)
        pooling = pooling or recommended["pooling"]
        seq_length = seq_length or recommended.get(EMBEDDING_SEQ_LENGTH,
                                                   recommended["seq_length"])
        if pooling not in POOLINGS:
            raise ModelError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
        encoder, _ = encoder_layer(spec, pooling, trainable=False, rebuild=None)
        preprocessor = build_preprocessor(spec, seq_length=seq_length)
        name = spec.name
    if pooling == "mean" and _cls_only(encoder):
        raise ModelError(f"{name}: this classifier's encoder computes [CLS] only (it was "
                         "trained with pooling='cls'); embed with pooling='cls'.")
    text = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
    ids = TrimPadding(name="trim_padding")(preprocessor(text))
    outputs = encoder(ids)
    vectors = tf_keras.layers.Activation("linear", dtype="float32", name="float32")(
        pool(outputs, ids["input_mask"], pooling))
    if normalize:
        vectors = tf_keras.layers.UnitNormalization(name="normalize")(vectors)
    settings = dict(model=name, pooling=pooling, normalize=bool(normalize),
                    seq_length=int(seq_length))
    return Embedder(tf_keras.Model(text, vectors, name="embedder"), settings)


def _cls_only(encoder):
    """Whether a rebuilt encoder's last layer computes the first token only."""
    config = getattr(encoder, "get_config", lambda: {})()
    return isinstance(config, dict) and config.get("output_range") == 1


_BUILT = {}


def embed(texts, model=EMBEDDING_MODEL, pooling=None, normalize=True,
          batch_size=PREDICT_BATCH_SIZE, seq_length=None, progress=None):
    """Embed ``texts``: a float32 array ``[len(texts), hidden]`` (see :func:`build_embedder`
    for the arguments). The embedder is built once per process for each set of arguments.

    Example::

        vectors = tfbert.embed(["A wonderful film.", "Two hours I will never get back."])
        vectors.shape            # (2, 384)
    """
    from tfbert.models import BertClassifier
    if isinstance(model, BertClassifier):
        return build_embedder(model, pooling, normalize, seq_length).embed(
            texts, batch_size, progress)
    key = (str(model), pooling, bool(normalize), seq_length)
    if key not in _BUILT:
        _BUILT.clear()            # one embedder kept: a model's weights are not small
        _BUILT[key] = build_embedder(model, pooling, normalize, seq_length)
    return _BUILT[key].embed(texts, batch_size, progress)


def similarity(a, b, pairwise=False, **embed_options):
    """Cosine similarity: the ``[len(a), len(b)]`` matrix, or with ``pairwise=True`` the
    ``[n]`` cosines of ``a[i]`` and ``b[i]``. ``a`` and ``b`` are vectors (2-D arrays) or
    texts, embedded with :func:`embed` (``embed_options`` go there).

    >>> similarity(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 2.0]])).round(3)
    array([[0.707, 0.   ]])
    """
    a, b = (_vectors(x, embed_options) for x in (a, b))
    a, b = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12) for x in (a, b))
    if not pairwise:
        return a @ b.T
    if len(a) != len(b):
        raise ModelError(f"pairwise similarity needs as many of a as of b, got {len(a)} and "
                         f"{len(b)}.")
    return np.sum(a * b, axis=1)


def _vectors(values, embed_options):
    if isinstance(values, str) or (len(values) and isinstance(values[0], str)):
        return embed(values, **embed_options)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ModelError(f"similarity takes texts or a 2-D array of vectors, got an array of "
                         f"shape {values.shape}.")
    return values
