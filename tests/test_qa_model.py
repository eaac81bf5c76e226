"""Question answering: the task's loss and metrics, post-processing over windows, and a
tiny model trained end to end on a synthetic SQuAD 2.0 set where the answer is learnable
(the word after "the answer is"; no such phrase: no answer)."""
import json
import os
import random

import numpy as np
import pytest

from tfbert.data.qa_features import QATokenizer, make_features
from tfbert.data.squad import Answer, QAData, QAExample
from tfbert.errors import DataError
from tfbert.tasks import get_task
from tfbert.tasks.question_answering import best_answers

FILL = ("the a of and to in film movie good bad story people time very really great some "
        "would about").split()
# Answers of one WordPiece each in the tiny model's IMDB vocabulary.
CITIES = "paris london actor music plot script ending camera scene comedy horror drama".split()
QUESTION = "what is the answer ?"


def synthetic(n, seed, prefix, impossible_every=4):
    """Questions whose answer is the city after "the answer is" in filler text."""
    rng, examples = random.Random(seed), []
    for i in range(n):
        words = [rng.choice(FILL) for _ in range(rng.randint(5, 40))]
        article = f"{prefix}{i // 10}"
        if impossible_every and i % impossible_every == impossible_every - 1:
            examples.append(QAExample(f"{prefix}{i}", QUESTION, " ".join(words), (), article,
                                      is_impossible=True))
            continue
        city = rng.choice(CITIES)
        k = rng.randint(0, len(words))
        words[k:k] = ["the", "answer", "is", city]
        context = " ".join(words) + " ."
        start = context.index("answer is " + city) + len("answer is ")
        examples.append(QAExample(f"{prefix}{i}", QUESTION, context, (Answer(city, start),),
                                  article))
    return examples


# ------------------------------------------------------------------ task, without a model

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "?", ".", *FILL, *CITIES, "answer",
         "is", "what"]


@pytest.fixture(scope="module")
def features():
    context = " ".join(["good"] * 12 + ["the", "answer", "is", "paris"] + ["bad"] * 12)
    examples = [QAExample("a", QUESTION, context, (Answer("paris", context.index("paris")),)),
                QAExample("b", QUESTION, "good film about rome .")]
    return make_features(examples, QATokenizer(VOCAB), seq_length=20, doc_stride=4,
                         max_query_length=8)


def _logits(features, spans, null=0.0):
    """Logits with ``spans`` ``{window: (start, end, score)}`` high and [CLS] at ``null``."""
    logits = np.full((len(features), features.offsets.shape[1], 2), -5.0, np.float32)
    logits[:, 0, :] = null / 2
    for window, (start, end, score) in spans.items():
        logits[window, start, 0] = logits[window, end, 1] = score / 2
    return logits


def test_loss_is_the_mean_of_start_and_end_cross_entropy():
    task = get_task("question-answering")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 7, 2)).astype(np.float32)
    labels = np.array([[1, 2], [0, 0], [6, 6]])

    def ce(column, which):
        z = logits[..., which]
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -log_p[np.arange(3), column]
    expected = (ce(labels[:, 0], 0) + ce(labels[:, 1], 1)) / 2
    assert np.allclose(task.loss()(labels, logits).numpy(), expected, atol=1e-5)
    start_accuracy, end_accuracy = task.metrics()
    starts = logits[..., 0].argmax(axis=1) == labels[:, 0]
    assert np.array_equal(start_accuracy(labels, logits).numpy(), starts.astype(np.float32))
    assert start_accuracy.__name__ == "start_accuracy" and "val_f1" in task.monitors()


def test_best_answer_over_windows_cut_from_the_context(features):
    windows = np.nonzero(features.example_index == 0)[0]
    assert len(windows) > 2
    # The gold span, where each window holds it, scores 4; a longer span scores 6 but
    # runs past max_answer_length; a reversed pair (end before start) scores 9.
    spans = {}
    for w in windows:
        if features.start_positions[w]:
            spans[w] = (features.start_positions[w], features.end_positions[w], 4.0)
    answers = best_answers(features, _logits(features, spans), max_answer_length=3)
    a = answers[0]
    context = features.examples[0].context
    assert a.answer == "paris" and context[a.start:a.end] == "paris" and a.has_answer
    assert a.qid == "a" and 0 < a.score <= 1
    # The second example has no strong span: still a span for a 1.1 model (no threshold).
    assert answers[1].answer in features.examples[1].context and answers[1].answer


def _answer_window(features):
    """The window holding "the answer is paris" with each of its tokens at their most context."""
    return next(int(w) for w in np.nonzero(features.start_positions)[0]
                if features.max_context[w, features.start_positions[w] - 3:
                                        features.start_positions[w] + 1].all())


def test_answers_respect_length_order_and_context(features):
    w = _answer_window(features)
    s = int(features.start_positions[w])
    logits = _logits(features, {})
    logits[w, s - 3, 0] = logits[w, s, 1] = 4.0    # "the answer is paris": 8, 4 tokens
    logits[w, s, 0] = logits[w, s - 3, 1] = 3.0    # "paris" and "the" alone: 7 each
    logits[w, 1, :] = 20.0                         # a question token: never an answer
    short = best_answers(features, logits, max_answer_length=2)[0]
    assert short.answer in ("the", "paris")
    assert short.answer == features.examples[0].context[short.start:short.end]
    assert best_answers(features, logits, max_answer_length=4)[0].answer == \
        "the answer is paris"
    logits[w, s, 0] = logits[w, s - 3, 1] = 10.0   # start after end: 20, not a span
    reversed_best = best_answers(features, logits, max_answer_length=4)[0]
    assert reversed_best.answer in ("the", "paris")      # 14: one of them alone


def test_null_threshold_decides_unanswerable(features):
    w = _answer_window(features)
    s, e = int(features.start_positions[w]), int(features.end_positions[w])
    logits = _logits(features, {w: (s, e, 3.0)}, null=4.0)
    strict, lenient = (best_answers(features, logits, null_threshold=t)[0] for t in (0.0, 2.0))
    assert not strict.has_answer and strict.answer == "" and strict.start == strict.end == -1
    assert strict.null_score_diff == pytest.approx(1.0)
    assert lenient.answer == "paris" and lenient.has_answer


def test_task_reports_squad_scores_and_mistakes():
    task = get_task("question-answering")
    golds = {"a": ["Paris"], "b": []}
    metrics = task.compute_metrics(golds, {"a": "paris", "b": "Rome"}, version="2.0")
    assert metrics["exact_match"] == metrics["exact"] == 50.0
    assert metrics["HasAns_exact"] == 100.0 and metrics["NoAns_exact"] == 0.0
    text = task.format_metrics(metrics, "validation")
    assert "exact match  50.00" in text and "NoAns" in text
    with pytest.raises(DataError, match="SQuAD JSON"):
        task.encode_labels([(1, "x")], "data.csv")


# ------------------------------------------------------------------- a tiny trained model

@pytest.fixture(scope="module")
def trained_qa(tiny_model, tmp_path_factory):
    from tfbert.qa_training import train_qa
    data = QAData(synthetic(160, 0, "t"), synthetic(40, 1, "v"), None, "synthetic", "2.0")
    run_dir = str(tmp_path_factory.mktemp("runs") / "qa")
    return data, train_qa(data, tiny_model, run_dir=run_dir, epochs=1, batch_size=8,
                          learning_rate=1e-3, seq_length=64, doc_stride=32,
                          max_query_length=16, verbose=0)


def test_tokenizer_ids_equal_the_preprocessors(tiny_model):
    import tensorflow_hub as hub
    from tfbert._tf import tf
    texts = ["What a wonderful film, the answer is Oslo!", "Ünïcode  café's — 1990s"]
    tokenizer = QATokenizer.from_preprocessor(os.path.join(tiny_model, "preprocess"))
    ours = [ids.tolist() for ids, _, _ in tokenizer.tokenize(texts)]
    theirs = hub.load(os.path.join(tiny_model, "preprocess")).tokenize(tf.constant(texts))
    assert ours == theirs.merge_dims(1, 2).to_list()


def test_trained_model_answers_and_abstains(trained_qa):
    data, result = trained_qa
    assert result.validation["f1"] >= 80 and result.validation["HasAns_total"] == 30
    assert result.null_threshold is not None
    assert result.model.config.rebuild_encoder      # trained on the rebuilt Keras encoder
    assert result.model.config.null_threshold == result.null_threshold
    for name in ("history.json", "config.json", "validation.json", "training_curves.png",
                 "checkpoints", "logs"):
        assert os.path.exists(os.path.join(result.run_dir, name)), name
    assert not os.path.exists(os.path.join(result.run_dir, "backup"))   # removed once finished
    with open(os.path.join(result.run_dir, "history.json")) as f:
        assert "val_f1" in json.load(f)
    context = "some people would really like the answer is comedy and the story ."
    long_context = " ".join(["good film"] * 30) + " " + context        # several windows
    got = result.model.answer([QUESTION, QUESTION, QUESTION],
                              [context, long_context, "a good film about people ."])
    assert [g.answer for g in got[:2]] == ["comedy", "comedy"]
    for g, c in zip(got[:2], (context, long_context)):
        assert c[g.start:g.end] == "comedy" and 0 < g.score <= 1
    assert not got[2].has_answer and got[2].answer == ""
    assert result.model.answer(QUESTION, context)[0].answer == "comedy"
    with pytest.raises(DataError, match="2 questions but 3 contexts"):
        result.model.answer([QUESTION] * 2, [context] * 3)
    # The run's config and best checkpoint rebuild the same model (threshold included).
    from tfbert.qa import QAModel
    with open(os.path.join(result.run_dir, "config.json")) as f:
        rebuilt = QAModel.from_config(json.load(f)["qa_model"])
    rebuilt.load_weights(os.path.join(result.run_dir, "checkpoints", "best"))
    rebuilt.with_null_threshold(result.null_threshold)
    again = rebuilt.answer([QUESTION] * 3, [context, long_context, "a good film about people ."])
    assert [(a.answer, a.start) for a in again] == [(g.answer, g.start) for g in got]
    assert [a.score for a in again] == pytest.approx([g.score for g in got], abs=1e-4)


def test_window_logits_is_one_graph_equal_to_the_eager_model(trained_qa):
    data, result = trained_qa
    model = result.model
    features = model.features(data.validation[:6])
    assert len(features) >= 4
    eager = model(features.inputs, training=False).numpy()
    real = features.inputs["input_mask"] == 1
    # 64: fewer windows than a batch, the plain graph, cut to the longest window; 4 and 3:
    # XLA (xla_padded pads every batch, the short last one too, to a multiple of XLA_ROWS rows).
    for batch_size in (64, 4, 3):
        got = model.window_logits(features, batch_size)
        assert got.shape == eager.shape
        np.testing.assert_allclose(got[real], eager[real], atol=1e-4)
        assert (got[~real] < -1e3).all()
    # One trace each for every batch size and length.
    assert model._forward().experimental_get_tracing_count() == 1
    assert model._forward(compiled=True).experimental_get_tracing_count() == 1


def test_validation_loss_is_what_a_keras_validation_pass_gives(trained_qa):
    # train_qa logs val_loss and the accuracies from SquadEvaluation's logits, not from a
    # second pass (fit's validation_data): they must equal what that pass would log.
    from tfbert.qa_training import qa_dataset
    data, result = trained_qa
    with open(os.path.join(result.run_dir, "history.json")) as f:
        history = json.load(f)
    features = result.model.features(data.validation)
    keras = result.model.evaluate(qa_dataset(features, 8), return_dict=True, verbose=0)
    assert history["val_loss"][-1] == pytest.approx(keras["loss"], rel=1e-4)
    for name in ("start_accuracy", "end_accuracy"):
        assert history[f"val_{name}"][-1] == pytest.approx(keras[name], abs=1e-6)


def test_evaluate_qa_reports_worst_answers(trained_qa, tmp_path):
    from tfbert.qa_training import evaluate_qa
    data, result = trained_qa
    hard = synthetic(12, 5, "h", impossible_every=0)
    # Questions the synthetic rule cannot answer: the gold is another word of the context.
    hard = [QAExample(e.qid, e.question, e.context, (Answer("answer", e.context.index(
        "answer")),), e.article) for e in hard]
    metrics = evaluate_qa(result.model, hard, path=str(tmp_path / "report.json"))
    assert metrics["f1"] < 50 and metrics["worst_mistakes"]
    worst = metrics["worst_mistakes"][0]
    # Wrong by the synthetic rule (a city), or abstaining (the tuned 2.0 null threshold).
    assert worst["gold"] == ["answer"] and worst["predicted"] in CITIES + [""]
    assert any(m["predicted"] in CITIES for m in metrics["worst_mistakes"])
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["questions"] == 12


def test_span_head_on_the_tf_hub_encoder_layer(tiny_model):
    from tfbert.qa import build_qa_model
    model = build_qa_model(tiny_model, seq_length=32, doc_stride=8, max_query_length=8,
                           rebuild_encoder=False)
    assert not model.config.rebuild_encoder
    features = model.features(synthetic(3, 2, "s", impossible_every=0))
    logits = model(features.inputs, training=False).numpy()
    assert logits.shape == (len(features), 32, 2)
    padding = features.inputs["input_mask"] == 0
    assert padding.any() and (logits[padding] < -1e3).all()
    assert np.isfinite(logits[~padding]).all() and (np.abs(logits[~padding]) < 100).all()
    # window_logits runs one compiled graph: the same logits as the eager call.
    np.testing.assert_allclose(model.window_logits(features)[~padding], logits[~padding],
                               atol=1e-4)



class _Crash(Exception):
    pass


@pytest.mark.slow   # the full suite: interrupted and resumed training
def test_interrupted_training_resumes_from_its_backup(tiny_model, tmp_path, capsys):
    from tfbert._tf import tf_keras
    from tfbert.qa import build_qa_model
    from tfbert.qa_training import train_qa

    class CrashAt(tf_keras.callbacks.Callback):     # a crash at the start of (epoch, batch)
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if (self.epoch, batch) == (1, 2):
                raise _Crash()

    data = QAData(synthetic(24, 3, "t"), synthetic(8, 4, "v"), None, "synthetic", "2.0")
    run_dir = tmp_path / "run"

    def run(callbacks=()):
        model = build_qa_model(tiny_model, seq_length=64, doc_stride=32, max_query_length=16)
        return model, train_qa(data, model, run_dir=str(run_dir), epochs=2, batch_size=8,
                               learning_rate=1e-3, backup_steps=1, callbacks=callbacks,
                               verbose=0)

    with pytest.raises(_Crash):
        run([CrashAt()])
    first = json.loads((run_dir / "history.json").read_text())
    assert len(first["loss"]) == 1 and (run_dir / "backup").is_dir()
    capsys.readouterr()
    model, result = run()
    # Backed up after every step: the run goes on at the step it crashed in.
    assert "at epoch 2, step 3 (delete that folder" in capsys.readouterr().out
    steps = result.history["steps"]["step"]
    features = model.features(data.train)
    steps_per_epoch = -(-len(features) // 8)
    # ... and sees the batches the crashed run had left (each epoch's order from the seed).
    from tfbert.qa_training import qa_dataset
    full, left = ([labels.numpy().tolist() for _, labels in qa_dataset(
        features, 8, shuffle=True, epochs=2, start=start)] for start in ((0, 0), (1, 2)))
    assert left == full[steps_per_epoch + 2:]
    assert full[:steps_per_epoch] != full[steps_per_epoch:]
    assert len(result.history["loss"]) == len(result.history["val_f1"]) == 2
    assert result.history["val_f1"][0] == first["val_f1"][0]
    assert steps == sorted(set(steps))                   # no step recorded twice
    assert int(model.optimizer.iterations.numpy()) == steps[-1] == 2 * steps_per_epoch
    # The validation scores kept are those of the best epoch, the crashed process's included.
    epochs = json.loads((run_dir / "validation_epochs.json").read_text())
    assert len(epochs) == 2
    best = int(np.argmax(result.history["val_f1"]))
    assert result.validation == epochs[best][0]
    assert not (run_dir / "backup").exists()             # a finished run leaves none


def test_head_dropout_defaults_differ_by_task():
    """A classifier's head gets BERT's 0.1; the span layer none, as BERT's SQuAD model (and
    Hugging Face's) has; an explicit rate, 0 included, is kept."""
    import inspect
    from tfbert.config import TrainConfig
    from tfbert.qa import QAConfig, build_qa_model
    from tfbert.qa_training import train_qa
    assert TrainConfig().dropout == 0.1 and TrainConfig(dropout=0.0).dropout == 0.0
    assert TrainConfig(dropout=0.3).dropout == 0.3
    for function in (build_qa_model, train_qa):
        assert inspect.signature(function).parameters["dropout"].default == 0.0
    assert QAConfig.__dataclass_fields__["dropout"].default == 0.0
