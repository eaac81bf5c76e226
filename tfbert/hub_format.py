"""Write BERT models in the TF Hub format that tfbert (and TF Hub users) consume.

A TF Hub-format BERT model is a pair of SavedModels: ``preprocess/`` (raw
strings to ``input_word_ids``/``input_mask``/``input_type_ids``, with
``tokenize`` and ``bert_pack_inputs`` sub-objects) and ``encoder/`` (those ids
to ``pooled_output``/``sequence_output``). The encoder is written with
tf-models-official's own export code (``official.nlp.tools.export_tfhub_lib``);
the preprocessor keeps that code's structure and signatures, with one change:
it normalizes text exactly as the original BERT tokenizer does (lower-case,
NFD, strip accents, no NFKC compatibility folding), so that '…', '½' or '™'
map to the same ids as in the checkpoint's own tokenizer.

- :func:`write_hub_model` writes such a pair from a ``BertConfig`` and a
  vocabulary (:mod:`tfbert.convert` fills it with Hugging Face weights);
- :func:`build_tiny_model` writes a small random one for tests and demos.

Example::

    from tfbert.hub_format import build_tiny_model
    build_tiny_model("/tmp/tiny_bert", ["a great film", "a dull film"])
    # then build_classifier("/tmp/tiny_bert")
"""
import collections
import os
import re
import shutil
import tempfile

from tfbert._fs import atomic_dir
from tfbert._tf import dtype_policy, tf, tf_keras
from tfbert.errors import ConversionError
from tfbert.recommended import write_model_file

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def write_hub_model(out_dir, bert_config, vocab_file, do_lower_case, encoder_weights=None,
                    seq_length=128, if_exists="replace", recommended=None, source=None):
    """Export a BertEncoder (random or given weights) as ``out_dir/{preprocess,encoder}``.

    Args:
        out_dir: the folder to create; written in a staging folder beside it and
            renamed into place at the end (:func:`tfbert._fs.atomic_dir`), so an
            interrupted run leaves ``out_dir`` as it was.
        bert_config: an ``official.legacy.bert.configs.BertConfig``.
        vocab_file: the WordPiece vocabulary (one token a line).
        do_lower_case: whether the preprocessor lower-cases its input.
        encoder_weights: optional callable ``f(encoder)`` that fills the weights
            of the freshly built ``BertEncoder`` before it is checkpointed.
        seq_length: the preprocessor's default sequence length.
        if_exists: what to do with an existing ``out_dir``: ``"replace"`` it
            (the old folder is deleted only once the new one is in place),
            ``"refuse"`` (:class:`ConversionError`) or ``"reuse"`` it when
            another process wrote it meanwhile (a shared cache).
        recommended: the training settings that suit the model (e.g. ``{"pooling":
            "mean"}``), written with ``source`` to ``out_dir/tfbert_model.json``, which
            :func:`tfbert.registry.recommended_settings` reads.

    Returns:
        ``out_dir``, absolute.
    """
    from official.nlp.tools import export_tfhub_lib

    try:
        with atomic_dir(out_dir, policy=if_exists) as staging:
            # float32 whatever policy the caller trains under: the export computes in its dtype.
            with dtype_policy("float32"):
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
            export_preprocessing(os.path.join(staging, "preprocess"), vocab_file, do_lower_case,
                                 seq_length)
            shutil.rmtree(os.path.join(staging, "checkpoint"))
            if recommended is not None:
                write_model_file(staging, recommended, source=source)
    except FileExistsError:
        raise ConversionError(f"{os.path.abspath(out_dir)} already exists and is not "
                              "replaced (if_exists='refuse').") from None
    return staging.target


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
                     dropout=0.1, seed=0):
    """A small randomly initialised BERT in TF Hub format, for tests and offline demos.

    The vocabulary is built from ``texts``; the encoder has ``num_layers``
    layers of width ``hidden_size``. It learns quickly enough to show a
    training loop working, not to be accurate. ``dropout`` is the encoder's
    own (hidden and attention) dropout rate.

    Example::

        from tfbert.hub_format import build_tiny_model
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
            type_vocab_size=2, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout)
        return write_hub_model(out_dir, config, vocab_file, do_lower_case=True)


# ------------------------------------------------------------------------------ preprocessing

def bert_normalize(texts, lower_case):
    """Clean and (optionally) lower-case text exactly as the original BERT tokenizer does.

    Drops control and format characters (keeping tab, newline, carriage return),
    turns every Unicode space separator into a plain space, and, when
    ``lower_case``, lower-cases, decomposes (NFD) and strips combining marks.
    Unlike ``tensorflow_text``'s ``case_fold_utf8`` there is no NFKC folding.
    """
    import tensorflow_text as text
    texts = tf.strings.regex_replace(texts, r"[^\P{C}\t\n\r]|\x{FFFD}", "")
    texts = tf.strings.regex_replace(texts, r"[\t\n\r\p{Zs}]", " ")
    if lower_case:
        texts = tf.strings.lower(texts, encoding="utf-8")
        texts = text.normalize_utf8(texts, "NFD")
        texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
    return texts


def _tokenizer_layer(vocab_file, lower_case):
    from official.nlp.modeling import layers

    class BertTokenizer(layers.BertTokenizer):
        """tf-models-official's BertTokenizer after :func:`bert_normalize`."""

        def __init__(self, **kwargs):
            super().__init__(vocab_file=vocab_file, lower_case=False, **kwargs)

        def call(self, inputs):
            return super().call(bert_normalize(inputs, lower_case))

    return BertTokenizer(name="bert_tokenizer")


def export_preprocessing(export_path, vocab_file, do_lower_case, seq_length=128):
    """Write a TF Hub BERT preprocessing SavedModel that tokenizes like the original BERT.

    Same structure and signatures as ``export_tfhub_lib.export_preprocessing``:
    the root call (strings -> packed inputs of ``seq_length``), ``tokenize`` and
    ``bert_pack_inputs`` (with an overridable ``seq_length``).
    """
    from official.nlp.modeling import layers
    from official.nlp.tools import export_tfhub_lib

    with tempfile.TemporaryDirectory() as tmp:
        local_vocab = os.path.join(tmp, "vocab.txt")
        shutil.copyfile(vocab_file, local_vocab)
        tokenize = _tokenizer_layer(local_vocab, do_lower_case)
        sentences = tf_keras.layers.Input(shape=(), dtype=tf.string, name="sentences")
        tokens = tokenize(sentences)
        pack = layers.BertPackInputs(seq_length=seq_length,
                                     special_tokens_dict=tokenize.get_special_tokens_dict())
        preprocessing = tf_keras.Model(sentences, pack(tokens))
        preprocessing.tokenize = tf_keras.Model(sentences, tokens)
        preprocessing.tokenize.get_special_tokens_dict = tf.train.Checkpoint()
        preprocessing.tokenize.get_special_tokens_dict.__call__ = tf.function(
            lambda: tokenize.get_special_tokens_dict(), input_signature=[])
        preprocessing.bert_pack_inputs = export_tfhub_lib.BertPackInputsSavedModelWrapper(pack)
        preprocessing.save(export_path, include_optimizer=False, save_format="tf")
