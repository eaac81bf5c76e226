"""Question answering exports: the SavedModel answers raw question/context strings in the graph
(windows, n-best spans, character offsets) exactly as the in-memory model does in Python."""
import json
import os

import pytest

from tfbert.errors import ExportError

LONG = " ".join(f"Part {i}: people watched a good film about the story." for i in range(40))
PAIRS = [
    ("Where was the film shot?", "The film was shot in Paris by a great director."),
    ("Wo ist das Café?", "Das Café « Zürich café » liegt am See — très bien 😀 映画 über alles."),
    ("What did people watch?", LONG + " In the end the answer is comedy. " + LONG),
    ("Who?", "Ünïcode  café's — 1990s Zürich"),
    ("What is the answer?", ""),
    ("", "A good film."),
]


@pytest.fixture(scope="module")
def qa_export(tiny_model, tmp_path_factory):
    """An untrained tiny QA model (short windows: the long context makes many), exported once
    with a null threshold that answers one of the two non-ASCII questions and not the other."""
    import tfbert
    from tfbert._tf import tf_keras
    from tfbert.qa import build_qa_model
    tf_keras.utils.set_random_seed(0)
    model = build_qa_model(tiny_model, seq_length=48, doc_stride=16, max_query_length=12,
                           n_best=5, max_answer_length=8)
    answers = model.answer(*zip(*PAIRS))
    # Halfway between the two: float noise of another batching cannot move either across.
    model.with_null_threshold((answers[1].null_score_diff + answers[3].null_score_diff) / 2)
    # The export checks itself on two pairs; the tests below compare all of them.
    path = model.export(str(tmp_path_factory.mktemp("exports") / "qa"),
                        settings={"data": "synthetic"}, check_pairs=PAIRS[:2])
    return model, path, tfbert.load_model(os.path.dirname(path))      # the latest version


def test_export_answers_as_the_model_does(qa_export):
    from tfbert.serving import LoadedQA
    model, path, loaded = qa_export
    questions, contexts = (list(x) for x in zip(*PAIRS))
    assert len(model.features([_example(q, c) for q, c in PAIRS[2:3]])) > 10   # many windows
    expected = model.answer(questions, contexts)
    assert isinstance(loaded, LoadedQA) and loaded.config["null_threshold"] is not None
    got = loaded.answer(questions, contexts, batch_size=4)
    # The threshold decides both ways: one non-ASCII question answered, the other not.
    assert got[1].has_answer != got[3].has_answer and not got[4].has_answer
    # Batches go shortest first; the answers come back in input order, each named by it.
    assert [(a.qid, a.question) for a in got] == [(str(i), q) for i, q in enumerate(questions)]
    for want, have, context in zip(expected, got, contexts):
        assert (have.answer, have.start, have.end, have.has_answer) == (
            want.answer, want.start, want.end, want.has_answer)
        assert have.score == pytest.approx(want.score, abs=1e-4)
        assert have.null_score_diff == pytest.approx(want.null_score_diff, abs=1e-4)
        if have.has_answer:     # character offsets, not bytes: right for "Zürich café" too
            assert context[have.start:have.end] == have.answer and have.answer
        else:
            assert (have.answer, have.start, have.end) == ("", -1, -1)
    answered = got[1] if got[1].has_answer else got[3]
    context = contexts[1] if got[1].has_answer else contexts[3]
    assert len(context[:answered.start].encode("utf-8")) != answered.start   # bytes differ
    assert loaded.answer(questions[0], contexts[0])[0].answer == got[0].answer
    with open(os.path.join(path, "assets.extra", "tfbert.json")) as f:
        metadata = json.load(f)
    assert metadata["kind"] == "question-answering" and metadata["settings"] == {
        "data": "synthetic"}


def _example(question, context):
    from tfbert.data.squad import QAExample
    return QAExample("x", question, context)


def test_signature_takes_strings_and_returns_the_documented_outputs(qa_export):
    from tfbert._tf import tf
    serve = qa_export[2]._serve
    inputs = serve.structured_input_signature[1]
    assert {name: (spec.dtype, spec.shape.as_list()) for name, spec in inputs.items()} == {
        "question": (tf.string, [None]), "context": (tf.string, [None])}
    outputs = {name: spec.dtype for name, spec in serve.structured_outputs.items()}
    assert outputs == {"answer": tf.string, "start": tf.int32, "end": tf.int32,
                       "score": tf.float32, "has_answer": tf.bool,
                       "null_score_diff": tf.float32}
    out = serve(question=tf.constant(["Who?", "Wo?"]),
                context=tf.constant(["Rollo led the Norse.", "In Zürich."]))
    assert out["answer"].shape == (2,) and out["start"].dtype == tf.int32


def test_exports_are_versioned_never_overwritten(qa_export):
    import tfbert
    model, path, _ = qa_export
    with pytest.raises(ExportError, match="already exists"):
        tfbert.export_model(model, os.path.dirname(path), version=1)


def test_xla_export_answers_as_the_plain_one(qa_export, tmp_path):
    """``jit_compile=True``: the serving graph runs the model through XLA (windows padded
    to XLA's shapes) and answers every pair as the plain export does."""
    import tfbert
    from test_export import _xla_functions
    model, _, plain = qa_export
    path = model.export(str(tmp_path / "qa"), jit_compile=True, check_pairs=PAIRS)
    loaded = tfbert.load_model(path)
    assert _xla_functions(loaded) and not _xla_functions(plain)
    assert loaded.metadata["jit_compile"] is True and plain.metadata["jit_compile"] is False
    questions, contexts = (list(x) for x in zip(*PAIRS))
    for batch_size in (1, 4):
        got = loaded.answer(questions, contexts, batch_size=batch_size)
        for want, have in zip(plain.answer(questions, contexts), got):
            assert (have.answer, have.start, have.end, have.has_answer) == (
                want.answer, want.start, want.end, want.has_answer)
            assert have.score == pytest.approx(want.score, abs=1e-4)
