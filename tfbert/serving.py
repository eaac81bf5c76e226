"""Use a trained model: loaded from an export, or in memory after training.

:func:`load_model` reads an export (in a fresh process that imported nothing but
tfbert) and returns the type its kind names: a :class:`LoadedClassifier` for
:func:`tfbert.export_model`'s, a :class:`LoadedQA` (``answer``) for question
answering exports, a :class:`LoadedEmbedder` (``embed``) for embedders. Adding a
kind of export is one loaded type here plus its line in :data:`LOADED_TYPES`.
:class:`Classifier` wraps an in-memory
:class:`~tfbert.models.BertClassifier` (``TrainResult.classifier``). Both take
raw strings and return the same :class:`~tfbert.tasks.Prediction` objects,
because both turn logits into outputs with the same task function (the one the
export's ``serving_default`` signature runs).

Example::

    classifier = tfbert.load_model("saved_models/imdb")      # latest version
    classifier.predict(["A wonderful film."])[0].label          # 'pos'
    result.classifier.predict(["A wonderful film."])[0].label   # the same, before exporting
"""
import numpy as np

from tfbert._tf import tf
from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.data.pipeline import length_order
from tfbert.data.squad import paired_questions
from tfbert.errors import ExportError
from tfbert.exports import CLASSIFIER_KIND, kind_of, read_metadata, resolve_export
from tfbert.tasks import Prediction, QuestionAnswering, get_task
from tfbert.tasks.question_answering import SpanAnswer

__all__ = ["Classifier", "LoadedClassifier", "LoadedEmbedder", "LoadedQA", "LOADED_TYPES",
           "Prediction", "load_model"]


class _TextPredictor:
    """Strings in, task outputs and :class:`Prediction` objects out, in length-sorted batches.

    Subclasses set ``task``, ``label_names``, ``text_pairs``, ``name`` and run one
    batch in :meth:`_outputs`.
    """

    def _outputs(self, texts, pairs):
        raise NotImplementedError

    def _check_inputs(self, texts, pairs):
        texts = [texts] if isinstance(texts, str) else list(texts)
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
        if self.text_pairs and pairs is None:
            raise ExportError(f"{self.name} classifies text pairs: pass the second texts "
                              "(pairs=...).")
        if not self.text_pairs and pairs is not None:
            raise ExportError(f"{self.name} classifies single texts; it takes no pairs.")
        if pairs is not None and len(pairs) != len(texts):
            raise ExportError(f"{len(texts)} texts but {len(pairs)} second texts.")
        return texts, pairs

    def predict_outputs(self, texts, pairs=None, batch_size=PREDICT_BATCH_SIZE):
        """Every output of the task (``{name: array}``), in input order.

        Texts go through the model ``batch_size`` at a time, sorted by length so
        that each batch (padded to its longest text) holds texts of similar length.
        """
        texts, pairs = self._check_inputs(texts, pairs)
        if not texts:
            return {self.task.scores_key: self.task.empty_scores(len(self.label_names))}
        order = length_order(texts, pairs)
        chunks = []
        for start in range(0, len(texts), batch_size):
            chosen = order[start:start + batch_size]
            chunks.append(self._outputs([texts[i] for i in chosen],
                                        None if pairs is None else [pairs[i] for i in chosen]))
        restore = np.argsort(order)
        return {key: np.concatenate([chunk[key] for chunk in chunks])[restore]
                for key in chunks[0]}

    def predict_proba(self, texts, pairs=None, batch_size=PREDICT_BATCH_SIZE):
        """Class probabilities ``[n, classes]``, per-label probabilities ``[n, labels]``
        (multi-label) or scores ``[n]`` (regression), in input order."""
        scores = self.predict_outputs(texts, pairs, batch_size)[self.task.scores_key]
        return scores.astype(np.float64)

    def predict(self, texts, pairs=None, batch_size=PREDICT_BATCH_SIZE):
        """A :class:`Prediction` for each text (or pair), in input order.

        Example::

            for p in classifier.predict(["great", "awful"]):
                print(p.label, round(p.probability, 3))
        """
        texts, pairs = self._check_inputs(texts, pairs)
        if not texts:
            return []
        outputs = self.predict_outputs(texts, pairs, batch_size)
        return self.task.predictions(texts, pairs, outputs, self.label_names)


class Classifier(_TextPredictor):
    """An in-memory :class:`~tfbert.models.BertClassifier`, for classifying text without
    exporting it first (``TrainResult.classifier``)."""

    def __init__(self, model):
        self.model = model
        self.config = model.config
        self.task = get_task(model.config.task)
        self.label_names = list(model.config.label_names)
        self.thresholds = model.config.thresholds
        self.text_pairs = model.config.text_pairs
        self.name = f"the {model.config.model} classifier"

    def _outputs(self, texts, pairs):
        inputs = tf.constant(texts) if pairs is None else [tf.constant(texts),
                                                            tf.constant(pairs)]
        logits = self.model(inputs, training=False)
        outputs = self.task.outputs(logits, self.label_names, self.thresholds)
        return {key: value.numpy() for key, value in outputs.items()}


class LoadedClassifier(_TextPredictor):
    """An exported classifier, loaded for inference: strings in, predictions out."""

    kind = CLASSIFIER_KIND

    def __init__(self, path, loaded, metadata):
        self.path = self.name = path
        self.metadata = metadata
        self.label_names = list(metadata["label_names"])
        self.task = get_task(metadata.get("task", "classification"))
        self.text_pairs = bool(metadata.get("text_pairs", False))
        thresholds = metadata.get("thresholds")
        self.thresholds = None if thresholds is None else np.asarray(thresholds)
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the signature's variables alive

    def _outputs(self, texts, pairs):
        inputs = {"text": tf.constant(texts, dtype=tf.string)}
        if pairs is not None:
            inputs["text_pair"] = tf.constant(pairs, dtype=tf.string)
        return {key: value.numpy() for key, value in self._serve(**inputs).items()}


class LoadedEmbedder:
    """An exported embedder (:meth:`tfbert.Embedder.export`), loaded: strings in, vectors out.

    Example::

        tfbert.load_model("saved_models/minilm").embed(["A wonderful film."])   # [1, 384]
    """

    kind = "embedder"

    def __init__(self, path, loaded, metadata):
        self.path = path
        self.metadata = metadata
        self.settings = metadata["embedder"]
        self.dimension = int(metadata["dimension"])
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the signature's variables alive

    def embed(self, texts, batch_size=PREDICT_BATCH_SIZE):
        """A float32 array ``[len(texts), dimension]``, in input order (length-sorted
        batches, as in-memory)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        order = length_order(texts)
        batches = ([texts[i] for i in order[start:start + batch_size]]
                   for start in range(0, len(texts), batch_size))
        chunks = [self._serve(text=tf.constant(batch, dtype=tf.string))["embedding"].numpy()
                  for batch in batches]
        return np.concatenate(chunks)[np.argsort(order)]


class LoadedQA:
    """An exported question answering model (:mod:`tfbert.qa_export`), loaded:
    ``answer(questions, contexts)`` gives the same
    :class:`~tfbert.tasks.question_answering.SpanAnswer` objects as the in-memory
    :meth:`tfbert.qa.QAModel.answer`.

    Example::

        qa = tfbert.load_model("saved_models/squad")
        a = qa.answer(["Where is the café?"], ["The café is in Zürich."])[0]
        a.answer, a.start, a.end, a.score         # 'Zürich', 15, 21, 0.93

    ``config``: the :class:`~tfbert.qa.QAConfig` fields it was exported with (lengths,
    stride, ``n_best``, ``max_answer_length``, ``null_threshold``).
    """

    kind = QuestionAnswering.name

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


#: An export's ``kind`` (its metadata) -> the type :func:`load_model` returns for it.
LOADED_TYPES = {loaded_type.kind: loaded_type
                for loaded_type in (LoadedClassifier, LoadedEmbedder, LoadedQA)}


def load_model(path):
    """Load an export written by :func:`~tfbert.export_model`, :meth:`tfbert.qa.QAModel.export`
    or :meth:`tfbert.Embedder.export` (a version folder, or the latest one), as the type its
    kind names in :data:`LOADED_TYPES`. Works in a fresh process that imported nothing but
    tfbert.

    Example::

        classifier = tfbert.load_model("saved_models/imdb")
        classifier.predict(["What a great film!"])
    """
    path = resolve_export(path)
    metadata = read_metadata(path)
    kind = kind_of(metadata)
    if kind not in LOADED_TYPES:
        raise ExportError(f"{path} is a {kind!r} export, which this tfbert cannot load "
                          f"(it loads {', '.join(LOADED_TYPES)}); was it written by a newer "
                          "tfbert?")
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise ExportError(f"cannot load the SavedModel in {path}: {exc}") from None
    if "serving_default" not in loaded.signatures:
        raise ExportError(f"{path} has no serving_default signature.")
    return LOADED_TYPES[kind](path, loaded, metadata)
