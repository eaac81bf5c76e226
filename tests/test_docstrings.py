"""The pure examples in docstrings (written as ``>>>`` sessions) run as doctests: the
documentation cannot drift from what the code does. Examples that need a model or data
are ``Example::`` blocks, exercised by the other tests instead."""
import doctest
import importlib

import pytest

PURE = ["tfbert.tasks", "tfbert.tasks.classification", "tfbert.tasks.multilabel",
        "tfbert.tasks.regression", "tfbert.metrics", "tfbert.config", "tfbert.evaluation",
        "tfbert.registry", "tfbert.embeddings", "tfbert.recommended", "tfbert.masking",
        "tfbert.metrics_qa", "tfbert.exports", "tfbert.optimizer"]


@pytest.mark.parametrize("name", PURE)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no >>> example"
    assert result.failed == 0
