"""Write BERT encoders in the TF Hub format that tfbert (and TF Hub users) consume.

A TF Hub-format BERT model is a pair of SavedModels: ``preprocess/`` (raw
strings to ``input_word_ids``/``input_mask``/``input_type_ids``, with
``tokenize`` and ``bert_pack_inputs`` sub-objects) and ``encoder/`` (those ids to
``pooled_output``/``sequence_output``). Both are written here with
tf-models-official's own export code (``official.nlp.tools.export_tfhub_lib``),
so they behave exactly like the models published on TF Hub.

Example::

    import tfbert
    from tfbert.convert import build_tiny_model
    folder = build_tiny_model("/tmp/tiny_bert", texts=["a great film", "a dull film"])
    model = tfbert.build_classifier(folder)
"""
import collections
import os
import re
import shutil
import tempfile

from tfbert._tf import tf, tf_keras

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def write_hub_model(out_dir, bert_config, vocab_file, do_lower_case, encoder_weights=None,
                    seq_length=128):
    """Export a BertEncoder (random or given weights) as ``out_dir/{preprocess,encoder}``.

    Args:
        out_dir: the folder to create; written in a temporary sibling folder and
            renamed into place at the end, so an interrupted run leaves nothing.
        bert_config: an ``official.legacy.bert.configs.BertConfig``.
        vocab_file: the WordPiece vocabulary (one token a line).
        do_lower_case: whether the preprocessor lower-cases its input.
        encoder_weights: optional callable ``f(encoder)`` that fills the weights
            of the freshly built ``BertEncoder`` before it is checkpointed.
        seq_length: the preprocessor's default sequence length.

    Returns:
        ``out_dir``.
    """
    from official.nlp.tools import export_tfhub_lib

    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(out_dir) + "-", dir=parent)
    try:
        encoder = export_tfhub_lib.get_bert_encoder(bert_config)
        if encoder_weights is not None:
            encoder_weights(encoder)
        # export_model restores with Checkpoint(...).restore(), which expects the
        # object graph that Checkpoint.save() writes (write() is not enough).
        checkpoint_prefix = tf.train.Checkpoint(encoder=encoder).save(
            os.path.join(staging, "checkpoint", "ckpt"))
        export_tfhub_lib.export_model(
            os.path.join(staging, "encoder"), bert_config=bert_config,
            model_checkpoint_path=checkpoint_prefix, with_mlm=False,
            vocab_file=vocab_file, do_lower_case=do_lower_case)
        export_tfhub_lib.export_preprocessing(
            os.path.join(staging, "preprocess"), vocab_file=vocab_file,
            do_lower_case=do_lower_case, tokenize_with_offsets=False,
            default_seq_length=seq_length)
        shutil.rmtree(os.path.join(staging, "checkpoint"))
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def build_vocab(texts, size=2000):
    """A small lower-cased WordPiece vocabulary: special tokens, frequent words, characters.

    Every character seen gets a token and a ``##`` continuation token, so any
    text of those characters tokenizes without ``[UNK]``.
    """
    words = collections.Counter()
    chars = set()
    for text in texts:
        lowered = text.lower()
        words.update(re.findall(r"\w+|[^\w\s]", lowered))
        chars.update(c for c in lowered if not c.isspace())
    vocab = list(SPECIAL_TOKENS)
    vocab += sorted(chars)
    vocab += ["##" + c for c in sorted(chars)]
    known = set(vocab)
    for word, _ in words.most_common():
        if len(vocab) >= size:
            break
        if word not in known:
            vocab.append(word)
            known.add(word)
    return vocab


def build_tiny_model(out_dir, texts, vocab_size=2000, hidden_size=128, num_layers=2,
                     num_heads=2, intermediate_size=512, max_position_embeddings=512,
                     seed=0):
    """A small randomly initialised BERT in TF Hub format, for tests and offline demos.

    The vocabulary is built from ``texts``; the encoder has ``num_layers``
    layers of width ``hidden_size``. It learns quickly enough to show a
    training loop working, not to be accurate.

    Example::

        from tfbert.convert import build_tiny_model
        build_tiny_model("/tmp/tiny_bert", ["a great film", "a dull film"])
    """
    from official.legacy.bert import configs

    os.makedirs(os.path.dirname(os.path.abspath(out_dir)), exist_ok=True)
    vocab = build_vocab(texts, size=vocab_size)
    tf_keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        config = configs.BertConfig(
            vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=num_layers,
            num_attention_heads=num_heads, intermediate_size=intermediate_size,
            hidden_act="gelu", max_position_embeddings=max_position_embeddings,
            type_vocab_size=2)
        return write_hub_model(out_dir, config, vocab_file, do_lower_case=True)
