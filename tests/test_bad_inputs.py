"""Bad input gets a clear error naming the file, row or argument, and nothing half-written.

The cases issue #6 lists that are not pinned beside their own module (see
test_data, test_registry, test_setup, test_models, test_export and
test_convert for archives, model names, offline handles, Keras 3, sequence
lengths, exports and pickled checkpoints), through the Python API and the CLI.
"""
import os
import shutil

import numpy as np
import pytest

from conftest import run_cli, run_python
from tfbert.data import load_csv, load_data, load_folder
from tfbert.errors import DataError, ExportError, TrainingError


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def test_whitespace_only_text_in_a_folder_names_the_file(tmp_path):
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "1.txt").write_text("fine text", encoding="utf-8")
    (tmp_path / "train" / "pos" / "2.txt").write_text(" \n\t ", encoding="utf-8")
    with pytest.raises(DataError, match=r"train/pos/2.txt: empty text"):
        load_folder(str(tmp_path))


def test_bytes_that_are_not_utf8_are_replaced_and_the_place_named(tmp_path):
    path = _csv(tmp_path, b"text,label\ngood,1\ncaf\xe9 au lait,0\n")
    with pytest.warns(UserWarning, match=r"data.csv, row 3: bytes that are not UTF-8 were "
                                         r"replaced"):
        split, _ = load_csv(path)
    assert split.texts[1] == "caf\ufffd au lait"
    folder = tmp_path / "folder"
    for split_name in ("train", "test"):
        for label in ("neg", "pos"):
            (folder / split_name / label).mkdir(parents=True)
            (folder / split_name / label / "1.txt").write_bytes(b"ok")
    (folder / "train" / "neg" / "2.txt").write_bytes(b"na\xefve")
    with pytest.warns(UserWarning, match=r"1 file\(s\) held bytes that are not UTF-8.*2.txt"):
        load_folder(str(folder))


def test_a_megabyte_text_is_read_and_predicted(tmp_path, exported):
    from tfbert.export import load_model
    huge = "a long and rambling review " * 40000          # ~1 MB
    path = _csv(tmp_path, f'text,label\n"{huge}",1\nshort,0\n')
    split, _ = load_csv(path)
    assert len(split.texts[0]) > 1_000_000
    probabilities = load_model(exported).predict_proba([huge, "short"])
    assert probabilities.shape == (2, 2) and np.isfinite(probabilities).all()


@pytest.mark.parametrize("content, message", [
    ("text,label\nfine,1\n,0\n", r"row 3: empty text"),
    ("text,label\nfine,1\nother,nan\n", r"row 3: missing label \('nan'\)"),
    ("text,label\nfine,1\nother,NULL\n", r"row 3: missing label \('NULL'\)"),
    ("text,label\nfine,1\nother\n", r"row 3: 1 columns, expected at least 2"),
    ("text,label\n", r"holds no rows of data"),
    ("", r"is empty"),
])
def test_missing_values_and_empty_tables_name_the_row(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_csv(_csv(tmp_path, content))


def test_one_class_training_set_is_refused_before_anything_is_built(tmp_path):
    from tfbert.training import train
    rows = "".join(f"text number {i},pos\n" for i in range(10))
    data = load_data(_csv(tmp_path, "text,label\n" + rows), label_names=["neg", "pos"])
    with pytest.raises(DataError, match="every training example has the label 'pos'"):
        train(data, model="/never/built", run_dir=str(tmp_path / "run"))


def test_out_of_memory_says_to_lower_the_batch_size(tiny_model, imdb_small, tmp_path):
    from tfbert._tf import tf, tf_keras
    from tfbert.training import train

    class OutOfMemory(tf_keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    with pytest.raises(TrainingError, match=r"out of memory with batch size 32 .* Lower "
                                            r"--batch-size \(e.g. 16\)"):
        train(imdb_small, model=tiny_model, epochs=1, seq_length=32, run_dir=str(tmp_path),
              callbacks=[OutOfMemory()], verbose=0)


def test_a_partly_written_savedmodel_is_refused(exported, tmp_path):
    from tfbert.export import load_model
    broken = tmp_path / "broken" / "1"
    shutil.copytree(exported, broken)
    (broken / "saved_model.pb").write_bytes((broken / "saved_model.pb").read_bytes()[:200])
    with pytest.raises(ExportError, match=r"cannot load the SavedModel in .*broken/1"):
        load_model(str(broken))
    shutil.rmtree(broken / "variables")
    with pytest.raises(ExportError, match="cannot load the SavedModel"):
        load_model(str(broken))


FAKE_TEXT = {
    "missing": "raise ImportError('No module named tensorflow_text')\n",
    "wrong version": "__version__ = '2.15.1'\n",
}


@pytest.mark.slow   # the full suite: a fresh Python process each
@pytest.mark.parametrize("case", sorted(FAKE_TEXT))
def test_tensorflow_text_missing_or_of_another_version(tmp_path, case):
    fake = tmp_path / "tensorflow_text"
    fake.mkdir()
    (fake / "__init__.py").write_text(FAKE_TEXT[case], encoding="utf-8")
    result = run_python("import tfbert\ntry:\n    tfbert.build_classifier\n"
                        "except tfbert.SetupError as e:\n    print('SETUP', e)\n",
                        env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SETUP tensorflow-text" in result.stdout
    assert "pip install 'tensorflow-text==2.20.*'" in result.stdout


@pytest.mark.parametrize("content, args, message", [
    ("text,label\nfine,1\nother,nan\n", [], "data.csv, row 3: missing label ('nan')"),
    ("review,label\nfine,1\n", [], "no column 'text'; the columns are 'review', 'label'"),
    ("text,label\n" + "".join(f"t{i},pos\n" for i in range(10)), [],
     "every training example has the label 'pos'"),
    ("text,label\na,1\nb,0\n", ["--epochs", "0"], "--epochs: must be a positive integer"),
])
def test_cli_bad_input_is_one_line_naming_it(tmp_path, tiny_model, content, args, message,
                                            monkeypatch, capsys):
    """In process (``tfbert.cli.main``); the first case also through the console script."""
    from tfbert import cli
    path = _csv(tmp_path, content)
    monkeypatch.chdir(tmp_path)
    # A local model: the model is checked before the data, and the default one needs the network.
    command = ["train", "--model", tiny_model, "--data", path, *map(str, args)]

    def refused(status, stderr):
        assert status == 2, stderr[-2000:]
        assert "Traceback" not in stderr
        assert message in stderr.strip().splitlines()[-1]
        assert sorted(os.listdir(tmp_path)) == ["data.csv"]      # no runs/, no saved_models/
    try:
        status = cli.main(command)
    except SystemExit as exc:         # argparse's own refusals
        status = exc.code
    refused(status, capsys.readouterr().err)
    if "row 3" in message:
        result = run_cli(*command, cwd=tmp_path)
        refused(result.returncode, result.stderr)
