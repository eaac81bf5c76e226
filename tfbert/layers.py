"""Tensor ops and Keras layers shared by the models, the tf.data pipeline and serving.

BERT packing puts every real token of an example before its padding, so a
batch can be cut to its longest text (:func:`trim_padding`) without changing a
logit; :func:`token_lengths` counts those real tokens. The layers wrap the ops
for use inside Keras models.

Example::

    from tfbert.layers import trim_padding
    inputs = {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}   # [2, 128]
    trim_padding(inputs)["input_word_ids"].shape                # [2, longest text]
"""
from tfbert._tf import tf, tf_keras

__all__ = ["token_lengths", "trim_padding", "xla_padded", "encoder_inputs", "TrimPadding",
           "MaskedMeanPooling", "pool"]

XLA_ROWS = 8            # xla_padded pads the rows to a multiple of this ...
XLA_LENGTH_STEP = 64    # ... and the tokens to a multiple of this


def token_lengths(inputs):
    """Real tokens of each packed example (``[CLS]``/``[SEP]`` included; over all its
    windows for ``[batch, chunks, seq]`` inputs, see :mod:`tfbert.long_text`)."""
    mask = tf.cast(inputs["input_mask"], tf.int32)
    return tf.reduce_sum(mask, axis=list(range(1, mask.shape.rank)))


def trim_padding(inputs):
    """Encoder inputs cut to the batch's longest text (at least one column).

    BERT packing puts every real token before the padding, so the columns cut
    hold padding only and no logit changes. Inputs of ``[batch, chunks, seq]``
    (a long text's windows, :mod:`tfbert.long_text`) are also cut to the most
    windows any text of the batch has: the windows cut are empty.
    """
    mask = tf.cast(inputs["input_mask"], tf.int32)
    length = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=-1)), 1)
    if mask.shape.rank == 3:
        chunks = tf.maximum(tf.reduce_max(tf.reduce_sum(mask[:, :, 0], axis=1)), 1)
        return {key: value[:, :chunks, :length] for key, value in inputs.items()}
    return {key: value[:, :length] for key, value in inputs.items()}


def xla_padded(call, max_length):
    """``call`` (encoder inputs ``[rows, length]`` -> ``[rows, length, ...]``) compiled by
    XLA, its inputs padded to a multiple of :data:`XLA_ROWS` rows and of
    :data:`XLA_LENGTH_STEP` tokens (at most ``max_length``) and the output cut back, so that
    XLA compiles once per padded shape rather than once per batch.

    On CPU, XLA runs BERT at 256 tokens about twice as fast as the plain graph, whose
    attention products are slow there (BENCHMARKS.md); a compilation takes a few
    seconds. The padding is masked out, so no real position's output changes. Rows go
    in steps of 8, not of a whole batch: an exported QA model's call of 32 questions
    has 33-45 windows, which steps of 32 padded to 64 rows (about 40% of the work
    wasted) and steps of 8 pad to 40 or 48.
    """
    compiled = tf.function(call, jit_compile=True)

    def padded_call(inputs):
        shape = tf.shape(inputs["input_mask"])
        rows = (shape[0] + XLA_ROWS - 1) // XLA_ROWS * XLA_ROWS
        length = tf.minimum((shape[1] + XLA_LENGTH_STEP - 1) // XLA_LENGTH_STEP
                            * XLA_LENGTH_STEP, max_length)
        padded = {key: tf.pad(value, [[0, rows - shape[0]], [0, length - shape[1]]])
                  for key, value in inputs.items()}
        return compiled(padded)[:shape[0], :shape[1]]
    return padded_call


def encoder_inputs(seq_length=None, chunked=False):
    """Keras inputs for a BERT encoder; ``seq_length=None`` accepts any padded length.
    ``chunked``: ``[batch, chunks, seq]`` inputs, several windows per text."""
    shape = (None, seq_length) if chunked else (seq_length,)
    return {name: tf_keras.layers.Input(shape=shape, dtype=tf.int32, name=name)
            for name in ("input_word_ids", "input_mask", "input_type_ids")}


class TrimPadding(tf_keras.layers.Layer):
    """Cuts encoder inputs to the batch's longest text (:func:`trim_padding`):
    padding costs compute, not accuracy."""

    def call(self, inputs):
        return trim_padding(inputs)


class MaskedMeanPooling(tf_keras.layers.Layer):
    """The mean of ``sequence_output`` over real (unmasked) tokens."""

    def call(self, sequence_output, input_mask):
        mask = tf.cast(input_mask, sequence_output.dtype)[:, :, None]
        return tf.reduce_sum(sequence_output * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1.0)


def pool(outputs, input_mask, pooling):
    """One vector per sequence from a BERT encoder's ``outputs``: its ``pooled_output``
    (``pooling="cls"``) or the mean of ``sequence_output`` over the real tokens (``"mean"``)."""
    if pooling == "cls":
        return outputs["pooled_output"]
    return MaskedMeanPooling(name="mean_pooling")(outputs["sequence_output"], input_mask)
