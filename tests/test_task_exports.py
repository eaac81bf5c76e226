"""What each task adds to an export, on untrained tiny classifiers (the fast tier).

Multi-label thresholds, a second text input and a score survive the export and
come back in a fresh load, and the export answers as the in-memory classifier
does. Learning is the full suite's business (``test_tasks.py``, real weights);
here the head's weights are set so that predictions differ between texts and labels.
"""
import json

import numpy as np
import pytest

from tfbert.errors import ExportError

TEXTS = ["a fine and moving film", "dull", "the plot never goes anywhere at all", "",
         "one of the best of the year"]
PAIRS = ["a moving film", "so dull", "nothing happens", "an empty line", "the year's best"]
EMOTIONS = ["joy", "anger", "sadness", "surprise", "neutral"]


def _classifier(tiny_model, bias, std=1.0, **settings):
    """An untrained tiny classifier whose logits over ``TEXTS`` (and ``PAIRS``) have mean
    ``bias`` and standard deviation ``std`` for each unit: the untrained encoder's outputs
    differ little between texts, so a random head is rescaled until they do."""
    from tfbert._tf import tf
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, seq_length=32, **settings)
    head = model.core.get_layer("classifier")
    head.kernel.assign(np.random.default_rng(0).normal(0, 1, head.kernel.shape))
    head.bias.assign(np.zeros(head.bias.shape))
    inputs = tf.constant(TEXTS) if not settings.get("text_pairs") else [tf.constant(TEXTS),
                                                                        tf.constant(PAIRS)]
    logits = model(inputs, training=False).numpy()
    spread = logits.std(axis=0)
    head.kernel.assign(head.kernel.numpy() * std / spread)
    head.bias.assign(np.asarray(bias) - logits.mean(axis=0) * std / spread)
    return model


def test_multilabel_thresholds_round_trip_through_the_export(tiny_model, tmp_path,
                                                             monkeypatch, capsys):
    from tfbert import cli
    from tfbert.export import export_model, load_model
    from tfbert.serving import Classifier
    bias = np.array([-1.0, 0.0, 1.0, 0.3, -0.3], np.float32)
    model = _classifier(tiny_model, bias, task="multilabel", label_names=EMOTIONS)
    in_memory = Classifier(model).predict_proba(TEXTS)
    # Each label's threshold halfway between its 2nd and 3rd highest probability: two texts
    # above it, three below, none close enough for float rounding to move across.
    ranked = -np.sort(-in_memory, axis=0)
    assert (ranked[1] - ranked[2]).min() > 1e-3
    thresholds = ((ranked[1] + ranked[2]) / 2).tolist()
    path = export_model(model, tmp_path / "emotions", thresholds=thresholds)
    loaded = load_model(path)
    assert loaded.task == "multilabel" and loaded.label_names == EMOTIONS
    assert loaded.thresholds.tolist() == thresholds
    probabilities = loaded.predict_proba(TEXTS)
    np.testing.assert_allclose(probabilities, in_memory, atol=1e-5)
    chosen = probabilities >= np.asarray(thresholds)
    assert (chosen.sum(axis=0) == 2).all()
    for row, prediction in zip(chosen, loaded.predict(TEXTS)):
        assert prediction.labels == [n for n, c in zip(EMOTIONS, row) if c]
    # TF Serving users get the thresholds applied by the signature itself.
    served = loaded._serve(text=np.asarray(TEXTS, dtype=object))
    np.testing.assert_array_equal(served["predicted"].numpy(), chosen.astype(np.int32))
    # The CLI's JSON lists the chosen labels with their probabilities.
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", path, TEXTS[0], "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [item["label"] for item in record["labels"]] == loaded.predict(TEXTS[0])[0].labels
    assert len(record["probabilities"]) == len(EMOTIONS)


def test_sentence_pairs_export_two_inputs(tiny_model, tmp_path):
    from tfbert.export import export_model, load_model
    from tfbert.serving import Classifier
    model = _classifier(tiny_model, [0.0], std=0.1, text_pairs=True,
                        label_names=["different", "paraphrase"])
    assert model.config.num_segments == 2
    loaded = load_model(export_model(model, tmp_path / "pairs"))
    assert sorted(loaded._serve.structured_input_signature[1]) == ["text", "text_pair"]
    exported = loaded.predict(TEXTS, pairs=PAIRS)
    in_memory = Classifier(model).predict(TEXTS, pairs=PAIRS)
    assert [p.label for p in exported] == [p.label for p in in_memory]
    np.testing.assert_allclose([p.probability for p in exported],
                               [p.probability for p in in_memory], atol=1e-5)
    assert exported[0].text_pair == PAIRS[0]
    # The second text counts: the same first texts with other pairs score differently.
    swapped = loaded.predict(TEXTS, pairs=PAIRS[::-1])
    assert [p.probability for p in swapped] != [p.probability for p in exported]
    with pytest.raises(ExportError, match="pass the second texts"):
        loaded.predict(["no pair given"])


def test_regression_exports_a_score_and_no_label(tiny_model, tmp_path):
    from tfbert.export import export_model, load_model
    from tfbert.serving import Classifier
    model = _classifier(tiny_model, [2.5], std=0.1, task="regression", text_pairs=True)
    loaded = load_model(export_model(model, tmp_path / "similarity"))
    assert loaded.task == "regression"
    exported = loaded.predict(TEXTS, pairs=PAIRS)
    in_memory = Classifier(model).predict(TEXTS, pairs=PAIRS)
    np.testing.assert_allclose([p.score for p in exported], [p.score for p in in_memory],
                               atol=1e-5)
    for prediction in exported:
        assert prediction.label is None and prediction.to_json()["score"] == prediction.score
    assert len({round(p.score, 3) for p in exported}) > 1   # the texts, not the bias alone
