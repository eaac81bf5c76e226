"""Answer questions with an exported question answering model (:mod:`tfbert.qa_export`).

:func:`tfbert.load_model` returns a :class:`LoadedQA` for such an export: raw question
and context strings in, the same :class:`~tfbert.tasks.question_answering.SpanAnswer`
objects out as the in-memory :meth:`tfbert.qa.QAModel.answer` gives.

Example::

    qa = tfbert.load_model("saved_models/squad")
    a = qa.answer(["Where is the café?"], ["The café is in Zürich."])[0]
    a.answer, a.start, a.end, a.score         # 'Zürich', 15, 21, 0.93
"""
from tfbert._tf import tf
from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.data.pipeline import length_order
from tfbert.data.squad import paired_questions
from tfbert.tasks.question_answering import SpanAnswer

__all__ = ["LoadedQA"]


class LoadedQA:
    """An exported question answering model, loaded: ``answer(questions, contexts)``.

    ``config``: the :class:`~tfbert.qa.QAConfig` fields it was exported with (lengths,
    stride, ``n_best``, ``max_answer_length``, ``null_threshold``).
    """

    task = "question-answering"

    def __init__(self, path, loaded, metadata):
        self.path = self.name = path
        self.metadata = metadata
        self.config = dict(metadata["qa_model"])
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the signature's variables alive

    def answer_examples(self, examples, batch_size=PREDICT_BATCH_SIZE):
        """One answer per :class:`~tfbert.data.squad.QAExample` (named by its ``qid``), as
        :meth:`tfbert.qa.QAModel.answer_examples`; so :func:`tfbert.qa_training.evaluate_qa`
        scores an export too."""
        examples = list(examples)
        return self.answer([e.question for e in examples], [e.context for e in examples],
                           batch_size, qids=[e.qid for e in examples])

    def answer(self, questions, contexts, batch_size=PREDICT_BATCH_SIZE, qids=None):
        """One :class:`~tfbert.tasks.question_answering.SpanAnswer` per question about its
        context (a string, or one per question; any length), in input order;
        ``batch_size`` questions go to the SavedModel at a time, shortest texts together
        (each call pads its windows to its longest), and ``qids`` names the answers
        (default: their positions).

        Example::

            qa.answer("Who led the Norse?", context)[0].answer      # 'Rollo'
        """
        questions, contexts = paired_questions(questions, contexts)
        qids = [str(i) for i in range(len(questions))] if qids is None else list(qids)
        answers = [None] * len(questions)
        order = length_order(questions, contexts)
        for begin in range(0, len(order), batch_size):
            chosen = order[begin:begin + batch_size]
            out = {key: value.numpy() for key, value in self._serve(
                question=tf.constant([questions[i] for i in chosen], tf.string),
                context=tf.constant([contexts[i] for i in chosen], tf.string)).items()}
            for row, i in enumerate(chosen):
                answers[i] = SpanAnswer(
                    out["answer"][row].decode("utf-8"), int(out["start"][row]),
                    int(out["end"][row]), float(out["score"][row]), qids[i], questions[i],
                    float(out["null_score_diff"][row]), bool(out["has_answer"][row]))
        return answers
