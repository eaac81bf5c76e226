"""Further pre-training (``tfbert pretrain``): BERT's masking rules, the unlabelled-text
readers, a short masked-LM run on IMDB reviews that lowers the held-out loss and writes a
model ``build_classifier`` and ``train`` take, and one-line errors for bad input."""
import json
import os
import tarfile

import numpy as np
import pytest

from tfbert.cli import main
from tfbert.errors import DataError, ModelError, TfbertError

# BertPretrainerV2 hands its encoder the masked positions too, which Keras notes.
pytestmark = pytest.mark.filterwarnings("ignore:Input dict contained keys")


@pytest.fixture(scope="module")
def reviews(imdb_small):
    """IMDB reviews of both labels, one a line, without the labels."""
    return [" ".join(text.split()) for text in imdb_small.train.texts[::2]]


@pytest.fixture(scope="module")
def reviews_file(reviews, tmp_path_factory):
    path = tmp_path_factory.mktemp("unlabelled") / "reviews.txt"
    path.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def preprocessor(tiny_model):
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401
    return hub.load(os.path.join(tiny_model, "preprocess"))


# ------------------------------------------------------------------------- masking rules

@pytest.fixture(scope="module")
def packed(reviews, preprocessor):
    """The reviews tokenized and packed by the tiny model's preprocessor, 64 tokens: one batch."""
    from tfbert.masking import pack_texts
    return next(iter(pack_texts(reviews, preprocessor, 64).batch(len(reviews))))


def _masked(packed, preprocessor, rate=0.15):
    from tfbert.masking import mask_batch, max_predictions_for, special_tokens
    special = special_tokens(preprocessor)
    seq_length = packed["input_word_ids"].shape[1]
    inputs, ids, weights = mask_batch(packed, special, rate,
                                      max_predictions_for(seq_length, rate))
    as_numpy = lambda d: {k: v.numpy() for k, v in d.items()}    # noqa: E731
    return special, as_numpy(packed), as_numpy(inputs), ids.numpy(), weights.numpy()


def test_masking_follows_berts_rules(reviews, packed, preprocessor):
    special, packed, inputs, ids, weights = _masked(packed, preprocessor)
    original, masked = packed["input_word_ids"], inputs["input_word_ids"]
    positions, real = inputs["masked_lm_positions"], weights > 0
    lengths = packed["input_mask"].sum(axis=1)
    rows = np.repeat(np.arange(len(reviews))[:, None], positions.shape[1], axis=1)
    chosen = positions[real]
    # Never [CLS] (position 0), [SEP] (the last real token) or padding.
    assert chosen.min() >= 1 and (chosen < (lengths - 1)[rows[real]]).all()
    assert not np.isin(original[rows[real], chosen], [special["start_of_sequence_id"],
                                                       special["end_of_segment_id"],
                                                       special["padding_id"]]).any()
    # The labels are the original ids; every other token is left alone.
    assert (ids[real] == original[rows[real], chosen]).all()
    untouched = np.ones_like(original, dtype=bool)
    untouched[rows[real], chosen] = False
    assert (masked[untouched] == original[untouched]).all()
    # 15% of the word pieces (rounded up per text), weights scaled to average over real slots.
    rate = real.sum() / (lengths - 2).sum()
    assert 0.14 <= rate <= 0.19, rate
    assert weights.sum() == pytest.approx(weights.size, rel=1e-4)
    # 80% [MASK], 10% random, 10% kept.
    now = masked[rows[real], chosen]
    as_mask = np.mean(now == special["mask_id"])
    kept = np.mean(now == ids[real])
    assert 0.74 <= as_mask <= 0.86 and 0.05 <= kept <= 0.16, (as_mask, kept)
    assert 0.05 <= 1 - as_mask - kept <= 0.16


def test_masks_are_drawn_afresh(packed, preprocessor):
    first = _masked(packed, preprocessor)[2]["masked_lm_positions"]
    second = _masked(packed, preprocessor)[2]["masked_lm_positions"]
    assert first.shape == second.shape and (first != second).any()


# ------------------------------------------------------------------------- reading text

def test_load_texts_reads_folders_archives_lines_and_columns(tmp_path):
    from tfbert.data.unlabelled import load_texts
    folder = tmp_path / "unsup"
    (folder / "deeper").mkdir(parents=True)
    for i in range(5):
        (folder / f"{i}_0.txt").write_text(f"review number {i}")
    (folder / "deeper" / "x.txt").write_text("a nested review")
    (folder / "blank.txt").write_text("  \n")
    (folder / "notes.md").write_text("not a text file")
    texts = load_texts(str(folder))
    assert sorted(texts) == sorted([f"review number {i}" for i in range(5)] + ["a nested review"])
    assert len(load_texts(str(folder), max_examples=3)) == 3
    archive = tmp_path / "unsup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb/train/unsup")
    assert sorted(load_texts(str(archive), cache_dir=str(tmp_path / "cache"))) == sorted(texts)
    lines = tmp_path / "lines.txt"
    lines.write_text("first document\n\nsecond document\n")
    assert sorted(load_texts(str(lines))) == ["first document", "second document"]
    table = tmp_path / "docs.csv"
    table.write_text('id,body\n1,"one, with a comma"\n2,two\n')
    assert sorted(load_texts(str(table), text_column="body")) == ["one, with a comma", "two"]


@pytest.mark.parametrize("make, column, message", [
    (lambda p: p / "missing", None, "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", None, "holds no .txt files"),
    (lambda p: (p / "blank.txt").write_text("\n \n") and p / "blank.txt", None, "holds no text"),
    (lambda p: (p / "t.csv").write_text("a,b\n1,2\n") and p / "t.csv", None, "--text-column"),
    (lambda p: (p / "t.csv").write_text("a,b\n1,2\n") and p / "t.csv", "text", "text"),
])
def test_bad_text_sources_are_one_line_errors(tmp_path, make, column, message):
    from tfbert.data.unlabelled import load_texts
    path = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        load_texts(str(path), text_column=column)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_settings_are_refused():
    from tfbert.config import PretrainConfig
    for settings in ({"steps": 10, "epochs": 1}, {"mask_rate": 0}, {"mask_rate": 1.5},
                     {"steps": 0}, {"seq_length": 2}, {"learning_rate": -1}):
        with pytest.raises(TfbertError):
            PretrainConfig(**settings)


# ------------------------------------------------------------------------- a real run

@pytest.fixture(scope="module")
def pretrained(tiny_model, reviews_file, tmp_path_factory):
    """``tfbert pretrain`` (in-process) on 160 IMDB reviews: 25 steps of 16, 32 tokens."""
    folder = tmp_path_factory.mktemp("pretrain")
    output = folder / "tiny_imdb"
    status = main(["pretrain", "--model", tiny_model, "--data", reviews_file,
                   "--output", str(output), "--run-dir", str(folder / "run"), "--steps", "25",
                   "--batch-size", "16", "--seq-length", "32", "--learning-rate", "2e-3",
                   "--heldout", "30"])
    assert status == 0
    return str(output), str(folder / "run")


def test_pretrain_lowers_the_heldout_loss_and_reports_it(pretrained, tiny_model, reviews_file):
    output, run_dir = pretrained
    with open(os.path.join(output, "pretraining.json")) as f:
        report = json.load(f)
    assert report["base_model"] == tiny_model and report["steps"] == 25
    assert report["data"] == reviews_file and report["mlm_head"] == "fresh"
    heldout = report["heldout"]
    assert heldout["texts"] == 30
    assert heldout["loss_after"] < heldout["loss_before"] - 0.3, heldout
    assert heldout["accuracy_after"] > heldout["accuracy_before"], heldout
    assert report["examples_per_second"] > 0
    assert sorted(os.listdir(output)) == ["encoder", "preprocess", "pretraining.json",
                                          "tfbert_model.json"]
    assert os.path.isdir(os.path.join(run_dir, "logs", "train"))        # TensorBoard
    assert not os.path.exists(os.path.join(run_dir, "backup"))          # finished: no backup


def test_pretrained_model_keeps_its_head_and_is_accepted_by_build_classifier(
        pretrained, tiny_model, imdb_small):
    import tensorflow_hub as hub
    from tfbert._tf import tf
    from tfbert.models import build_classifier
    output, _ = pretrained
    encoder = hub.load(os.path.join(output, "encoder"))
    base = hub.load(os.path.join(tiny_model, "encoder"))
    name = "word_embeddings/embeddings:0"
    changed = {v.name: v.numpy() for v in encoder.trainable_variables}[name]
    assert not np.allclose(changed, {v.name: v.numpy() for v in base.trainable_variables}[name])
    # The mlm sub-model is there (tf-models-official's export with with_mlm=True).
    ids = np.array([[2, 10, 11, 3]], dtype=np.int32)
    out = encoder.mlm(dict(input_word_ids=ids, input_mask=np.ones_like(ids),
                           input_type_ids=np.zeros_like(ids),
                           masked_lm_positions=np.array([[1]], dtype=np.int32)))
    assert out["mlm_logits"].shape[-1] == changed.shape[0]
    # Pre-training it again starts from the head it saved, not a fresh one.
    from official.nlp.modeling import models, networks
    from tfbert.pretraining import _restore_head
    saved = {v.name: v.numpy() for v in encoder.mlm.variables}
    pretrainer = models.BertPretrainerV2(encoder_network=networks.BertEncoder(
        vocab_size=changed.shape[0], hidden_size=128, num_layers=2, num_attention_heads=2,
        intermediate_size=512, dict_outputs=True))      # the tiny model's shape (conftest)
    pretrainer(pretrainer.inputs)                       # builds the head, as pretrain does
    assert _restore_head(pretrainer, encoder, "tiny_imdb") == "restored"
    bias = next(v for v in pretrainer.masked_lm.weights if "output_bias" in v.name)
    assert np.array_equal(bias.numpy(), saved[bias.name]) and bias.numpy().any()
    # What train(model=output) builds: rebuilt in Python, and proven equal to the export.
    classifier = build_classifier(output, seq_length=32)
    assert classifier.config.rebuild_encoder and classifier.config.pooling == "cls"
    scores = classifier.predict(tf.constant(imdb_small.test.texts[:2]), verbose=0)
    assert np.isfinite(scores).all()


# ------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_before_any_work(pretrained, tiny_model, reviews_file, tmp_path,
                                             capsys):
    output, _ = pretrained
    cases = [(["--data", str(tmp_path / "none.txt"), "--output", str(tmp_path / "o")],
              "--data: '.*none.txt' does not exist"),
             (["--data", reviews_file, "--output", output], "already exists.*--overwrite"),
             (["--data", reviews_file, "--output", str(tmp_path / "o"), "--steps", "5",
               "--epochs", "1"], "steps or epochs, not both")]
    for args, message in cases:
        assert main(["pretrain", "--model", tiny_model, *args]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("tfbert: error:") and "\n" not in error
        assert __import__("re").search(message, error), error
    assert not os.path.exists(tmp_path / "o")


def test_encoder_that_cannot_be_rebuilt_is_a_clear_error(tiny_model, reviews, tmp_path):
    from tfbert._tf import tf
    from tfbert.pretraining import pretrain
    from tfbert.registry import ModelSpec
    module = tf.Module()
    module.weights = tf.Variable(tf.zeros([3]))
    module.__call__ = tf.function(lambda x: x, input_signature=[tf.TensorSpec(None, tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "encoder"))
    spec = ModelSpec("not-bert", str(tmp_path / "encoder"), os.path.join(tiny_model,
                                                                          "preprocess"))
    with pytest.raises(ModelError, match="not-bert: pre-training needs an encoder tfbert can "
                                         "rebuild in Python"):
        pretrain(reviews[:10], str(tmp_path / "out"), model=spec, steps=1, heldout=2,
                 run_dir=str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "out")


# ------------------------------------------------------------------------- resume

class _Stop(Exception):
    pass


@pytest.mark.slow   # the full suite: interrupted and resumed training
def test_an_interrupted_pretrain_resumes_from_its_backup(tiny_model, reviews, tmp_path, capsys):
    """Backups every 2 steps; the run dies in step 3, so the same call resumes at step 3 from
    step 2's backup: the weights and the optimizer's step are those backed up. (The second
    call is stopped once it has restored, before training: finishing it is what the runs
    above test.)"""
    from tfbert._tf import tf_keras
    from tfbert.pretraining import pretrain
    settings = dict(model=tiny_model, steps=4, batch_size=4, seq_length=16, heldout=2,
                    backup_steps=2, run_dir=str(tmp_path / "run"), verbose=0)
    output, backup = tmp_path / "out", tmp_path / "run" / "backup"
    seen = {}

    class DieInStep3(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:                       # step 2, just backed up
                seen["backed_up"] = self.model.get_weights()
            elif batch == 2:
                raise _Stop()

    class StopOnceRestored(tf_keras.callbacks.Callback):
        def on_train_begin(self, logs=None):      # after BackupAndRestore has restored
            seen["restored"] = self.model.get_weights()
            seen["step"] = int(self.model.optimizer.iterations.numpy())
            raise _Stop()

    for callback in (DieInStep3(), StopOnceRestored()):
        with pytest.raises(_Stop):
            pretrain(reviews[:20], str(output), callbacks=[callback], **settings)
        assert backup.is_dir() and any(backup.iterdir()) and not output.exists()
    out = capsys.readouterr().out
    assert f"Resuming the interrupted pre-training saved in {backup} at step 3" in out, out
    assert seen["step"] == 2
    assert len(seen["restored"]) == len(seen["backed_up"]) > 0
    assert all(np.array_equal(a, b) for a, b in zip(seen["restored"], seen["backed_up"]))
