"""Texts longer than the sequence length: truncation strategies and chunk-and-aggregate.

TF Hub's ``bert_pack_inputs`` keeps a text's first ``seq_length - 2`` word
pieces. Sun et al. (2019, "How to Fine-Tune BERT for Text Classification?")
found the end of a review worth as much or more: on IMDB, head+tail (the first
128 and last 382 of 510 tokens) beat head only. These ops slice the ragged
word-piece ids the preprocessor's ``tokenize`` returns *before* packing, inside
the model, so an export does the same on raw strings:

- ``truncation="tail"``: the last ``seq_length - 2`` word pieces;
- ``"head+tail"``: ``round(head_share * budget)`` from the start, the rest from
  the end (:func:`truncate_tokens`);
- ``"chunks"``: windows of ``seq_length - 2`` word pieces every ``stride``
  pieces, the last one ending at the text's end; when a text needs more than
  ``max_chunks`` windows, ``max_chunks`` of them spread evenly (first and last
  included). The preprocessor packs them as ``[batch, max_chunks, seq_length]``
  (empty windows all padding); the classifier runs the encoder on the real
  windows only (:class:`SelectChunks`) and pools each text's window logits by
  mean or max (:class:`PoolChunks`): one prediction per text, trained on that
  pooled logit (``chunk_loss="text"``), or, with ``chunk_loss="windows"``, on each
  window as an example of its own with its text's label (:func:`windows_as_examples`
  reshapes training batches; a text of one window pools to that window's logits).

Example::

    model = tfbert.build_classifier("/models/tiny_bert", seq_length=128, truncation="chunks",
                                    stride=64, max_chunks=8)
    model(tf.constant(["a very long review ..."]))      # [1, 1]: one logit per text
"""
from tfbert._tf import tf, tf_keras

__all__ = ["truncate_tokens", "chunk_tokens", "PackLongText", "SelectChunks", "PoolChunks",
           "windows_as_examples"]


def truncate_tokens(tokens, budget, head):
    """Word pieces ``[batch, (n)]`` cut to at most ``budget`` per text: the first ``head``
    and the last ``budget - head`` of each text longer than ``budget`` (``head=budget``:
    head only; ``head=0``: tail only).

    Example::

        truncate_tokens(tf.ragged.constant([[1, 2, 3, 4, 5], [6]]), budget=3, head=1)
        # [[1, 4, 5], [6]]
    """
    lengths = tf.gather(tokens.row_lengths(), tokens.value_rowids())
    positions = tf.ragged.range(tokens.row_lengths()).flat_values
    keep = (lengths <= budget) | (positions < head) | (positions >= lengths - (budget - head))
    return tf.ragged.boolean_mask(tokens, tokens.with_flat_values(keep))


def chunk_tokens(tokens, window, stride, max_chunks):
    """Word pieces ``[batch, (n)]`` -> ``(windows [chunks, (<= window)], per_text [batch])``.

    Text ``i`` needs ``1 + ceil(max(n - window, 0) / stride)`` windows, the k-th starting at
    ``min(k * stride, n - window)`` (the last one ends at the text's end); at most
    ``max_chunks`` are kept, spread evenly, first and last included. A text with no word
    pieces has one empty window (packed as ``[CLS] [SEP]``, as head truncation packs it).

    Example::

        windows, per_text = chunk_tokens(tf.ragged.constant([[1, 2, 3, 4, 5], []]), 3, 2, 8)
        # windows [[1, 2, 3], [3, 4, 5], []], per_text [2, 1]
    """
    n = tokens.row_lengths()
    overflow = tf.maximum(n - window, 0)
    needed = 1 + (overflow + stride - 1) // stride
    kept = tf.minimum(needed, max_chunks)
    index = tf.ragged.range(kept)
    text = index.value_rowids()
    k, needed_k, kept_k = index.flat_values, tf.gather(needed, text), tf.gather(kept, text)
    # The k-th of kept_k windows spread over needed_k: round(k * (needed - 1) / (kept - 1)).
    spread = (2 * k * (needed_k - 1) + kept_k - 1) // (2 * tf.maximum(kept_k - 1, 1))
    k = tf.where(needed_k > kept_k, spread, k)
    start = tf.minimum(k * stride, tf.gather(overflow, text))
    end = tf.minimum(start + window, tf.gather(n, text))
    offset = tf.gather(tokens.row_starts(), text)
    windows = tf.gather(tokens.flat_values, tf.ragged.range(start + offset, end + offset))
    return windows, kept


class PackLongText(tf_keras.layers.Layer):
    """Tokenized texts ``[batch, (words), (pieces)]`` -> encoder inputs, cut by a
    truncation strategy before ``pack`` (the preprocessor's ``bert_pack_inputs``) runs.

    ``"tail"``, ``"head+tail"``: ``[batch, seq_length]`` as packing gives;
    ``"chunks"``: ``[batch, max_chunks, seq_length]``, a text's windows first, then empty
    ones (all padding, ``input_mask`` 0).
    """

    def __init__(self, pack, seq_length, truncation, head_share=0.25, stride=None,
                 max_chunks=8, **kwargs):
        super().__init__(**kwargs)
        self.pack, self.seq_length, self.truncation = pack, seq_length, truncation
        self.stride, self.max_chunks = stride, max_chunks
        budget = seq_length - 2          # [CLS] and [SEP]
        self.budget = budget
        self.head = {"head": budget, "tail": 0}.get(truncation, round(head_share * budget))

    def call(self, tokens):
        tokens = tokens.merge_dims(1, -1) if tokens.ragged_rank > 1 else tokens
        if self.truncation != "chunks":
            return self.pack([truncate_tokens(tokens, self.budget, self.head)])
        windows, per_text = chunk_tokens(tokens, self.budget, self.stride, self.max_chunks)
        packed = self.pack([windows])
        shape = [None, self.max_chunks, self.seq_length]
        return {key: tf.RaggedTensor.from_row_lengths(value, per_text).to_tensor(shape=shape)
                for key, value in packed.items()}


def _real_windows(input_mask):
    """``[batch, chunks]``: whether each window holds a text's tokens (its [CLS] is real)."""
    return input_mask[:, :, 0] > 0


def windows_as_examples(inputs, labels):
    """A batch of texts ``[batch, chunks, seq]`` with ``labels`` -> a batch of their real
    windows ``[windows, 1, seq]``, each a text of one window labelled as the text it came
    from: the per-window loss of ``train(chunk_loss="windows")``, the same classifier
    (pooling one window returns its logits).

    Example::

        windows, window_labels = windows_as_examples(batch_inputs, batch_labels)
    """
    where = tf.where(_real_windows(inputs["input_mask"]))
    return ({key: tf.gather_nd(value, where)[:, None, :] for key, value in inputs.items()},
            tf.gather(labels, where[:, 0]))


class SelectChunks(tf_keras.layers.Layer):
    """``[batch, chunks, seq]`` encoder inputs -> ``[windows, seq]``, the real windows only
    (text by text), so empty windows cost no encoder time."""

    def call(self, inputs):
        real = _real_windows(inputs["input_mask"])
        return {key: tf.boolean_mask(value, real) for key, value in inputs.items()}


class PoolChunks(tf_keras.layers.Layer):
    """The logits of each text's windows ``[windows, units]`` pooled into ``[batch, units]``
    (``"mean"`` or ``"max"``), given the ``[batch, chunks, seq]`` input mask that
    :class:`SelectChunks` selected them by."""

    def __init__(self, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        self.pooling = pooling

    def call(self, logits, input_mask):
        text = tf.cast(tf.where(_real_windows(input_mask))[:, 0], tf.int32)
        pool = {"mean": tf.math.unsorted_segment_mean,
                "max": tf.math.unsorted_segment_max}[self.pooling]
        return pool(logits, text, num_segments=tf.shape(input_mask)[0])

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}
