"""The question answering notebook runs top to bottom, offline, on a few SQuAD questions.

papermill executes ``notebooks/question_answering.ipynb`` in a fresh kernel with the tiny test
BERT (the notebook's default is all-MiniLM-L6-v2), 40 training and 16 validation questions of
the SQuAD dev file and one epoch; the test checks what the notebook printed and wrote.
"""
import json
import os
import re

import pytest

from conftest import REPO, SHARED_DATA
from notebook_checks import TF_NOISE, clean_notebook_defaults, execute, output_text

pytestmark = pytest.mark.slow   # notebooks run in their own kernel: the full suite

NOTEBOOK = os.path.join(REPO, "notebooks", "question_answering.ipynb")
DEFAULTS = {"MODEL": "all-minilm-l6-v2", "DATA_DIR": "../shared/data", "VALIDATION_ARTICLES": 12,
            "MAX_QUESTIONS": 1000, "MAX_VALIDATION": 300, "EPOCHS": 1, "BATCH_SIZE": 16,
            "SEQ_LENGTH": 256, "DOC_STRIDE": 128, "MAX_QUERY_LENGTH": 64,
            "LEARNING_RATE": 1e-4, "RUN_DIR": "runs/question_answering",
            "OUTPUT_DIR": "saved_models/question_answering", "TFBERT_PIP_SPEC": None}


def test_notebook_is_clean_and_parameterised():
    assert clean_notebook_defaults(NOTEBOOK) == DEFAULTS


def test_notebook_trains_evaluates_exports_and_answers(tiny_model, cache_dir, tmp_path,
                                                       monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")   # tfbert's quiet default
    run_dir, output_dir = tmp_path / "runs" / "qa", tmp_path / "saved_models" / "qa"
    code_cells = execute(NOTEBOOK, tmp_path, dict(
        MODEL=tiny_model, DATA_DIR=os.path.abspath(SHARED_DATA), MAX_QUESTIONS=40,
        MAX_VALIDATION=16, SEQ_LENGTH=64, DOC_STRIDE=32, MAX_QUERY_LENGTH=16, BATCH_SIZE=8,
        RUN_DIR=str(run_dir), OUTPUT_DIR=str(output_dir)))
    text = "\n".join(output_text(c) for c in code_cells)
    assert not TF_NOISE.search(text), TF_NOISE.search(text).group(0)
    assert "dev-v1.1.json: SQuAD 1.1 question answering" in text
    assert re.search(r"train: 40 questions .*\n\s+validation: 16 questions", text), text[:2000]
    assert re.search(r"exact match \d+\.\d\d   F1 \d+\.\d\d   \(16 questions\)", text)
    assert (run_dir / "training_curves.png").is_file()
    assert (output_dir / "1" / "saved_model.pb").is_file()
    assert "inputs:  ['context', 'question']" in text
    assert "'answer', 'end', 'has_answer', 'null_score_diff', 'score', 'start'" in text
    assert "same answers as the in-memory model: True" in text
    assert len(re.findall(r"\n    -> '.*'  \(characters \d+-\d+, score", text)) >= 2
    with open(run_dir / "predictions.json") as f:
        assert len(json.load(f)) == 16
