"""Metrics on hand-made cases whose answers are known."""
import json
import math

import numpy as np
import pytest

from tfbert.evaluation import compute_metrics, probabilities_from_logits, save_metrics


def test_binary_metrics_by_hand(tmp_path):
    labels = [1, 1, 1, 0, 0]
    # predictions: pos, pos, neg, pos, neg -> TP=2, FN=1, FP=1, TN=1
    probabilities = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    metrics = compute_metrics(labels, probabilities, ["neg", "pos"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.3, 0.9]))
    assert metrics["loss"] == pytest.approx(expected_loss)
    assert metrics["confusion_matrix"] == [[1, 1], [1, 2]]
    path = save_metrics(metrics, str(tmp_path / "out" / "eval.json"))
    assert json.load(open(path))["f1"] == pytest.approx(2 / 3)


def test_multiclass_metrics_are_macro_averages():
    labels = [0, 1, 2, 2]
    probabilities = np.eye(3)[[0, 2, 2, 1]]  # right, wrong (1->2), right, wrong (2->1)
    metrics = compute_metrics(labels, probabilities, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(0.5)
    # per class precision: a 1/1, b 0/1, c 1/2; recall: a 1/1, b 0/1, c 1/2
    assert metrics["precision"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["f1"] == pytest.approx((1 + 0 + 0.5) / 3)


def test_probabilities_from_sigmoid_and_softmax_logits():
    binary = probabilities_from_logits([[0.0], [math.log(3)]])
    np.testing.assert_allclose(binary, [[0.5, 0.5], [0.25, 0.75]])
    multi = probabilities_from_logits([[0.0, 0.0, math.log(2)]])
    np.testing.assert_allclose(multi, [[0.25, 0.25, 0.5]])
