"""Beyond one machine: two workers on loopback ports train the tiny model together.

Each worker is a real process with its own ``TF_CONFIG``; TensorFlow's
MultiWorkerMirroredStrategy all-reduces their gradients, so both end with the
same weights.
"""
import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow   # real weights, notebooks, processes: the full suite

WORKER = r"""
import hashlib, json, sys
import numpy as np
import tfbert
from tfbert.data import TextData, load_data
from tfbert.training import train
archive, model, run_dir, cache = sys.argv[1:5]
data = load_data(archive, max_examples=96, cache_dir=cache)
data = TextData(data.train.take(slice(0, 64)), data.validation.take(slice(0, 16)), None,
                data.label_names, "imdb")
result = train(data, model=model, epochs=1, batch_size=16, seq_length=32, learning_rate=1e-3,
               run_dir=run_dir, verbose=0)
weights = result.model.core.get_weights()
print("RESULT", json.dumps({"sum": float(sum(np.abs(w).sum() for w in weights)),
                            "head": result.model.core.get_layer("classifier").get_weights()[0]
                            .ravel()[:8].tolist(), "loss": result.history["loss"][0]}))
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_together_and_end_with_identical_weights(tiny_model, imdb_archive,
                                                                   cache_dir, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TFBERT_CACHE_DIR": cache_dir, "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                        "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, imdb_archive, tiny_model,
             str(tmp_path / f"run{index}"), os.path.join(cache_dir, "datasets")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = []
    try:
        finished = [process.communicate(timeout=400) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, (stdout, stderr) in zip(processes, finished):
        assert process.returncode == 0, stderr[-3000:]
        assert "MultiWorkerMirroredStrategy over 2 worker(s)" in stdout
        line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
        outputs.append(json.loads(line[len("RESULT "):]))
    first, second = outputs
    assert first["sum"] == second["sum"] and first["head"] == second["head"]
    assert first["loss"] == second["loss"]
