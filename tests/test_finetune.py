"""A real fine-tune: all-MiniLM-L6-v2 (real pretrained weights, offline) learns SST-2."""
import os

import pytest

from conftest import SST2

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite


def test_minilm_learns_sst2_in_one_epoch_with_no_tuning_flags(minilm, tmp_path):
    """The settings all-MiniLM-L6-v2 recommends (mean pooling, 1e-4) learn in one epoch,
    where the tutorial's [CLS] head at 3e-5 stayed at chance (0.51)."""
    from tfbert.data import load_data
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    data = load_data(os.path.join(SST2, "train.tsv.gz"), text_column="sentence",
                     label_column="label", test_data=os.path.join(SST2, "dev.tsv"),
                     max_examples=1250)  # 1,000 to train on, 250 for validation
    assert (len(data.train), len(data.validation), len(data.test)) == (1000, 250, 872)
    result = train(data, model=minilm, epochs=1, run_dir=str(tmp_path), verbose=0)
    assert (result.config.pooling, result.config.learning_rate) == ("mean", 1e-4)
    assert result.config.rebuild_encoder
    metrics = evaluate(result.model, data.test, data.label_names)
    assert metrics["examples"] == 872
    # Over seeds 42, 1, 2 (2026-12-03) this run lands at 0.764, 0.787, 0.797; the bar sits
    # below that spread, far above chance.
    assert metrics["accuracy"] >= 0.72, metrics
