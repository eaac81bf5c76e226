"""Extractive question answering (SQuAD): the answer is a span of the context.

The head gives two logits per token (answer starts here, answer ends here); the
loss is the mean of the start and end cross-entropies over the window's tokens
(the gold position is ``[CLS]``, token 0, when the window does not hold the
answer). The model's single output is ``[batch, seq, 2]``: start logits in
``[..., 0]``, end logits in ``[..., 1]``, so Keras' ``fit`` trains it like any
one-output model.

Post-processing (:func:`best_answers`, NumPy) turns the logits of every window of
a context into one answer per question: the ``n_best`` highest start and end
tokens of each window, pairs whose end does not come before their start, no
longer than ``max_answer_length`` tokens, inside the context and starting where
the window gives the token its most context; the best over all windows of the
question, cut from the original context by character offsets. For SQuAD 2.0
models the null answer (both logits on ``[CLS]``, the best over windows) wins
when it beats the best span by more than ``null_threshold`` (tuned on validation
data, :meth:`QuestionAnswering.tune`).

Example::

    from tfbert.tasks import get_task
    qa = get_task("question-answering")
    answers = best_answers(features, logits, n_best=20, max_answer_length=30)
    qa.compute_metrics(gold, {a.qid: a.answer for a in answers}, version="1.1")
"""
import dataclasses

import numpy as np

from tfbert.errors import DataError
from tfbert.metrics_qa import best_null_threshold, f1_score, squad_scores
from tfbert.tasks.base import Task

__all__ = ["QuestionAnswering", "SpanAnswer", "best_answers", "N_BEST", "MAX_ANSWER_LENGTH"]

N_BEST = 20
MAX_ANSWER_LENGTH = 30


@dataclasses.dataclass
class SpanAnswer:
    """One question's answer.

    ``answer``: the text cut from the context ("" when the model says there is none);
    ``start``/``end``: its character offsets in the context (``context[start:end] ==
    answer``; both -1 for no answer); ``score``: the answer's probability among the
    ``n_best`` candidates (and the null answer, for SQuAD 2.0 models);
    ``null_score_diff``: the null answer's logit sum minus the best span's (how
    strongly the model thinks there is no answer); ``has_answer``: whether it answered.
    """

    answer: str
    start: int
    end: int
    score: float
    qid: str = ""
    question: str = ""
    null_score_diff: float = 0.0
    has_answer: bool = True

    def to_json(self):
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    def __str__(self):
        return f"{self.answer or '(no answer)'}\t{self.score:.4f}\t{self.question}"


def _window_candidates(features, window, start_logits, end_logits, n_best, max_length):
    """``[(score, start token, end token), ...]`` of one window's valid spans."""
    starts = np.argsort(-start_logits)[:n_best]
    ends = np.argsort(-end_logits)[:n_best]
    s, e = np.meshgrid(starts, ends, indexing="ij")
    s, e = s.ravel(), e.ravel()
    offsets, max_context = features.offsets[window], features.max_context[window]
    valid = ((offsets[s, 0] >= 0) & (offsets[e, 0] >= 0) & max_context[s] & (e >= s)
             & (e - s + 1 <= max_length))
    s, e = s[valid], e[valid]
    return list(zip((start_logits[s] + end_logits[e]).tolist(), s.tolist(), e.tolist()))


def best_answers(features, logits, n_best=N_BEST, max_answer_length=MAX_ANSWER_LENGTH,
                 null_threshold=None):
    """One :class:`SpanAnswer` per example of ``features`` (in their order) from the
    model's ``logits`` (``[windows, seq, 2]``; start, end).

    ``null_threshold``: None for SQuAD 1.1 models (always a span); a number for 2.0
    models: no answer when the null score beats the best span's by more than it.
    """
    logits = np.asarray(logits, np.float32)
    per_example = [[] for _ in features.examples]
    for window, example in enumerate(features.example_index):
        per_example[example].append(window)
    answers = []
    for index, windows in enumerate(per_example):
        example = features.examples[index]
        candidates, null = [], np.inf
        for w in windows:
            null = min(null, float(logits[w, 0, 0] + logits[w, 0, 1]))
            candidates += [(score, w, s, e) for score, s, e in _window_candidates(
                features, w, logits[w, :, 0], logits[w, :, 1], n_best, max_answer_length)]
        candidates = sorted(candidates, reverse=True)[:n_best]
        answers.append(_choose(features, example, candidates, null, null_threshold))
    return answers


def _choose(features, example, candidates, null, null_threshold):
    """The answer among ``candidates`` (best first) and the null answer."""
    scores = [score for score, *_ in candidates]
    if null_threshold is not None and np.isfinite(null):
        scores.append(null)
    probabilities = np.exp(np.array(scores) - max(scores)) if scores else np.array([])
    probabilities = probabilities / probabilities.sum() if scores else probabilities
    best_score = candidates[0][0] if candidates else -np.inf
    diff = float(null - best_score) if candidates else float("inf")
    common = dict(qid=example.qid, question=example.question, null_score_diff=diff)
    if not candidates or (null_threshold is not None and diff > null_threshold):
        return SpanAnswer("", -1, -1, float(probabilities[-1]) if scores else 1.0,
                          has_answer=False, **common)
    _, window, s, e = candidates[0]
    start, end = features.char_span(window, s, e)
    return SpanAnswer(example.context[start:end], start, end, float(probabilities[0]),
                      **common)


def _sparse_ce(labels, logits):
    from tfbert._tf import tf_keras
    return tf_keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


class QuestionAnswering(Task):
    """Extractive question answering over SQuAD-format data (v1.1 and v2.0).

    Labels are ``[batch, 2]`` token positions (start, end); the model's output is
    ``[batch, seq, 2]`` logits. Questions and contexts are read by
    :mod:`tfbert.data.squad`, not from label strings.
    """

    name = "question-answering"
    scores_key = "logits"
    metric_names = ("start_accuracy", "end_accuracy")
    fixed_num_labels = 2
    # The decay from the end of warmup: 1.1 and 1.3 F1 more than "bert" on two seeds of the
    # SQuAD benchmark (BENCHMARKS.md, qa).
    lr_schedule = "huggingface"

    def encode_labels(self, raw_labels, source, label_names=None, separator=",",
                      score_name="score"):
        raise DataError(f"{source}: question answering reads SQuAD JSON "
                        "(tfbert.data.squad.load_squad), not a label column.")

    def describe(self, labels, label_names):
        return f"{len(labels):,} windows"

    def head_units(self, num_labels):
        return 2

    def label_dtype(self, num_labels):
        return "int32"

    def initial_bias(self, labels, num_labels):
        return np.zeros(2, np.float32)

    def loss(self, num_labels=2):
        """The mean of the start and end cross-entropies (labels ``[batch, 2]``)."""
        from tfbert._tf import tf

        def span_loss(labels, logits):
            labels = tf.cast(labels, tf.int32)
            return (_sparse_ce(labels[:, 0], logits[..., 0])
                    + _sparse_ce(labels[:, 1], logits[..., 1])) / 2
        return span_loss

    def metrics(self, num_labels=2):
        """How often the start (end) token is the gold one, named as :attr:`metric_names`."""
        from tfbert._tf import tf

        def accuracy(which):
            def metric(labels, logits):
                predicted = tf.argmax(logits[..., which], axis=-1, output_type=tf.int32)
                return tf.cast(tf.equal(predicted, tf.cast(labels[:, which], tf.int32)),
                               tf.float32)
            metric.__name__ = self.metric_names[which]
            return metric
        return [accuracy(0), accuracy(1)]

    def monitors(self):
        return ["val_loss", "val_f1", "val_exact_match"] + [
            f"val_{name}" for name in self.metric_names]

    def outputs(self, logits, label_names=None, thresholds=None):
        """``{"start_logits", "end_logits"}``, each ``[batch, seq]``."""
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}

    def empty_scores(self, num_labels=2):
        return {}

    def predictions(self, texts, pairs, outputs, label_names=None):
        """Answers come from :func:`best_answers` over all windows of a context, not from
        one batch of outputs."""
        raise NotImplementedError("question answering predicts with tfbert.qa.QAModel.answer")

    def tune(self, labels, scores, null_diffs=None):
        """The SQuAD 2.0 null threshold that maximises F1 on validation: ``labels`` the gold
        answers ``{qid: [texts]}``, ``scores`` the best span's text ``{qid: text}``,
        ``null_diffs`` ``{qid: null score minus best span score}``."""
        if null_diffs is None:
            return None
        return best_null_threshold(scores, labels, null_diffs)[1]

    def compute_metrics(self, labels, scores, label_names=None, thresholds=None,
                        version="1.1"):
        """The official SQuAD scores of predictions ``scores`` (``{qid: text}``) against
        ``labels`` (``{qid: [gold texts]}``), with the percent keys of the official script,
        plus ``exact_match`` and ``f1`` under those names whatever the version."""
        metrics = squad_scores(scores, labels, version)
        metrics.setdefault("exact_match", metrics.get("exact"))
        metrics["version"] = version
        metrics["questions"] = len(labels)
        return metrics

    def worst_mistakes(self, examples, answers, k=10, **_):
        """The ``k`` most confident answers with F1 below 1: question, gold, predicted."""
        version = "2.0" if any(e.is_impossible for e in examples) else "1.1"
        rows = []
        for example, answer in zip(examples, answers):
            gold = [a.text for a in example.answers]
            f1 = f1_score(answer.answer, gold, version)
            if f1 < 1:
                rows.append({"id": example.qid, "question": example.question,
                             "gold": gold or [""], "predicted": answer.answer,
                             "score": answer.score, "f1": f1})
        return sorted(rows, key=lambda row: -row["score"])[:k]

    def describe_mistake(self, mistake):
        return (f"{mistake['score']:.3f}  Q: {mistake['question']}  gold: "
                f"{mistake['gold'][0]!r}  predicted: {mistake['predicted']!r}")

    def mistakes_heading(self, shown, total):
        return f"worst answers: the {shown} most confident of {total:,} not fully right"

    def format_metrics(self, metrics, title):
        lines = [title, f"  SQuAD {metrics['version']}, {metrics['questions']:,} questions",
                 f"  exact match  {metrics['exact_match']:.2f}",
                 f"  F1           {metrics['f1']:.2f}"]
        for group in ("HasAns", "NoAns"):
            if f"{group}_total" in metrics:
                lines.append(f"  {group:<7} exact {metrics[f'{group}_exact']:.2f}  F1 "
                             f"{metrics[f'{group}_f1']:.2f}  ({metrics[f'{group}_total']:,})")
        return "\n".join(lines)
