"""Checks shared by the notebook tests: committed clean, parameterised, executed without errors."""
import ast
import re

import pytest

papermill = pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

# TensorFlow's noise, which tfbert hides: C++ log lines ("2026-12-03 09:26:57.914794: E ..."),
# "Assets written to ..." and tf-keras's "compiled metrics have yet to be built" warning.
TF_NOISE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |Assets written to"
                      r"|compiled metrics have yet to be built", re.M)


def output_text(cell, stdout_only=False):
    """Everything a code cell printed or displayed as text (or only what it printed)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            if not stdout_only or output.get("name") == "stdout":
                parts.append(output.get("text", ""))
        elif "data" in output and not stdout_only:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def clean_notebook_defaults(path):
    """Assert ``path`` is committed without outputs with one literal ``parameters`` cell;
    return that cell's values."""
    nb = nbformat.read(path, as_version=4)
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
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}


def execute(path, workdir, parameters):
    """Run the notebook with papermill in ``workdir``; assert every cell ran without error;
    return the executed code cells."""
    executed_path = workdir / "executed.ipynb"
    papermill.execute_notebook(path, str(executed_path), kernel_name="python3",
                               cwd=str(workdir), progress_bar=False, execution_timeout=600,
                               parameters=parameters)
    nb = nbformat.read(str(executed_path), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code_cells)
              for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert all(c.execution_count is not None for c in code_cells), "every code cell ran"
    return code_cells


def write_imdb_folder(data, root, per_label):
    """A small copy of ``data`` (a TextData of IMDB reviews) in the aclImdb layout under
    ``root``: ``per_label`` reviews of each label in ``train/`` and in ``test/``; returns it."""
    for split_name, split in (("train", data.train), ("test", data.test)):
        for label, name in enumerate(data.label_names):
            folder = root / split_name / name
            folder.mkdir(parents=True)
            texts = [t for t, y in zip(split.texts, split.labels) if y == label][:per_label]
            assert len(texts) == per_label, (split_name, name, len(texts))
            for i, text in enumerate(texts):
                (folder / f"{i}_{8 if label else 2}.txt").write_text(text, encoding="utf-8")
    return root


def has_image(cell):
    """Whether a code cell displayed a PNG (a matplotlib figure or an image)."""
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


def cell_with(code_cells, snippet):
    """The one code cell whose source contains ``snippet``."""
    found = [c for c in code_cells if snippet in c.source]
    assert len(found) == 1, f"{len(found)} cells contain {snippet!r}"
    return found[0]
