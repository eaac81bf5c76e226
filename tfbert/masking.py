"""Masked-LM examples made in the graph, BERT's way, from a TF Hub preprocessor's token ids.

Texts are tokenized and packed once by the model's own preprocessor
(``tokenize`` + ``bert_pack_inputs``: ``[CLS] tokens [SEP] [PAD]...``) and
cached; each batch is then masked afresh every time it is read (dynamic
masking, as RoBERTa showed helps and Sun et al.'s further pre-training does):
tensorflow_text's ``mask_language_model`` picks ``mask_rate`` of the word
pieces of each text (``RandomItemSelector``, never ``[CLS]``, ``[SEP]`` or
padding, at most ``max_predictions`` a text) and replaces 80% of those with
``[MASK]``, 10% with a random token and keeps 10% (``MaskValuesChooser``).

Each example is ``(inputs, masked_lm_ids, masked_lm_weights)`` for Keras'
``fit``: ``inputs`` holds the encoder's three inputs plus
``masked_lm_positions`` (padded with 0 to ``max_predictions``), and the weights
are 1 for real predictions and 0 for padding, scaled so that Keras' mean over
the batch's ``batch x max_predictions`` slots is the mean over the real ones.

Example::

    special = special_tokens(preprocessor)         # hub.load(".../preprocess")
    ds = masked_lm_dataset(texts, preprocessor, seq_length=128, batch_size=32)
    inputs, ids, weights = next(iter(ds))
"""
import math

from tfbert._tf import tf

__all__ = ["special_tokens", "max_predictions_for", "mask_batch", "pack_texts",
           "masked_lm_dataset"]


def special_tokens(preprocessor):
    """``{name: id}`` of a loaded TF Hub preprocessor's special tokens (``start_of_sequence_id``,
    ``end_of_segment_id``, ``padding_id``, ``mask_id``, ``vocab_size``)."""
    return {name: int(value) for name, value
            in preprocessor.tokenize.get_special_tokens_dict().items()}


def max_predictions_for(seq_length, mask_rate):
    """Predictions per text at most: ``mask_rate`` of the sequence length, rounded up (BERT's
    ``max_predictions_per_seq`` of 20 for 128 tokens at 15%).

    >>> max_predictions_for(128, 0.15)
    20
    """
    return max(1, math.ceil(seq_length * mask_rate))


def mask_batch(inputs, special, mask_rate=0.15, max_predictions=20):
    """Mask a batch of packed encoder inputs (``input_word_ids`` etc., ``[batch, seq]``).

    Returns ``(inputs with masked input_word_ids and masked_lm_positions,
    masked_lm_ids, masked_lm_weights)``, the last two ``[batch, max_predictions]``.
    """
    import tensorflow_text as text
    ids, mask = inputs["input_word_ids"], inputs["input_mask"]
    ragged = tf.RaggedTensor.from_tensor(ids, lengths=tf.reduce_sum(mask, axis=1))
    selector = text.RandomItemSelector(
        max_selections_per_batch=max_predictions, selection_rate=mask_rate,
        unselectable_ids=[special["start_of_sequence_id"], special["end_of_segment_id"],
                          special["padding_id"]])
    chooser = text.MaskValuesChooser(special["vocab_size"], special["mask_id"],
                                     mask_token_rate=0.8, random_token_rate=0.1)
    masked, positions, original = text.mask_language_model(ragged, selector, chooser)
    masked = masked.to_tensor(default_value=special["padding_id"], shape=tf.shape(ids))
    positions, weights = text.pad_model_inputs(positions, max_seq_length=max_predictions)
    original, _ = text.pad_model_inputs(original, max_seq_length=max_predictions)
    weights = tf.cast(weights, tf.float32)
    # Keras averages the loss over every slot; scaled, that is the mean over real predictions.
    weights *= tf.cast(tf.size(weights), tf.float32) / tf.maximum(tf.reduce_sum(weights), 1.0)
    return ({**inputs, "input_word_ids": masked, "masked_lm_positions": positions},
            original, weights)


def pack_texts(texts, preprocessor, seq_length, tokenize_batch_size=256):
    """A dataset of single packed examples (``input_word_ids``, ``input_mask``,
    ``input_type_ids``, each ``[seq_length]``) from the preprocessor's ``tokenize`` and
    ``bert_pack_inputs``, cached after the first pass."""
    length = tf.constant(seq_length)
    ds = tf.data.Dataset.from_tensor_slices(list(texts)).batch(tokenize_batch_size)
    ds = ds.map(lambda batch: preprocessor.bert_pack_inputs(
        [preprocessor.tokenize(batch)], seq_length=length), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.unbatch().cache()


def masked_lm_dataset(texts, preprocessor, seq_length=128, batch_size=32, mask_rate=0.15,
                      shuffle=True, repeat=True, seed=42, skip=0, drop_remainder=True):
    """Batches of dynamically masked examples (see the module's docs) from raw ``texts``.

    ``repeat``: an endless stream of shuffled passes (read it for a number of steps), each
    batch masked anew; ``skip``: batches to leave out at the start (a resumed run).
    """
    special = special_tokens(preprocessor)
    max_predictions = max_predictions_for(seq_length, mask_rate)
    ds = pack_texts(texts, preprocessor, seq_length)
    if shuffle:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).skip(skip)
    ds = ds.map(lambda inputs: mask_batch(inputs, special, mask_rate, max_predictions),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
