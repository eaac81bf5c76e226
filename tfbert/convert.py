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

- :func:`convert_hf` turns a Hugging Face BERT checkpoint (``config.json``,
  ``model.safetensors``, ``vocab.txt`` or ``tokenizer.json``) into such a pair;
- :func:`build_tiny_model` writes a small random one for tests and demos.

Example::

    from tfbert.convert import convert_hf
    convert_hf("all-MiniLM-L6-v2/", "models/minilm")     # then build_classifier("models/minilm")
"""
import collections
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from tfbert._tf import dtype_policy, tf, tf_keras
from tfbert.errors import ModelError


class ConversionError(ModelError):
    """A checkpoint that cannot be converted faithfully; the message names what and why."""


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
                     dropout=0.1, seed=0):
    """A small randomly initialised BERT in TF Hub format, for tests and offline demos.

    The vocabulary is built from ``texts``; the encoder has ``num_layers``
    layers of width ``hidden_size``. It learns quickly enough to show a
    training loop working, not to be accurate. ``dropout`` is the encoder's
    own (hidden and attention) dropout rate.

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
            type_vocab_size=2, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout)
        return write_hub_model(out_dir, config, vocab_file, do_lower_case=True)


# ---------------------------------------------------------------------------- preprocessing

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


# ---------------------------------------------------------------------------- Hugging Face

_ACTIVATIONS = {
    # Hugging Face name -> what tf-models-official must be given to compute the same thing.
    "gelu": "exact",                   # erf GELU; BertConfig("gelu") would be the tanh one
    "gelu_new": "gelu",                # tanh approximation
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
}


def _progress(step, total, message, start):
    print(f"[{step}/{total}] {message} ({time.perf_counter() - start:.1f} s)", file=sys.stderr,
          flush=True)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"cannot read {path}: {exc}") from None


def read_hf_config(src_dir):
    """Check a Hugging Face ``config.json`` describes a BERT tfbert can convert faithfully.

    Returns:
        ``(config dict, activation)`` where activation is "exact", "gelu" or "relu".
    """
    path = os.path.join(src_dir, "config.json")
    if not os.path.isfile(path):
        raise ConversionError(f"{src_dir} has no config.json (expected a Hugging Face model "
                              "folder: config.json, model.safetensors, vocab.txt).")
    config = _read_json(path)
    architectures = config.get("architectures") or []
    if config.get("model_type") != "bert" and not any(a.startswith("Bert") for a in architectures):
        raise ConversionError(f"{path}: model_type {config.get('model_type')!r} is not BERT; "
                              "only BERT-architecture checkpoints can be converted.")
    checks = [
        (config.get("position_embedding_type", "absolute") == "absolute",
         f"position_embedding_type {config.get('position_embedding_type')!r} (only 'absolute')"),
        (not config.get("is_decoder") and not config.get("add_cross_attention"),
         "a decoder / cross-attention BERT"),
        (config.get("hidden_act") in _ACTIVATIONS,
         f"hidden_act {config.get('hidden_act')!r} (supported: {', '.join(_ACTIVATIONS)})"),
        (math.isclose(config.get("layer_norm_eps", 1e-12), 1e-12, rel_tol=1e-6),
         f"layer_norm_eps {config.get('layer_norm_eps')} (tf-models-official's BertEncoder "
         "uses 1e-12)"),
        (config.get("hidden_size", 0) % max(config.get("num_attention_heads", 1), 1) == 0,
         "hidden_size not divisible by num_attention_heads"),
    ]
    for ok, what in checks:
        if not ok:
            raise ConversionError(f"{path}: cannot convert faithfully: {what}.")
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size"):
        if not isinstance(config.get(key), int):
            raise ConversionError(f"{path}: missing or non-integer {key!r}.")
    return config, _ACTIVATIONS[config["hidden_act"]]


def read_hf_tokenizer(src_dir, vocab_out):
    """Write the WordPiece vocabulary to ``vocab_out`` and return ``do_lower_case``.

    Reads ``vocab.txt`` (+ ``tokenizer_config.json``), or a ``tokenizer.json``
    whose model is WordPiece with a BERT normalizer. Settings the TF
    preprocessor cannot reproduce (accents kept while lower-casing, CJK
    characters not split) are refused.
    """
    tokenizer_config = {}
    if os.path.isfile(os.path.join(src_dir, "tokenizer_config.json")):
        tokenizer_config = _read_json(os.path.join(src_dir, "tokenizer_config.json"))
    vocab_txt = os.path.join(src_dir, "vocab.txt")
    tokenizer_json = os.path.join(src_dir, "tokenizer.json")
    if os.path.isfile(vocab_txt):
        shutil.copyfile(vocab_txt, vocab_out)
        lower = tokenizer_config.get("do_lower_case", True)
        strip_accents = tokenizer_config.get("strip_accents")
        chinese = tokenizer_config.get("tokenize_chinese_chars", True)
    elif os.path.isfile(tokenizer_json):
        spec = _read_json(tokenizer_json)
        model = spec.get("model") or {}
        if model.get("type") != "WordPiece":
            raise ConversionError(f"{tokenizer_json}: tokenizer model {model.get('type')!r} is "
                                  "not WordPiece; only BERT WordPiece tokenizers convert.")
        normalizer = spec.get("normalizer") or {}
        if normalizer.get("type") != "BertNormalizer":
            raise ConversionError(f"{tokenizer_json}: normalizer {normalizer.get('type')!r} is "
                                  "not BertNormalizer; its text handling cannot be reproduced.")
        lower = normalizer.get("lowercase", True)
        strip_accents = normalizer.get("strip_accents")
        chinese = normalizer.get("handle_chinese_chars", True)
        vocab = model.get("vocab") or {}
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise ConversionError(f"{tokenizer_json}: vocabulary ids are not 0..{len(ids) - 1}.")
        with open(vocab_out, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]))
    else:
        raise ConversionError(f"{src_dir} has neither vocab.txt nor tokenizer.json.")
    if strip_accents is not None and bool(strip_accents) != bool(lower):
        raise ConversionError(f"{src_dir}: strip_accents={strip_accents} with "
                              f"lowercase={lower} cannot be reproduced (accents are stripped "
                              "exactly when lower-casing).")
    if not chinese:
        raise ConversionError(f"{src_dir}: tokenize_chinese_chars=False cannot be reproduced.")
    return bool(lower)


def _hf_weight_map(config):
    """TF BertEncoder variable name -> (Hugging Face tensor name, numpy transform)."""
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = hidden // heads

    def linear_in(w):   # HF [out, in] -> TF [in, heads, head_dim]
        return w.T.reshape(hidden, heads, head_dim)

    def linear_out(w):  # HF [out=hidden, in=hidden] -> TF [heads, head_dim, hidden]
        return w.T.reshape(heads, head_dim, hidden)

    def bias_heads(b):
        return b.reshape(heads, head_dim)

    def same(x):
        return x

    def transpose(w):
        return w.T

    mapping = {
        "word_embeddings/embeddings": ("embeddings.word_embeddings.weight", same),
        "position_embedding/embeddings": ("embeddings.position_embeddings.weight", same),
        "type_embeddings/embeddings": ("embeddings.token_type_embeddings.weight", same),
        "embeddings/layer_norm/gamma": ("embeddings.LayerNorm.weight", same),
        "embeddings/layer_norm/beta": ("embeddings.LayerNorm.bias", same),
        "pooler_transform/kernel": ("pooler.dense.weight", transpose),
        "pooler_transform/bias": ("pooler.dense.bias", same),
    }
    for i in range(config["num_hidden_layers"]):
        tf_layer, hf_layer = f"transformer/layer_{i}", f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            mapping[f"{tf_layer}/self_attention/{part}/kernel"] = (
                f"{hf_layer}.attention.self.{part}.weight", linear_in)
            mapping[f"{tf_layer}/self_attention/{part}/bias"] = (
                f"{hf_layer}.attention.self.{part}.bias", bias_heads)
        mapping.update({
            f"{tf_layer}/self_attention/attention_output/kernel": (
                f"{hf_layer}.attention.output.dense.weight", linear_out),
            f"{tf_layer}/self_attention/attention_output/bias": (
                f"{hf_layer}.attention.output.dense.bias", same),
            f"{tf_layer}/self_attention_layer_norm/gamma": (
                f"{hf_layer}.attention.output.LayerNorm.weight", same),
            f"{tf_layer}/self_attention_layer_norm/beta": (
                f"{hf_layer}.attention.output.LayerNorm.bias", same),
            f"{tf_layer}/intermediate/kernel": (f"{hf_layer}.intermediate.dense.weight", transpose),
            f"{tf_layer}/intermediate/bias": (f"{hf_layer}.intermediate.dense.bias", same),
            f"{tf_layer}/output/kernel": (f"{hf_layer}.output.dense.weight", transpose),
            f"{tf_layer}/output/bias": (f"{hf_layer}.output.dense.bias", same),
            f"{tf_layer}/output_layer_norm/gamma": (f"{hf_layer}.output.LayerNorm.weight", same),
            f"{tf_layer}/output_layer_norm/beta": (f"{hf_layer}.output.LayerNorm.bias", same),
        })
    return mapping


# Buffers Hugging Face stores next to the weights; they hold no learned values.
_HF_BUFFERS = re.compile(r"(^|\.)embeddings\.(position_ids|token_type_ids)$")
_HF_PREFIX = "bert."  # BertForSequenceClassification & co. nest the encoder under it


def load_hf_weights(src_dir, ignore_prefixes=()):
    """Read ``model.safetensors`` into ``{name: np.ndarray}``, refusing pickled checkpoints.

    A leading ``bert.`` (as in ``BertForSequenceClassification``) is removed;
    buffers such as ``embeddings.position_ids`` and tensors whose names start
    with one of ``ignore_prefixes`` (e.g. ``cls.`` pre-training heads) are dropped.
    """
    from safetensors.numpy import load_file

    path = os.path.join(src_dir, "model.safetensors")
    if not os.path.isfile(path):
        pickled = [f for f in ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index")
                   if os.path.isfile(os.path.join(src_dir, f))]
        if pickled:
            raise ConversionError(
                f"{os.path.join(src_dir, pickled[0])}: only model.safetensors is read. A pickled "
                "checkpoint can run arbitrary code when loaded, so tfbert will not open it. "
                "Convert it where you trust it: python -c \"from transformers import AutoModel; "
                f"AutoModel.from_pretrained('{src_dir}').save_pretrained('{src_dir}', "
                "safe_serialization=True)\"")
        raise ConversionError(f"{src_dir} has no model.safetensors.")
    try:
        tensors = load_file(path)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ConversionError(f"cannot read {path}: {exc}") from None
    weights = {}
    for name, value in tensors.items():
        key = name.removeprefix(_HF_PREFIX)
        if _HF_BUFFERS.search(key) or key.startswith(tuple(ignore_prefixes)):
            continue
        weights[key] = value
    return weights


def assign_hf_weights(encoder, weights, config):
    """Fill every variable of a tf-models-official ``BertEncoder`` from HF ``weights``.

    Raises:
        ConversionError: naming any encoder variable left unfilled, any tensor
            left over, or any shape that does not match.
    """
    mapping = _hf_weight_map(config)
    used, problems = set(), []
    for variable in encoder.weights:
        name = variable.name.split(":")[0]
        if name not in mapping:
            problems.append(f"encoder variable {name} has no Hugging Face counterpart")
            continue
        hf_name, transform = mapping[name]
        if hf_name not in weights:
            problems.append(f"tensor {hf_name} (for {name}) is missing")
            continue
        value = transform(weights[hf_name].astype(np.float32))
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(f"tensor {hf_name} has shape {weights[hf_name].shape}, "
                            f"{name} needs {tuple(variable.shape)}")
            continue
        variable.assign(value)
        used.add(hf_name)
    leftover = sorted(set(weights) - used)
    if leftover:
        shown = ", ".join(leftover[:5]) + (" ..." if len(leftover) > 5 else "")
        problems.append(f"{len(leftover)} tensor(s) left over: {shown} (drop heads with "
                        "ignore_prefixes / --ignore PREFIX)")
    if problems:
        raise ConversionError("cannot convert: " + "; ".join(problems) + ".")


def convert_hf(src_dir, out_dir, seq_length=128, ignore_prefixes=()):
    """Convert a Hugging Face BERT checkpoint into a TF Hub-format ``preprocess/`` + ``encoder/``.

    Reads ``config.json``, ``model.safetensors`` and ``vocab.txt`` (or a
    WordPiece ``tokenizer.json``); checks the config (BERT architecture,
    activation, layer-norm epsilon, vocabulary size, casing); maps every tensor
    onto tf-models-official's ``BertEncoder``; and writes both SavedModels with
    its export code, into a temporary folder renamed into place at the end.
    Exact GELU stays exact. The preprocessor's default sequence length is
    ``seq_length``, capped at the encoder's position embeddings. Progress goes
    to stderr.

    Returns:
        ``out_dir``.

    Example::

        convert_hf("~/models/all-MiniLM-L6-v2", "models/minilm")
        model = tfbert.build_classifier("models/minilm")
    """
    from official.legacy.bert import configs

    start = time.perf_counter()
    src_dir = os.path.abspath(os.path.expanduser(os.fspath(src_dir)))
    if not os.path.isdir(src_dir):
        raise ConversionError(f"{src_dir} is not a folder.")
    config, activation = read_hf_config(src_dir)
    _progress(1, 4, f"read {os.path.join(src_dir, 'config.json')}", start)
    weights = load_hf_weights(src_dir, ignore_prefixes)
    _progress(2, 4, f"read {len(weights)} tensors from model.safetensors", start)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.txt")
        do_lower_case = read_hf_tokenizer(src_dir, vocab_file)
        with open(vocab_file, encoding="utf-8") as f:
            vocab_size = sum(1 for _ in f)
        if vocab_size != config["vocab_size"]:
            raise ConversionError(f"{src_dir}: the vocabulary has {vocab_size} tokens but "
                                  f"config.json says vocab_size={config['vocab_size']}.")
        bert_config = configs.BertConfig(
            vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
            num_hidden_layers=config["num_hidden_layers"],
            num_attention_heads=config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            hidden_dropout_prob=config.get("hidden_dropout_prob", 0.1),
            attention_probs_dropout_prob=config.get("attention_probs_dropout_prob", 0.1),
            max_position_embeddings=config["max_position_embeddings"],
            type_vocab_size=config["type_vocab_size"],
            initializer_range=config.get("initializer_range", 0.02))
        # tf_utils.get_activation("gelu") is the tanh approximation; pass the exact one itself.
        bert_config.hidden_act = tf_keras.activations.gelu if activation == "exact" else activation

        def fill(encoder):
            assign_hf_weights(encoder, weights, config)
            _progress(3, 4, f"mapped every tensor onto {len(encoder.weights)} encoder variables",
                      start)

        write_hub_model(out_dir, bert_config, vocab_file, do_lower_case, encoder_weights=fill,
                        seq_length=min(seq_length, config["max_position_embeddings"]))
    _progress(4, 4, f"wrote {out_dir}/preprocess and {out_dir}/encoder", start)
    return out_dir


def sha256_of(path, chunk_size=1 << 20):
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
