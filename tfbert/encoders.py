"""A TF Hub BERT encoder rebuilt in Python: the same weights, as a Keras ``BertEncoder``.

A TF Hub encoder is a restored SavedModel: its graph was traced when it was
exported, so it computes in the dtype it was exported with, and XLA recompiles
it on every training step (the step writes to restored variables). Rebuilt as
tf-models-official's ``BertEncoder`` with the SavedModel's weights, the same
network follows the Keras dtype policy (``mixed_bfloat16`` halves the cost of
its matrix products on CPUs with AVX512-BF16 and on TPUs; ``mixed_float16`` on
GPUs) and compiles once under XLA.

A classifier that reads only the ``[CLS]`` token's output (``pooled_output``)
asks for ``cls_only=True``: the last transformer layer then computes keys and
values for every token but queries, attention output and feed-forward for the
first token only (tf-models-official's ``output_range=1``), the same logits
for about 1/7 fewer FLOPs in a 6-layer encoder.

Works for encoders exported with tf-models-official's ``export_tfhub_lib``
(TF Hub's BERT and Small BERT families, and every model tfbert converts). The
rebuilt encoder is checked against the SavedModel on a probe batch before it
is used.

Example::

    from tfbert.encoders import rebuild_encoder
    encoder = rebuild_encoder("/models/tiny_bert/encoder")
    encoder(dict(input_word_ids=ids, input_mask=mask, input_type_ids=types))["pooled_output"]
    cls_encoder = rebuild_encoder("/models/tiny_bert/encoder", cls_only=True)   # same pooled_output
"""
import re

import numpy as np

from tfbert._tf import dtype_policy, op_determinism_paused, tf_keras
from tfbert.errors import ModelError

__all__ = ["rebuild_encoder"]

_LAYER = re.compile(r"transformer/layer_(\d+)/")


# tf_utils.get_activation("gelu") is the tanh approximation; the exact one is passed itself.
ACTIVATIONS = (("exact gelu", tf_keras.activations.gelu), ("tanh gelu", "gelu"),
               ("relu", "relu"))
# What the probe check proved of an encoder folder (see tfbert._loaded.fingerprint):
# (fingerprint, tolerance) -> (activation, the SavedModel's dropout rate).
_PROVEN = {}


def _name(variable):
    return variable.name.split(":")[0]


def _bert_config(weights, handle):
    """A ``BertConfig`` read off the shapes of a TF Hub encoder's weights."""
    from official.legacy.bert import configs

    def shape(name):
        if name not in weights:
            raise ModelError(f"{handle} is not a BERT encoder exported by tf-models-official "
                             f"(it has no variable {name!r}); it cannot be rebuilt, use it as a "
                             "TF Hub layer (rebuild_encoder=False).")
        return weights[name].shape
    vocab_size, hidden_size = shape("word_embeddings/embeddings")
    _, num_heads, _ = shape("transformer/layer_0/self_attention/query/kernel")
    return configs.BertConfig(
        vocab_size=vocab_size, hidden_size=hidden_size,
        num_hidden_layers=len({int(m.group(1)) for m in map(_LAYER.match, weights) if m}),
        num_attention_heads=num_heads,
        intermediate_size=shape("transformer/layer_0/intermediate/kernel")[1],
        max_position_embeddings=shape("position_embedding/embeddings")[0],
        type_vocab_size=shape("type_embeddings/embeddings")[0])


def _probe_inputs(config, batch_size=2, seq_length=16):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, config.vocab_size, (batch_size, seq_length), dtype=np.int32)
    mask = np.ones_like(ids)
    mask[1, seq_length // 2:] = 0
    return dict(input_word_ids=ids * mask, input_mask=mask,
                input_type_ids=np.zeros_like(ids))


def _bert_encoder(config, output_range=None):
    """tf-models-official's ``BertEncoder`` for ``config`` (``export_tfhub_lib.get_bert_encoder``,
    plus ``output_range``), under the current Keras dtype policy."""
    from official.modeling import tf_utils
    from official.nlp.modeling import networks
    return networks.BertEncoder(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size,
        num_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        activation=tf_utils.get_activation(config.hidden_act),
        dropout_rate=config.hidden_dropout_prob,
        attention_dropout_rate=config.attention_probs_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        initializer=tf_keras.initializers.TruncatedNormal(stddev=config.initializer_range),
        embedding_width=config.embedding_size, output_range=output_range, dict_outputs=True,
        name="encoder")


def _with_weights(encoder, weights, handle):
    """``encoder`` with the values of ``weights`` (name -> variable) assigned, name by name."""
    own = {_name(v): v for v in encoder.trainable_variables}
    if sorted(own) != sorted(weights):
        different = sorted(set(weights) ^ set(own))[:3]
        raise ModelError(f"{handle}: its weights do not match a BertEncoder's "
                         f"({', '.join(different)}...); it cannot be rebuilt, use it as a TF "
                         "Hub layer (rebuild_encoder=False).")
    for name, variable in own.items():
        variable.assign(weights[name])
    return encoder


def _dropout_rate(loaded, probe, default=0.1):
    """The SavedModel's dropout while training: 0 when two training-mode passes agree (it
    was exported without dropout), else ``default`` (BERT's 0.1; the rate itself is not
    recorded in a TF Hub encoder). The two passes only inspect the SavedModel, so they run
    with op determinism paused: its dropout ops have no seed."""
    with op_determinism_paused():
        first, second = (loaded(probe, training=True)["sequence_output"].numpy()
                         for _ in range(2))
    return 0.0 if np.array_equal(first, second) else default


def rebuild_encoder(handle, dropout=None, tolerance=1e-4, options=None, cls_only=False):
    """The TF Hub encoder at ``handle`` as a Keras ``BertEncoder`` holding its weights.

    The configuration is read off the weights' shapes; the activation (exact
    GELU, tanh-approximate GELU or ReLU, which the weights do not tell) is the one whose
    float32 outputs match the SavedModel's on a probe batch within
    ``tolerance`` (checked once per folder and process: a folder's SavedModel is read once,
    see :mod:`tfbert._loaded`). ``dropout`` is the encoder's own dropout rate while training
    (default: the SavedModel's, 0 if it was exported without dropout, else BERT's 0.1).
    Build it under the Keras dtype policy it should compute in.
    ``options``: ``tf.saved_model.LoadOptions`` for reading the SavedModel.
    ``cls_only=True``: the last layer computes the first token only, so
    ``sequence_output`` is ``[batch, 1, hidden]`` and ``pooled_output`` is unchanged
    (for classifiers pooling ``[CLS]``; mean pooling needs every token).

    Raises:
        ModelError: the encoder is not a tf-models-official BERT, or no rebuild
            reproduces its outputs.
    """
    from tfbert._loaded import fingerprint, load_read_only
    loaded = load_read_only(handle, options)
    variables = (getattr(loaded, "trainable_variables", None)
                 or getattr(loaded, "variables", None) or [])
    weights = {_name(v): v for v in variables}
    config = _bert_config(weights, handle)
    key = fingerprint(handle)
    key = key and (key, tolerance)
    if key in _PROVEN:
        activation, saved_dropout = _PROVEN[key]
    else:
        activation, saved_dropout, candidate = _prove(loaded, config, weights, handle,
                                                      tolerance, dropout)
        if key:
            _PROVEN[key] = activation, saved_dropout
        if tf_keras.mixed_precision.global_policy().name == "float32" and not cls_only:
            candidate.bert_config = config
            return candidate
    config.hidden_act = dict(ACTIVATIONS)[activation]
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = (
        saved_dropout if dropout is None else dropout)
    encoder = _with_weights(_bert_encoder(config, output_range=1 if cls_only else None),
                            weights, handle)
    encoder.bert_config = config      # what it was rebuilt from (pre-training exports it)
    return encoder


def _prove(loaded, config, weights, handle, tolerance, dropout):
    """``(activation, the SavedModel's dropout rate, the float32 encoder with
    ``dropout`` (default: that rate))``: the activation whose rebuild reproduces the
    SavedModel's outputs on a probe batch within ``tolerance``.

    Raises:
        ModelError: no activation does.
    """
    probe = _probe_inputs(config)
    saved_dropout = _dropout_rate(loaded, probe)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = (
        saved_dropout if dropout is None else dropout)
    expected = loaded(probe, training=False)["sequence_output"].numpy()
    errors = {}
    for name, activation in ACTIVATIONS:
        config.hidden_act = activation
        with dtype_policy("float32"):     # compared in float32, whatever the caller's policy
            candidate = _with_weights(_bert_encoder(config), weights, handle)
        got = candidate(probe, training=False)["sequence_output"].numpy()
        errors[name] = float(np.abs(got - expected).max())
        if errors[name] <= tolerance:
            return name, saved_dropout, candidate
    raise ModelError(f"{handle}: no BertEncoder rebuild reproduces its outputs (largest "
                     f"differences: {errors}); use it as a TF Hub layer (rebuild_encoder=False).")
