"""Models by name or path, and fast, clear failures when they cannot be had."""
import os
import time
import urllib.error

import pytest

from tfbert import compat, registry
from tfbert.errors import ModelError


def test_tutorial_names_map_to_encoder_and_matching_preprocessor():
    small = [n for n in registry.MODELS if n.startswith("small_bert/")]
    assert len(small) == 24
    for name in ("bert_en_uncased_L-12_H-768_A-12", "bert_en_cased_L-12_H-768_A-12",
                 "bert_multi_cased_L-12_H-768_A-12", "albert_en_base", "electra_small",
                 "electra_base", "experts_pubmed", "experts_wiki_books", "talking-heads_base",
                 "bert_en_uncased_L-24_H-1024_A-16"):
        assert name in registry.MODELS
    assert registry.MODELS["bert_en_cased_L-12_H-768_A-12"][1].endswith("bert_en_cased_preprocess/3")
    assert registry.MODELS["albert_en_base"][1].endswith("albert_en_preprocess/3")
    assert registry.MODELS["bert_multi_cased_L-12_H-768_A-12"][1].endswith(
        "bert_multi_cased_preprocess/3")
    spec = registry.resolve_model(registry.DEFAULT_MODEL)
    assert spec.encoder.endswith("small_bert/bert_en_uncased_L-4_H-512_A-8/1")
    assert spec.preprocess.endswith("bert_en_uncased_preprocess/3")


def test_local_folder_resolves_to_its_two_saved_models(tiny_model):
    spec = registry.resolve_model(tiny_model)
    assert spec.encoder == os.path.join(tiny_model, "encoder")
    assert spec.preprocess == os.path.join(tiny_model, "preprocess")


def test_explicit_handles(tiny_model):
    spec = registry.resolve_model(os.path.join(tiny_model, "encoder"),
                                  preprocess=os.path.join(tiny_model, "preprocess"))
    assert spec.encoder.endswith("encoder") and spec.preprocess.endswith("preprocess")
    with pytest.raises(ModelError, match="preprocessing"):
        registry.resolve_model(os.path.join(tiny_model, "encoder"))


def test_folder_that_is_not_tf_hub_format(tmp_path):
    (tmp_path / "encoder").mkdir()
    with pytest.raises(ModelError, match="not a TF Hub-format BERT model.*saved_model.pb"):
        registry.resolve_model(str(tmp_path))


def test_unknown_name_suggests_close_names():
    with pytest.raises(ModelError, match="Did you mean 'small_bert/bert_en_uncased_L-4_H-512_A-8'"):
        registry.resolve_model("small_bert/bert_en_uncased_L-4_H-512_A8")
    with pytest.raises(ModelError, match="neither a known name nor an existing folder"):
        registry.resolve_model("/no/such/model")


def test_unreachable_handle_fails_fast_naming_it(monkeypatch, tmp_path):
    def offline(request, timeout):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    handle = registry.MODELS[registry.DEFAULT_MODEL][0]
    start = time.perf_counter()
    with pytest.raises(ModelError) as error:
        registry.ensure_available(handle)
    assert time.perf_counter() - start < 5
    assert handle in str(error.value)
    assert "Offline, use a local model" in str(error.value)


def test_cached_handle_needs_no_network(monkeypatch, tmp_path, tiny_model):
    import shutil
    handle = registry.MODELS[registry.DEFAULT_MODEL][0]
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    shutil.copytree(os.path.join(tiny_model, "encoder"), compat.hub_cache_folder(handle))

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    registry.ensure_available(handle)


def test_each_model_recommends_its_settings():
    from tfbert.recommended import SENTENCE_EMBEDDING_SETTINGS, TUTORIAL_SETTINGS
    # and the length its sentence-transformers vectors are cut at (tfbert.embed's default)
    assert registry.recommended_settings("all-minilm-l6-v2") == {
        **SENTENCE_EMBEDDING_SETTINGS, "embedding_seq_length": 256}
    assert SENTENCE_EMBEDDING_SETTINGS["pooling"] == "mean"
    for name in ("small_bert/bert_en_uncased_L-4_H-512_A-8", "electra_base"):
        assert registry.recommended_settings(name) == TUTORIAL_SETTINGS
    assert TUTORIAL_SETTINGS == {"pooling": "cls", "learning_rate": 3e-5, "seq_length": 128}


def test_a_local_folder_recommends_what_its_file_says(tmp_path, tiny_model):
    import shutil
    from tfbert.recommended import write_model_file
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for stale in folder.glob("tfbert_model.json"):
        stale.unlink()
    assert registry.recommended_settings(str(folder))["pooling"] == "cls"   # says nothing
    write_model_file(str(folder), {"pooling": "mean", "learning_rate": 1e-4})
    assert registry.recommended_settings(str(folder)) == {
        "pooling": "mean", "learning_rate": 1e-4, "seq_length": 128}
    (folder / "tfbert_model.json").write_text('{"recommended": {"epochs": 9}}')
    with pytest.raises(ModelError, match=r"tfbert_model.json: 'recommended' may only hold "
                                         r"pooling, learning_rate, seq_length, "
                                         r"embedding_seq_length; got \['epochs'\]"):
        registry.recommended_settings(str(folder))


def test_the_converter_recommends_mean_pooling_for_mean_pooled_sentence_transformers(tmp_path):
    import json
    from tfbert.convert import recommended_for
    assert recommended_for(str(tmp_path))["pooling"] == "cls"      # a plain BERT checkpoint
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling").mkdir()
    pooling = tmp_path / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"pooling_mode_cls_token": True,
                                   "pooling_mode_mean_tokens": False}))
    assert recommended_for(str(tmp_path))["pooling"] == "cls"
    pooling.write_text(json.dumps({"pooling_mode_cls_token": False,
                                   "pooling_mode_mean_tokens": True}))
    assert recommended_for(str(tmp_path)) == {"pooling": "mean", "learning_rate": 1e-4,
                                              "seq_length": 128}
    # sentence-transformers' max_seq_length is where tfbert.embed cuts texts by default
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    assert recommended_for(str(tmp_path))["embedding_seq_length"] == 256


def test_train_takes_the_unset_settings_from_the_model_and_records_them(
        tmp_path, tiny_model, imdb_small, capsys):
    import json
    import shutil
    from conftest import small_imdb
    from tfbert.recommended import write_model_file
    from tfbert.training import train
    model = str(tmp_path / "model")
    shutil.copytree(tiny_model, model)
    write_model_file(model, {"pooling": "mean", "learning_rate": 2e-4, "seq_length": 48})
    result = train(small_imdb(imdb_small), model=model, epochs=1, seq_length=32,
                   run_dir=str(tmp_path / "run"), verbose=0)
    assert "pooling=mean, learning_rate=0.0002" in capsys.readouterr().out
    assert (result.config.pooling, result.config.learning_rate, result.config.seq_length) == (
        "mean", 2e-4, 32)                                  # the seq_length given wins
    assert result.model.config.pooling == "mean"
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (recorded["pooling"], recorded["learning_rate"], recorded["rebuild_encoder"]) == (
        "mean", 2e-4, True)
