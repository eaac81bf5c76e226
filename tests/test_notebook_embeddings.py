"""The semantic-search notebook runs top to bottom, offline, on a few dozen real reviews.

papermill executes ``notebooks/embeddings.ipynb`` in a fresh kernel with the tiny
test BERT (the notebook's own default is all-MiniLM-L6-v2, whose vectors
tests/test_embeddings.py compares with sentence-transformers') and 40 training and 40
test IMDB reviews in the aclImdb layout; the test checks what it printed and drew.
"""
import os
import re

import pytest

from conftest import REPO
from notebook_checks import (TF_NOISE, cell_with, clean_notebook_defaults, execute, has_image,
                             output_text, write_imdb_folder)

pytestmark = pytest.mark.slow   # notebooks: the full suite

NOTEBOOK = os.path.join(REPO, "notebooks", "embeddings.ipynb")
DEFAULTS = {"MODEL": "all-minilm-l6-v2", "DATA": "../shared/data/aclImdb.tar.xz",
            "MAX_EXAMPLES": 2000,
            "QUERIES": ["a terrifying horror film with a weak plot",
                        "a touching family drama that made me cry",
                        "the special effects and the action scenes were amazing"],
            "CLUSTERS": 6, "NEIGHBOURS": 5, "EPOCHS": 1, "BATCH_SIZE": 32, "SEQ_LENGTH": 128,
            "LEARNING_RATE": 1e-4, "RUN_DIR": "runs/embeddings", "TFBERT_PIP_SPEC": None}
QUERIES = ["a boring film", "the best movie I have seen"]


def test_notebook_is_clean_and_parameterised():
    assert clean_notebook_defaults(NOTEBOOK) == DEFAULTS


def test_notebook_searches_clusters_and_draws(tiny_model, imdb_small, cache_dir, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE_DIR", cache_dir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")   # tfbert's quiet default
    data = write_imdb_folder(imdb_small, tmp_path / "aclImdb", per_label=20)
    run_dir = tmp_path / "runs" / "embeddings"
    code_cells = execute(NOTEBOOK, tmp_path, dict(
        MODEL=tiny_model, DATA=str(data), MAX_EXAMPLES=None, QUERIES=QUERIES, CLUSTERS=3,
        NEIGHBOURS=4, EPOCHS=1, BATCH_SIZE=16, SEQ_LENGTH=64, LEARNING_RATE=1e-3,
        RUN_DIR=str(run_dir)))
    text = "\n".join(output_text(c) for c in code_cells)
    assert not TF_NOISE.search(text), TF_NOISE.search(text).group(0)
    assert re.search(r"^\s+test\s+40 \(neg=20, pos=20\)$", text, re.M), text[:3000]

    # 40 unit vectors of the tiny model's 128 dimensions.
    embedded = output_text(cell_with(code_cells, "vectors = tfbert.embed("))
    assert "vectors: (40, 128), float32" in embedded, embedded
    norms = re.search(r"norms: \[([^\]]*)\]", embedded).group(1).split()
    assert len(norms) == 5 and all(abs(float(n) - 1) < 1e-3 for n in norms), norms

    # Each query lists its 4 nearest reviews, best first, with cosines and labels.
    searched = output_text(cell_with(code_cells, "scores = tfbert.similarity(QUERIES"))
    assert "similarities: (2, 40)" in searched
    blocks = searched.split("query: ")[1:]
    assert [b.splitlines()[0] for b in blocks] == [repr(q) for q in QUERIES]
    for block in blocks:
        hits = [re.match(r"\s+(-?[01]\.\d{3})\s+(neg|pos)\s+\S", line)
                for line in block.splitlines()[1:] if line.strip()]
        assert len(hits) == 4 and all(hits), block
        scores = [float(h.group(1)) for h in hits]
        assert scores == sorted(scores, reverse=True) and -1 <= min(scores) <= max(scores) <= 1

    # The pairwise cosines: two lines, each a cosine of two texts.
    pairwise = output_text(cell_with(code_cells, "pairwise=True")).splitlines()
    assert len(pairwise) == 2 and all(re.match(r"-?[01]\.\d{3}  'A wonderful film\.' vs", line)
                                      for line in pairwise), pairwise

    # Three clusters whose sizes add up to the 40 reviews, each with its central reviews.
    clustered = output_text(cell_with(code_cells, "KMeans(")).splitlines()
    sizes = [int(m.group(1)) for m in map(re.compile(r"cluster \d: +(\d+) reviews").match,
                                          clustered) if m]
    assert len(sizes) == 3 and sum(sizes) == 40, clustered

    # The PCA figures were drawn.
    assert has_image(cell_with(code_cells, "pca.fit_transform(vectors)"))

    # The fine-tuned classifier's encoder embedded the reviews too, and both spaces were scored.
    assert "fine-tuned vectors: (40, 128)" in text
    assert (run_dir / "history.json").is_file()
    scored = cell_with(code_cells, "def neighbour_agreement")
    shares = re.findall(r"^(pre-trained|fine-tuned) +4 nearest reviews with the same label: "
                        r"([01]\.\d{3})$", output_text(scored), re.M)
    assert [name for name, _ in shares] == ["pre-trained", "fine-tuned"], output_text(scored)
    assert all(0 <= float(share) <= 1 for _, share in shares)
    assert has_image(scored)
