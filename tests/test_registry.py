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
