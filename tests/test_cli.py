"""The tfbert command in real subprocesses: train, evaluate, predict, and clean errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from tfbert.runs import default_name

# The command in real subprocesses (each imports TensorFlow, one trains): the full suite.
# The CLI's one-line errors for bad data run in the fast tier (test_bad_inputs.py).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, tiny_model, imdb_archive, cache_dir):
    """One `tfbert train` on 300 IMDB reviews; returns (process, workdir)."""
    os.environ["TFBERT_CACHE_DIR"] = cache_dir
    workdir = tmp_path_factory.mktemp("cli")
    process = run_cli("train", "--model", tiny_model, "--data", imdb_archive,
                      "--max-examples", 300, "--epochs", 1, "--seq-length", 64,
                      "--learning-rate", 1e-4, cwd=workdir)
    return process, workdir


def test_train_evaluates_exports_and_says_where(cli_run, imdb_archive):
    process, workdir = cli_run
    assert process.returncode == 0, process.stderr[-3000:]
    export = workdir / "saved_models" / default_name(imdb_archive) / "1"
    assert (export / "saved_model.pb").is_file()
    run = workdir / "runs" / default_name(imdb_archive) / "1"     # the export's own records
    for name in ("history.json", "training_curves.png", "config.json",
                 "report_test/report.json", "report_test/report.txt",
                 "report_test/confusion_matrix.png", "report_test/pr_curve.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "report_test" / "report.json").read_text())
    confusion = np.asarray(metrics["confusion_matrix"])
    assert metrics["examples"] == 300 == confusion.sum()
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / 300)
    assert str(export) in process.stdout
    assert "[==============================] - " in process.stdout  # the progress bar is on
    settings = json.loads((export / "assets.extra" / "tfbert.json").read_text())["settings"]
    assert settings["examples"]["train"] == 240 and settings["test_metrics"]["f1"] == metrics["f1"]


def _export(workdir, imdb_archive):
    return workdir / "saved_models" / default_name(imdb_archive)


def test_predict_texts_json_and_file(cli_run, imdb_archive, tmp_path):
    process, workdir = cli_run
    model_dir = _export(workdir, imdb_archive)
    plain = run_cli("predict", model_dir, "A great film.", "A terrible film.")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("A great film.")
    texts = tmp_path / "texts.csv"
    texts.write_text('id,review\n1,"Loved it, really"\n2,Hated it\n3,A great film.\n'
                     '4,A terrible film.\n', encoding="utf-8")
    as_json = run_cli("predict", model_dir, "--file", texts, "--text-column", "review", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.strip().splitlines()]
    assert [r["text"] for r in rows] == ["Loved it, really", "Hated it", "A great film.",
                                         "A terrible film."]
    assert set(rows[0]["probabilities"]) == {"neg", "pos"}
    assert rows[0]["probability"] == max(rows[0]["probabilities"].values())
    # The plain lines say what the JSON says, for the same texts.
    for line, row in zip(lines, rows[2:]):
        label, probability, text = line.split("\t")
        assert (label, text) == (row["label"], row["text"])
        assert float(probability) == pytest.approx(row["probability"], abs=1e-4)


def test_predict_streams_a_large_file_in_order_with_progress(cli_run, imdb_archive, tmp_path):
    process, workdir = cli_run
    lines = [f"review {i}: " + ("good " if i % 3 else "dull ") * (i % 40 + 1)
             for i in range(2500)]                      # more than two chunks of 1,024
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("predict", _export(workdir, imdb_archive), "--file", path)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.splitlines()
    assert len(printed) == 2500
    assert [line.split("\t")[2] for line in printed] == [line for line in lines]
    assert "Predicting" in result.stderr and "2500" in result.stderr   # the progress bar


def test_predict_reads_standard_input(cli_run, imdb_archive):
    process, workdir = cli_run
    exe = os.path.join(os.path.dirname(sys.executable), "tfbert")
    result = subprocess.run([exe, "predict", _export(workdir, imdb_archive), "--file", "-"],
                            input="A great film.\n\ncaf\u00e9 au lait, terrible\n".encode(),
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    texts = [line.split("\t")[2] for line in result.stdout.decode().splitlines()]
    assert texts == ["A great film.", "caf\u00e9 au lait, terrible"]


def test_evaluate_an_export(cli_run, imdb_archive, tmp_path):
    process, workdir = cli_run
    out = tmp_path / "report"
    result = run_cli("evaluate", _export(workdir, imdb_archive), "--data",
                     imdb_archive, "--max-examples", 100, "--output", out)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "report.json").read_text())
    assert metrics["examples"] == 100 and len(metrics["mistakes"]) <= 10
    assert sum(row["support"] for row in metrics["per_label"].values()) == 100
    assert "accuracy" in result.stdout and "worst mistakes: the 5 most confident of " in result.stdout
    assert (out / "confusion_matrix.png").is_file() and (out / "pr_curve.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "/no/such/data.csv"], "'/no/such/data.csv' does not exist"),
    (["train", "--model", "bert_en_uncased_L-12_H-768_A12", "--data", "/tmp"],
     "Did you mean 'bert_en_uncased_L-12_H-768_A-12'"),
    (["predict", "/no/such/export", "hello"], "/no/such/export does not exist"),
])
def test_bad_input_is_one_line_and_nonzero(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("tfbert: error")]
    assert len(error_lines) == 1 and message in error_lines[0]


def test_every_command_has_help():
    for command in ("train", "evaluate", "predict", "pretrain", "models"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "usage: tfbert " + command in result.stdout
