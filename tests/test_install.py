"""Installs where users are: setup.cfg's Python range, its classifiers and .ci/run agree.

``.ci/run`` proves, with ``pip install --dry-run --python-version X --only-binary=:all:``,
that the pinned requirements resolve for every version the classifiers name (it needs
PyPI, so it is CI's job, not a test's). These tests pin what it relies on: the
classifiers name exactly the versions ``python_requires`` admits, and tfbert's code
parses with the grammar of the lowest one.
"""
import ast
import configparser
import glob
import os
import re

import pytest
from packaging.specifiers import SpecifierSet

from conftest import REPO

CONFIG = configparser.ConfigParser()
CONFIG.read(os.path.join(REPO, "setup.cfg"))
PREFIX = "Programming Language :: Python :: "


def _classified_versions():
    lines = [line.strip() for line in CONFIG["metadata"]["classifiers"].splitlines()]
    return [line[len(PREFIX):] for line in lines
            if line.startswith(PREFIX) and line.count(".") == 1]


def _admitted_versions():
    specifier = SpecifierSet(CONFIG["options"]["python_requires"])
    return [f"3.{minor}" for minor in range(6, 20) if f"3.{minor}" in specifier]


def test_python_requires_admits_3_10_to_3_13():
    # tensorflow 2.20 and tensorflow-text 2.20.1 ship wheels for 3.10-3.13 (Colab runs 3.12).
    assert _admitted_versions() == ["3.10", "3.11", "3.12", "3.13"]


def test_classifiers_name_exactly_the_admitted_versions():
    assert _classified_versions() == _admitted_versions()


def test_ci_resolves_the_requirements_for_each_classified_version():
    script = open(os.path.join(REPO, ".ci", "run"), encoding="utf-8").read()
    check = script[script.index("check_python_versions() {"):]
    for flag in ("--dry-run", "--only-binary=:all:", '--python-version "$version"',
                 "install_requires", "classifiers", "vermin"):
        assert flag in check, flag
    # The check runs before the tests, and its failure stops CI (set -e).
    assert re.search(r"^check_python_versions$", script, re.M)
    assert script.index("\ncheck_python_versions\n") < script.index("python -m pytest")
    assert "set -euo pipefail" in script


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "tfbert", "**", "*.py"),
                                               recursive=True)))
def test_code_parses_with_the_lowest_admitted_grammar(path):
    lowest = tuple(int(part) for part in _admitted_versions()[0].split("."))
    source = open(path, encoding="utf-8").read()
    ast.parse(source, filename=path, feature_version=lowest)   # e.g. no except*, no `type X = ...`
