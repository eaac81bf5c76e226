"""The tf.data pipeline: a :class:`~tfbert.data.TextSplit` -> batches for Keras.

Texts are tokenized once in large batches and cached; every epoch after the
first reads the cached token ids. Training batches are shuffled after the
cache, grouped by length and padded only to their longest text. A training
stream of several epochs is a function of ``(seed, epoch)`` alone, so a run
resumed in a new process sees exactly the batches it had left
(``tests/test_resume.py`` pins this).

TensorFlow is imported inside the functions: ``import tfbert.data`` stays light.

Example::

    from tfbert.data import make_dataset
    train_ds = make_dataset(data.train, model.preprocessor, batch_size=32, shuffle=True)
"""
import numpy as np

from tfbert.errors import DataError

__all__ = ["make_dataset", "length_order", "epoch_stream"]


def make_dataset(split, preprocessor=None, batch_size=32, shuffle=False, seed=42,
                 drop_remainder=False, label_dtype=None, tokenize_batch_size=256,
                 dynamic_padding=True, bucket_batches=16, epochs=None, start=(0, 0)):
    """A ``tf.data.Dataset`` of ``(inputs, label)`` batches from a :class:`TextSplit`.

    With a ``preprocessor`` (strings -> encoder inputs, e.g. ``model.preprocessor``;
    a pair of string batches for a split with ``pairs``) the texts are tokenized
    in large batches once, cached, and every later epoch reads the cached token
    ids. Shuffling happens after the cache, with a fresh order every epoch.

    ``dynamic_padding`` cuts each batch to its longest text instead of the full
    sequence length (BERT packs real tokens first, so this drops padding only
    and changes no logit); when shuffling, texts of similar length are also
    grouped into the same batches (sorted within windows of ``bucket_batches``
    batches, whose order is then shuffled). Evaluation order is kept. Turn it
    off for TPUs, which want fixed shapes. Without a preprocessor the dataset
    yields raw strings (a tuple of two for pairs).

    With ``epochs`` (and ``shuffle``) the dataset is one stream of that many
    epochs whose order depends on ``seed`` and the epoch number alone, not on
    how often the dataset was iterated before, and it begins at
    ``start=(epoch, batch)``: a run resumed in a new process sees exactly the
    batches the interrupted run had still to see (fit it with
    ``steps_per_epoch``).

    Example::

        train_ds = make_dataset(data.train, model.preprocessor, batch_size=32, shuffle=True)
        model.core.fit(train_ds, epochs=2)
    """
    from tfbert._tf import tf
    from tfbert.layers import trim_padding

    if len(split) == 0:
        raise DataError("cannot make a dataset from an empty split.")
    labels = split.labels.astype(label_dtype or split.labels.dtype)
    texts = split.texts.astype(str)
    features = texts if split.pairs is None else (texts, split.pairs.astype(str))
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if preprocessor is not None:
        pack = (lambda f: preprocessor(f)) if split.pairs is None else (
            lambda f: preprocessor(list(f)))
        ds = (ds.batch(tokenize_batch_size)
              .map(lambda f, label: (pack(f), label), num_parallel_calls=tf.data.AUTOTUNE)
              .unbatch()
              .apply(tf.data.experimental.assert_cardinality(len(split))))
    ds = ds.cache()
    trim = preprocessor is not None and dynamic_padding
    bucket = trim and shuffle and bucket_batches > 1

    def batches(seed, reshuffle):
        out = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=reshuffle) if (
            shuffle) else ds
        if bucket:
            out = (out.batch(batch_size * bucket_batches).map(_sort_by_length).unbatch()
                   .apply(tf.data.experimental.assert_cardinality(len(split))))
        out = out.batch(batch_size, drop_remainder=drop_remainder)
        if trim:
            out = out.map(lambda inputs, labels: (trim_padding(inputs), labels),
                          num_parallel_calls=tf.data.AUTOTUNE)
        if bucket:
            out = out.shuffle(bucket_batches, seed=seed, reshuffle_each_iteration=reshuffle)
        return out

    if epochs is None or not shuffle:
        return batches(seed, reshuffle=True).prefetch(tf.data.AUTOTUNE)
    return epoch_stream(lambda epoch_seed: batches(epoch_seed, reshuffle=False), seed, epochs,
                        start).prefetch(tf.data.AUTOTUNE)


def epoch_stream(batches, seed, epochs, start=(0, 0)):
    """One dataset of ``epochs`` epochs, ``batches(epoch_seed)`` each (one epoch shuffled
    with that seed, not reshuffled), from 0-based ``start=(epoch, batch)`` on. Each epoch's
    order depends on ``seed`` and the epoch number alone, so a run resumed in a new process
    at ``start`` sees exactly the batches it had left. Shared by :func:`make_dataset` and
    :func:`tfbert.qa_training.qa_dataset`.

    Example::

        stream = epoch_stream(lambda s: ds.shuffle(1000, seed=s, reshuffle_each_iteration=False)
                              .batch(32), seed=42, epochs=3, start=(1, 120))
    """
    first_epoch, skip = start
    if not 0 <= first_epoch < epochs:
        raise ValueError(f"start epoch {first_epoch} is outside 0..{epochs - 1}")
    stream = batches(_epoch_seed(seed, first_epoch)).skip(skip)
    for epoch in range(first_epoch + 1, epochs):
        stream = stream.concatenate(batches(_epoch_seed(seed, epoch)))
    return stream


def _epoch_seed(seed, epoch):
    """A shuffle seed for one epoch, distinct for each (seed, epoch)."""
    return (seed * 1_000_003 + epoch) % (2 ** 31 - 1)


def length_order(texts, pairs=None):
    """Indices that sort texts (with their pairs) by length, for predicting in batches of
    similar length; invert with ``np.argsort`` of the result. Stable."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    if pairs is not None:
        lengths += np.fromiter((len(t) for t in pairs), dtype=np.int64, count=len(pairs))
    return np.argsort(lengths, kind="stable")


def _sort_by_length(inputs, labels):
    from tfbert._tf import tf
    from tfbert.layers import token_lengths
    order = tf.argsort(token_lengths(inputs))
    return ({key: tf.gather(value, order) for key, value in inputs.items()},
            tf.gather(labels, order))
