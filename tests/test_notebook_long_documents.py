"""The long-documents notebook runs top to bottom, offline, on a few dozen real reviews.

papermill executes ``notebooks/long_documents.ipynb`` in a fresh kernel with the
tiny test BERT, 40 training and 40 test IMDB reviews in the aclImdb layout, 40
other reviews as the unlabelled text, 3 pre-training steps and one epoch; the test
checks the length plot, what each truncation strategy read, the pre-trained folder
that ``train`` started from, the evaluation and the export's answer to a long review.
"""
import json
import os
import re

import pytest

from conftest import REPO
from notebook_checks import (TF_NOISE, cell_with, clean_notebook_defaults, execute, has_image,
                             output_text, write_imdb_folder)

pytestmark = pytest.mark.slow   # notebooks: the full suite

NOTEBOOK = os.path.join(REPO, "notebooks", "long_documents.ipynb")
DEFAULTS = {"MODEL": "all-minilm-l6-v2", "DATA": "../shared/data/aclImdb.tar.xz",
            "MAX_EXAMPLES": 2000, "SEQ_LENGTH": 256, "HEAD_SHARE": 0.25, "PRETRAIN": True,
            "UNSUP_DATA": "../shared/data/aclImdb_unsup.tar.xz", "UNSUP_EXAMPLES": 5000,
            "PRETRAIN_STEPS": 100, "PRETRAIN_SEQ_LENGTH": 128,
            "PRETRAINED_DIR": "models/minilm_imdb", "EPOCHS": 1, "BATCH_SIZE": 32,
            "LEARNING_RATE": 1e-4, "RUN_DIR": "runs/long_documents",
            "OUTPUT_DIR": "saved_models/imdb_head_tail", "TFBERT_PIP_SPEC": None}


def test_notebook_is_clean_and_parameterised():
    assert clean_notebook_defaults(NOTEBOOK) == DEFAULTS


def test_notebook_truncates_pretrains_trains_and_exports(tiny_model, imdb_small, cache_dir,
                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")   # tfbert's quiet default
    data = write_imdb_folder(imdb_small, tmp_path / "aclImdb", per_label=20)
    unsup = tmp_path / "unsup"          # reviews the labelled folder does not hold
    unsup.mkdir()
    for i, text in enumerate(imdb_small.validation.texts[:40]):
        (unsup / f"{i}_0.txt").write_text(text, encoding="utf-8")
    pretrained, run_dir = tmp_path / "models" / "tiny_imdb", tmp_path / "runs"
    output_dir = tmp_path / "saved_models" / "head_tail"
    code_cells = execute(NOTEBOOK, tmp_path, dict(
        MODEL=tiny_model, DATA=str(data), MAX_EXAMPLES=None, SEQ_LENGTH=64,
        UNSUP_DATA=str(unsup), UNSUP_EXAMPLES=None, PRETRAIN_STEPS=3, PRETRAIN_SEQ_LENGTH=32,
        PRETRAINED_DIR=str(pretrained), BATCH_SIZE=16, LEARNING_RATE=1e-3,
        RUN_DIR=str(run_dir), OUTPUT_DIR=str(output_dir)))
    text = "\n".join(output_text(c) for c in code_cells)
    assert not TF_NOISE.search(text), TF_NOISE.search(text).group(0)
    assert re.search(r"^\s+test\s+40 \(neg=20, pos=20\)$", text, re.M), text[:3000]

    # Review lengths in word pieces, against the 62-piece window, plotted.
    lengths = cell_with(code_cells, "ax.hist(lengths")
    stats = re.search(r"32 training reviews: median (\d+) word pieces, .* (\d+)% exceed the "
                      r"window of 62", output_text(lengths))
    assert stats and int(stats.group(1)) > 62 and int(stats.group(2)) > 50, output_text(lengths)
    assert has_image(lengths)

    # Each strategy read what it should of the longest review: head its start, tail its end,
    # head+tail 16 + 46 pieces, chunks several windows from its first to its last piece.
    strategies = output_text(cell_with(code_cells, 'truncation="chunks"'))
    n = int(re.search(r"longest training review: ([\d,]+) word pieces", strategies)
            .group(1).replace(",", ""))
    fmt = lambda a, b: f"{a:,}-{b:,}"     # noqa: E731
    assert f"head       reads word pieces {fmt(1, 62)} of {n:,} (as expected)" in strategies
    assert f"tail       reads word pieces {fmt(n - 61, n)} of {n:,} (as expected)" in strategies
    assert (f"head+tail  reads word pieces {fmt(1, 16)}, {fmt(n - 45, n)} of {n:,} (as expected)"
            in strategies), strategies
    chunks = re.search(r"chunks     reads (\d) windows \(stride 31, at most 8\): (.*)$",
                       strategies, re.M)
    assert chunks and int(chunks.group(1)) >= 2, strategies
    assert chunks.group(2).startswith("1-62, ") and chunks.group(2).endswith(fmt(n - 61, n))

    # Pre-training wrote a model folder, and train started from it with head+tail.
    report = json.loads((pretrained / "pretraining.json").read_text())
    assert report["steps"] == 3 and report["base_model"] == tiny_model
    assert set(report["heldout"]) >= {"loss_before", "loss_after", "accuracy_before",
                                      "accuracy_after"}
    assert re.search(r"held-out masked-LM loss \d+\.\d{3} -> \d+\.\d{3}", text)
    assert f"Fine-tuning starts from {pretrained}" in text
    config = json.loads((run_dir / "train" / "config.json").read_text())
    assert config["model"] == str(pretrained), config
    assert "truncation: head+tail head_share: 0.25" in text
    assert has_image(cell_with(code_cells, "tfbert.plot_history(result.history)"))

    # Evaluation: a report, and accuracy on the long and the short test reviews.
    assert (run_dir / "report_test" / "report.json").is_file()
    accuracies = re.findall(r"^accuracy ([01]\.\d{3}) on (?:all|the) ([\d,]+) ", text, re.M)
    assert accuracies[0][1] == "40" and len(accuracies) >= 2, accuracies
    assert sum(int(count) for _, count in accuracies[1:]) == 40, accuracies

    # The export keeps head+tail and answers the long review as the model in memory does.
    assert (output_dir / "1" / "saved_model.pb").is_file()
    assert "truncation in the export: head+tail head_share: 0.25" in text
    answered = output_text(code_cells[-1])
    pieces = int(re.search(r"The long review: ([\d,]+) word pieces", answered)
                 .group(1).replace(",", ""))
    assert pieces > 62
    labels = re.findall(r"^(?:export|in memory): +(neg|pos) \((0\.\d{3}|1\.000)\)$", answered,
                        re.M)
    assert len(labels) == 2 and labels[0] == labels[1], answered
    assert "the export and the model in memory agree" in answered
