"""The notebooks' first cells: tfbert is installed from where the notebook is, imported first.

The install cell of each notebook runs here with a stand-in for IPython's ``%pip``, in
the situations a user meets: inside a tfbert checkout, in Colab with ``TFBERT_PIP_SPEC``
set, and with it unset (a clear message, no traceback). Fast: nothing is installed.
"""
import ast
import glob
import importlib.util
import os
import subprocess
import sys
import types
import zipfile

import pytest

from conftest import REPO
from notebook_checks import nbformat

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
EXTRAS = {"imdb_end_to_end.ipynb": "", "beyond_binary.ipynb": "[minilm]",
          "question_answering.ipynb": "[minilm]", "embeddings.ipynb": "[minilm]",
          "long_documents.ipynb": "[minilm]"}


def _code_cells(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _install_cell(path):
    cells = [s for s in _code_cells(path) if "TFBERT_PIP_SPEC" in s and "find_checkout" in s]
    assert len(cells) == 1, "one install cell"
    return cells[0]


class _FakeIPython:
    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line):
        self.magics.append((name, line))


def _run_install_cell(path, monkeypatch, cwd, tfbert_in=None, spec=None, env_spec=None):
    """Run the notebook's install cell in ``cwd`` with tfbert importable from ``tfbert_in``
    (None: not importable); return the ``%pip`` lines it ran."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "tfbert":
            return None if tfbert_in is None else types.SimpleNamespace(
                origin=os.path.join(tfbert_in, "tfbert", "__init__.py"))
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.chdir(cwd)
    if env_spec is None:
        monkeypatch.delenv("TFBERT_PIP_SPEC", raising=False)
    else:
        monkeypatch.setenv("TFBERT_PIP_SPEC", env_spec)
    ipython = _FakeIPython()
    exec(_install_cell(path), {"TFBERT_PIP_SPEC": spec, "get_ipython": lambda: ipython})
    return [line for name, line in ipython.magics if name == "pip"]


@pytest.fixture
def checkout(tmp_path):
    """A folder laid out like a tfbert checkout, with the notebooks folder inside."""
    root = tmp_path / "my tfbert"
    (root / "notebooks").mkdir(parents=True)
    (root / "setup.cfg").write_text("[metadata]\nname = tfbert\nversion = 0.1.0\n")
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_in_a_checkout_it_installs_that_checkout(path, checkout, tmp_path, monkeypatch):
    extras = EXTRAS[os.path.basename(path)]
    lines = _run_install_cell(path, monkeypatch, checkout / "notebooks",
                              tfbert_in=str(tmp_path / "elsewhere"))
    assert lines == [f'install -q -e "{checkout}{extras}"']
    # Already installed from this checkout (an editable install): nothing to do.
    assert _run_install_cell(path, monkeypatch, checkout / "notebooks",
                             tfbert_in=str(checkout)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_another_projects_setup_cfg_is_no_checkout(path, tmp_path, monkeypatch, capsys):
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = tfbert-other\n")
    assert _run_install_cell(path, monkeypatch, tmp_path, tfbert_in=str(REPO)) == []
    assert f"tfbert is installed, from {REPO}" in capsys.readouterr().out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_elsewhere_it_installs_tfbert_pip_spec(path, tmp_path, monkeypatch):
    spec = "git+https://example.org/someone/tfbert"
    assert _run_install_cell(path, monkeypatch, tmp_path, spec=spec) == [f'install -q "{spec}"']
    # The environment variable serves when the parameter is left at None.
    assert _run_install_cell(path, monkeypatch, tmp_path, env_spec=spec) == \
        [f'install -q "{spec}"']


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_unset_spec_outside_a_checkout_says_what_to_set(path, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as stop:   # IPython shows its message, no traceback
        _run_install_cell(path, monkeypatch, tmp_path)
    assert "set TFBERT_PIP_SPEC" in str(stop.value)
    out = capsys.readouterr().out
    assert "TFBERT_PIP_SPEC" in out and "git+https://" in out and ".whl" in out
    assert "pip wheel --no-deps -w dist ." in out


def test_the_documented_wheel_builds_and_installs_with_its_extra(tmp_path):
    # The install cell's message: `pip wheel --no-deps -w dist .` in a checkout.
    source = tmp_path / "checkout"
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        (source / name).write_bytes(open(os.path.join(REPO, name), "rb").read())
    subprocess.run(["cp", "-r", os.path.join(REPO, "tfbert"), str(source / "tfbert")], check=True)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = glob.glob(str(tmp_path / "dist" / "tfbert-*-py3-none-any.whl"))
    assert "tfbert/_setup.py" in zipfile.ZipFile(wheel).namelist()
    result = subprocess.run([*pip, "install", "--dry-run", "--no-index", "--no-deps",
                             f"{wheel}[minilm]"], capture_output=True, text=True)
    assert result.returncode == 0 and "Would install tfbert" in result.stdout, result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_tfbert_is_imported_before_tensorflow(path):
    imports = []
    for source in _code_cells(path):
        code = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                imports += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imports.append(node.module)
    top = [name.split(".")[0] for name in imports]
    assert "tfbert" in top and "tensorflow" in top
    assert top.index("tfbert") < top.index("tensorflow")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_the_offline_model_is_named(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "all-minilm-l6-v2" in text and "tfbert[minilm]" in text
