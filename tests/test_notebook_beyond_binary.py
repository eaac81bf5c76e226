"""The "beyond binary" notebook runs top to bottom, offline, on small slices of real data.

papermill executes ``notebooks/beyond_binary.ipynb`` in a fresh kernel with the
tiny test BERT (the notebook's own default, all-MiniLM-L6-v2, learns the same
way, only slower; tests/test_tasks.py checks what it reaches), the TREC,
GoEmotions and MRPC files from ../shared/data cut to 200 examples per split,
and one epoch per task; the test then checks what the notebook printed and the
files it wrote.
"""
import json
import os
import re

import pytest

from conftest import REPO, SHARED_DATA
from notebook_checks import TF_NOISE, clean_notebook_defaults, execute, output_text

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite

NOTEBOOK = os.path.join(REPO, "notebooks", "beyond_binary.ipynb")
DEFAULTS = {"MODEL": "all-minilm-l6-v2", "DATA_DIR": "../shared/data", "MAX_EXAMPLES": None,
            "EPOCHS": 3, "BATCH_SIZE": 32, "SEQ_LENGTH": 64, "LEARNING_RATE": 1e-4,
            "RUN_DIR": "runs/beyond_binary", "OUTPUT_DIR": "saved_models/beyond_binary",
            "TFBERT_PIP_SPEC": None}
TREC_LABELS = {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
MRPC_LABELS = {"different", "paraphrase"}


def _cell_with(code_cells, snippet):
    """The one code cell whose source contains ``snippet``."""
    found = [c for c in code_cells if snippet in c.source]
    assert len(found) == 1, f"{len(found)} cells contain {snippet!r}"
    return found[0]


def _printed_lines(cell):
    return [line for line in output_text(cell, stdout_only=True).splitlines() if line.strip()]


def _has_image(cell):
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


def test_notebook_is_clean_and_parameterised():
    assert clean_notebook_defaults(NOTEBOOK) == DEFAULTS


def test_notebook_runs_on_small_slices(tiny_model, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")   # tfbert's quiet default
    run_dir = tmp_path / "runs" / "beyond_binary"
    output_dir = tmp_path / "saved_models" / "beyond_binary"
    code_cells = execute(NOTEBOOK, tmp_path, dict(
        MODEL=tiny_model, DATA_DIR=os.path.abspath(SHARED_DATA), MAX_EXAMPLES=200, EPOCHS=1,
        SEQ_LENGTH=48, BATCH_SIZE=16, RUN_DIR=str(run_dir), OUTPUT_DIR=str(output_dir)))
    text = "\n".join(output_text(c) for c in code_cells)
    assert not TF_NOISE.search(text), TF_NOISE.search(text).group(0)

    # Data: max_examples=200 caps every split; without validation_data, 20% of the 200
    # training examples (40) are held out for validation; GoEmotions brings its dev split.
    expected = {"trec/train.txt: classification, texts, 6 labels": (160, 40, 200),
                "goemotions/train.tsv: multilabel, texts, 28 labels": (200, 200, 200),
                "mrpc/msr_paraphrase_train.txt: classification, text pairs, 2 labels":
                    (160, 40, 200)}
    for header, counts in expected.items():
        assert header in text, text[:3000]
        block = text[text.index(header):]
        for split, count in zip(("train", "validation", "test"), counts):
            assert re.search(rf"^\s+{split}\s+{count} \(", block, re.M), (header, split, block[:800])

    # Training curves were displayed, one figure per task.
    for snippet in ("plot_history(trec_result", "plot_history(emotions_result",
                    "plot_history(mrpc_result"):
        assert _has_image(_cell_with(code_cells, snippet)), snippet

    # TREC: a report with a confusion matrix, which was displayed.
    trec_report = run_dir / "trec" / "report_test"
    for name in ("report.json", "report.txt", "confusion_matrix.png"):
        assert (trec_report / name).is_file(), name
    report = json.loads((trec_report / "report.json").read_text())
    assert set(report["per_label"]) == TREC_LABELS and report["examples"] == 200
    assert _has_image(_cell_with(code_cells, 'report_files"]["confusion_matrix"]'))

    # GoEmotions: per-label metrics and tuned thresholds for all 28 labels.
    emotions_report = json.loads((run_dir / "goemotions" / "report_test" / "report.json")
                                 .read_text())
    assert emotions_report["task"] == "multilabel" and emotions_report["examples"] == 200
    assert len(emotions_report["per_label"]) == 28 and len(emotions_report["thresholds"]) == 28
    assert all("threshold" in row for row in emotions_report["per_label"].values())
    thresholds = json.loads((run_dir / "goemotions" / "thresholds.json").read_text())
    assert len(thresholds) == 28 and all(0 < t < 1 for t in thresholds.values())
    emotion_names = set(thresholds)
    table = _printed_lines(_cell_with(code_cells, 'emotions_metrics["per_label"]'))
    assert table[0].startswith("micro F1") and "Tuned thresholds:" in table[-1]
    assert {line.split()[0] for line in table[2:-1]} == emotion_names

    # MRPC: a binary report with its precision-recall curve, which was displayed.
    mrpc_report = run_dir / "mrpc" / "report_test"
    assert (mrpc_report / "pr_curve.png").is_file()
    assert "average_precision" in json.loads((mrpc_report / "report.json").read_text())
    assert _has_image(_cell_with(code_cells, 'report_files"]["pr_curve"]'))
    assert re.search(r"input_type_ids: \[0 0 .* 1 1", text), "pairs packed with segment ids"

    # Three exports, version 1 each, with the multi-label thresholds kept.
    for task in ("trec", "goemotions", "mrpc"):
        assert (output_dir / task / "1" / "saved_model.pb").is_file(), task
    metadata = json.loads((output_dir / "goemotions" / "1" / "assets.extra" / "tfbert.json")
                          .read_text())
    assert metadata["task"] == "multilabel" and len(metadata["thresholds"]) == 28

    # The reloaded exports' predictions: "label<TAB>probability<TAB>text" (TREC),
    # "label:p,label:p<TAB>text" or "-<TAB>text" (GoEmotions), and
    # "label<TAB>probability<TAB>text<TAB>pair" (MRPC).
    lines = _printed_lines(_cell_with(code_cells, "trec_classifier.predict("))
    assert len(lines) == 6, lines
    for line in lines:
        label, probability, question = line.split("\t")
        assert label in TREC_LABELS and 1 / 6 <= float(probability) <= 1, line
        assert question.endswith("?"), line
    lines = _printed_lines(_cell_with(code_cells, "emotions_classifier.predict("))
    assert len(lines) == 5, lines
    for line in lines:
        shown, comment = line.split("\t")
        assert comment
        if shown != "-":
            for item in shown.split(","):
                name, probability = item.split(":")
                assert name in emotion_names, line
                assert thresholds[name] - 1e-3 <= float(probability) <= 1, line
    lines = _printed_lines(_cell_with(code_cells, "mrpc_classifier.predict("))
    assert len(lines) == 4, lines
    for line in lines:
        label, probability, first, second = line.split("\t")
        assert label in MRPC_LABELS and 0.5 <= float(probability) <= 1, line
        assert first and second, line
