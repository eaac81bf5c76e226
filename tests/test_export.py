"""Exports: versioned, verified, servable, and loadable in a fresh process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_python
from tfbert.errors import ExportError


def test_export_layout_metadata_and_signature(exported, imdb_small):
    assert os.path.basename(exported) == "1"
    with open(os.path.join(exported, "assets.extra", "tfbert.json")) as f:
        metadata = json.load(f)
    assert metadata["label_names"] == imdb_small.label_names
    assert metadata["classifier"]["seq_length"] == 64
    assert metadata["settings"] == {"purpose": "tests"}
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", exported, "--all"], capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    signature = shown.stdout.split("signature_def['serving_default']")[1]
    assert "inputs['text']" in signature and "DT_STRING" in signature
    assert "outputs['probabilities']" in signature and "outputs['label']" in signature


def test_reload_in_a_fresh_process_matches_the_model(exported, trained):
    from tfbert._tf import tf
    from tfbert.evaluation import probabilities_from_logits
    texts = ["An absolute masterpiece.", "I want my two hours back.", "It was fine, I guess."]
    expected = probabilities_from_logits(trained.model(tf.constant(texts), training=False))
    code = ("import json, sys, tfbert\n"
            "c = tfbert.load_model(sys.argv[1])\n"
            "print(json.dumps([p.to_json() for p in c.predict(json.loads(sys.argv[2]))]))")
    result = run_python(code, os.path.dirname(exported), json.dumps(texts))
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout.strip().splitlines()[-1])
    assert [p["text"] for p in predictions] == texts
    for prediction, row in zip(predictions, expected):
        assert prediction["label"] == ["neg", "pos"][int(row.argmax())]
        assert prediction["probability"] == pytest.approx(row.max(), abs=1e-5)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_new_exports_get_the_next_version_and_never_overwrite(trained, imdb_small, tmp_path):
    from tfbert.export import export_model, load_model
    first = export_model(trained.model, str(tmp_path), imdb_small.label_names)
    second = export_model(trained.model, str(tmp_path), imdb_small.label_names)
    assert [os.path.basename(p) for p in (first, second)] == ["1", "2"]
    assert load_model(str(tmp_path)).path == second
    with pytest.raises(ExportError, match="already exists"):
        export_model(trained.model, str(tmp_path), imdb_small.label_names, version=1)


def test_export_that_does_not_reproduce_the_model_is_discarded(trained, imdb_small, tmp_path,
                                                               monkeypatch):
    import tfbert.export
    monkeypatch.setitem(tfbert.export.TOLERANCES, "float32", -1.0)
    with pytest.raises(ExportError, match="differs from the model"):
        tfbert.export.export_model(trained.model, str(tmp_path / "m"), imdb_small.label_names)
    assert os.listdir(tmp_path / "m") == []


def test_loading_something_that_is_not_an_export(tmp_path, tiny_model):
    from tfbert.export import load_model
    with pytest.raises(ExportError, match="does not exist"):
        load_model(str(tmp_path / "missing"))
    with pytest.raises(ExportError, match="not a tfbert export"):
        load_model(str(tmp_path))
    with pytest.raises(ExportError, match="not a tfbert export"):
        load_model(os.path.join(tiny_model, "encoder"))


def test_predict_batches_and_keeps_order(exported):
    from tfbert.export import load_model
    classifier = load_model(exported)
    texts = [f"review {i} " + "good " * (i % 5) for i in range(7)]
    one_by_one = np.concatenate([classifier.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(classifier.predict_proba(texts, batch_size=3), one_by_one,
                               atol=1e-5)


def test_serving_function_takes_any_batch_size_without_retracing(trained, imdb_small):
    from tfbert.export import _Serving
    module = _Serving(trained.model, imdb_small.label_names)
    for size in (1, 3, 17, 64):
        outputs = module.serve(np.asarray(["a film"] * size, dtype=object))
        assert outputs["probabilities"].shape == (size, 2)
    assert module.serve.experimental_get_tracing_count() == 1


def test_predict_proba_keeps_input_order_across_length_sorted_batches(exported, trained):
    from tfbert._tf import tf
    from tfbert.export import load_model
    texts = ["A long, winding review that goes on about the plot and the actors " * 3,
             "Bad.", "Quite good, actually.", "Great!", "An average film with a fine cast."]
    expected = trained.model(tf.constant(texts), training=False).numpy().reshape(-1)
    positive = load_model(exported).predict_proba(texts, batch_size=2)[:, 1]
    np.testing.assert_allclose(positive, 1 / (1 + np.exp(-expected)), atol=1e-5)


KILLED_EXPORT = """
import sys, time
import tfbert
from tfbert._tf import tf
real_save = tf.saved_model.save

def save_then_wait(*args, **kwargs):
    real_save(*args, **kwargs)
    print("written", flush=True)   # the staging folder is complete but not yet in place
    time.sleep(600)

if sys.argv[3] == "wait-before-rename":
    tf.saved_model.save = save_then_wait
model = tfbert.build_classifier(sys.argv[1], seq_length=32)
tfbert.export_model(model, sys.argv[2], ["neg", "pos"])
"""


@pytest.mark.slow   # the full suite: killed subprocesses
@pytest.mark.parametrize("moment", ["while writing", "after writing, before the rename"])
def test_an_export_killed_midway_leaves_the_previous_version_intact(
        exported, trained, tiny_model, tmp_path, moment):
    """A real SIGKILL during an export: version 1 stays the latest and loads; the next
    export still gets version 2."""
    import shutil
    import signal
    import time
    from tfbert.export import export_model, load_model
    directory = tmp_path / "imdb"
    shutil.copytree(exported, directory / "1")
    before = load_model(str(directory)).predict_proba(["A fine film."])
    pause = "wait-before-rename" if moment.startswith("after") else "no-pause"
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, tiny_model, str(directory),
                                pause],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if moment.startswith("after"):
            assert process.stdout.readline().strip() == "written"
        else:  # as soon as the SavedModel's files start to appear in the staging folder
            deadline = time.monotonic() + 240
            while not any(name.startswith(".2.tmp-") and os.listdir(directory / name)
                          for name in os.listdir(directory)):
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    left = os.listdir(directory)
    assert [name for name in left if not name.startswith(".2.tmp-")] == ["1"], left
    classifier = load_model(str(directory))
    assert os.path.basename(classifier.path) == "1"
    np.testing.assert_allclose(classifier.predict_proba(["A fine film."]), before)
    assert os.path.basename(export_model(trained.model, str(directory),
                                         ["neg", "pos"])) == "2"


def _xla_functions(classifier):
    library = classifier._serve.graph.as_graph_def().library.function
    return [f.signature.name for f in library if f.attr["_XlaMustCompile"].b]


@pytest.mark.slow   # the full suite: XLA compilation
def test_xla_serving_compiles_long_batches_and_matches_the_model(trained, imdb_small, tmp_path,
                                                                 exported):
    """``jit_compile=True``: the serving graph holds an XLA-compiled function; long and short
    batches both predict what the in-memory model does (export_model checks both paths)."""
    from tfbert._tf import tf
    from tfbert.export import export_model, load_model
    path = export_model(trained.model, str(tmp_path), imdb_small.label_names, jit_compile=True)
    classifier = load_model(path)
    assert classifier.metadata["jit_compile"] is True
    assert _xla_functions(classifier) and not _xla_functions(load_model(exported))
    texts = ["Short.", "A long and winding review of the film. " * 40, "Fine."]
    expected = tf.sigmoid(trained.model(tf.constant(texts), training=False)).numpy()[:, 0]
    for batch_size in (1, 3):
        np.testing.assert_allclose(classifier.predict_proba(texts, batch_size=batch_size)[:, 1],
                                   expected, atol=1e-5)


def _bytes(folder):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(folder) for name in names)


def test_export_holds_weights_and_vocabulary_but_no_training_state(exported, trained,
                                                                   tiny_model):
    """The trained model was compiled with AdamW (a step and m/v slots: twice its weights);
    none of it is exported, nor any other training-only variable."""
    from tfbert._tf import tf
    stored = tf.train.list_variables(os.path.join(exported, "variables", "variables"))
    shapes = sorted(tuple(shape) for name, shape in stored if "CHECKPOINTABLE" not in name
                    and not name.endswith("save_counter/.ATTRIBUTES/VARIABLE_VALUE"))
    assert shapes == sorted(tuple(w.shape) for w in trained.model.core.weights)
    assert not [name for name, _ in stored if "optimizer" in name]
    weights = sum(w.shape.num_elements() * w.dtype.size for w in trained.model.core.weights)
    vocabulary = _bytes(os.path.join(tiny_model, "preprocess", "assets"))
    variables = _bytes(os.path.join(exported, "variables"))
    assets = _bytes(os.path.join(exported, "assets"))
    assert weights <= variables <= 1.1 * weights
    assert assets == vocabulary
    # The rest is the graph and metadata: a fixed ~1.5 MB, about 2% of MiniLM's 91 MB.
    assert _bytes(exported) - variables - assets < 2.5e6


def test_best_checkpoint_holds_weights_only(trained):
    from tfbert._tf import tf
    best = os.path.join(trained.files["checkpoints"], "best")
    stored = [(name, shape) for name, shape in tf.train.list_variables(best)
              if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert not [name for name, _ in stored if "optimizer" in name]
    weights = sum(w.shape.num_elements() for w in trained.model.core.weights)
    assert sum(int(np.prod(shape)) for _, shape in stored) == weights
