"""Rebuilt encoders: a TF Hub BERT as a Keras BertEncoder with the same weights and outputs."""
import numpy as np
import pytest

from conftest import cached_tiny_model, small_imdb, unseeded_tiny_model
from tfbert.errors import ModelError

TEXTS = ["a great film", "an awful, awful film that never ends", ""]


def _copy_head(source, target):
    target.core.get_layer("classifier").set_weights(
        source.core.get_layer("classifier").get_weights())


def _encoder(model):
    return model.core.get_layer("encoder")


@pytest.mark.parametrize("fixture, pooling", [
    ("tiny_model", "cls"), pytest.param("minilm", "cls", marks=pytest.mark.slow),
    ("tiny_model", "mean")])
def test_rebuilt_encoder_gives_the_hub_layers_logits(fixture, pooling, request):
    """The tiny model uses tanh GELU, MiniLM exact GELU: each rebuild finds its own. With
    [CLS] pooling the last layer computes the first token only, and the logits stay the same."""
    from tfbert._tf import tf
    from tfbert.models import build_classifier
    folder = request.getfixturevalue(fixture)
    hub_model = build_classifier(folder, num_classes=3, seq_length=32, pooling=pooling,
                                 rebuild_encoder=False)
    rebuilt = build_classifier(folder, num_classes=3, seq_length=32, pooling=pooling,
                               rebuild_encoder=True)
    _copy_head(hub_model, rebuilt)
    texts = tf.constant(TEXTS)
    np.testing.assert_allclose(rebuilt(texts).numpy(), hub_model(texts).numpy(), atol=1e-5)
    assert rebuilt.config.rebuild_encoder and not hub_model.config.rebuild_encoder
    # Mean pooling leaves the [CLS] pooler (kernel, bias) unused: the rebuild freezes it.
    unused_pooler = 2 if pooling == "mean" else 0
    assert len(rebuilt.core.trainable_weights) == (len(hub_model.core.trainable_weights)
                                                   - unused_pooler)
    tokens_out = _encoder(rebuilt)(rebuilt.preprocessor(texts))["sequence_output"].shape[1]
    assert tokens_out == (1 if pooling == "cls" else 32)


def test_rebuilt_encoder_computes_in_bfloat16_under_mixed_precision(tiny_model):
    """The point of rebuilding: a TF Hub layer keeps the dtype it was exported with."""
    from tfbert._tf import tf, tf_keras
    from tfbert.models import build_classifier
    from tfbert._tf import dtype_policy
    reference = build_classifier(tiny_model, num_classes=2, seq_length=32)
    with dtype_policy("mixed_bfloat16"):
        model = build_classifier(tiny_model, num_classes=2, seq_length=32, rebuild_encoder=True)
    _copy_head(reference, model)
    encoder = _encoder(model)
    assert encoder.compute_dtype == "bfloat16"
    assert all(weight.dtype == tf.float32 for weight in encoder.weights)   # float32 masters
    assert tf_keras.mixed_precision.global_policy().name == "float32"      # put back
    texts = tf.constant(TEXTS)
    logits = model(texts)
    assert logits.dtype == tf.float32
    # bfloat16 keeps 8 bits of mantissa: close to the float32 logits, not equal.
    np.testing.assert_allclose(logits.numpy(), reference(texts).numpy(), atol=0.1)


def test_by_default_the_encoder_is_rebuilt_when_proven_exact_else_the_hub_layer(
        tiny_model, monkeypatch, capsys):
    import tfbert.encoders
    from tfbert.models import build_classifier
    assert build_classifier(tiny_model, seq_length=32).config.rebuild_encoder
    capsys.readouterr()

    def no_rebuild(handle, **kwargs):
        raise ModelError(f"{handle}: no BertEncoder rebuild reproduces its outputs")
    monkeypatch.setattr(tfbert.encoders, "rebuild_encoder", no_rebuild)
    fallback = build_classifier(tiny_model, seq_length=32)
    assert not fallback.config.rebuild_encoder
    assert "Using the encoder as a TF Hub layer" in capsys.readouterr().out
    with pytest.raises(ModelError, match="no BertEncoder rebuild"):
        build_classifier(tiny_model, seq_length=32, rebuild_encoder=True)


def test_a_model_folder_is_loaded_and_proven_once_until_it_changes(tiny_model, tmp_path,
                                                                   monkeypatch):
    """A second classifier from the same folder reuses the loaded preprocessor and encoder and
    the proven rebuild; a folder replaced on disk (convert --overwrite) is read afresh."""
    import os
    import shutil

    import tensorflow_hub as hub

    import tfbert.encoders
    from tfbert._tf import tf
    from tfbert.models import build_classifier
    folder = shutil.copytree(tiny_model, tmp_path / "model")
    loads, proofs = [], []
    real_load, real_prove = hub.load, tfbert.encoders._prove
    monkeypatch.setattr(hub, "load", lambda path, **kw: loads.append(path) or real_load(
        path, **kw))
    monkeypatch.setattr(tfbert.encoders, "_prove", lambda *a: proofs.append(1) or real_prove(*a))
    texts = tf.constant(TEXTS)
    first = build_classifier(str(folder), seq_length=16, pooling="mean")
    second = build_classifier(str(folder), seq_length=16, pooling="cls")
    assert sorted(os.path.basename(p) for p in loads) == ["encoder", "preprocess"]
    assert len(proofs) == 1 and first.config.rebuild_encoder and second.config.rebuild_encoder
    # The two models share no weights: training one leaves the other as it was.
    before = second(texts, training=False).numpy()
    for variable in _encoder(first).trainable_variables:
        variable.assign(variable + 1.0)
    np.testing.assert_array_equal(second(texts, training=False).numpy(), before)

    shutil.rmtree(folder)
    shutil.copytree(tiny_model, folder)
    build_classifier(str(folder), seq_length=16)
    assert len(loads) == 4 and len(proofs) == 2


def test_the_rebuild_keeps_the_savedmodels_dropout(tiny_model, cache_dir, imdb_folder):
    """An encoder exported without dropout is rebuilt without it (training-mode passes then
    agree, and a resumed run can retrace an uninterrupted one); one with dropout gets 0.1."""
    from tfbert.encoders import rebuild_encoder
    no_dropout = cached_tiny_model(cache_dir, imdb_folder, vocab_size=3000, dropout=0.0)
    inputs = dict(input_word_ids=np.array([[2, 5, 6, 3]]), input_mask=np.ones((1, 4), int),
                  input_type_ids=np.zeros((1, 4), int))
    for folder, rate in ((no_dropout, 0.0), (tiny_model, 0.1)):
        encoder = rebuild_encoder(f"{folder}/encoder")
        assert encoder.get_config()["output_dropout"] == rate
        first, second = (encoder(inputs, training=True)["sequence_output"].numpy()
                         for _ in range(2))
        assert np.array_equal(first, second) == (rate == 0.0)


def test_an_encoder_is_rebuilt_while_op_determinism_is_on(tmp_path):
    """After ``train(..., deterministic=True)`` (op determinism on for the process) a model
    exported without a random seed, as converted models are, is still rebuilt: the probe of
    its SavedModel's dropout, whose random ops then have no seed, runs with determinism
    paused, and determinism is on again afterwards."""
    from tensorflow.python.framework import config
    from tfbert.encoders import rebuild_encoder
    model = unseeded_tiny_model(str(tmp_path))
    was_enabled = config.is_op_determinism_enabled()
    config.enable_op_determinism()
    try:
        encoder = rebuild_encoder(f"{model}/encoder")
        assert config.is_op_determinism_enabled()
    finally:
        if not was_enabled:
            config.disable_op_determinism()
    assert encoder.get_config()["output_dropout"] == 0.1


def test_an_encoder_that_is_not_a_tf_models_bert_is_refused(tmp_path):
    from tfbert._tf import tf
    from tfbert.encoders import rebuild_encoder

    class NotBert(tf.Module):
        def __init__(self):
            self.kernel = tf.Variable(tf.ones([4, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None, 4])])
        def __call__(self, x):
            return tf.matmul(x, self.kernel)
    tf.saved_model.save(NotBert(), str(tmp_path / "encoder"))
    with pytest.raises(ModelError, match=r"encoder is not a BERT encoder exported by "
                                         r"tf-models-official.*rebuild_encoder=False"):
        rebuild_encoder(str(tmp_path / "encoder"))


@pytest.mark.slow   # the full suite: XLA training
def test_train_a_rebuilt_encoder_in_bfloat16_with_xla_then_export(tiny_model, imdb_small,
                                                                   tmp_path):
    """The combination the flags exist for: XLA compiles the whole step (the encoder is no
    restored SavedModel), the encoder computes in bfloat16, and the export takes strings."""
    from tfbert._tf import tf
    from tfbert.export import export_model, load_model
    from tfbert.training import train
    small = small_imdb(imdb_small)
    result = train(small, model=tiny_model, epochs=1, batch_size=16, seq_length=32,
                   learning_rate=1e-3, mixed_precision="mixed_bfloat16", jit_compile=True,
                   rebuild_encoder=True, run_dir=str(tmp_path / "run"), verbose=0)
    assert np.isfinite(result.history["loss"]).all()
    assert result.config.rebuild_encoder and result.model.config.rebuild_encoder
    encoder = _encoder(result.model)
    assert encoder.compute_dtype == "bfloat16" and encoder.trainable
    path = export_model(result.model, str(tmp_path / "export"), small.label_names)
    texts = list(imdb_small.test.texts[:4])
    expected = tf.sigmoid(result.model(tf.constant(texts))).numpy()[:, 0]
    # bfloat16 rounding depends on the batch's padded length: close, not equal.
    np.testing.assert_allclose(load_model(path).predict_proba(texts)[:, 1], expected,
                               atol=1e-2)
