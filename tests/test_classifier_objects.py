"""The seams of the design: task objects, a classifier that carries its description, and
in-memory prediction that equals the export's."""
import numpy as np
import pytest

from tfbert.errors import DataError


@pytest.fixture(scope="module")
def tf():
    from tfbert._tf import tf
    return tf


def test_registry_names_objects_and_infers_tasks():
    from tfbert.tasks import TASKS, get_task, infer_task, task_of_labels
    assert TASKS == ("classification", "multilabel", "regression")
    assert [get_task(name).name for name in TASKS] == list(TASKS)
    assert get_task(get_task("regression")) is get_task("regression")
    with pytest.raises(DataError, match="task must be one of"):
        get_task("ranking")
    assert infer_task(["joy,love", "anger"]).name == "multilabel"
    assert infer_task(["3.8", "1"]).name == "regression"
    assert infer_task(["1", "0"]).name == "classification"
    assert task_of_labels(np.zeros((2, 3), np.float32)).name == "multilabel"
    assert task_of_labels(np.zeros(2, np.float32)).name == "regression"
    assert task_of_labels(np.zeros(2, np.int64)).name == "classification"
    assert get_task("multilabel") == "multilabel" and get_task("multilabel") != "regression"


@pytest.mark.parametrize("name, logits, key", [
    ("classification", [[0.0], [np.log(3.0)]], "probabilities"),
    ("classification", [[0.0, 0.0, np.log(2.0)]], "probabilities"),
    ("multilabel", [[0.0, np.log(3.0)]], "probabilities"),
    ("regression", [[2.5], [-1.0]], "score"),
])
def test_one_output_function_gives_scores_and_decisions(tf, name, logits, key):
    from tfbert.tasks import get_task
    task = get_task(name)
    units = np.shape(logits)[1]
    names = [f"l{i}" for i in range(2 if name == "classification" and units == 1 else units)]
    outputs = {k: v.numpy() for k, v in task.outputs(tf.constant(logits, tf.float32), names,
                                                     [0.5, 0.7][:len(names)]).items()}
    scores = outputs[key]
    if name == "classification":
        assert np.allclose(scores.sum(axis=1), 1.0)
        assert [label.decode() for label in outputs["label"]] == [
            names[i] for i in scores.argmax(axis=1)]
        expected = [[0.5, 0.5], [0.25, 0.75]] if units == 1 else [[0.25, 0.25, 0.5]]
        assert np.allclose(scores, expected)
    elif name == "multilabel":
        assert np.allclose(scores, [[0.5, 0.75]])
        assert outputs["predicted"].tolist() == [[1, 1]]       # 0.5 >= 0.5, 0.75 >= 0.7
    else:
        assert scores.tolist() == [2.5, -1.0]
    predictions = task.predictions(["a"] * len(scores), None, outputs, names)
    assert len(predictions) == len(scores)


@pytest.mark.parametrize("name, labels", [
    ("classification", np.array([0, 0, 0, 1])),
    ("multilabel", np.array([[1, 0], [0, 0], [0, 0], [0, 0]], np.float32)),
    ("regression", np.array([1.0, 2.0, 3.0, 6.0], np.float32)),
])
def test_initial_bias_starts_the_head_at_the_base_rate(name, labels):
    from tfbert.tasks import get_task
    task = get_task(name)
    bias = task.initial_bias(labels, 2)
    if name == "regression":
        assert bias.tolist() == [3.0]
    else:
        assert 1 / (1 + np.exp(-bias[0])) == pytest.approx(0.25, abs=1e-6)
    assert bias.shape == (task.head_units(2),)


def test_untrainable_labels_are_refused_naming_the_source():
    from tfbert.tasks import get_task
    with pytest.raises(DataError, match="x.csv: every training example has the label 'pos'"):
        get_task("classification").check_trainable(np.array([1, 1]), ["neg", "pos"], "x.csv")
    with pytest.raises(DataError, match="every training score is 2"):
        get_task("regression").check_trainable(np.array([2.0, 2.0]), ["s"], "x.csv")
    with pytest.raises(DataError, match="no training example has any label"):
        get_task("multilabel").check_trainable(np.zeros((2, 3)), ["a", "b", "c"], "x.csv")


def test_classifier_carries_labels_and_rebuilds_from_its_config(tiny_model, tf, tmp_path):
    from tfbert.models import BertClassifier, build_classifier
    model = build_classifier(tiny_model, label_names=["neg", "neutral", "pos"], seq_length=32)
    assert model.config.num_classes == 3 and model.label_names == ["neg", "neutral", "pos"]
    assert model.task.name == "classification" and model.config.units == 3
    model.core.get_layer("classifier").bias.assign([0.0, 1.0, 2.0])
    path = str(tmp_path / "weights")
    model.save_weights(path)
    rebuilt = BertClassifier.from_config(model.get_config())
    rebuilt.load_weights(path)
    assert rebuilt.config == model.config
    texts = tf.constant(["a fine film", "dreadful"])
    np.testing.assert_allclose(rebuilt(texts, training=False), model(texts, training=False),
                               atol=1e-6)


def test_label_names_must_match_the_head(tiny_model):
    from tfbert.errors import ModelError
    from tfbert.models import build_classifier
    with pytest.raises(ModelError, match="num_classes must be at least 2"):
        build_classifier(tiny_model, label_names=["only"])
    regression = build_classifier(tiny_model, task="regression", seq_length=16)
    assert regression.label_names == ["score"] and regression.config.units == 1


def test_in_memory_classifier_predicts_like_its_export(trained, exported, imdb_small):
    from tfbert.export import load_model
    texts = ["An absolute masterpiece.", "I want my two hours back.", "", "fine " * 200]
    in_memory = trained.classifier.predict(texts)
    loaded = load_model(exported).predict(texts)
    assert [p.label for p in in_memory] == [p.label for p in loaded]
    for ours, theirs in zip(in_memory, loaded):
        assert ours.text == theirs.text and set(ours.probabilities) == set(imdb_small.label_names)
        assert ours.probability == pytest.approx(theirs.probability, abs=1e-5)
    assert trained.classifier.predict([]) == []
