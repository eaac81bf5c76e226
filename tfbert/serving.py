"""Classify text with a trained model: loaded from an export, or in memory after training.

:func:`load_model` reads an export written by :func:`tfbert.export_model` (in
a fresh process that imported nothing but tfbert) and returns a
:class:`LoadedClassifier`; :class:`Classifier` wraps an in-memory
:class:`~tfbert.models.BertClassifier` (``TrainResult.classifier``). Both take
raw strings and return the same :class:`~tfbert.tasks.Prediction` objects,
because both turn logits into outputs with the same task function (the one the
export's ``serving_default`` signature runs).

Example::

    classifier = tfbert.load_model("saved_models/imdb")      # latest version
    classifier.predict(["A wonderful film."])[0].label          # 'pos'
    result.classifier.predict(["A wonderful film."])[0].label   # the same, before exporting
"""
import json
import os

import numpy as np

from tfbert._tf import tf
from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.data.pipeline import length_order
from tfbert.errors import ExportError
from tfbert.tasks import Prediction, get_task

__all__ = ["Classifier", "LoadedClassifier", "LoadedEmbedder", "Prediction", "load_model",
           "resolve_export", "write_export_metadata", "METADATA_FILE"]

METADATA_FILE = os.path.join("assets.extra", "tfbert.json")


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


def write_export_metadata(folder, metadata):
    """Write ``metadata`` (plus the TensorFlow version) as the export's
    ``assets.extra/tfbert.json``, which :func:`load_model` reads."""
    os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
    with open(os.path.join(folder, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump({**metadata, "tensorflow": tf.__version__}, f, indent=2)


def versions(directory):
    """The version numbers of the exports in ``directory``, ascending."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(d) for d in os.listdir(directory)
                  if d.isdigit() and os.path.isfile(os.path.join(directory, d, "saved_model.pb")))


def resolve_export(path):
    """The SavedModel folder for ``path``: itself, or its latest numbered version."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    found = versions(path)
    if found:
        return os.path.join(path, str(found[-1]))
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist.")
    raise ExportError(f"{path} is not a tfbert export: no saved_model.pb in it nor in a "
                      "numbered version folder (1/, 2/, ...).")


def load_model(path):
    """Load an export written by :func:`~tfbert.export_model` (a version folder, or the
    latest one). Works in a fresh process that imported nothing but tfbert.

    Example::

        classifier = tfbert.load_model("saved_models/imdb")
        classifier.predict(["What a great film!"])
    """
    path = resolve_export(path)
    metadata_path = os.path.join(path, METADATA_FILE)
    if not os.path.isfile(metadata_path):
        raise ExportError(f"{path} is a SavedModel but not a tfbert export "
                          f"(no {METADATA_FILE}).")
    with open(metadata_path, encoding="utf-8") as f:
        metadata = json.load(f)
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise ExportError(f"cannot load the SavedModel in {path}: {exc}") from None
    if "serving_default" not in loaded.signatures:
        raise ExportError(f"{path} has no serving_default signature.")
    if metadata.get("kind") == "embedder":
        return LoadedEmbedder(path, loaded, metadata)
    if metadata.get("kind") == "question-answering":
        from tfbert.qa_serving import LoadedQA
        return LoadedQA(path, loaded, metadata)
    return LoadedClassifier(path, loaded, metadata)
