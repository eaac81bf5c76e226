"""SQuAD-format question answering data: read the JSON, check it, split it by article.

The SQuAD layout (v1.1 and v2.0) is ``{"version", "data": [article, ...]}``, an
article ``{"title", "paragraphs": [{"context", "qas": [question, ...]}]}`` and a
question ``{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible",
"plausible_answers"}`` (the last two in v2.0 only). :func:`read_squad` turns it
into :class:`QAExample` objects, one per question, after checking every one: a
missing context or question, an answer that is not in its context or an empty
file is a :class:`~tfbert.errors.DataError` of one line naming the file, the
article and the question id.

An answer whose ``answer_start`` does not point at its text (the dev-v1.1 copy in
``../shared/data/squad`` gives the text's first occurrence) is moved to the
occurrence nearest the given offset: training uses the offsets, scoring uses the text.

Questions about the same article share its words, so held-out data must be other
articles: :func:`split_by_article` never puts two questions of one article on
two sides. :func:`load_squad` reads and splits in one call.

Example::

    from tfbert.data.squad import load_squad
    data = load_squad("../shared/data/squad/dev-v1.1.json", validation_articles=12)
    print(data.summary())      # 36 articles for training, 12 for validation
    data.validation[0].question, data.validation[0].answers[0].text
"""
import dataclasses
import json
import os
import random

from tfbert.errors import DataError

__all__ = ["Answer", "QAExample", "QAData", "read_squad", "split_by_article", "load_squad",
           "paired_questions",
           "gold_answers"]


@dataclasses.dataclass(frozen=True)
class Answer:
    """A gold answer: its ``text`` and the character offset where it starts in the context."""

    text: str
    start: int

    @property
    def end(self):
        """The character offset just after the answer."""
        return self.start + len(self.text)


@dataclasses.dataclass(frozen=True)
class QAExample:
    """One question about one context, with its gold answers (none when unanswerable).

    ``plausible_answers``: SQuAD 2.0's plausible but wrong answers of an
    unanswerable question (kept for reports; never trained on).
    """

    qid: str
    question: str
    context: str
    answers: tuple = ()
    article: str = ""
    is_impossible: bool = False
    plausible_answers: tuple = ()


@dataclasses.dataclass
class QAData:
    """Train/validation/test lists of :class:`QAExample`; ``version`` is ``"1.1"`` or
    ``"2.0"`` (2.0 when any question is unanswerable)."""

    train: list
    validation: list
    test: list | None
    source: str
    version: str = "1.1"

    def summary(self):
        """A few lines: each split's questions and articles, unanswerable ones counted."""
        lines = [f"{self.source}: SQuAD {self.version} question answering"]
        for name in ("train", "validation", "test"):
            examples = getattr(self, name)
            if examples is None:
                continue
            articles = len({example.article for example in examples})
            impossible = sum(example.is_impossible for example in examples)
            extra = f", {impossible:,} unanswerable" if impossible else ""
            lines.append(f"  {name}: {len(examples):,} questions from {articles} "
                         f"article(s){extra}")
        return "\n".join(lines)


def gold_answers(examples):
    """``{question id: [gold answer texts]}`` (empty for unanswerable questions), as
    :func:`tfbert.metrics_qa.squad_scores` takes them."""
    return {example.qid: [answer.text for answer in example.answers] for example in examples}


def _load_json(path):
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file.")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text.strip():
            raise DataError(f"{path}: the file is empty; a SQuAD file holds "
                            '{"data": [articles]}.')
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not SQuAD JSON ({exc}).") from None


def _anchor(answer, context, where):
    """The :class:`Answer` for a raw ``{"text", "answer_start"}``: the given offset when the
    text is there, else the text's occurrence nearest to it."""
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
        raise DataError(f"{where}: an answer without a 'text'.")
    text = answer["text"]
    start = answer.get("answer_start")
    if not text.strip():
        raise DataError(f"{where}: an empty answer text.")
    if isinstance(start, int) and context[start:start + len(text)] == text:
        return Answer(text, start)
    found, at = [], context.find(text)
    while at >= 0:
        found.append(at)
        at = context.find(text, at + 1)
    if not found:
        raise DataError(f"{where}: the answer {_short(text)} is not in its context.")
    given = start if isinstance(start, int) else 0
    return Answer(text, min(found, key=lambda offset: abs(offset - given)))


def _short(text, width=60):
    return repr(text if len(text) <= width else text[:width] + "...")


def _question(qa, context, title, path):
    qid = qa.get("id") if isinstance(qa, dict) else None
    where = f"{path}: article {title!r}, question {qid if qid is not None else '(no id)'}"
    if qid is None:
        raise DataError(f"{where}: no 'id'.")
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: no 'question' text.")
    impossible = bool(qa.get("is_impossible", False))
    raw_answers = qa.get("answers") or []
    if not impossible and not raw_answers:
        raise DataError(f"{where}: no 'answers' (and not marked is_impossible).")
    answers = () if impossible else tuple(_anchor(a, context, where) for a in raw_answers)
    plausible = tuple(_anchor(a, context, where) for a in qa.get("plausible_answers") or [])
    return QAExample(str(qid), question, context, answers, title, impossible, plausible)


def read_squad(path):
    """The questions of a SQuAD v1.1/v2.0 JSON file as :class:`QAExample` objects, in file
    order, and the version (``"2.0"`` when any question is unanswerable).

    Raises:
        DataError: the file is missing, empty, not SQuAD JSON, or a question lacks its
            context, text, id or answers, or has an answer its context does not contain
            (the message names the article and question id).
    """
    record = _load_json(path)
    articles = record.get("data") if isinstance(record, dict) else None
    if not isinstance(articles, list):
        raise DataError(f"{path}: not SQuAD JSON (no 'data' list of articles).")
    examples, seen = [], set()
    for number, article in enumerate(articles, 1):
        title = str(article.get("title") or f"#{number}")
        for paragraph_number, paragraph in enumerate(article.get("paragraphs") or [], 1):
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                first = (paragraph.get("qas") or [{}])[0]
                raise DataError(f"{path}: article {title!r}, paragraph {paragraph_number} "
                                f"(question {first.get('id', '(no id)')}): no 'context'.")
            for qa in paragraph.get("qas") or []:
                example = _question(qa, context, title, path)
                if example.qid in seen:
                    raise DataError(f"{path}: article {title!r}, question {example.qid}: the "
                                    "id is used twice.")
                seen.add(example.qid)
                examples.append(example)
    if not examples:
        raise DataError(f"{path}: no questions in the file.")
    version = "2.0" if any(example.is_impossible for example in examples) else "1.1"
    return examples, version


def split_by_article(examples, held_out, seed=42):
    """``(kept, held)``: the questions of ``held_out`` articles (a count, or a fraction of
    the articles, at least one) chosen with ``seed``, and the rest; no article is on both
    sides. Each side keeps file order."""
    titles = list(dict.fromkeys(example.article for example in examples))
    count = held_out if isinstance(held_out, int) else max(1, round(held_out * len(titles)))
    if not 0 < count < len(titles):
        raise DataError(f"cannot hold out {count} of {len(titles)} article(s): SQuAD data "
                        "is split by article, so both sides need at least one.")
    held_titles = set(random.Random(seed).sample(titles, count))
    return ([e for e in examples if e.article not in held_titles],
            [e for e in examples if e.article in held_titles])


def load_squad(path, test_path=None, validation_articles=0.1, seed=42, max_questions=None):
    """Read a SQuAD file into a :class:`QAData`, validation held out by article.

    Args:
        path: the training SQuAD JSON file.
        test_path: an optional SQuAD JSON file to test on (read whole).
        validation_articles: articles held out for validation: a count, or a fraction of
            the file's articles (at least one).
        seed: which articles are held out.
        max_questions: keep at most this many training questions (the first ones, in file
            order, so whole articles stay together as far as possible).
    """
    examples, version = read_squad(path)
    train, validation = split_by_article(examples, validation_articles, seed)
    if max_questions is not None:
        train = train[:max_questions]
    test = None
    if test_path is not None:
        test, test_version = read_squad(test_path)
        version = max(version, test_version)
    return QAData(train, validation, test, os.path.basename(path), version)


def paired_questions(questions, contexts):
    """``questions`` and ``contexts`` as two lists of equal length: a single string is one
    question, and a single context serves every question; a length mismatch is a DataError.

    Example::

        paired_questions("Who?", "Rollo led the Norse.")   # (['Who?'], ['Rollo led the Norse.'])
    """
    questions = [questions] if isinstance(questions, str) else list(questions)
    contexts = [contexts] * len(questions) if isinstance(contexts, str) else list(contexts)
    if len(contexts) != len(questions):
        raise DataError(f"{len(questions)} questions but {len(contexts)} contexts; give "
                        "one context, or one per question.")
    return questions, contexts
