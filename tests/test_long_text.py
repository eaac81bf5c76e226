"""Long texts: truncation strategies and chunk-and-aggregate see the end of a text, in
training, in memory and in the export (tfbert.long_text)."""
import json
import os

import numpy as np
import pytest

from tfbert.errors import ModelError, TfbertError

SEQ = 24                      # a window of 22 word pieces
SIGNAL = {0: "terrible", 1: "excellent"}
FILLER = "the film was a story about people and their time in the city".split()


def _texts(n, seed, words=(40, 70)):
    """Texts whose label shows only in their last two words, after 40-70 neutral words."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    texts = [" ".join([*rng.choice(FILLER, rng.integers(*words)), SIGNAL[y], SIGNAL[y]])
             for y in labels]
    return texts, labels


@pytest.fixture(scope="module")
def preprocess(tiny_model):
    """The tiny model's TF Hub preprocessor, loaded once: ``tokenize``, ``bert_pack_inputs``."""
    import tensorflow_hub as hub
    from tfbert.registry import resolve_model
    return hub.load(resolve_model(tiny_model).preprocess)


def _pack(preprocess, texts, truncation="head"):
    """Packed ids of ``texts`` as the classifier's preprocessor packs them."""
    import tensorflow_hub as hub
    from tfbert._tf import tf
    from tfbert.long_text import PackLongText
    tokens = preprocess.tokenize(tf.constant(texts))
    if truncation == "head":
        packed = preprocess.bert_pack_inputs([tokens], seq_length=SEQ)
    else:
        pack = hub.KerasLayer(preprocess.bert_pack_inputs, arguments=dict(seq_length=SEQ))
        packed = PackLongText(pack, SEQ, truncation, 0.25, stride=11, max_chunks=4)(tokens)
    return {key: value.numpy() for key, value in packed.items()}


@pytest.mark.parametrize("truncation", ["head", "tail", "head+tail", "chunks"])
def test_only_head_truncation_misses_a_signal_at_the_end(preprocess, truncation):
    signal_ids = set(_pack(preprocess, list(SIGNAL.values()))["input_word_ids"][:, 1].tolist())
    assert len(signal_ids) == 2 and min(signal_ids) > 100    # each signal is one word piece
    texts, _ = _texts(8, seed=0)
    packed = _pack(preprocess, texts, truncation)
    ids = packed["input_word_ids"].reshape(len(texts), -1)
    assert [bool(signal_ids & set(row.tolist())) for row in ids] == [
        truncation != "head"] * len(texts)
    if truncation == "chunks":
        assert packed["input_word_ids"].shape == (8, 4, SEQ)
        assert (packed["input_mask"][:, :, 0] == 1).all()       # 62+ pieces: 4 windows kept
    else:
        head = _pack(preprocess, texts)["input_word_ids"][:, :1 + round(0.25 * (SEQ - 2))]
        assert (ids[:, :head.shape[1]] == head).all() == (truncation != "tail")
        assert (packed["input_mask"] == 1).all()                # every position used


def test_the_classifiers_preprocessor_cuts_long_texts_and_keeps_short_ones(tiny_model,
                                                                         preprocess):
    from tfbert._tf import tf
    from tfbert.models import build_preprocessor
    short = ["a short one", "", "the film was fine"]
    texts = short + _texts(2, seed=4)[0]
    got = build_preprocessor(tiny_model, seq_length=SEQ, truncation="head+tail")(
        tf.constant(texts))
    expected, head = _pack(preprocess, texts, "head+tail"), _pack(preprocess, short)
    for key, value in got.items():
        np.testing.assert_array_equal(value.numpy(), expected[key])
        np.testing.assert_array_equal(value.numpy()[:len(short)], head[key])


def test_chunk_windows_overlap_end_at_the_end_and_are_spread_when_capped():
    from tfbert._tf import tf
    from tfbert.long_text import chunk_tokens, truncate_tokens
    tokens = tf.ragged.constant([list(range(20)), [7, 8], []], dtype=tf.int32)
    windows, per_text = chunk_tokens(tokens, window=8, stride=4, max_chunks=8)
    assert per_text.numpy().tolist() == [4, 1, 1]
    assert windows.to_list() == [list(range(0, 8)), list(range(4, 12)), list(range(8, 16)),
                                 list(range(12, 20)), [7, 8], []]
    windows, per_text = chunk_tokens(tokens, window=4, stride=2, max_chunks=3)   # 9 needed
    assert windows.to_list()[:3] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert truncate_tokens(tokens, 6, 2).to_list() == [[0, 1, 16, 17, 18, 19], [7, 8], []]


def test_batches_of_windows_are_cut_to_their_longest_window_and_most_windows():
    from tfbert._tf import tf
    from tfbert.layers import token_lengths, trim_padding
    mask = tf.constant([[[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0], [0] * 6],
                        [[1, 1, 1, 0, 0, 0], [0] * 6, [0] * 6]])
    inputs = {"input_mask": mask, "input_word_ids": mask * 7, "input_type_ids": mask * 0}
    trimmed = trim_padding(inputs)
    assert trimmed["input_word_ids"].shape == (2, 2, 4)
    np.testing.assert_array_equal(trimmed["input_mask"].numpy(), mask.numpy()[:, :2, :4])
    assert token_lengths(inputs).numpy().tolist() == [6, 3]


def test_windows_as_examples_makes_each_real_window_an_example_with_its_text_label():
    from tfbert._tf import tf
    from tfbert.long_text import windows_as_examples
    mask = tf.constant([[[1, 1, 1, 0], [1, 1, 0, 0], [0] * 4],
                        [[1, 1, 0, 0], [0] * 4, [0] * 4]])
    ids = mask * tf.constant([[[5], [6], [7]], [[8], [9], [9]]])
    inputs = {"input_mask": mask, "input_word_ids": ids, "input_type_ids": mask * 0}
    windows, labels = windows_as_examples(inputs, tf.constant([1, 0]))
    assert windows["input_word_ids"].shape == (3, 1, 4)
    np.testing.assert_array_equal(windows["input_word_ids"].numpy()[:, 0],
                                  [[5, 5, 5, 0], [6, 6, 0, 0], [8, 8, 0, 0]])
    assert labels.numpy().tolist() == [1, 1, 0]
    _, multilabel = windows_as_examples(inputs, tf.constant([[1, 0, 1], [0, 1, 0]]))
    assert multilabel.numpy().tolist() == [[1, 0, 1], [1, 0, 1], [0, 1, 0]]


def _train_on_chunks(model, run_dir, words=(40, 70), **settings):
    """A tiny classifier trained on chunks of texts whose label shows only at their end,
    after ``words`` neutral words (mean pooling of tokens: a random encoder's [CLS] takes
    longer to find one word)."""
    from tfbert.data import TextData, TextSplit
    from tfbert.training import train
    texts, labels = _texts(64, seed=1, words=words)
    held_texts, held_labels = _texts(24, seed=2, words=words)
    data = TextData(TextSplit(texts, labels), TextSplit(held_texts, held_labels), None,
                    ["neg", "pos"], "signal at the end")
    settings = {"epochs": 6, "batch_size": 16, "seq_length": SEQ, "learning_rate": 3e-3,
                "pooling": "mean", "patience": 10, "truncation": "chunks", "stride": 11,
                "max_chunks": 3, "seed": 3, **settings}
    return train(data, model=model, run_dir=run_dir, verbose=0, **settings), data


@pytest.fixture(scope="module")
def chunked(tiny_model, tmp_path_factory):
    """The chunks classifier trained on the pooled logit of each text (max of windows)."""
    return _train_on_chunks(tiny_model, str(tmp_path_factory.mktemp("runs") / "chunks"),
                            chunk_pooling="max")


def test_a_model_trained_on_chunks_learns_a_signal_at_the_end(chunked):
    result, _ = chunked
    assert result.model.config.truncation == "chunks"
    history = result.history        # the weights kept are the epoch of the lowest val_loss
    assert history["val_accuracy"][int(np.argmin(history["val_loss"]))] >= 0.9
    with open(result.files["config"]) as f:
        recorded = json.load(f)
    assert recorded["truncation"] == recorded["classifier"]["truncation"] == "chunks"
    assert recorded["classifier"]["stride"] == 11 and recorded["classifier"]["max_chunks"] == 3
    assert recorded["chunk_loss"] == "text"


def test_chunks_trained_window_by_window_learn_a_signal_at_the_end(tiny_model, tmp_path):
    """chunk_loss="windows": every window inherits its text's label, so the first window
    (before the signal) is trained on noise; mean pooling still follows the last one.
    Shorter texts (two windows) and more epochs than the pooled loss needs."""
    result, _ = _train_on_chunks(tiny_model, str(tmp_path / "windows"), words=(24, 30),
                                 epochs=10, chunk_loss="windows", chunk_pooling="mean")
    history = result.history
    assert history["val_accuracy"][int(np.argmin(history["val_loss"]))] >= 0.9
    with open(result.files["config"]) as f:
        assert json.load(f)["chunk_loss"] == "windows"


def test_export_serves_texts_of_any_length_like_the_model_and_keeps_its_config(chunked, tmp_path):
    from tfbert.export import export_model
    from tfbert.models import ClassifierConfig
    from tfbert.serving import Classifier, load_model
    model = chunked[0].model
    texts = [_texts(1, seed=6, words=(n, n + 1))[0][0] for n in (3, 30, 3000)] + [""]
    path = export_model(model, str(tmp_path / "chunks"), check_texts=texts)
    with open(os.path.join(path, "assets.extra", "tfbert.json")) as f:
        recorded = ClassifierConfig.from_json(json.load(f)["classifier"])
    assert recorded == model.config and recorded.long_text == {
        "truncation": "chunks", "head_share": 0.25, "stride": 11, "max_chunks": 3,
        "chunk_pooling": "max"}
    np.testing.assert_allclose(load_model(path).predict_proba(texts),
                               Classifier(model).predict_proba(texts), atol=1e-5)


@pytest.mark.parametrize("settings, message", [
    ({"truncation": "chunks", "seq_length": 24, "stride": 22},
     "stride 22 must be smaller than the window of 22 tokens"),
    ({"truncation": "chunks", "max_chunks": 0}, "max_chunks must be at least 1, got 0"),
    ({"truncation": "middle"}, "truncation must be one of head, tail, head+tail, chunks"),
    ({"truncation": "head+tail", "head_share": 1.5}, "head_share must be in [0, 1]"),
    ({"truncation": "chunks", "chunk_loss": "texts"}, "chunk_loss must be one of text, windows"),
    ({"chunk_loss": "windows"},
     "chunk_loss='windows' trains on the windows of truncation='chunks', but truncation is "
     "'head'"),
])
def test_bad_long_text_settings_are_one_line_errors(settings, message):
    from tfbert.config import TrainConfig
    with pytest.raises(TfbertError, match=message.replace("[", r"\[").replace("+", r"\+")):
        TrainConfig(**settings)


def test_pairs_refuse_truncation_other_than_head(tiny_model):
    from tfbert.models import build_classifier
    with pytest.raises(ModelError, match="truncation='tail' is for single texts"):
        build_classifier(tiny_model, seq_length=SEQ, text_pairs=True, truncation="tail")


def test_cli_options_come_from_the_config():
    from tfbert import cli
    args = cli.build_parser().parse_args(["train", "--truncation", "head+tail",
                                          "--head-share", "0.5", "--stride", "64",
                                          "--max-chunks", "4", "--chunk-pooling", "max",
                                          "--chunk-loss", "windows"])
    settings = cli._train_settings(args)
    assert (settings["truncation"], settings["head_share"], settings["stride"],
            settings["max_chunks"], settings["chunk_pooling"], settings["chunk_loss"]) == (
        "head+tail", 0.5, 64, 4, "max", "windows")


def test_cli_refuses_a_stride_as_long_as_the_window_before_reading_data(tmp_path, capsys):
    from tfbert import cli
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    status = cli.main(["train", "--data", str(data), "--truncation", "chunks", "--seq-length",
                       "24", "--stride", "22", "--run-dir", str(tmp_path / "run")])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tfbert: error: stride 22 must be smaller than the window of 22 tokens (seq_length "
        "24 - 2), so that the windows overlap."]
    assert not (tmp_path / "run").exists()
