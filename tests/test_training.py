"""Training: the loss falls, and every output of a run is written."""
import json
import os

import pytest

from conftest import small_imdb, unseeded_tiny_model


def test_training_loss_falls_and_run_outputs_exist(trained):
    history = trained.history
    assert len(history["loss"]) == 6
    assert min(history["loss"][-2:]) < 0.8 * history["loss"][0]
    files = trained.files
    with open(files["history"]) as f:
        assert json.load(f)["val_loss"] == pytest.approx(history["val_loss"])
    with open(files["curves"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert any(name.startswith("best") for name in os.listdir(files["checkpoints"]))
    assert os.listdir(files["tensorboard"])
    with open(files["config"]) as f:
        config = json.load(f)
    assert config["label_names"] == ["neg", "pos"] and config["epochs"] == 6
    assert config["lr_schedule"] == "bert"        # a classifier's default, the tutorial's
    epochs_run = len(trained.history["loss"])
    assert trained.examples_per_second == pytest.approx(
        epochs_run * 320 / trained.train_seconds)


def test_optimizer_warms_up_then_decays_linearly():
    from tfbert.optimizer import create_optimizer
    optimizer = create_optimizer(1e-3, num_examples=100, batch_size=10, epochs=2,
                                 warmup_fraction=0.1)  # 20 steps, 2 of warmup
    schedule = optimizer.learning_rate
    rates = [float(schedule(step)) for step in (0, 1, 2, 11, 20)]
    assert rates[0] == pytest.approx(0.0)
    assert rates[1] == pytest.approx(5e-4)
    assert rates[2] == pytest.approx(1e-3 * (1 - 2 / 20))
    assert rates[3] == pytest.approx(1e-3 * (1 - 11 / 20))
    assert rates[4] == pytest.approx(0.0)
    assert type(optimizer).__name__ == "AdamWeightDecay"


def test_the_huggingface_schedule_decays_from_the_peak_at_the_end_of_warmup():
    """``lr_schedule="huggingface"``: the same AdamW and warmup, then a straight line from the
    peak at the end of warmup to 0 at the last step (get_linear_schedule_with_warmup), where
    tf-models' counts the decay from step 0; with no warmup the two are the same."""
    from tfbert.errors import TfbertError
    from tfbert.optimizer import create_optimizer
    hf = create_optimizer(1e-3, num_examples=100, batch_size=10, epochs=2, warmup_fraction=0.1,
                          lr_schedule="huggingface")           # 20 steps, 2 of warmup
    rates = [float(hf.learning_rate(step)) for step in (0, 1, 2, 11, 20)]
    assert rates == pytest.approx([0.0, 5e-4, 1e-3, 1e-3 * (20 - 11) / (20 - 2), 0.0])
    bert = create_optimizer(1e-3, 100, 10, 2, 0.1)
    assert type(hf) is type(bert) and hf.get_config() == {
        **bert.get_config(), "learning_rate": hf.get_config()["learning_rate"]}
    no_warmup = [create_optimizer(1e-3, 100, 10, 2, 0.0, lr_schedule=name).learning_rate
                 for name in ("bert", "huggingface")]
    assert [float(no_warmup[0](s)) for s in (0, 7)] == [float(no_warmup[1](s)) for s in (0, 7)]
    with pytest.raises(TfbertError, match="lr_schedule must be one of 'bert', 'huggingface', "
                                          "got 'cosine'"):
        create_optimizer(1e-3, 100, 10, 2, lr_schedule="cosine")


def test_each_task_names_its_learning_rate_schedule_and_a_bad_one_is_refused_first(tmp_path):
    """Unset, ``lr_schedule`` is the task's: Hugging Face's decay for question answering
    (measured better on SQuAD), tf-models' for the rest; a wrong name stops ``train`` and
    ``train_qa`` before any folder is made."""
    from tfbert.data.squad import QAData
    from tfbert.errors import TfbertError
    from tfbert.qa_training import train_qa
    from tfbert.tasks import get_task
    from tfbert.training import TrainConfig
    assert {name: get_task(name).lr_schedule for name in
            ("classification", "multilabel", "regression", "question-answering")} == {
        "classification": "bert", "multilabel": "bert", "regression": "bert",
        "question-answering": "huggingface"}
    assert TrainConfig().lr_schedule is None
    with pytest.raises(TfbertError, match="lr_schedule must be one of 'bert', 'huggingface'"):
        TrainConfig(lr_schedule="linear")
    data = QAData([object()], [object()], None, "train.json", "1.1")
    with pytest.raises(TfbertError, match="got 'linear'"):
        train_qa(data, run_dir=str(tmp_path / "run"), lr_schedule="linear")
    assert not (tmp_path / "run").exists()


def test_strategy_on_cpu_is_the_default_and_names_are_checked():
    from tfbert._tf import tf
    from tfbert.distribute import select_strategy
    from tfbert.errors import TfbertError
    assert select_strategy("auto") is tf.distribute.get_strategy()
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert select_strategy(strategy) is strategy
    with pytest.raises(TfbertError, match="unknown strategy"):
        select_strategy("gpu-please")


@pytest.mark.slow   # the full suite: a training run under MirroredStrategy
def test_train_under_an_explicit_strategy_builds_in_its_scope(tiny_model, imdb_small, tmp_path):
    from tfbert._tf import tf
    from tfbert.training import train
    small = small_imdb(imdb_small)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    result = train(small, model=tiny_model, epochs=1, batch_size=16, seq_length=32,
                   run_dir=str(tmp_path), strategy=strategy, verbose=0)
    assert result.model.distribute_strategy is strategy
    assert len(result.history["loss"]) == 1


def test_best_epoch_by_validation_accuracy(tiny_model, imdb_small, tmp_path):
    """monitor="val_accuracy": the weights kept are those of the most accurate epoch, and
    a metric the task does not measure is refused before anything is built."""
    from tfbert.errors import TfbertError
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    small = small_imdb(imdb_small)
    with pytest.raises(TfbertError, match="val_pearson.*val_loss, val_accuracy"):
        train(small, model=tiny_model, monitor="val_pearson", run_dir=str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
    result = train(small, model=tiny_model, epochs=4, batch_size=16, seq_length=32,
                   learning_rate=1e-3, patience=4, monitor="val_accuracy",
                   run_dir=str(tmp_path / "run"), verbose=0)
    kept = evaluate(result.model, small.validation, small.label_names, verbose=False)
    assert kept["accuracy"] == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)


def test_one_label_is_refused(tiny_model, imdb_small, tmp_path):
    from tfbert.errors import TfbertError
    from tfbert.training import train
    from tfbert.data import TextData
    data = TextData(imdb_small.train, imdb_small.validation, None, ["only"], "one.csv")
    with pytest.raises(TfbertError, match="num_classes must be at least 2"):
        train(data, model=tiny_model, run_dir=str(tmp_path))


def test_mixed_precision_keeps_float32_logits_and_restores_the_policy(tiny_model, imdb_small,
                                                                      tmp_path):
    from tfbert._tf import tf_keras
    from tfbert.training import train
    small = small_imdb(imdb_small)
    result = train(small, model=tiny_model, epochs=1, batch_size=16, seq_length=32,
                   learning_rate=1e-3, mixed_precision="mixed_bfloat16", run_dir=str(tmp_path),
                   verbose=0)
    core = result.model.core
    assert core.get_layer("dropout").dtype_policy.name == "mixed_bfloat16"
    assert core.get_layer("classifier").dtype_policy.name == "float32"
    assert core.output.dtype == "float32"
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    assert all(map(lambda v: v == v, result.history["loss"]))  # finite, not NaN


def test_initial_bias_starts_the_head_at_the_base_rates():
    import numpy as np
    from tfbert.data import TextSplit

    def initial_bias(split, num_labels):
        return split.task.initial_bias(split.labels, num_labels)
    texts = ["t"] * 4
    binary = initial_bias(TextSplit(texts, [1, 1, 1, 0]), 2)
    np.testing.assert_allclose(binary, [np.log(3)], rtol=1e-6)        # log-odds of 3:1
    multi = initial_bias(TextSplit(texts, [0, 0, 1, 2]), 4)           # class 3 unseen
    np.testing.assert_allclose(np.exp(multi), [0.5, 0.25, 0.25, 1e-3], rtol=1e-6)
    labels = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], dtype=np.float32)
    np.testing.assert_allclose(initial_bias(TextSplit(texts, labels), 2),
                               [np.log(3), np.log(1 / 3)], rtol=1e-6)
    scores = np.array([0.0, 1.0, 2.0, 5.0], dtype=np.float32)
    np.testing.assert_allclose(initial_bias(TextSplit(texts, scores), 1), [2.0])


def test_nan_loss_stops_at_once_naming_step_and_rate_and_keeps_best_weights(
        tiny_model, imdb_small, tmp_path):
    import numpy as np
    from tfbert._tf import tf, tf_keras
    from tfbert.errors import TrainingError
    from tfbert.training import train
    small = small_imdb(imdb_small)

    class PoisonSecondEpoch(tf_keras.callbacks.Callback):
        """Makes the head's weights NaN at the second step of epoch 2."""
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                kernel = self.model.get_layer("classifier").kernel
                kernel.assign(tf.fill(kernel.shape, float("nan")))
                self.poisoned = [w.copy() for w in self.model.get_weights()]

    with pytest.raises(TrainingError) as caught:
        train(small, model=tiny_model, epochs=4, batch_size=16, seq_length=32,
              learning_rate=1e-3, run_dir=str(tmp_path), callbacks=[PoisonSecondEpoch()],
              verbose=0)
    message = str(caught.value)
    assert "training stopped at step 6 (epoch 2)" in message   # 4 steps an epoch
    assert "with learning rate" in message and "weights of epoch 1" in message
    result = caught.value.result
    assert len(result.history["loss"]) == 2 and not np.isfinite(result.history["loss"][1])
    weights = result.model.core.get_weights()
    assert all(np.isfinite(w).all() for w in weights)            # the best weights are back
    assert os.path.isfile(str(tmp_path / "checkpoints" / "best.index"))


@pytest.mark.slow   # the full suite: two runs
def test_same_seed_and_deterministic_ops_give_the_same_run(tiny_model, imdb_small, tmp_path):
    from tfbert.training import train
    small = small_imdb(imdb_small)
    runs = [train(small, model=tiny_model, epochs=2, batch_size=16, seq_length=32,
                  learning_rate=1e-3, seed=7, deterministic=True,
                  run_dir=str(tmp_path / f"run{i}"), verbose=0) for i in range(2)]
    assert runs[0].history == runs[1].history
    for a, b in zip(runs[0].model.core.get_weights(), runs[1].model.core.get_weights()):
        assert (a == b).all()


def test_deterministic_training_of_an_unseeded_tf_hub_layer_is_one_clear_error(imdb_small,
                                                                                tmp_path):
    """A TF Hub encoder exported with no seed (as converted models are) has dropout ops
    TensorFlow will not run deterministically: ``deterministic=True`` with the TF Hub layer
    (``rebuild_encoder=False``) stops with one line saying what to do, not a graph error."""
    from tensorflow.python.framework import config
    from tfbert.errors import TrainingError
    from tfbert.training import train
    model = unseeded_tiny_model(str(tmp_path / "unseeded"))
    was_enabled = config.is_op_determinism_enabled()
    try:
        with pytest.raises(TrainingError, match="deterministic=True: the TF Hub encoder's "
                                                "dropout ops have no random seed"):
            train(small_imdb(imdb_small), model=model, epochs=1, batch_size=16, seq_length=16,
                  deterministic=True, rebuild_encoder=False, run_dir=str(tmp_path / "run"),
                  verbose=0)
    finally:
        if not was_enabled:          # train turns it on for the process
            config.disable_op_determinism()


def test_auto_precision_picks_bfloat16_only_on_cpus_that_multiply_it(tmp_path):
    from tfbert._tf import tf
    from tfbert.training import cpu_has_bfloat16, resolve_precision
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert cpu_has_bfloat16(str(with_bf16)) and not cpu_has_bfloat16(str(without))
    assert not cpu_has_bfloat16(str(tmp_path / "missing"))
    strategy = tf.distribute.get_strategy()
    expected = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    if not tf.config.list_logical_devices("GPU"):
        assert resolve_precision("auto", strategy) == expected
    assert resolve_precision(None, strategy) == "float32"
    assert resolve_precision("mixed_bfloat16", strategy) == "mixed_bfloat16"
