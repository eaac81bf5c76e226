"""A crash loses nothing: SIGKILL mid-epoch, run the same command again, and it resumes.

Real subprocesses and a real kill: ``tfbert train`` saves its state every few
steps (``--backup-steps``); the test kills it once a mid-epoch backup exists
and the first epoch is recorded, runs the same command again, and compares
the run with an uninterrupted one of the same seed, epoch by epoch.

The resumed run restores weights, optimizer and step from the backup and
replays the data stream from the same batch (each epoch's order depends on
the seed and epoch number only), so with deterministic ops and no dropout it
retraces the uninterrupted run exactly. Dropout is the one thing a new process
cannot replay: a TF Hub encoder's dropout draws from random ops whose state
lives in the process, so with dropout on a resumed run differs from the
uninterrupted one the way a run with another seed would.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import cached_tiny_model, run_cli, run_python

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite

EPOCHS, KILL_AFTER = 6, 4    # the tiny model's loss starts falling in epochs 4-6


@pytest.fixture(scope="module")
def tiny_model_without_dropout(cache_dir, imdb_folder):
    return cached_tiny_model(cache_dir, imdb_folder, vocab_size=3000, dropout=0.0)


def _command(model, imdb_archive, workdir):
    # 256 training reviews: 16 steps an epoch, a backup every 3.
    return ["train", "--model", model, "--data", imdb_archive, "--max-examples", 320,
            "--epochs", EPOCHS, "--batch-size", 16, "--seq-length", 64,
            "--learning-rate", 1e-3, "--dropout", 0, "--deterministic",
            "--patience", EPOCHS, "--backup-steps", 3, "--run-dir", workdir / "run",
            "--output", workdir / "export"]


def _history(workdir):
    return json.loads((workdir / "run" / "history.json").read_text())


def _test_metrics(workdir):
    return json.loads((workdir / "run" / "report_test" / "report.json").read_text())


def _kill_mid_epoch(args, run_dir):
    """Start ``tfbert`` with ``args``; SIGKILL it once ``KILL_AFTER`` epochs are recorded and
    a complete backup from inside the next epoch exists. Returns the epochs recorded."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run_dir / "history.json"
    backup_state = run_dir / "backup" / "chief" / "checkpoint"   # written last by each backup
    deadline = time.time() + 300
    try:
        while time.time() < deadline and process.poll() is None:
            try:
                if (len(json.loads(history.read_text())["loss"]) >= KILL_AFTER
                        and os.path.getmtime(backup_state) > os.path.getmtime(history)):
                    break
            except (OSError, ValueError):     # not written yet, or caught mid-write
                pass
            time.sleep(0.05)
        assert process.poll() is None, "training finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    return len(json.loads(history.read_text())["loss"])


def test_sigkill_mid_epoch_then_the_same_command_resumes_exactly(
        tiny_model_without_dropout, imdb_archive, cache_dir, tmp_path):
    os.environ["TFBERT_CACHE_DIR"] = cache_dir
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    command = lambda workdir: _command(tiny_model_without_dropout, imdb_archive, workdir)  # noqa
    reference = run_cli(*command(reference_dir))
    assert reference.returncode == 0, reference.stderr[-3000:]

    exe = os.path.join(os.path.dirname(sys.executable), "tfbert")
    epochs_before = _kill_mid_epoch([exe, *map(str, command(crashed_dir))],
                                    crashed_dir / "run")
    assert KILL_AFTER <= epochs_before < EPOCHS
    assert not (crashed_dir / "export").exists()          # nothing half-exported

    resumed = run_cli(*command(crashed_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_at = next(line for line in resumed.stdout.splitlines()
                      if line.startswith("Resuming the interrupted run"))
    assert f"at epoch {epochs_before + 1}, step " in resumed_at
    assert not (crashed_dir / "run" / "backup").exists() or not any(
        (crashed_dir / "run" / "backup").iterdir())       # removed once finished
    assert (crashed_dir / "export" / "1" / "saved_model.pb").is_file()

    expected, got = _history(reference_dir), _history(crashed_dir)
    expected_test, got_test = _test_metrics(reference_dir), _test_metrics(crashed_dir)
    print(f"\nresume: killed after {epochs_before} epoch(s) and a mid-epoch backup; "
          f"{resumed_at.split(' at ')[-1].split(' (')[0]}")
    for name in ("loss", "val_loss", "val_accuracy"):
        print(f"  {name:>12}: uninterrupted {[round(v, 4) for v in expected[name]]}")
        print(f"  {'':>12}  resumed       {[round(v, 4) for v in got[name]]}")
    print(f"  test accuracy {got_test['accuracy']:.4f} resumed vs "
          f"{expected_test['accuracy']:.4f} uninterrupted, loss {got_test['loss']:.5f} vs "
          f"{expected_test['loss']:.5f}")
    # The model learns (this is not a comparison of two models stuck at chance).
    assert expected["loss"][-1] < expected["loss"][0] - 0.2, expected["loss"]
    assert len(got["loss"]) == len(expected["loss"]) == EPOCHS
    # Validation after every epoch, and training loss of every epoch the resumed process
    # ran whole, match the uninterrupted run; the epoch it resumed inside averages its
    # training loss over the steps it ran, so that one number differs.
    assert got["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-4, abs=1e-5)
    assert got["val_accuracy"] == pytest.approx(expected["val_accuracy"], abs=1e-6)
    whole = slice(epochs_before + 1, None)
    assert got["loss"][whole] == pytest.approx(expected["loss"][whole], rel=1e-4, abs=1e-5)
    assert got["loss"][:epochs_before] == expected["loss"][:epochs_before]
    assert got_test["accuracy"] == pytest.approx(expected_test["accuracy"], abs=1e-6)
    assert got_test["loss"] == pytest.approx(expected_test["loss"], rel=1e-4, abs=1e-5)


_TRAIN = """
import os, signal, sys
import tfbert
from tfbert._tf import tf_keras
model, archive, run_dir, kill = sys.argv[1:5]
data = tfbert.load_data(archive, max_examples=160)     # 128 training reviews: 8 steps an epoch

class Kill(tf_keras.callbacks.Callback):   # SIGTERM from outside, at a known step
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_begin(self, batch, logs=None):
        if kill == "kill" and (self.epoch, batch) == (1, 4):
            os.kill(os.getpid(), signal.SIGTERM)

tfbert.train(data, model=model, epochs=3, batch_size=16, seq_length=32, pooling="cls",
             learning_rate=1e-3, backup_steps=1000, run_dir=run_dir, callbacks=[Kill()],
             verbose=0)
print("finished")
"""


def test_sigterm_mid_epoch_backs_up_that_step_and_the_rerun_resumes_there(
        tiny_model, imdb_archive, cache_dir, tmp_path):
    run_dir = tmp_path / "run"
    killed = run_python(_TRAIN, tiny_model, imdb_archive, str(run_dir), "kill")
    assert killed.returncode != 0 and "finished" not in killed.stdout
    assert "TrainingError: training stopped by SIGTERM" in killed.stderr, killed.stderr[-3000:]
    # Sent at the start of epoch 2's fifth step: backed up after it. Periodic backups (every
    # 1,000 steps, i.e. at each epoch's end) would resume at epoch 2, step 1.
    assert "Run the same command again" in killed.stderr
    assert "resume at epoch 2, step 6." in killed.stderr
    assert len(json.loads((run_dir / "history.json").read_text())["loss"]) == 1

    resumed = run_python(_TRAIN, tiny_model, imdb_archive, str(run_dir), "no")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at epoch 2, step 6 (delete that folder" in resumed.stdout
    assert "finished" in resumed.stdout
    assert len(json.loads((run_dir / "history.json").read_text())["loss"]) == 3
    assert not (run_dir / "backup").exists()          # no empty folder left behind
