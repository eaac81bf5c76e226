"""The classifier: raw strings -> BERT preprocessing -> encoder -> dropout -> dense.

A :class:`BertClassifier` is a Keras model that carries what describes it
(:class:`ClassifierConfig`: the encoder handles, task, label names,
thresholds, pooling, sequence length, segments), so evaluation, export and
in-memory prediction need nothing more than the model.

Example::

    import tfbert
    model = tfbert.build_classifier("small_bert/bert_en_uncased_L-4_H-512_A-8")
    model(tf.constant(["what a wonderful film"]))   # -> logits, shape [1, 1]
    model.config.label_names                       # ('0', '1')
"""
import dataclasses

from tfbert._tf import tf, tf_keras
from tfbert.config import LONG_TEXT_SETTINGS, POOLINGS, JsonFields, check_long_text
from tfbert.errors import ModelError, TfbertError
from tfbert.layers import TrimPadding, encoder_inputs, pool
from tfbert.recommended import CLASSIFIER_DROPOUT
from tfbert.registry import (DEFAULT_MODEL, MODELS, ModelSpec, ensure_available,
                             recommended_settings, resolve_model)
from tfbert.tasks import get_task

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "resolve_model", "build_preprocessor",
           "encoder_layer", "build_classifier", "BertClassifier", "ClassifierConfig", "POOLINGS"]


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


def build_preprocessor(model, seq_length=128, num_segments=1, preprocess=None,
                       truncation="head", head_share=0.25, stride=None, max_chunks=8):
    """A Keras model from raw strings to BERT encoder inputs of ``seq_length`` tokens.

    With ``num_segments=2`` it takes a list of two string batches (sentence
    pairs) and packs them with segment ids, as TF Hub preprocessors do.
    ``truncation`` (single texts): which word pieces of a long text are kept,
    ``"head"`` (packing's own), ``"tail"``, ``"head+tail"`` (``head_share`` of them from
    the start) or ``"chunks"``: ``[batch, max_chunks, seq_length]`` windows every
    ``stride`` word pieces (see :mod:`tfbert.long_text`).

    Example::

        pre = build_preprocessor("/models/tiny_bert", seq_length=64)
        pre(tf.constant(["hello world"]))["input_word_ids"].shape   # [1, 64]
    """
    import tensorflow_hub as hub
    from tfbert._loaded import load_read_only
    spec = resolve_model(model, preprocess)
    ensure_available(spec.preprocess)
    loaded = load_read_only(spec.preprocess, _load_options())
    inputs = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=name)
              for name in ("text", "text_pair")[:num_segments]]
    tokenize = hub.KerasLayer(loaded.tokenize, name="tokenize")
    pack = hub.KerasLayer(loaded.bert_pack_inputs, arguments=dict(seq_length=seq_length),
                          name="pack_inputs")
    if truncation == "head":
        outputs = pack([tokenize(text) for text in inputs])
    else:
        from tfbert.long_text import PackLongText
        stride = check_long_text(truncation, head_share, stride, max_chunks, "mean", seq_length,
                                 num_segments)
        outputs = PackLongText(pack, seq_length, truncation, head_share, stride, max_chunks,
                               name="pack_long_text")(tokenize(inputs[0]))
    return tf_keras.Model(inputs if num_segments > 1 else inputs[0], outputs, name="preprocessor")


def max_sequence_length(encoder):
    """Rows of the encoder's position embedding table (None when it has no such variable)."""
    for variable in encoder.weights:
        if "position_embedding" in variable.name and len(variable.shape) == 2:
            return int(variable.shape[0])
    return None


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(JsonFields):
    """What a classifier was built from and what its outputs mean; saved with every export
    and in a run's ``config.json``.

    ``label_names``: the labels in id order (the score's name for regression).
    ``thresholds``: per-label decision thresholds (multi-label; None means 0.5 each).
    """

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
    label_names: tuple = ()
    thresholds: tuple | None = None
    trainable: bool = True
    truncation: str = "head"
    head_share: float = 0.25
    stride: int | None = None
    max_chunks: int = 8
    chunk_pooling: str = "mean"

    def __post_init__(self):
        object.__setattr__(self, "label_names", tuple(str(n) for n in self.label_names))
        if self.thresholds is not None:
            object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))

    @property
    def units(self):
        """Logits per example (see :meth:`tfbert.tasks.Task.head_units`)."""
        return get_task(self.task).head_units(self.num_classes)

    @property
    def text_pairs(self):
        """Whether each example is a pair of texts."""
        return self.num_segments == 2

    @property
    def long_text(self):
        """The long-text settings (:mod:`tfbert.long_text`), as keywords of
        :func:`build_classifier`."""
        return {name: getattr(self, name) for name in LONG_TEXT_SETTINGS}



class BertClassifier(tf_keras.Model):
    """Raw strings -> preprocessing -> BERT encoder -> dropout -> dense logits.

    A functional Keras model (as keras-hub's tasks are) built by
    :func:`build_classifier`. Besides the Keras model it holds:

    - ``preprocessor``: strings -> encoder inputs (``seq_length`` tokens; the
      string model itself then cuts each batch to its longest text);
    - ``core``: encoder inputs -> logits, sharing every weight with the model
      (training runs on it over token ids tokenized once);
    - ``config``: a :class:`ClassifierConfig`; ``get_config()`` returns it as a
      dict and ``BertClassifier.from_config`` rebuilds the model from it (then
      ``load_weights`` from a checkpoint restores a trained one);
    - ``task``: the :class:`tfbert.tasks.Task` it was built for.
    """

    def __init__(self, inputs, outputs, preprocessor, core, config, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.preprocessor = preprocessor
        self.core = core
        self.config = config

    @property
    def task(self):
        return get_task(self.config.task)

    @property
    def label_names(self):
        return list(self.config.label_names)

    @property
    def thresholds(self):
        return None if self.config.thresholds is None else list(self.config.thresholds)

    def with_thresholds(self, thresholds):
        """Set the per-label decision thresholds (multi-label) kept with the model."""
        self.config = dataclasses.replace(self.config, thresholds=thresholds)
        return self

    def get_config(self):
        return self.config.to_json()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = ClassifierConfig.from_json(config)
        return build_classifier(ModelSpec(config.model, config.encoder, config.preprocess),
                                num_classes=config.num_classes, dropout=config.dropout,
                                seq_length=config.seq_length, trainable=config.trainable,
                                pooling=config.pooling, task=config.task,
                                text_pairs=config.text_pairs,
                                rebuild_encoder=config.rebuild_encoder,
                                label_names=config.label_names, thresholds=config.thresholds,
                                **config.long_text)


def build_classifier(model=None, num_classes=2, dropout=CLASSIFIER_DROPOUT, seq_length=None,
                     trainable=True, preprocess=None, pooling=None, task="classification",
                     text_pairs=False, rebuild_encoder=None, label_names=None, thresholds=None,
                     name="bert_classifier", truncation="head", head_share=0.25, stride=None,
                     max_chunks=8, chunk_pooling="mean"):
    """A :class:`BertClassifier`: raw strings -> preprocessing -> BERT encoder -> dropout ->
    dense logits.

    The model takes a batch of strings (or, with ``text_pairs=True``, a list of
    two batches packed as one input with segment ids) and returns logits: for
    classification one unit for two classes (as the TensorFlow tutorial does;
    apply a sigmoid) and ``num_classes`` units otherwise (apply a softmax); for
    ``task="multilabel"`` one sigmoid unit per label; for ``task="regression"``
    one linear unit. Build it inside ``strategy.scope()`` to train under a
    distribution strategy.

    Args:
        model: a model name, a folder with ``preprocess/`` + ``encoder/``, or an
            encoder handle (with ``preprocess``). Default: :data:`DEFAULT_MODEL`.
        num_classes: number of labels (at least 2 for classification; ignored for
            regression; taken from ``label_names`` when they are given).
        dropout: dropout rate before the dense layer.
        seq_length: tokens per text after packing (longer texts are truncated).
            Default: the model's recommendation
            (:func:`~tfbert.registry.recommended_settings`), as for ``pooling``.
        trainable: whether the encoder's weights are fine-tuned.
        pooling: ``"cls"`` (the encoder's ``pooled_output``, as in the tutorial) or
            ``"mean"`` (the average of ``sequence_output`` over real tokens, how
            sentence-embedding models such as all-MiniLM-L6-v2 were trained).
            Default: what the model recommends (``"mean"`` for all-MiniLM-L6-v2).
        task: ``"classification"``, ``"multilabel"`` or ``"regression"`` (or a
            :class:`tfbert.tasks.Task`).
        text_pairs: whether each example is two texts (paraphrase, entailment,
            similarity).
        rebuild_encoder: run the encoder as a Keras ``BertEncoder`` rebuilt in
            Python with the TF Hub encoder's weights (:func:`tfbert.encoders.rebuild_encoder`)
            instead of the restored SavedModel: it then follows the Keras dtype
            policy (bfloat16/float16 mixed precision inside the encoder) and
            compiles once under XLA; with ``pooling="cls"`` its last layer computes the
            ``[CLS]`` token only (the same logits, ~1/7 fewer FLOPs for 6 layers). For
            BERTs exported by tf-models-official. Default (None): rebuilt whenever the
            check on a probe batch proves it equal to the SavedModel, else the TF Hub layer
            (saying so); ``model.config.rebuild_encoder`` records which ran.
        label_names: the labels in id order, kept with the model (default
            ``"0"``, ``"1"``, ...; the score's name for regression).
        thresholds: per-label decision thresholds of a multi-label model.
        truncation: what of a text longer than ``seq_length`` the model reads: ``"head"``
            (default), ``"tail"``, ``"head+tail"`` (``head_share`` of the tokens from the
            start, the rest from the end) or ``"chunks"``: windows every ``stride`` word
            pieces (default half a window), at most ``max_chunks`` per text, whose logits are
            pooled by ``chunk_pooling`` (``"mean"`` or ``"max"``) into one per text. Applied
            inside the model, so exports do the same; single texts only
            (:mod:`tfbert.long_text`).

    Example::

        model = build_classifier("/models/tiny_bert", label_names=["neg", "pos"], seq_length=64)
        logits = model(tf.constant(["great film", "awful film"]))    # shape [2, 1]
        pairs = build_classifier("/models/tiny_bert", task="regression", text_pairs=True)
        pairs([tf.constant(["A man plays."]), tf.constant(["A man is playing."])])  # [1, 1]
    """
    task = get_task(task)
    if label_names is not None and task.fixed_num_labels is None:
        num_classes = len(label_names)
    num_classes = task.fixed_num_labels or num_classes
    task.check_num_labels(num_classes)
    label_names = list(label_names or task.default_label_names(num_classes))
    if len(label_names) != num_classes:
        raise ModelError(f"{len(label_names)} label names for a model of {num_classes} labels.")
    if not 0 <= dropout < 1:
        raise ModelError(f"dropout must be in [0, 1), got {dropout}.")
    spec = resolve_model(model or DEFAULT_MODEL, preprocess)
    if pooling is None or seq_length is None:
        recommended = recommended_settings(spec)
        pooling = pooling or recommended["pooling"]
        seq_length = seq_length or recommended["seq_length"]
    if pooling not in POOLINGS:
        raise ModelError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    num_segments = 2 if text_pairs else 1
    try:
        stride = check_long_text(truncation, head_share, stride, max_chunks, chunk_pooling,
                                 seq_length, num_segments)
    except TfbertError as exc:
        raise ModelError(str(exc)) from None
    encoder, rebuild_encoder = encoder_layer(spec, pooling, trainable, rebuild_encoder)
    config = ClassifierConfig(spec.name, spec.encoder, spec.preprocess, num_classes, dropout,
                              seq_length, pooling, task.name, num_segments, rebuild_encoder,
                              tuple(label_names), thresholds, trainable, truncation,
                              head_share, stride, max_chunks, chunk_pooling)
    preprocessor = build_preprocessor(spec, seq_length=seq_length, num_segments=num_segments,
                                      truncation=truncation, head_share=head_share,
                                      stride=stride, max_chunks=max_chunks)
    positions = max_sequence_length(encoder)
    if positions is not None and seq_length > positions:
        raise ModelError(f"seq_length {seq_length} is longer than the {positions} positions "
                         f"the encoder {spec.encoder} has embeddings for; use at most "
                         f"{positions}.")
    core = _core(encoder, pooling, dropout, config.units,
                 chunk_pooling if truncation == "chunks" else None)
    texts = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=input_name)
             for input_name in ("text", "text_pair")[:num_segments]]
    text = texts if text_pairs else texts[0]
    packed = TrimPadding(name="trim_padding")(preprocessor(text))
    return BertClassifier(text, core(packed), preprocessor, core, config, name=name)


def encoder_layer(spec, pooling, trainable, rebuild):
    """The encoder layer of ``spec`` (a :class:`ModelSpec`) for a head that pools with
    ``pooling``, and whether it is rebuilt: ``rebuild`` True (rebuilt or an error),
    False (the TF Hub layer) or None (rebuilt when that is proven exact, else the TF Hub
    layer). Under a distribution strategy the check cannot run the SavedModel (a restored
    function called in cross-replica context), so unset means the TF Hub layer there."""
    if rebuild is None and tf.distribute.has_strategy():
        rebuild = False
    if rebuild is not False:
        from tfbert.encoders import rebuild_encoder
        ensure_available(spec.encoder)
        try:
            # The head reads [CLS] only: the last layer need not compute the other tokens.
            encoder = rebuild_encoder(spec.encoder, options=_load_options(),
                                      cls_only=pooling == "cls")
            encoder.trainable = trainable
            if pooling != "cls":    # the [CLS] pooler is unused: no gradients to apply to it
                encoder.get_layer("pooler_transform").trainable = False
            return encoder, True
        except ModelError as exc:
            if rebuild:
                raise
            print(f"Using the encoder as a TF Hub layer: {exc}")
    return _hub_layer(spec.encoder, trainable=trainable, name="encoder"), False


def _core(encoder, pooling, dropout, units, chunk_pooling=None):
    """Encoder inputs -> encoder -> pooling -> dropout -> dense logits; with
    ``chunk_pooling``, ``[batch, chunks, seq]`` inputs whose real windows are encoded and
    their logits pooled per text (:mod:`tfbert.long_text`)."""
    ids = encoder_inputs(chunked=chunk_pooling is not None)
    windows = ids
    if chunk_pooling is not None:
        from tfbert.long_text import SelectChunks
        windows = SelectChunks(name="select_chunks")(ids)
    outputs = encoder(windows)
    pooled = pool(outputs, windows["input_mask"], pooling)
    hidden = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    # float32 logits whatever the dtype policy: softmax and losses need the range.
    logits = tf_keras.layers.Dense(units, name="classifier", dtype="float32")(hidden)
    if chunk_pooling is not None:
        from tfbert.long_text import PoolChunks
        logits = PoolChunks(chunk_pooling, name="pool_chunks", dtype="float32")(
            logits, ids["input_mask"])
    return tf_keras.Model(ids, logits, name="core")
