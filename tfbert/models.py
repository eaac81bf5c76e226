"""The classifier: raw strings -> BERT preprocessing -> encoder -> dropout -> dense.

Example::

    import tfbert
    model = tfbert.build_classifier("small_bert/bert_en_uncased_L-4_H-512_A-8")
    model(tf.constant(["what a wonderful film"]))   # -> logits, shape [1, 1]
"""
import dataclasses

from tfbert._tf import tf, tf_keras
from tfbert.data import trim_padding
from tfbert.errors import ModelError
from tfbert.registry import DEFAULT_MODEL, MODELS, ModelSpec, ensure_available, resolve_model
from tfbert.tasks import check_task, head_units

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "resolve_model", "build_preprocessor",
           "build_classifier", "encoder_inputs", "ClassifierConfig"]


def _load_options():
    """Read variables through the local host (so the same code loads models on TPUs), except
    in a multi-worker cluster, where this process's job is not called localhost."""
    from tfbert.distribute import cluster_workers
    if cluster_workers():
        return tf.saved_model.LoadOptions()
    return tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")


def _hub_layer(handle, **kwargs):
    import tensorflow_hub as hub
    ensure_available(handle)
    return hub.KerasLayer(handle, load_options=_load_options(), **kwargs)


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
    loaded = hub.load(spec.preprocess, options=_load_options())
    inputs = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=name)
              for name in ("text", "text_pair")[:num_segments]]
    tokenize = hub.KerasLayer(loaded.tokenize, name="tokenize")
    pack = hub.KerasLayer(loaded.bert_pack_inputs, arguments=dict(seq_length=seq_length),
                          name="pack_inputs")
    outputs = pack([tokenize(text) for text in inputs])
    return tf_keras.Model(inputs if num_segments > 1 else inputs[0], outputs, name="preprocessor")


def max_sequence_length(encoder):
    """Rows of the encoder's position embedding table (None when it has no such variable)."""
    for variable in encoder.weights:
        if "position_embedding" in variable.name and len(variable.shape) == 2:
            return int(variable.shape[0])
    return None


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
    pooling: str = "cls"
    task: str = "classification"
    num_segments: int = 1
    rebuild_encoder: bool = False

    @property
    def units(self):
        """Logits per example (see :func:`tfbert.tasks.head_units`)."""
        return head_units(self.task, self.num_classes)


POOLINGS = ("cls", "mean")


class TrimPadding(tf_keras.layers.Layer):
    """Cuts encoder inputs to the batch's longest text (:func:`tfbert.data.trim_padding`):
    padding costs compute, not accuracy."""

    def call(self, inputs):
        return trim_padding(inputs)


class MaskedMeanPooling(tf_keras.layers.Layer):
    """The mean of ``sequence_output`` over real (unmasked) tokens."""

    def call(self, sequence_output, input_mask):
        mask = tf.cast(input_mask, sequence_output.dtype)[:, :, None]
        return tf.reduce_sum(sequence_output * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1.0)


def build_classifier(model=None, num_classes=2, dropout=0.1, seq_length=128, trainable=True,
                     preprocess=None, pooling="cls", task="classification", text_pairs=False,
                     rebuild_encoder=False, name="bert_classifier"):
    """Raw strings -> preprocessing -> BERT encoder -> dropout -> dense logits.

    The returned Keras model takes a batch of strings (or, with
    ``text_pairs=True``, a list of two batches packed as one input with segment
    ids) and returns logits: for classification one unit for two classes (as
    the TensorFlow tutorial does; apply a sigmoid) and ``num_classes`` units
    otherwise (apply a softmax); for ``task="multilabel"`` one sigmoid unit per
    label; for ``task="regression"`` one linear unit. It carries its parts so
    training can run on token ids that were tokenized once:

    - ``model.preprocessor``: strings -> encoder inputs (``seq_length`` tokens; the
      string model itself then cuts each batch to its longest text);
    - ``model.core``: encoder inputs -> logits, sharing every weight with ``model``;
    - ``model.config``: a :class:`ClassifierConfig`.

    Build it inside ``strategy.scope()`` to train under a distribution strategy.

    Args:
        model: a model name, a folder with ``preprocess/`` + ``encoder/``, or an
            encoder handle (with ``preprocess``). Default: :data:`DEFAULT_MODEL`.
        num_classes: number of labels (at least 2 for classification; ignored for
            regression).
        dropout: dropout rate before the dense layer.
        seq_length: tokens per text after packing (longer texts are truncated).
        trainable: whether the encoder's weights are fine-tuned.
        pooling: ``"cls"`` (the encoder's ``pooled_output``, as in the tutorial) or
            ``"mean"`` (the average of ``sequence_output`` over real tokens, how
            sentence-embedding models such as all-MiniLM-L6-v2 were trained).
        task: ``"classification"``, ``"multilabel"`` or ``"regression"``.
        text_pairs: whether each example is two texts (paraphrase, entailment,
            similarity).
        rebuild_encoder: run the encoder as a Keras ``BertEncoder`` rebuilt in
            Python with the TF Hub encoder's weights (:func:`tfbert.encoders.rebuild_encoder`)
            instead of the restored SavedModel: it then follows the Keras dtype
            policy (bfloat16/float16 mixed precision inside the encoder) and
            compiles once under XLA; with ``pooling="cls"`` its last layer computes the
            ``[CLS]`` token only (the same logits, ~1/7 fewer FLOPs for 6 layers). For
            BERTs exported by tf-models-official.

    Example::

        model = build_classifier("/models/tiny_bert", num_classes=2, seq_length=64)
        logits = model(tf.constant(["great film", "awful film"]))    # shape [2, 1]
        pairs = build_classifier("/models/tiny_bert", task="regression", text_pairs=True)
        pairs([tf.constant(["A man plays."]), tf.constant(["A man is playing."])])  # [1, 1]
    """
    if task == "regression":
        num_classes = 1
    check_task(task, num_classes)
    if not 0 <= dropout < 1:
        raise ModelError(f"dropout must be in [0, 1), got {dropout}.")
    if pooling not in POOLINGS:
        raise ModelError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    spec = resolve_model(model or DEFAULT_MODEL, preprocess)
    num_segments = 2 if text_pairs else 1
    config = ClassifierConfig(spec.name, spec.encoder, spec.preprocess, num_classes, dropout,
                              seq_length, pooling, task, num_segments, rebuild_encoder)
    preprocessor = build_preprocessor(spec, seq_length=seq_length, num_segments=num_segments)
    if rebuild_encoder:
        from tfbert.encoders import rebuild_encoder as rebuild
        ensure_available(spec.encoder)
        # The head reads [CLS] only: the last layer need not compute the other tokens.
        encoder = rebuild(spec.encoder, options=_load_options(), cls_only=pooling == "cls")
        encoder.trainable = trainable
    else:
        encoder = _hub_layer(spec.encoder, trainable=trainable, name="encoder")
    positions = max_sequence_length(encoder)
    if positions is not None and seq_length > positions:
        raise ModelError(f"seq_length {seq_length} is longer than the {positions} positions "
                         f"the encoder {spec.encoder} has embeddings for; use at most "
                         f"{positions}.")
    ids = encoder_inputs()
    outputs = encoder(ids)
    if pooling == "cls":
        pooled = outputs["pooled_output"]
    else:
        pooled = MaskedMeanPooling(name="mean_pooling")(outputs["sequence_output"],
                                                        ids["input_mask"])
    hidden = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    # float32 logits whatever the dtype policy: softmax and losses need the range.
    logits = tf_keras.layers.Dense(config.units, name="classifier", dtype="float32")(hidden)
    core = tf_keras.Model(ids, logits, name="core")
    texts = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=input_name)
             for input_name in ("text", "text_pair")[:num_segments]]
    text = texts if text_pairs else texts[0]
    packed = TrimPadding(name="trim_padding")(preprocessor(text))
    classifier = tf_keras.Model(text, core(packed), name=name)
    classifier.preprocessor = preprocessor
    classifier.core = core
    classifier.config = config
    return classifier
