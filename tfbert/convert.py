"""Convert a Hugging Face BERT checkpoint into the TF Hub format tfbert consumes.

:func:`convert_hf` reads ``config.json``, ``model.safetensors`` and
``vocab.txt`` (or a WordPiece ``tokenizer.json``), refuses what it cannot
reproduce faithfully (:class:`~tfbert.errors.ConversionError`), maps every
tensor onto tf-models-official's ``BertEncoder`` and writes ``preprocess/`` +
``encoder/`` with :func:`tfbert.hub_format.write_hub_model`.
``build_tiny_model`` (from :mod:`tfbert.hub_format`) and ``ConversionError``
(from :mod:`tfbert.errors`) stay importable from here.

Example::

    from tfbert.convert import convert_hf
    convert_hf("all-MiniLM-L6-v2/", "models/minilm")     # then build_classifier("models/minilm")
"""
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

from tfbert._tf import tf_keras
from tfbert.errors import ConversionError
from tfbert.hub_format import build_tiny_model, write_hub_model
from tfbert.recommended import (EMBEDDING_SEQ_LENGTH, SENTENCE_EMBEDDING_SETTINGS,
                                TUTORIAL_SETTINGS)

__all__ = ["ConversionError", "build_tiny_model", "convert_hf", "sha256_of", "read_hf_config",
           "read_hf_tokenizer", "load_hf_weights", "assign_hf_weights"]


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


def convert_hf(src_dir, out_dir, seq_length=128, ignore_prefixes=(), if_exists="replace"):
    """Convert a Hugging Face BERT checkpoint into a TF Hub-format ``preprocess/`` + ``encoder/``.

    Reads ``config.json``, ``model.safetensors`` and ``vocab.txt`` (or a
    WordPiece ``tokenizer.json``); checks the config (BERT architecture,
    activation, layer-norm epsilon, vocabulary size, casing); maps every tensor
    onto tf-models-official's ``BertEncoder``; and writes both SavedModels with
    its export code, into a staging folder renamed into place at the end.
    Exact GELU stays exact. The preprocessor's default sequence length is
    ``seq_length``, capped at the encoder's position embeddings. Progress goes
    to stderr.

    An existing ``out_dir`` is replaced only once the new model is complete
    (``if_exists="replace"``; an interrupted run keeps the old one), refused
    (``"refuse"``) or, when another process converted into it meanwhile,
    kept (``"reuse"``, for a shared cache); see :func:`tfbert._fs.atomic_dir`.

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
                        seq_length=min(seq_length, config["max_position_embeddings"]),
                        if_exists=if_exists, recommended=recommended_for(src_dir),
                        source=src_dir)
    _progress(4, 4, f"wrote {out_dir}/preprocess and {out_dir}/encoder", start)
    return out_dir


def recommended_for(src_dir):
    """The training settings that suit the checkpoint in ``src_dir``: a sentence-transformers
    model whose pooling module averages the tokens (all-MiniLM-L6-v2 and kin) gets
    :data:`~tfbert.recommended.SENTENCE_EMBEDDING_SETTINGS` (its ``[CLS]`` pooler was never
    trained) and the ``max_seq_length`` its embeddings are cut at; any other BERT the
    tutorial's ``[CLS]`` settings."""
    modules = os.path.join(src_dir, "modules.json")
    for module in (_read_json(modules) if os.path.isfile(modules) else []):
        if module.get("type", "").endswith("models.Pooling"):
            pooling = os.path.join(src_dir, module.get("path", ""), "config.json")
            if os.path.isfile(pooling) and _read_json(pooling).get("pooling_mode_mean_tokens"):
                settings = dict(SENTENCE_EMBEDDING_SETTINGS)
                sbert = os.path.join(src_dir, "sentence_bert_config.json")
                if os.path.isfile(sbert) and _read_json(sbert).get("max_seq_length"):
                    settings[EMBEDDING_SEQ_LENGTH] = int(_read_json(sbert)["max_seq_length"])
                return settings
    return dict(TUTORIAL_SETTINGS)


def sha256_of(path, chunk_size=1 << 20):
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
