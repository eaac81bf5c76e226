"""Importing tfbert: cheap, on the tf-keras path, and loud when Keras 3 got there first."""
import pytest

from conftest import run_python


def test_import_is_light_and_sets_legacy_keras():
    result = run_python(
        "import os, sys, tfbert\n"
        "assert os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
        "print('tensorflow' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.slow   # the full suite: a fresh process
def test_tf_keras_is_what_tf_keras_means_after_import():
    result = run_python(
        "import tfbert\nfrom tfbert._tf import tf, tf_keras\n"
        "print(tf.keras.layers.Dense is tf_keras.layers.Dense)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")


@pytest.mark.slow   # the full suite: a fresh process
def test_keras3_wired_in_first_is_refused_with_the_fix():
    result = run_python(
        "import tensorflow as tf\ntf.keras.layers\nimport tfbert",
        env={"TF_USE_LEGACY_KERAS": "0"})
    assert result.returncode != 0
    assert "SetupError: Keras 3 is already wired into tensorflow" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr


@pytest.mark.slow   # the full suite: a fresh process
def test_tensorflow_imported_first_but_keras_untouched_is_fine():
    result = run_python("import tensorflow as tf\nimport tfbert\nfrom tfbert._tf import tf_keras\n"
                        "print(tf.keras.Model is tf_keras.Model)",
                        env={"TF_USE_LEGACY_KERAS": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True")
