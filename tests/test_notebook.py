"""The IMDB notebook runs top to bottom, offline, and produces real results.

papermill executes ``notebooks/imdb_end_to_end.ipynb`` in a fresh kernel with
the tiny test model, real IMDB reviews from the shared archive (unpacked once
into the test cache, through ``TFBERT_CACHE_DIR``) and one epoch; the test then
checks the executed notebook and the files it wrote.
"""
import ast
import os
import re

import pytest

import tfbert

from conftest import REPO

papermill = pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = os.path.join(REPO, "notebooks", "imdb_end_to_end.ipynb")
# The parameters cell's defaults: the TensorFlow tutorial's settings.
DEFAULTS = {"MODEL": tfbert.DEFAULT_MODEL, "DATA": "imdb", "EPOCHS": 5, "MAX_EXAMPLES": None,
            "SEQ_LENGTH": 128, "BATCH_SIZE": 32, "LEARNING_RATE": 3e-5,
            "OUTPUT_DIR": "saved_models/imdb_bert", "RUN_DIR": "runs/imdb_bert",
            "TFBERT_PIP_SPEC": None}


def _output_text(cell):
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def test_notebook_is_clean_and_parameterised():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), \
        "the notebook is committed without outputs"
    tagged = [c for c in code_cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell is tagged 'parameters' (papermill)"
    # Only simple assignments of literals, so papermill can override every one of them.
    tree = ast.parse(tagged[0].source)
    assert all(isinstance(node, ast.Assign) and len(node.targets) == 1
               and isinstance(node.targets[0], ast.Name) for node in tree.body)
    defaults = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}
    assert defaults == DEFAULTS


def test_notebook_runs_end_to_end(tiny_model, imdb_archive, cache_dir, tmp_path, monkeypatch):
    # The kernel inherits this environment: archives are unpacked under
    # $TFBERT_CACHE_DIR/datasets, where the imdb fixtures already put this one.
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    output_dir = tmp_path / "saved_models" / "imdb_bert"
    run_dir = tmp_path / "runs" / "imdb_bert"
    executed_path = tmp_path / "executed.ipynb"

    papermill.execute_notebook(
        NOTEBOOK, str(executed_path), kernel_name="python3", cwd=str(tmp_path),
        progress_bar=False, execution_timeout=600,
        parameters=dict(MODEL=tiny_model, DATA=imdb_archive, EPOCHS=1, MAX_EXAMPLES=300,
                        SEQ_LENGTH=64, OUTPUT_DIR=str(output_dir), RUN_DIR=str(run_dir)))

    nb = nbformat.read(str(executed_path), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code_cells)
              for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert all(c.execution_count is not None for c in code_cells), "every code cell ran"
    text = "\n".join(_output_text(c) for c in code_cells)

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
    lines = [line for line in _output_text(code_cells[-1]).splitlines() if line.strip()]
    assert len(lines) == 5, lines
    for line in lines:
        label, probability = line.split()[:2]
        assert label in ("neg", "pos"), line
        assert 0.5 <= float(probability) <= 1.0, line
