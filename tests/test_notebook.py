"""The IMDB notebook runs top to bottom, offline, and produces real results.

papermill executes ``notebooks/imdb_end_to_end.ipynb`` in a fresh kernel with
the tiny test model, real IMDB reviews from the shared archive (unpacked once
into the test cache, through ``TFBERT_CACHE_DIR``) and one epoch; the test then
checks the executed notebook and the files it wrote.
"""
import os
import re

import pytest

import tfbert
from conftest import REPO
from notebook_checks import TF_NOISE, clean_notebook_defaults, execute, output_text

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite

NOTEBOOK = os.path.join(REPO, "notebooks", "imdb_end_to_end.ipynb")
# The parameters cell's defaults: the TensorFlow tutorial's settings.
DEFAULTS = {"MODEL": tfbert.DEFAULT_MODEL, "DATA": "imdb", "EPOCHS": 5, "MAX_EXAMPLES": None,
            "SEQ_LENGTH": 128, "BATCH_SIZE": 32, "LEARNING_RATE": 3e-5,
            "OUTPUT_DIR": "saved_models/imdb_bert", "RUN_DIR": "runs/imdb_bert",
            "TFBERT_PIP_SPEC": None}


def test_notebook_is_clean_and_parameterised():
    assert clean_notebook_defaults(NOTEBOOK) == DEFAULTS


def test_notebook_runs_end_to_end(tiny_model, imdb_archive, cache_dir, tmp_path, monkeypatch):
    # The kernel inherits this environment: archives are unpacked under
    # $TFBERT_CACHE_DIR/datasets, where the imdb fixtures already put this one.
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")   # tfbert's quiet default
    output_dir = tmp_path / "saved_models" / "imdb_bert"
    run_dir = tmp_path / "runs" / "imdb_bert"
    code_cells = execute(NOTEBOOK, tmp_path, dict(
        MODEL=tiny_model, DATA=imdb_archive, EPOCHS=1, MAX_EXAMPLES=300, SEQ_LENGTH=64,
        OUTPUT_DIR=str(output_dir), RUN_DIR=str(run_dir)))
    text = "\n".join(output_text(c) for c in code_cells)
    assert not TF_NOISE.search(text), TF_NOISE.search(text).group(0)

    # Data: 300 test reviews, and the 300 training reviews split 240/60.
    for split, count in (("train", 240), ("validation", 60), ("test", 300)):
        assert re.search(rf"^\s+{split}\s+{count} \(neg=\d+, pos=\d+\)$", text, re.M), text[:3000]
    # The strategy was chosen and reported (no GPU/TPU here: the default strategy).
    assert "Training will use the default strategy (one device)" in text

    # Training wrote its history and curves; the curves were also displayed.
    assert (run_dir / "training_curves.png").is_file()
    assert (run_dir / "history.json").is_file()
    assert any("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs), \
        "plot_history's figure is displayed"
    # Evaluation printed metrics and saved them.
    assert "accuracy" in text and (run_dir / "eval_test.json").is_file()

    # Export: version 1 of a SavedModel.
    assert (output_dir / "1" / "saved_model.pb").is_file()

    # The last cell classified the example sentences with the reloaded export.
    lines = [line for line in output_text(code_cells[-1]).splitlines() if line.strip()]
    assert len(lines) == 5, lines
    for line in lines:
        label, probability = line.split()[:2]
        assert label in ("neg", "pos"), line
        assert 0.5 <= float(probability) <= 1.0, line
