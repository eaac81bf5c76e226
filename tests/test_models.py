"""The classifier: strings -> preprocessing -> encoder -> dropout -> dense."""
import numpy as np
import pytest

from tfbert.errors import ModelError


@pytest.fixture(scope="module")
def tf():
    from tfbert._tf import tf
    return tf


def test_binary_classifier_has_one_logit_and_trainable_encoder(tiny_model, tf):
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, num_classes=2, seq_length=32)
    logits = model(tf.constant(["a great film", "an awful film", ""]))
    assert logits.shape == (3, 1)
    encoder = model.core.get_layer("encoder")
    assert encoder.trainable and len(encoder.trainable_weights) > 20
    assert model.config.seq_length == 32 and model.config.units == 1
    assert [layer.name for layer in model.core.layers][-2:] == ["dropout", "classifier"]


def test_multiclass_head_and_frozen_encoder(tiny_model, tf):
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, num_classes=4, trainable=False, dropout=0.3)
    assert model(tf.constant(["text"])).shape == (1, 4)
    assert not model.core.get_layer("encoder").trainable_weights
    assert len(model.trainable_weights) == 2  # the dense kernel and bias
    assert model.core.get_layer("dropout").rate == 0.3


def test_core_on_token_ids_equals_model_on_strings(tiny_model, tf):
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, seq_length=24)
    texts = tf.constant(["the plot was thin but the acting was great", "no"])
    ids = model.preprocessor(texts)
    assert ids["input_word_ids"].shape == (2, 24)
    np.testing.assert_allclose(model.core(ids, training=False), model(texts, training=False),
                               atol=1e-6)


def test_string_model_pads_each_batch_to_its_longest_text_only(tiny_model, tf):
    """The string model cuts the packed ids to the longest text: same logits as full padding."""
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, num_classes=3, seq_length=64)
    texts = tf.constant(["short", "a rather longer review that says a few more things", ""])
    trim = model.get_layer("trim_padding")
    ids = model.preprocessor(texts)
    assert trim(ids)["input_word_ids"].shape[1] < 64 == ids["input_word_ids"].shape[1]
    np.testing.assert_allclose(model(texts, training=False), model.core(ids, training=False),
                               atol=1e-4)


def test_sentence_pair_preprocessor_sets_segment_ids(tiny_model, tf):
    from tfbert.models import build_preprocessor
    pair = build_preprocessor(tiny_model, seq_length=16, num_segments=2)
    ids = pair([tf.constant(["good film"]), tf.constant(["bad film"])])
    assert set(ids["input_type_ids"].numpy()[0]) == {0, 1}


def test_bad_arguments_are_named(tiny_model):
    from tfbert.models import build_classifier
    with pytest.raises(ModelError, match="num_classes"):
        build_classifier(tiny_model, num_classes=1)
    with pytest.raises(ModelError, match="dropout"):
        build_classifier(tiny_model, dropout=1.5)
    with pytest.raises(ModelError, match="pooling"):
        build_classifier(tiny_model, pooling="max")
    with pytest.raises(ModelError, match="seq_length 600 is longer than the 512 positions"):
        build_classifier(tiny_model, seq_length=600)


def test_mean_pooling_averages_real_tokens_only(tiny_model, tf):
    from tfbert.layers import MaskedMeanPooling
    from tfbert.models import build_classifier
    sequence = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = MaskedMeanPooling()(sequence, tf.constant([[1, 1, 0]]))
    np.testing.assert_allclose(pooled.numpy(), [[2.0, 3.0]])
    model = build_classifier(tiny_model, pooling="mean", seq_length=16)
    assert isinstance(model.core.get_layer("mean_pooling"), MaskedMeanPooling)
    assert model(tf.constant(["fine"])).shape == (1, 1)
