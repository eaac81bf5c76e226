"""Export a question answering model as a SavedModel that answers raw strings.

The ``serving_default`` signature takes ``question`` and ``context`` (batches of
raw strings; contexts of any length) and returns, per question:

- ``answer`` (string): the answer cut from the context ("" for no answer);
- ``start``/``end`` (int32): its character offsets in the context, in Unicode code
  points as Python counts them (``context[start:end] == answer``; -1 for no answer);
- ``score`` (float32): the answer's probability among the ``n_best`` candidates
  (and the null answer, for SQuAD 2.0 models);
- ``has_answer`` (bool) and ``null_score_diff`` (float32: the null answer's logit
  sum minus the best span's).

Everything :meth:`tfbert.qa.QAModel.answer` does in Python runs in the graph: the
same tensorflow-text ``FastBertTokenizer`` over the preprocessor's vocabulary
(lower-cased by the same rule), windows ``doc_stride`` tokens apart as
:func:`~tfbert.data.qa_features.make_features` makes them, each window's
``n_best`` start and end tokens, spans of at most ``max_answer_length`` tokens
inside the context starting where the window gives the token its most context,
the best over all windows of a question, and the null threshold kept with the
model. One divergence: candidates of exactly equal score are ranked by position
(the first wins) where Python's sort ranks them by window and token (the last wins).

Like classifier exports, versions are written to ``directory/1``, ``2``... through
a temporary folder, reloaded and checked against the in-memory model (the same
answers and offsets, scores within 1e-4) before they are renamed into place.

Example::

    path = result.model.export("saved_models/squad")     # or tfbert.export_model(...)
    qa = tfbert.load_model(path)
    qa.answer(["Where was it shot?"], ["The film was shot in Zürich."])[0].answer
"""
from tfbert._tf import tf
from tfbert.errors import ExportError
from tfbert.exports import new_version, write_export_metadata
from tfbert.layers import xla_padded
from tfbert.serving import LoadedQA, load_model

__all__ = ["export_qa", "CHECK_PAIRS"]

SCORE_TOLERANCE = 1e-4
_LONG = " ".join(f"Paragraph {i} of the story: people watched a good film." for i in range(30))
CHECK_PAIRS = (
    ("Where was the film shot?", "The film was shot in Paris by a great director."),
    ("Wo liegt das Café?", "Das Café « Zürich » liegt am See — très bien 😀, 映画 über alles."),
    ("What did people watch?", _LONG + " In the end the answer is a comedy. " + _LONG),
    ("", ""),
    ("Who?", "Ünïcode  café's — 1990s"),
)


class _QAServing(tf.Module):
    """What the SavedModel holds: the model's weights, its WordPiece tokenizer, and the
    graph that windows contexts, runs the model and picks each question's span."""

    def __init__(self, model, jit_compile=False):
        super().__init__()
        self.config = config = model.config
        self.tokenizer = model.tokenizer._fast()
        self.cls_id, self.sep_id = model.tokenizer.cls_id, model.tokenizer.sep_id
        self.weights = list(model.weights)
        # A closure, not an attribute: the module tracks the weights, not the compiled
        # model (whose optimizer slots and metrics would bloat the export).
        call = lambda inputs: model(inputs, training=False)    # noqa: E731
        self._logits = xla_padded(call, config.seq_length) if jit_compile else call
        self.serve = tf.function(self._answer, input_signature=[
            tf.TensorSpec([None], tf.string, name="question"),
            tf.TensorSpec([None], tf.string, name="context")])
        if config.seq_length - config.max_query_length - 3 < 1:
            raise ExportError(f"seq_length {config.seq_length} leaves no room for a context "
                              f"after {config.max_query_length} question tokens.")

    def _answer(self, question, context):
        windows = self._windows(question, context)
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(windows["input_mask"], axis=1)), 1)
        inputs = {key: windows[key][:, :length]
                  for key in ("input_word_ids", "input_mask", "input_type_ids")}
        logits = self._logits(inputs)
        return self._choose(windows, logits, context, length)

    def _windows(self, question, context):
        """Every window of every question: encoder inputs ``[windows, seq]``, each context
        token's character and byte offsets (-1 elsewhere) and whether the window gives it
        its most context, as :func:`~tfbert.data.qa_features.make_features`."""
        c = self.config
        q_ids = self.tokenizer.tokenize(question)[:, :c.max_query_length]
        c_ids, byte_start, byte_end = self.tokenizer.tokenize_with_offsets(context)
        char_start, char_end = _char_offsets(context, byte_start, byte_end)
        q_len, n = q_ids.row_lengths(), c_ids.row_lengths()
        room = c.seq_length - q_len - 3
        step = tf.minimum(room, c.doc_stride)
        count = tf.where(n <= room, tf.ones_like(n), (n - room + step - 1) // step + 1)
        example = tf.repeat(tf.range(tf.size(n, out_type=tf.int64)), count)
        number = tf.ragged.range(count).flat_values
        begin = number * tf.gather(step, example)
        length = tf.minimum(tf.gather(n, example) - begin, tf.gather(room, example))[:, None]
        p = tf.range(c.seq_length, dtype=tf.int64)[None, :]
        first = tf.gather(q_len, example)[:, None] + 2
        k = p - first                                   # position in the window's context
        in_question, in_context = (p >= 1) & (p < first - 1), (k >= 0) & (k < length)
        mask = p <= first + length
        q_index = tf.gather(q_ids.row_starts(), example)[:, None] + p - 1
        token = tf.gather(c_ids.row_starts(), example)[:, None] + begin[:, None] + k
        ids = tf.where(in_context, _take(c_ids.flat_values, token, 0),
                       tf.where(in_question, _take(q_ids.flat_values, q_index, 0),
                                tf.where((p == first - 1) | (p == first + length),
                                         self.sep_id, tf.where(p == 0, self.cls_id, 0))))
        # squad_lib's "max context" rule, as _is_max_context computes it (float64, first wins).
        score = (tf.cast(tf.minimum(k, length - 1 - k), tf.float64)
                 + 0.01 * tf.cast(length, tf.float64))
        window = tf.broadcast_to(tf.range(tf.size(example, out_type=tf.int64))[:, None],
                                 tf.shape(token))
        total = tf.size(c_ids.flat_values, out_type=tf.int64)
        best = tf.math.unsorted_segment_max(tf.boolean_mask(score, in_context),
                                            tf.boolean_mask(token, in_context), total)
        achieves = in_context & tf.equal(score, _take(best, token, -1.0))
        earliest = tf.math.unsorted_segment_min(tf.boolean_mask(window, achieves),
                                                tf.boolean_mask(token, achieves), total)
        max_context = in_context & tf.equal(window, _take(earliest, token, -1))
        offsets = {name: tf.where(in_context, _take(values.flat_values, token, -1), -1)
                   for name, values in (("char_start", char_start), ("char_end", char_end),
                                        ("byte_start", byte_start), ("byte_end", byte_end))}
        return dict(input_word_ids=tf.cast(ids, tf.int32), input_mask=tf.cast(mask, tf.int32),
                    input_type_ids=tf.cast((p >= first) & mask, tf.int32), example=example,
                    count=count, max_context=max_context, **offsets)

    def _choose(self, windows, logits, context, length):
        """Each question's best span over its windows (``best_answers``' rule)."""
        c = self.config
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        k = tf.minimum(c.n_best, length)
        starts = tf.math.top_k(start_logits, k).indices
        ends = tf.math.top_k(end_logits, k).indices
        s = tf.broadcast_to(starts[:, :, None], [tf.shape(starts)[0], k, k])
        e = tf.broadcast_to(ends[:, None, :], tf.shape(s))
        cut = {key: windows[key][:, :length] for key in
               ("char_start", "char_end", "byte_start", "byte_end", "max_context")}
        at = lambda key, i: tf.gather(cut[key], i, batch_dims=1)  # noqa: E731
        valid = ((at("char_start", s) >= 0) & (at("char_start", e) >= 0)
                 & at("max_context", s) & (e >= s) & (e - s + 1 <= c.max_answer_length))
        pair_score = tf.gather(start_logits, s, batch_dims=1) + tf.gather(end_logits, e,
                                                                           batch_dims=1)
        pair_score = tf.where(valid, pair_score, -float("inf"))
        per_window = tf.reshape(pair_score, [-1, k * k])
        candidates = tf.RaggedTensor.from_row_lengths(
            tf.reshape(per_window, [-1]), windows["count"] * tf.cast(k * k, tf.int64))
        candidates = candidates.to_tensor(-float("inf"))
        # One more column of -inf: never empty, even without a context token anywhere.
        candidates = tf.pad(candidates, [[0, 0], [0, 1]], constant_values=-float("inf"))
        top = tf.math.top_k(candidates, tf.minimum(c.n_best, tf.shape(candidates)[1]))
        scores = tf.cast(top.values, tf.float64)
        null = tf.math.unsorted_segment_min(
            tf.cast(start_logits[:, 0] + end_logits[:, 0], tf.float64), windows["example"],
            tf.size(windows["count"], out_type=tf.int64))
        best = scores[:, 0]
        has_candidate = tf.math.is_finite(best)
        if c.null_threshold is not None:
            scores = tf.concat([scores, null[:, None]], axis=1)
        probability = tf.nn.softmax(tf.where(tf.math.is_finite(scores), scores, -1e30))
        diff = tf.where(has_candidate, null - best, float("inf"))
        has_answer = has_candidate
        if c.null_threshold is not None:
            has_answer &= diff <= c.null_threshold
        score = tf.where(has_answer, probability[:, 0],
                         tf.where(has_candidate, probability[:, -1], 1.0))
        # The best candidate's window, start and end token, as indices into ``cut``.
        flat = tf.cast(top.indices[:, 0], tf.int64)
        pairs = tf.cast(k * k, tf.int64)
        window = (tf.cumsum(windows["count"], exclusive=True)
                  + tf.minimum(flat // pairs, windows["count"] - 1))
        pair = tf.stack([window, flat % pairs], axis=1)
        s_best = tf.gather_nd(tf.reshape(s, [-1, k * k]), pair)
        e_best = tf.gather_nd(tf.reshape(e, [-1, k * k]), pair)
        pick = lambda key, i: tf.gather_nd(cut[key], tf.stack(  # noqa: E731
            [window, tf.cast(i, tf.int64)], axis=1))
        byte_start, byte_end = pick("byte_start", s_best), pick("byte_end", e_best)
        answer = tf.strings.substr(context, tf.maximum(byte_start, 0),
                                   tf.maximum(byte_end - byte_start, 0), unit="BYTE")
        return {"answer": tf.where(has_answer, answer, ""),
                "start": tf.cast(tf.where(has_answer, pick("char_start", s_best), -1), tf.int32),
                "end": tf.cast(tf.where(has_answer, pick("char_end", e_best), -1), tf.int32),
                "score": tf.cast(score, tf.float32), "has_answer": has_answer,
                "null_score_diff": tf.cast(diff, tf.float32)}


def _take(values, index, default):
    """``values[index]``, ``default`` where ``index`` is outside ``values``."""
    padded = tf.concat([values, tf.constant([default], values.dtype)], axis=0)
    size = tf.size(values, out_type=index.dtype)
    return tf.gather(padded, tf.where((index >= 0) & (index < size), index, size))


def _char_offsets(context, byte_start, byte_end):
    """Byte offsets of tokens (ragged ``[batch, tokens]``) -> offsets in code points, as
    Python indexes the context string."""
    _, char_bytes = tf.strings.unicode_decode_with_offsets(context, "UTF-8", errors="replace")
    sorted_bytes = tf.pad(char_bytes.to_tensor(tf.int64.max), [[0, 0], [0, 1]],
                          constant_values=tf.int64.max)
    lengths = byte_start.row_lengths()

    def convert(offsets):
        dense = tf.searchsorted(sorted_bytes, offsets.to_tensor(0), side="left",
                                out_type=tf.int64)
        return tf.RaggedTensor.from_tensor(dense, lengths=lengths)
    return convert(byte_start), convert(byte_end)


def export_qa(model, directory, settings=None, version=None, check_pairs=None,
              jit_compile=False):
    """Write the :class:`~tfbert.qa.QAModel` ``model`` as ``directory/<version>/`` and
    return that path (``QAModel.export`` and :func:`tfbert.export_model` call this).

    ``jit_compile``: the serving function runs the model through XLA
    (:func:`tfbert.layers.xla_padded`: compiled once per padded number of windows and
    length), about twice as fast at 256 tokens on CPU once each shape is compiled. The
    SavedModel then needs a TensorFlow with XLA's CPU JIT (the pip wheels have it).

    Raises:
        ExportError: the version exists, or the reloaded export does not give the
            in-memory model's answers on ``check_pairs`` (``(question, context)`` pairs;
            default :data:`CHECK_PAIRS`: a long context of many windows, non-ASCII text,
            empty strings).
    """
    with new_version(directory, version) as (staging, target):
        module = _QAServing(model, jit_compile)
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        write_export_metadata(staging, LoadedQA.kind, {"task": LoadedQA.kind,
                                                       "qa_model": model.config.to_json(),
                                                       "jit_compile": jit_compile,
                                                       "settings": settings or {}})
        _verify(model, staging, check_pairs, target)
    return target


def _verify(model, staging, check_pairs, target):
    """Raise unless the export in ``staging`` answers as the in-memory model does."""
    questions, contexts = zip(*(check_pairs or CHECK_PAIRS))
    expected = model.answer(list(questions), list(contexts))
    got = load_model(staging).answer(list(questions), list(contexts), batch_size=2)
    for want, have in zip(expected, got):
        same = (want.answer, want.start, want.end, want.has_answer) == (
            have.answer, have.start, have.end, have.has_answer)
        if not same or not abs(want.score - have.score) <= SCORE_TOLERANCE:
            raise ExportError(
                f"the reloaded export answers {have.question!r} with {have.answer!r} "
                f"({have.start}-{have.end}, score {have.score:.6f}) but the model with "
                f"{want.answer!r} ({want.start}-{want.end}, score {want.score:.6f}); "
                f"nothing was written to {target}.")
