"""Feature-based training (``freeze_encoder=True``): features computed once and cached,
the cache keyed on settings and data, only the head trained, the export from raw strings."""
import json
import os

import numpy as np
import pytest

from conftest import small_imdb


def _train(data, tiny_model, run_dir, **settings):
    from tfbert.training import train
    settings = {"batch_size": 16, "seq_length": 32, "epochs": 3, **settings}
    return train(data, model=tiny_model, run_dir=str(run_dir), freeze_encoder=True,
                 verbose=0, **settings)


@pytest.fixture(scope="module")
def frozen(tiny_model, imdb_small, tmp_path_factory):
    """One feature-based run, its data, and an untrained classifier of the same model read
    at another seq_length (its encoder holds the weights from before training)."""
    from tfbert.models import build_classifier
    data = small_imdb(imdb_small)
    untrained = build_classifier(tiny_model, seq_length=24)
    run_dir = tmp_path_factory.mktemp("runs") / "frozen"
    return _train(data, tiny_model, run_dir), untrained, data


def test_only_the_head_trains_and_the_full_classifier_uses_it(frozen):
    from tfbert.features import cached_features, head_model
    result, untrained, data = frozen
    model = result.model
    assert not model.config.trainable
    before = untrained.core.get_layer("encoder").get_weights()
    after = model.core.get_layer("encoder").get_weights()
    assert len(after) > 10 and all(np.array_equal(a, b) for a, b in zip(before, after))
    assert len(result.history["loss"]) >= 2 and os.path.isfile(result.files["curves"])
    assert os.listdir(result.files["tensorboard"])
    features, info = cached_features(model, data.validation,
                                     os.path.join(result.run_dir, "features"), "validation")
    assert info["reused"] and result.features["validation"]["path"] == info["path"]
    from_features = head_model(model)(features, training=False).numpy()
    from_strings = model(np.array(data.validation.texts), training=False).numpy()
    assert np.abs(from_features - from_strings).max() <= 1e-5
    with open(result.files["config"]) as f:
        config = json.load(f)
    assert config["freeze_encoder"] is True
    from tfbert.recommended import HEAD_ONLY_SETTINGS
    assert (config["learning_rate"], config["epochs"]) == (HEAD_ONLY_SETTINGS["learning_rate"],
                                                           3)     # the head-only lr, epochs set
    assert config["classifier"]["trainable"] is False


def test_features_are_reused_and_recomputed_when_settings_or_data_change(
        frozen, tiny_model, capsys, monkeypatch):
    import tfbert.features as features
    result, untrained, data = frozen
    folder = os.path.join(result.run_dir, "features")
    calls = []
    compute = features.compute_features
    monkeypatch.setattr(features, "compute_features",
                        lambda *args, **kw: calls.append(len(args[1])) or compute(*args, **kw))
    files = sorted(os.listdir(folder))
    mtimes = [os.path.getmtime(os.path.join(folder, f)) for f in files]
    capsys.readouterr()
    _train(data, tiny_model, result.run_dir, epochs=1)          # the same settings and data
    assert calls == [] and capsys.readouterr().out.count("reused") == 2
    assert sorted(os.listdir(folder)) == files
    assert [os.path.getmtime(os.path.join(folder, f)) for f in files] == mtimes
    _, info = features.cached_features(untrained, data.train, folder, "train")  # seq_length 24
    assert calls == [len(data.train)] and not info["reused"]
    changed = data.train.take(slice(0, -16))                                  # other texts
    _, info = features.cached_features(result.model, changed, folder, "train")
    assert calls[1:] == [len(changed)] and not info["reused"]
    assert sorted(os.listdir(folder)) == sorted([os.path.basename(info["path"]), files[1]])


def test_the_export_takes_raw_strings_and_matches(frozen, tmp_path):
    import tfbert
    result, _, data = frozen
    # export_model reloads the SavedModel and refuses it unless its probabilities equal the
    # model's (<= 1e-5) on these texts; the first test ties the model to head(features).
    path = tfbert.export_model(result.model, str(tmp_path / "saved"), data.label_names,
                               check_texts=list(data.validation.texts[:8]))
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))


@pytest.mark.parametrize("settings, message", [
    (dict(truncation="chunks"), "truncation='chunks'"),
    (dict(strategy="tpu"), "strategy='tpu'"),
])
def test_settings_that_make_no_sense_frozen_are_refused(settings, message):
    from tfbert.config import TrainConfig
    from tfbert.errors import TfbertError
    with pytest.raises(TfbertError, match=message):
        TrainConfig(freeze_encoder=True, **settings)


def test_head_only_defaults_apply_only_when_unset():
    from tfbert.config import TrainConfig
    from tfbert.recommended import FINE_TUNING_EPOCHS, HEAD_ONLY_SETTINGS
    frozen = TrainConfig(freeze_encoder=True)
    assert (frozen.learning_rate, frozen.epochs) == (HEAD_ONLY_SETTINGS["learning_rate"],
                                                     HEAD_ONLY_SETTINGS["epochs"])
    assert TrainConfig(freeze_encoder=True, learning_rate=5e-3, epochs=7).epochs == 7
    assert (TrainConfig().learning_rate, TrainConfig().epochs) == (None, FINE_TUNING_EPOCHS)


def test_cli_freeze_encoder_with_chunks_is_one_line(capsys, tmp_path):
    from tfbert.cli import main
    table = tmp_path / "data.csv"
    table.write_text("text,label\na,0\nb,1\n")
    assert main(["train", "--freeze-encoder", "--truncation", "chunks",
                 "--data", str(table)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "truncation='chunks'" in error[0]
