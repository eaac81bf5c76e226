"""A crash loses nothing: SIGKILL mid-epoch, run the same command again, and it resumes.

Real subprocesses and a real kill: ``tfbert train`` saves its state every few
steps (``--backup-steps``); the test kills it once a mid-epoch backup exists
and the first epoch is recorded, runs the same command again, and compares
the final test metrics with an uninterrupted run of the same seed.
"""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import run_cli


def _command(tiny_model, imdb_archive, workdir):
    return ["train", "--model", tiny_model, "--data", imdb_archive, "--max-examples", 240,
            "--epochs", 3, "--batch-size", 16, "--seq-length", 32, "--learning-rate", 1e-3,
            "--patience", 3, "--backup-steps", 3, "--run-dir", workdir / "run",
            "--output", workdir / "export"]


def _test_metrics(workdir):
    return json.loads((workdir / "run" / "report_test" / "report.json").read_text())


def test_sigkill_mid_epoch_then_the_same_command_resumes(tiny_model, imdb_archive, cache_dir,
                                                         tmp_path):
    os.environ["TFBERT_CACHE_DIR"] = cache_dir
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    reference = run_cli(*_command(tiny_model, imdb_archive, reference_dir))
    assert reference.returncode == 0, reference.stderr[-3000:]

    exe = os.path.join(os.path.dirname(sys.executable), "tfbert")
    args = [exe, *map(str, _command(tiny_model, imdb_archive, crashed_dir))]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history, backup = crashed_dir / "run" / "history.json", crashed_dir / "run" / "backup"
    deadline = time.time() + 300
    try:
        # 192 training reviews: 12 steps an epoch, a backup every 3. Kill once epoch 1 is
        # recorded and a backup inside epoch 2 has been written.
        while time.time() < deadline and process.poll() is None:
            if history.exists() and backup.exists():
                first_backup = os.path.getmtime(history)
                newer = [p for p in backup.rglob("*") if os.path.getmtime(p) > first_backup]
                if newer:
                    break
            time.sleep(0.05)
        assert process.poll() is None, "training finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    epochs_before = len(json.loads(history.read_text())["loss"])
    assert 1 <= epochs_before < 3
    assert not (crashed_dir / "export").exists()          # nothing half-exported

    resumed = run_cli(*_command(tiny_model, imdb_archive, crashed_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming the interrupted run" in resumed.stdout
    assert not backup.exists() or not any(backup.iterdir())   # removed once finished
    assert len(json.loads(history.read_text())["loss"]) == 3
    expected, got = _test_metrics(reference_dir), _test_metrics(crashed_dir)
    print(f"\nresume: killed after {epochs_before} epoch(s) and a mid-epoch backup; test "
          f"accuracy {got['accuracy']:.4f} resumed vs {expected['accuracy']:.4f} uninterrupted, "
          f"loss {got['loss']:.4f} vs {expected['loss']:.4f}")
    assert abs(got["accuracy"] - expected["accuracy"]) <= 0.05, (got["accuracy"],
                                                                 expected["accuracy"])
    assert abs(got["loss"] - expected["loss"]) <= 0.1, (got["loss"], expected["loss"])
    assert (crashed_dir / "export" / "1" / "saved_model.pb").is_file()
