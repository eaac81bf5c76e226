"""A real fine-tune: all-MiniLM-L6-v2 (real pretrained weights, offline) learns SST-2."""
import os

import pytest

from conftest import SST2

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite


def test_minilm_learns_sst2_from_a_thousand_sentences(minilm, tmp_path):
    from tfbert.data import load_data
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    data = load_data(os.path.join(SST2, "train.tsv.gz"), text_column="sentence",
                     label_column="label", test_data=os.path.join(SST2, "dev.tsv"),
                     max_examples=1250)  # 1,000 to train on, 250 for validation
    assert (len(data.train), len(data.validation), len(data.test)) == (1000, 250, 872)
    result = train(data, model=minilm, epochs=3, batch_size=32, seq_length=64,
                   learning_rate=5e-5, run_dir=str(tmp_path), verbose=0)
    metrics = evaluate(result.model, data.test, data.label_names)
    assert metrics["examples"] == 872
    # An untrained head sits near 0.5. Over seeds this run lands between 0.749 and 0.780
    # (seeds 42, 1, 2, measured 2026-11-23), so the bar sits below that spread, not inside it.
    assert metrics["accuracy"] >= 0.72, metrics
