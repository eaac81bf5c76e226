"""Question answering features: windows over long contexts, answers as token positions.

A context longer than the sequence leaves room for is cut into overlapping
windows (``doc_stride`` tokens apart, as BERT's ``run_squad.py`` and
tf-models-official's ``squad_lib`` do); each window is packed as ``[CLS] question
[SEP] context window [SEP]`` (segment 0, then 1). Every context token keeps the
character offsets it came from (tensorflow-text's ``FastBertTokenizer.tokenize_with_offsets``
over the preprocessor's own vocabulary), so

- a gold answer's characters map to its first and last token (the ``[CLS]``
  position 0 when the window does not hold the whole answer, or the question is
  unanswerable), and
- a predicted token span maps back to characters: the answer is cut from the
  original context, with its own casing and spacing (:meth:`QAFeatures.answer_text`).

Nothing here imports TensorFlow at import time.

Example::

    from tfbert.data.qa_features import QATokenizer, make_features
    tokenizer = QATokenizer.from_preprocessor("/models/tiny_bert/preprocess")
    features = make_features(examples, tokenizer, seq_length=384, doc_stride=128)
    features.inputs["input_word_ids"].shape      # [windows, 384]
"""
import dataclasses
import os

import numpy as np

from tfbert.errors import DataError, ModelError

__all__ = ["QATokenizer", "QAFeatures", "make_features", "window_starts",
           "DOC_STRIDE", "MAX_QUERY_LENGTH", "SEQ_LENGTH"]

DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
SEQ_LENGTH = 384


class QATokenizer:
    """WordPiece with character offsets, over a BERT preprocessor's vocabulary.

    ``tokenize(texts)`` returns, per text, token ids and each token's start and end
    character offsets (Python string indices, end exclusive). Lower-casing (with NFD
    and accent stripping, as BERT's uncased tokenizer) is on when the vocabulary has
    no upper-case word.

    Example::

        tokenizer = QATokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "paris", "##ian"])
        ids, starts, ends = tokenizer.tokenize(["Parisian"])[0]   # [4, 5], [0, 5], [5, 8]
    """

    def __init__(self, vocab, lower_case=None):
        self.vocab = list(vocab)
        index = {token: i for i, token in enumerate(self.vocab)}
        missing = [t for t in ("[CLS]", "[SEP]", "[UNK]") if t not in index]
        if missing:
            raise ModelError(f"the vocabulary has no {', '.join(missing)} token(s).")
        self.cls_id, self.sep_id = index["[CLS]"], index["[SEP]"]
        self.pad_id = index.get("[PAD]", 0)
        if lower_case is None:
            lower_case = not any(token.lower() != token for token in self.vocab
                                 if not (token.startswith("[") and token.endswith("]")))
        self.lower_case = lower_case
        self._tokenizer = None

    @classmethod
    def from_preprocessor(cls, handle):
        """The tokenizer of a TF Hub BERT preprocessor (its ``assets/vocab.txt``)."""
        import tensorflow_hub as hub
        path = os.path.join(hub.resolve(handle), "assets", "vocab.txt")
        if not os.path.isfile(path):
            raise ModelError(f"{handle}: no assets/vocab.txt; question answering needs the "
                             "preprocessor's WordPiece vocabulary for character offsets.")
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f])

    def _fast(self):
        if self._tokenizer is None:
            from tfbert._tf import tf
            import tensorflow_text as text
            self._tokenizer = text.FastBertTokenizer(
                self.vocab, token_out_type=tf.int32,
                lower_case_nfd_strip_accents=self.lower_case)
        return self._tokenizer

    def tokenize(self, texts):
        """``[(ids, starts, ends), ...]``: int32 arrays per text, offsets in characters."""
        from tfbert._tf import tf
        if not texts:
            return []
        ids, starts, ends = self._fast().tokenize_with_offsets(tf.constant(list(texts)))
        out = []
        for text, i, s, e in zip(texts, ids.to_list(), starts.to_list(), ends.to_list()):
            # Byte offsets -> character offsets: one entry per byte, plus the end.
            widths = [len(ch.encode("utf-8")) for ch in text]
            char_of_byte = np.append(np.repeat(np.arange(len(text)), widths), len(text))
            out.append((np.asarray(i, np.int32), char_of_byte[np.asarray(s, np.int64)],
                        char_of_byte[np.asarray(e, np.int64)]))
        return out


@dataclasses.dataclass
class QAFeatures:
    """The windows of a list of examples, as NumPy arrays (one row per window).

    ``inputs``: ``input_word_ids``/``input_mask``/``input_type_ids`` ``[windows, seq]``.
    ``start_positions``/``end_positions``: the gold answer's tokens (0, ``[CLS]``, when the
    window does not hold it). ``example_index``: which example a window came from.
    ``offsets``: ``[windows, seq, 2]`` character start/end of each context token (-1 for
    the question, special tokens and padding). ``max_context``: whether a token has more
    context on both sides in this window than in any other (where its answers are read).
    """

    examples: list
    inputs: dict
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    offsets: np.ndarray
    max_context: np.ndarray

    def __len__(self):
        return len(self.example_index)

    def answer_text(self, window, start, end):
        """The context's characters from token ``start`` to token ``end`` of ``window``
        ("" for a span outside the context)."""
        first, last = self.offsets[window, start, 0], self.offsets[window, end, 1]
        if first < 0 or last < 0 or last <= first:
            return ""
        return self.examples[self.example_index[window]].context[first:last]

    def char_span(self, window, start, end):
        """``(start, end)`` character offsets of a token span of ``window``."""
        return int(self.offsets[window, start, 0]), int(self.offsets[window, end, 1])


def window_starts(num_tokens, room, stride):
    """``[(first token, length), ...]`` of the windows over ``num_tokens`` context tokens:
    each at most ``room`` long, the next starting ``stride`` tokens further, the last one
    reaching the end."""
    spans, start = [], 0
    while True:
        length = min(num_tokens - start, room)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, stride)


def _answer_tokens(starts, ends, answer):
    """First and last context token covering the answer's characters."""
    inside = np.nonzero((ends > answer.start) & (starts < answer.end))[0]
    if len(inside) == 0:
        return None
    return int(inside[0]), int(inside[-1])


def make_features(examples, tokenizer, seq_length=SEQ_LENGTH, doc_stride=DOC_STRIDE,
                  max_query_length=MAX_QUERY_LENGTH, tokenize_batch_size=256):
    """The :class:`QAFeatures` of ``examples`` (:class:`~tfbert.data.squad.QAExample`).

    Questions are cut to ``max_query_length`` tokens; each context is cut into
    windows of the ``seq_length`` left after the question and three special tokens,
    ``doc_stride`` tokens apart. The first gold answer sets the positions.

    Raises:
        DataError: the settings leave no room for the context.
    """
    room = seq_length - min(max_query_length, seq_length) - 3
    if room < 1 or doc_stride < 1:
        raise DataError(f"seq_length {seq_length} with max_query_length {max_query_length} "
                        f"leaves no room for the context (doc_stride {doc_stride}); raise "
                        "seq_length or lower max_query_length.")
    contexts = list(dict.fromkeys(example.context for example in examples))
    context_tokens = {}
    for i in range(0, len(contexts), tokenize_batch_size):
        batch = contexts[i:i + tokenize_batch_size]
        context_tokens.update(zip(batch, tokenizer.tokenize(batch)))
    rows = []
    for i in range(0, len(examples), tokenize_batch_size):
        batch = examples[i:i + tokenize_batch_size]
        questions = tokenizer.tokenize([example.question for example in batch])
        for offset, (example, question) in enumerate(zip(batch, questions)):
            rows.extend(_windows(i + offset, example, question[0][:max_query_length],
                                 context_tokens[example.context], tokenizer, seq_length,
                                 doc_stride))
    return _stack(examples, rows, seq_length)


def _windows(index, example, question_ids, context, tokenizer, seq_length, stride):
    """One dict per window of one example."""
    ids, starts, ends = context
    room = seq_length - len(question_ids) - 3
    spans = window_starts(len(ids), room, stride)
    answer = (_answer_tokens(starts, ends, example.answers[0])
              if example.answers and len(ids) else None)
    first = len(question_ids) + 2          # where the context begins in a window
    windows = []
    for number, (begin, length) in enumerate(spans):
        row_ids = [tokenizer.cls_id, *question_ids, tokenizer.sep_id,
                   *ids[begin:begin + length], tokenizer.sep_id]
        offsets = np.full((seq_length, 2), -1, np.int32)
        offsets[first:first + length, 0] = starts[begin:begin + length]
        offsets[first:first + length, 1] = ends[begin:begin + length]
        max_context = np.zeros(seq_length, bool)
        for k in range(length):
            max_context[first + k] = _is_max_context(spans, number, begin + k)
        start = end = 0
        if answer is not None and begin <= answer[0] and answer[1] < begin + length:
            start, end = answer[0] - begin + first, answer[1] - begin + first
        windows.append(dict(index=index, ids=row_ids, first=first, offsets=offsets,
                            max_context=max_context, start=start, end=end))
    return windows


def _is_max_context(spans, number, token):
    """Whether window ``number`` gives ``token`` its most context (squad_lib's rule: the
    smaller of the left and right context, plus a little for longer windows)."""
    best, best_number = None, None
    for i, (begin, length) in enumerate(spans):
        if not begin <= token < begin + length:
            continue
        score = min(token - begin, begin + length - 1 - token) + 0.01 * length
        if best is None or score > best:
            best, best_number = score, i
    return best_number == number


def _stack(examples, rows, seq_length):
    n = len(rows)
    word_ids = np.zeros((n, seq_length), np.int32)
    mask = np.zeros((n, seq_length), np.int32)
    types = np.zeros((n, seq_length), np.int32)
    for i, row in enumerate(rows):
        length = len(row["ids"])
        word_ids[i, :length] = row["ids"]
        mask[i, :length] = 1
        types[i, row["first"]:length] = 1
    inputs = dict(input_word_ids=word_ids, input_mask=mask, input_type_ids=types)
    return QAFeatures(
        examples, inputs, np.array([r["start"] for r in rows], np.int32),
        np.array([r["end"] for r in rows], np.int32),
        np.array([r["index"] for r in rows], np.int32),
        np.stack([r["offsets"] for r in rows]) if rows else np.zeros((0, seq_length, 2),
                                                                      np.int32),
        np.stack([r["max_context"] for r in rows]) if rows else np.zeros((0, seq_length),
                                                                         bool))
