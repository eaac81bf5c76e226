"""Export folders: versions, metadata, an export's kind read without TensorFlow, and the
loaded type each kind gives."""
import json
import os
import subprocess
import sys

import pytest

from tfbert.errors import ExportError
from tfbert.exports import (METADATA_FILE, export_kind, new_version, resolve_export,
                            versions, write_export_metadata)


def _fake_export(directory, version, metadata):
    folder = directory / str(version)
    (folder / "assets.extra").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    if metadata is not None:
        (folder / METADATA_FILE).write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def test_export_kind_reads_the_latest_version_and_defaults_old_exports_to_classifier(tmp_path):
    _fake_export(tmp_path, 1, {"task": "classification"})          # written before kinds
    assert export_kind(tmp_path) == "classifier"
    _fake_export(tmp_path, 2, {"kind": "question-answering"})
    assert versions(tmp_path) == [1, 2]
    assert resolve_export(tmp_path) == str(tmp_path / "2")
    assert export_kind(tmp_path) == "question-answering"
    assert export_kind(tmp_path / "1") == "classifier"


def test_export_kind_is_none_for_what_is_not_a_tfbert_export(tmp_path):
    assert export_kind(tmp_path / "missing") is None
    assert export_kind(tmp_path) is None                            # an empty folder
    _fake_export(tmp_path / "hub", 1, None)                          # a SavedModel, no metadata
    assert export_kind(tmp_path / "hub") is None
    broken = _fake_export(tmp_path / "broken", 1, None)
    (broken / METADATA_FILE).write_text("{not json", encoding="utf-8")
    assert export_kind(tmp_path / "broken") is None


def test_exports_module_does_not_load_tensorflow():
    code = ("import sys, tfbert.exports as e; e.export_kind('.'); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_new_version_numbers_on_and_never_overwrites(tmp_path):
    with new_version(tmp_path / "m") as (staging, target):
        open(os.path.join(staging, "saved_model.pb"), "wb").close()
        write_export_metadata(staging, "embedder", {"dimension": 4})
    assert target == str(tmp_path / "m" / "1")
    assert json.loads((tmp_path / "m" / "1" / METADATA_FILE).read_text())["kind"] == "embedder"
    with new_version(tmp_path / "m") as (staging, target):
        open(os.path.join(staging, "saved_model.pb"), "wb").close()
    assert target == str(tmp_path / "m" / "2")
    with pytest.raises(ExportError, match="already exists; exports are never overwritten"):
        with new_version(tmp_path / "m", version=1):
            pass
    with pytest.raises(RuntimeError):
        with new_version(tmp_path / "m") as (staging, target):
            raise RuntimeError("failed while writing")
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]       # nothing half-written left


def test_load_model_refuses_an_unknown_kind_before_loading(tmp_path):
    from tfbert.serving import LOADED_TYPES, LoadedClassifier, LoadedEmbedder, LoadedQA, load_model
    assert LOADED_TYPES == {"classifier": LoadedClassifier, "embedder": LoadedEmbedder,
                            "question-answering": LoadedQA}
    _fake_export(tmp_path, 1, {"kind": "time-travel"})
    with pytest.raises(ExportError, match=r"'time-travel' export, which this tfbert cannot "
                                          r"load \(it loads classifier, embedder, "
                                          r"question-answering\)"):
        load_model(tmp_path)
