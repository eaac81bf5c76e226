"""Quiet by default: TensorFlow's noise is hidden, verbose mode and the user's setting bring it back.

The fast tests check the mechanism (``tfbert._setup``) without loading TensorFlow in
the subprocess; the slow ones export and reload a tiny model in a fresh process and
read its standard error.
"""
import logging
import re

import pytest

import tfbert._setup as setup
from conftest import run_python

# A line of TensorFlow's C++ log: "2026-12-03 09:26:57.914794: I external/...cc:31] ...".
CPP_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ", re.M)
NOISE = ("failed call to cuInit", "oneDNN supports DT_INT64", "compiled metrics have yet",
         "Assets written to")
PRINT_LEVEL = "import os, tfbert\nprint(os.environ['TF_CPP_MIN_LOG_LEVEL'])"


@pytest.mark.parametrize("env, expected", [
    ({}, setup.quiet_cpp_level()),              # tfbert's quiet default
    ({"TF_CPP_MIN_LOG_LEVEL": "0"}, "0"),        # the user's setting is kept
    ({"TF_CPP_MIN_LOG_LEVEL": "1"}, "1"),
    ({"TFBERT_VERBOSE": "1"}, "0"),              # verbose: every C++ line
])
def test_cpp_log_level_before_tensorflow_loads(env, expected):
    # Empty counts as unset (this process's own setting is inherited otherwise).
    result = run_python(PRINT_LEVEL, env={"TF_CPP_MIN_LOG_LEVEL": "", "TFBERT_VERBOSE": "", **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_set_verbosity_switches_the_cpp_level_unless_the_user_set_it():
    code = ("import os\nfrom tfbert._setup import set_verbosity, quiet_cpp_level\n"
            "set_verbosity(True); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n"
            "set_verbosity(False); print(os.environ['TF_CPP_MIN_LOG_LEVEL'] == quiet_cpp_level())")
    assert run_python(code, env={"TF_CPP_MIN_LOG_LEVEL": ""}).stdout.split() == ["0", "True"]
    code = ("from tfbert._setup import set_verbosity\nimport os\n"
            "set_verbosity(True); set_verbosity(False); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    assert run_python(code, env={"TF_CPP_MIN_LOG_LEVEL": "1"}).stdout.strip() == "1"


def test_quiet_level_hides_cpp_errors_only_without_a_gpu(monkeypatch):
    monkeypatch.setattr(setup, "_has_nvidia_gpu", lambda: False)
    assert setup.quiet_cpp_level() == "3"
    monkeypatch.setattr(setup, "_has_nvidia_gpu", lambda: True)
    assert setup.quiet_cpp_level() == "2"   # a failing cuInit is then a real error


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_tensorflow_logger_drops_the_noise_but_not_real_warnings():
    logger = logging.getLogger("tensorflow")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        setup.set_verbosity(False)
        logger.warning("Compiled the loaded model, but the compiled metrics have yet to be "
                       "built. `model.compile_metrics` will be empty")
        logger.warning("Assets written to: %s", "/tmp/x/assets")
        logger.warning("Something real went wrong")
        assert handler.messages == ["Something real went wrong"]
        setup.set_verbosity(True)
        logger.warning("Assets written to: %s", "/tmp/x/assets")
        assert handler.messages[-1] == "Assets written to: /tmp/x/assets"
    finally:
        setup.set_verbosity(False)
        logger.removeHandler(handler)


EXPORT_AND_LOAD = """
import sys, tfbert
clf = tfbert.build_classifier(sys.argv[1], num_classes=2, seq_length=16)
path = tfbert.export_model(clf, sys.argv[2], ["neg", "pos"])
print(tfbert.load_model(path).predict(["a great film"])[0].label)
"""


@pytest.mark.slow   # fresh processes that load TensorFlow and export a model
def test_export_and_load_print_no_tensorflow_noise(tiny_model, tmp_path):
    result = run_python(EXPORT_AND_LOAD, tiny_model, str(tmp_path / "saved"),
                        env={"TF_CPP_MIN_LOG_LEVEL": "", "TFBERT_VERBOSE": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] in ("neg", "pos")
    assert not CPP_LINE.search(result.stderr), result.stderr
    assert not [n for n in NOISE if n in result.stderr], result.stderr


@pytest.mark.slow   # a fresh process that loads TensorFlow
def test_the_users_level_brings_the_lines_back():
    result = run_python("import tfbert\nfrom tfbert._tf import tf\nprint(int(tf.constant(1) + 1))",
                        env={"TF_CPP_MIN_LOG_LEVEL": "0", "TFBERT_VERBOSE": ""})
    assert result.returncode == 0 and result.stdout.strip() == "2", result.stderr
    assert CPP_LINE.search(result.stderr), result.stderr   # e.g. cpu_feature_guard's I line


SAVE = """
import sys, tfbert
from tfbert._tf import tf
module = tf.Module()
module.v = tf.Variable(1.0)
tf.saved_model.save(module, sys.argv[1])
"""


@pytest.mark.slow   # a fresh process that loads TensorFlow and writes a SavedModel
def test_verbose_mode_brings_the_lines_and_the_noise_back(tmp_path):
    result = run_python(SAVE, str(tmp_path / "saved"),
                        env={"TF_CPP_MIN_LOG_LEVEL": "", "TFBERT_VERBOSE": "1"})
    assert result.returncode == 0, result.stderr
    assert CPP_LINE.search(result.stderr), result.stderr
    assert "Assets written to" in result.stderr


@pytest.mark.slow   # a fresh process that loads TensorFlow
def test_real_errors_still_show():
    result = run_python("import tfbert\nfrom tfbert._tf import tf\n"
                        "tf.io.read_file('/nonexistent/tfbert-file')",
                        env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert result.returncode != 0
    assert "NotFoundError" in result.stderr and "/nonexistent/tfbert-file" in result.stderr
