"""The question answering model: BERT encoder -> one dense layer -> start/end logits per token.

:func:`build_qa_model` puts a span head on the same encoders the classifier uses
(the rebuilt Keras ``BertEncoder`` when it is proven exact, else the TF Hub
layer): a dense layer of two units over ``sequence_output``, start logits in
``[..., 0]`` and end logits in ``[..., 1]``, padding masked out. The model takes
encoder inputs (token ids of ``[CLS] question [SEP] context window [SEP]``, made by
:func:`tfbert.data.qa_features.make_features`) and carries what it needs to answer
raw strings: its :class:`QAConfig` and the :class:`~tfbert.data.qa_features.QATokenizer`
of its preprocessor's vocabulary.

:meth:`QAModel.answer` answers questions about contexts of any length (windowed,
the best span over all windows, cut from the context by character offsets).

Example::

    from tfbert.qa import build_qa_model
    model = build_qa_model("/models/tiny_bert", seq_length=128)
    model.answer(["Where was it shot?"], ["The film was shot in Paris."])[0].answer
"""
import dataclasses

import numpy as np

from tfbert._tf import tf, tf_keras
from tfbert.config import PREDICT_BATCH_SIZE, JsonFields
from tfbert.data.qa_features import (DOC_STRIDE, MAX_QUERY_LENGTH, SEQ_LENGTH, QATokenizer,
                                     make_features)
from tfbert.data.squad import QAExample, paired_questions
from tfbert.errors import ModelError
from tfbert.layers import encoder_inputs, xla_padded
from tfbert.models import encoder_layer, max_sequence_length
from tfbert.recommended import SPAN_DROPOUT
from tfbert.registry import DEFAULT_MODEL, ModelSpec, resolve_model
from tfbert.tasks.question_answering import MAX_ANSWER_LENGTH, N_BEST, best_answers

__all__ = ["QAConfig", "QAModel", "SpanHead", "build_qa_model"]


@dataclasses.dataclass(frozen=True)
class QAConfig(JsonFields):
    """What a QA model was built from and how it answers; kept with the model.

    ``null_threshold``: None for a SQuAD 1.1 model (always answers with a span); for a
    2.0 model, no answer when the null score beats the best span's by more than it.
    """

    model: str
    encoder: str
    preprocess: str
    seq_length: int = SEQ_LENGTH
    doc_stride: int = DOC_STRIDE
    max_query_length: int = MAX_QUERY_LENGTH
    n_best: int = N_BEST
    max_answer_length: int = MAX_ANSWER_LENGTH
    null_threshold: float | None = None
    dropout: float = SPAN_DROPOUT
    rebuild_encoder: bool = False
    task: str = "question-answering"



class SpanHead(tf_keras.layers.Layer):
    """``sequence_output`` -> ``[batch, seq, 2]`` float32 start/end logits; padding positions
    get a large negative logit so that no probability goes there."""

    def __init__(self, dropout=SPAN_DROPOUT, **kwargs):
        super().__init__(**kwargs)
        self.dropout = tf_keras.layers.Dropout(dropout)
        self.dense = tf_keras.layers.Dense(
            2, dtype="float32", name="span_logits",
            kernel_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, sequence_output, input_mask, training=None):
        logits = self.dense(self.dropout(sequence_output, training=training))
        return logits - 1e4 * (1.0 - tf.cast(input_mask, tf.float32))[:, :, None]


class QAModel(tf_keras.Model):
    """Encoder inputs -> ``[batch, seq, 2]`` start/end logits, plus ``config``
    (:class:`QAConfig`), ``tokenizer`` and :meth:`answer` for raw strings."""

    def __init__(self, inputs, outputs, config, tokenizer, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.config = config
        self.tokenizer = tokenizer

    def get_config(self):
        return self.config.to_json()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = QAConfig.from_json(config)
        return build_qa_model(ModelSpec(config.model, config.encoder, config.preprocess),
                              **{key: getattr(config, key) for key in _SETTINGS})

    def with_null_threshold(self, threshold):
        """Set the SQuAD 2.0 null threshold kept with the model (None: always a span)."""
        self.config = dataclasses.replace(
            self.config, null_threshold=None if threshold is None else float(threshold))
        return self

    def features(self, examples):
        """The windows of ``examples`` at this model's lengths and stride."""
        return make_features(examples, self.tokenizer, self.config.seq_length,
                             self.config.doc_stride, self.config.max_query_length)

    def window_logits(self, features, batch_size=PREDICT_BATCH_SIZE):
        """``[windows, seq, 2]`` logits of every window.

        With at least ``batch_size`` windows (evaluation, answering many questions) the
        batches run through XLA (:func:`~tfbert.layers.xla_padded`: compiled once per
        padded shape, a few seconds each; about twice as fast at 256 tokens on CPU).
        Fewer windows, where compiling would cost more than it saves, run as the plain
        graph. Either way windows of similar length are batched together (shortest first)
        and each batch is cut to its longest window; the logits agree within 1e-5.
        """
        inputs = features.inputs
        lengths = inputs["input_mask"].sum(axis=1)
        logits = np.full(inputs["input_mask"].shape + (2,), -1e4, np.float32)
        forward = self._forward(compiled=len(features) >= batch_size)
        order = np.argsort(lengths, kind="stable")
        for i in range(0, len(order), batch_size):
            rows = order[i:i + batch_size]
            length = max(int(lengths[rows].max()), 1)
            batch = {key: value[rows] for key, value in inputs.items()}
            logits[rows, :length] = forward(_cut(batch, length)).numpy()
        return logits

    def _forward(self, compiled=False):
        """The inference pass as one graph for any batch and length (called eagerly, the
        model runs op by op, about twice as slow on CPU); ``compiled``: through XLA."""
        if getattr(self, "_compiled", None) is None:
            self._compiled = _Forward(self)
        return self._compiled.xla if compiled else self._compiled.function

    def answer_examples(self, examples, batch_size=PREDICT_BATCH_SIZE):
        """One :class:`~tfbert.tasks.question_answering.SpanAnswer` per
        :class:`~tfbert.data.squad.QAExample`, in order."""
        features = self.features(list(examples))
        return best_answers(features, self.window_logits(features, batch_size),
                            self.config.n_best, self.config.max_answer_length,
                            self.config.null_threshold)

    def answer(self, questions, contexts, batch_size=PREDICT_BATCH_SIZE):
        """Answer each question about its context (a string, or a list as long as
        ``questions``; contexts of any length). Returns one
        :class:`~tfbert.tasks.question_answering.SpanAnswer` per question: ``answer``
        (text cut from the context), ``start``/``end`` (character offsets), ``score``,
        ``has_answer``.

        Example::

            a = model.answer(["Who was the Norse leader?"], [context])[0]
            context[a.start:a.end] == a.answer
        """
        questions, contexts = paired_questions(questions, contexts)
        examples = [QAExample(str(i), str(q), str(c)) for i, (q, c)
                    in enumerate(zip(questions, contexts))]
        return self.answer_examples(examples, batch_size)

    def export(self, directory, version=None, settings=None, check_pairs=None,
               jit_compile=False):
        """Write a SavedModel ``directory/<version>/`` whose ``serving_default`` takes
        ``question`` and ``context`` strings and returns ``answer``, ``start``/``end``
        (character offsets), ``score``, ``has_answer`` and ``null_score_diff``; return its
        path. Reload-checked against this model; ``jit_compile``: the serving function runs
        the model through XLA. See :mod:`tfbert.qa_export`.

        Example::

            path = result.model.export("saved_models/squad")
            tfbert.load_model(path).answer(["Who?"], ["Rollo led the Norse."])[0].answer
        """
        from tfbert.qa_export import export_qa
        return export_qa(self, directory, settings=settings, version=version,
                         check_pairs=check_pairs, jit_compile=jit_compile)


class _Forward:
    """Holds :meth:`QAModel._forward`'s ``tf.function`` (and its XLA twin) outside Keras'
    attribute tracking, so that saving the model does not save them."""

    def __init__(self, model):
        # One trace each for any batch and length.
        signature = [{key: tf.TensorSpec([None, None], tf.int32) for key in _INPUTS}]
        call = lambda inputs: model(inputs, training=False)     # noqa: E731
        self.function, self.xla = (
            tf.function(fn, input_signature=signature, autograph=False)  # plain calls
            for fn in (call, xla_padded(call, model.config.seq_length)))


_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def _cut(batch, length):
    return {key: tf.constant(value[:, :length]) for key, value in batch.items()}


_SETTINGS = ("seq_length", "doc_stride", "max_query_length", "n_best", "max_answer_length",
             "null_threshold", "dropout", "rebuild_encoder")


def build_qa_model(model=None, seq_length=SEQ_LENGTH, doc_stride=DOC_STRIDE,
                   max_query_length=MAX_QUERY_LENGTH, n_best=N_BEST,
                   max_answer_length=MAX_ANSWER_LENGTH, null_threshold=None,
                   dropout=SPAN_DROPOUT, rebuild_encoder=None, trainable=True, preprocess=None,
                   name="bert_qa"):
    """A :class:`QAModel`: encoder -> dropout -> dense(2) start/end logits per token.

    Args:
        model: a model name, a folder with ``preprocess/`` + ``encoder/``, or an encoder
            handle (with ``preprocess``). Default: :data:`~tfbert.models.DEFAULT_MODEL`.
        seq_length: tokens per window (question, context and three special tokens).
        doc_stride: tokens between the starts of two windows of one context.
        max_query_length: questions are cut to this many tokens.
        n_best, max_answer_length: post-processing (start and end candidates per window,
            longest answer in tokens).
        null_threshold: None (SQuAD 1.1: always a span) or the SQuAD 2.0 threshold.
        dropout: dropout before the span layer (none by default, as BERT's SQuAD model).
        rebuild_encoder: as for :func:`~tfbert.models.build_classifier` (the rebuilt
            encoder computes every token here: the head reads them all).

    Example::

        model = build_qa_model("/models/tiny_bert", seq_length=128, doc_stride=64)
        logits = model(features.inputs)           # [windows, 128, 2]
    """
    spec = resolve_model(model or DEFAULT_MODEL, preprocess)
    if not 0 <= dropout < 1:
        raise ModelError(f"dropout must be in [0, 1), got {dropout}.")
    # Not "cls": every token's output is needed, and the unused [CLS] pooler is frozen.
    encoder, rebuilt = encoder_layer(spec, "mean", trainable, rebuild_encoder)
    positions = max_sequence_length(encoder)
    if positions is not None and seq_length > positions:
        raise ModelError(f"seq_length {seq_length} is longer than the {positions} positions "
                         f"the encoder {spec.encoder} has embeddings for; use at most "
                         f"{positions}.")
    config = QAConfig(spec.name, spec.encoder, spec.preprocess, seq_length, doc_stride,
                      max_query_length, n_best, max_answer_length, null_threshold, dropout,
                      rebuilt)
    tokenizer = QATokenizer.from_preprocessor(spec.preprocess)
    ids = encoder_inputs()
    logits = SpanHead(dropout, name="span_head")(encoder(ids)["sequence_output"],
                                                 ids["input_mask"])
    return QAModel(ids, logits, config, tokenizer, name=name)
