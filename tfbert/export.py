"""Export a classifier as a SavedModel that takes raw strings, and load it back.

Exports are versioned the way TF Serving expects: ``saved_models/NAME/1/``,
``2/``... Each version is written to a temporary folder, reloaded and checked
against the in-memory model (max abs difference of probabilities <= 1e-5;
1e-3 and 1e-2 for models computing in float16 and bfloat16, whose rounding
depends on how texts are batched),
and only then renamed into place, so a failed or interrupted export never
leaves a half-written or silently wrong version behind.

The ``serving_default`` signature takes ``text`` (a batch of strings; for
sentence-pair models also ``text_pair``) and returns, by task:

- classification: ``probabilities`` (``[batch, classes]``), ``label_id``, ``label``;
- multi-label: ``probabilities`` (``[batch, labels]``), ``predicted`` (0/1 per
  label, with the per-label thresholds tuned at training applied) and
  ``thresholds``;
- regression: ``score`` (``[batch]``).

``assets.extra/tfbert.json`` holds the task, label names, thresholds and the
settings used.

With ``jit_compile=True`` batches whose longest text fills the sequence length
(long texts, truncated: the compute-bound case) run the encoder and head
through XLA, compiled once per batch size; shorter batches run without XLA,
cut to their longest text. On a 2-core CPU this serves IMDB reviews at 128
tokens 1.1-1.3x faster, most with a rebuilt encoder (``rebuild_encoder=True``),
which XLA compiles whole (see BENCHMARKS.md). The SavedModel then needs a
TensorFlow with XLA's CPU JIT (the pip wheels have it).

Example::

    path = tfbert.export_model(result.model, "saved_models/imdb", label_names=["neg", "pos"])
    classifier = tfbert.load_model("saved_models/imdb")      # latest version
    classifier.predict(["A wonderful film."])[0].label          # 'pos'
"""
import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np

from tfbert._tf import tf
from tfbert.data import length_order, token_lengths, trim_padding
from tfbert.errors import ExportError
from tfbert.tasks import scores_from_logits, tf_scores_from_logits

METADATA_FILE = os.path.join("assets.extra", "tfbert.json")
TOLERANCES = {"float32": 1e-5, "float16": 1e-3, "bfloat16": 1e-2}
CHECK_TEXTS = (
    "This movie was wonderful, I loved every minute of it!",
    "A dull, tedious film with wooden acting.",
    "",
    "Ein Film über Menschen — « très bien » 😀 映画",
    "A long review that fills every position of the model. " * 120,
)


class _Serving(tf.Module):
    """What the SavedModel holds: the string model, label names and thresholds."""

    def __init__(self, model, label_names, thresholds=None, jit_compile=False):
        super().__init__()
        self.model = model
        self.jit_compile = jit_compile
        if jit_compile:
            self._compiled_core = tf.function(lambda inputs: model.core(inputs, training=False),
                                              jit_compile=True)
        self.task = model.config.task
        self.label_names = tf.constant(label_names)
        self.thresholds = tf.constant(
            thresholds if thresholds is not None else [0.5] * len(label_names), tf.float32)
        text = tf.TensorSpec([None], tf.string, name="text")
        if model.config.num_segments == 2:
            pair = tf.TensorSpec([None], tf.string, name="text_pair")
            self.serve = tf.function(lambda text, text_pair: self._outputs([text, text_pair]),
                                     input_signature=[text, pair])
        else:
            self.serve = tf.function(self._outputs, input_signature=[text])

    def _logits(self, text):
        if not self.jit_compile:
            return self.model(text, training=False)
        packed = self.model.preprocessor(text)
        fills = tf.reduce_max(token_lengths(packed)) >= self.model.config.seq_length
        return tf.cond(fills, lambda: self._compiled_core(packed),
                       lambda: self.model.core(trim_padding(packed), training=False))

    def _outputs(self, text):
        scores = tf_scores_from_logits(self.task, self._logits(text))
        if self.task == "regression":
            return {"score": scores}
        if self.task == "multilabel":
            predicted = tf.cast(scores >= self.thresholds, tf.int32)
            return {"probabilities": scores, "predicted": predicted,
                    "thresholds": tf.broadcast_to(self.thresholds, tf.shape(scores))}
        label_id = tf.argmax(scores, axis=-1)
        return {"probabilities": scores, "label_id": label_id,
                "label": tf.gather(self.label_names, label_id)}


def _versions(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(int(d) for d in os.listdir(directory)
                  if d.isdigit() and os.path.isfile(os.path.join(directory, d, "saved_model.pb")))


def export_model(model, directory, label_names, settings=None, version=None, check_texts=None,
                 thresholds=None, jit_compile=False):
    """Write ``model`` as ``directory/<version>/`` and return that path.

    Args:
        model: a classifier from :func:`~tfbert.build_classifier` (or training).
        directory: the model's folder, e.g. ``saved_models/imdb``.
        label_names: class names in id order.
        settings: JSON-serialisable settings to keep with the export.
        version: the version number; default one more than the latest. An
            existing version is never overwritten.
        check_texts: texts used to check the reloaded export against ``model``
            (each used as both texts of a pair for sentence-pair models).
        thresholds: per-label decision thresholds of a multi-label model
            (``TrainResult.thresholds``); default 0.5 each.
        jit_compile: serve batches of long texts through XLA (see above).

    Raises:
        ExportError: the version exists, or the reloaded export does not
            reproduce the in-memory predictions.
    """
    directory = os.path.abspath(directory)
    if len(label_names) != model.config.num_classes:
        raise ExportError(f"{len(label_names)} label names for a model of "
                          f"{model.config.num_classes} classes.")
    if thresholds is not None:
        thresholds = [float(t) for t in thresholds]
        if len(thresholds) != len(label_names) or model.config.task != "multilabel":
            raise ExportError(f"{len(thresholds)} thresholds for a {model.config.task} model "
                              f"of {len(label_names)} labels; thresholds are one per label of "
                              "a multi-label model.")
    version = version if version is not None else (_versions(directory) or [0])[-1] + 1
    target = os.path.join(directory, str(version))
    if os.path.exists(target):
        raise ExportError(f"{target} already exists; exports are never overwritten. "
                          "Choose another version or directory.")
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=directory)
    try:
        module = _Serving(model, list(label_names), thresholds, jit_compile)
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        metadata = {"task": model.config.task, "label_names": list(label_names),
                    "thresholds": thresholds, "text_pairs": model.config.num_segments == 2,
                    "classifier": dataclasses.asdict(model.config), "jit_compile": jit_compile,
                    "settings": settings or {}, "tensorflow": tf.__version__}
        os.makedirs(os.path.join(staging, "assets.extra"))
        with open(os.path.join(staging, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2)
        texts = list(check_texts or CHECK_TEXTS)
        pairs = list(reversed(texts)) if model.config.num_segments == 2 else None
        inputs = tf.constant(texts) if pairs is None else [tf.constant(texts), tf.constant(pairs)]
        expected = scores_from_logits(model.config.task,
                                      model(inputs, training=False).numpy())
        # Batches of two, sorted by length: short batches and the long text's batch take
        # different paths through an XLA export; both are checked.
        reloaded = load_model(staging).predict_proba(texts, pairs=pairs, batch_size=2)
        difference = float(np.max(np.abs(reloaded - expected)))
        tolerance = max(TOLERANCES.get(getattr(layer, "compute_dtype", None),
                                       TOLERANCES["float32"]) for layer in model.core.layers)
        if not difference <= tolerance:
            raise ExportError(f"the reloaded export differs from the model by {difference:.2e} "
                              f"(tolerance {tolerance:.0e}); nothing was written to {target}.")
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclasses.dataclass
class Prediction:
    """One example's prediction.

    ``label``/``probability``: the top class (classification). ``labels``: the
    labels at or above their thresholds (multi-label). ``score``: the predicted
    value (regression). ``probabilities``: every label's probability.
    """

    text: str
    label: str | None = None
    probability: float | None = None
    probabilities: dict | None = None
    labels: list | None = None
    score: float | None = None
    text_pair: str | None = None

    def to_json(self):
        """A JSON-ready dict with the fields that apply to the task."""
        record = {"text": self.text}
        if self.text_pair is not None:
            record["text_pair"] = self.text_pair
        if self.score is not None:
            record["score"] = self.score
        elif self.labels is not None:
            record["labels"] = [{"label": name, "probability": self.probabilities[name]}
                                for name in self.labels]
            record["probabilities"] = self.probabilities
        else:
            record.update(label=self.label, probability=self.probability,
                          probabilities=self.probabilities)
        return record

    def __str__(self):
        """One tab-separated line: the prediction, then the text(s)."""
        texts = self.text if self.text_pair is None else f"{self.text}\t{self.text_pair}"
        if self.score is not None:
            return f"{self.score:.4f}\t{texts}"
        if self.labels is not None:
            shown = ",".join(f"{name}:{self.probabilities[name]:.3f}" for name in self.labels)
            return f"{shown or '-'}\t{texts}"
        return f"{self.label}\t{self.probability:.4f}\t{texts}"


class LoadedClassifier:
    """An exported classifier, loaded for inference: strings in, predictions out."""

    def __init__(self, path, loaded, metadata):
        self.path = path
        self.metadata = metadata
        self.label_names = list(metadata["label_names"])
        self.task = metadata.get("task", "classification")
        self.text_pairs = bool(metadata.get("text_pairs", False))
        thresholds = metadata.get("thresholds")
        self.thresholds = None if thresholds is None else np.asarray(thresholds)
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the signature's variables alive

    def _check_inputs(self, texts, pairs):
        texts = [texts] if isinstance(texts, str) else list(texts)
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
        if self.text_pairs and pairs is None:
            raise ExportError(f"{self.path} classifies text pairs: pass the second texts "
                              "(pairs=...).")
        if not self.text_pairs and pairs is not None:
            raise ExportError(f"{self.path} classifies single texts; it takes no pairs.")
        if pairs is not None and len(pairs) != len(texts):
            raise ExportError(f"{len(texts)} texts but {len(pairs)} second texts.")
        return texts, pairs

    def predict_proba(self, texts, pairs=None, batch_size=64):
        """Class probabilities ``[n, classes]``, per-label probabilities ``[n, labels]``
        (multi-label) or scores ``[n]`` (regression), in input order.

        Texts go through the model ``batch_size`` at a time, sorted by length so
        that each batch (padded to its longest text) holds texts of similar length.
        """
        texts, pairs = self._check_inputs(texts, pairs)
        if not texts:
            shape = (0,) if self.task == "regression" else (0, len(self.label_names))
            return np.zeros(shape, dtype=np.float64)
        key = "score" if self.task == "regression" else "probabilities"
        order = length_order(texts, pairs)
        chunks = []
        for start in range(0, len(texts), batch_size):
            chosen = order[start:start + batch_size]
            inputs = {"text": tf.constant([texts[i] for i in chosen], dtype=tf.string)}
            if pairs is not None:
                inputs["text_pair"] = tf.constant([pairs[i] for i in chosen], dtype=tf.string)
            chunks.append(self._serve(**inputs)[key].numpy())
        return np.concatenate(chunks).astype(np.float64)[np.argsort(order)]

    def predict(self, texts, pairs=None, batch_size=64):
        """A :class:`Prediction` for each text (or pair), in input order.

        Example::

            for p in classifier.predict(["great", "awful"]):
                print(p.label, round(p.probability, 3))
        """
        texts, pairs = self._check_inputs(texts, pairs)
        scores = self.predict_proba(texts, pairs, batch_size)
        thresholds = self.thresholds if self.thresholds is not None else 0.5
        predictions = []
        for i, (text, row) in enumerate(zip(texts, scores)):
            pair = pairs[i] if pairs is not None else None
            if self.task == "regression":
                predictions.append(Prediction(text, score=float(row), text_pair=pair))
                continue
            probabilities = {name: float(p) for name, p in zip(self.label_names, row)}
            if self.task == "multilabel":
                chosen = [name for name, p, t in zip(self.label_names, row,
                                                     np.broadcast_to(thresholds, row.shape))
                          if p >= t]
                predictions.append(Prediction(text, probabilities=probabilities, labels=chosen,
                                              text_pair=pair))
            else:
                predictions.append(Prediction(text, self.label_names[int(row.argmax())],
                                              float(row.max()), probabilities, text_pair=pair))
        return predictions


def resolve_export(path):
    """The SavedModel folder for ``path``: itself, or its latest numbered version."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = _versions(path)
    if versions:
        return os.path.join(path, str(versions[-1]))
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist.")
    raise ExportError(f"{path} is not a tfbert export: no saved_model.pb in it nor in a "
                      "numbered version folder (1/, 2/, ...).")


def load_model(path):
    """Load an export written by :func:`export_model` (a version folder, or the latest one).

    Works in a fresh process that imported nothing but tfbert.

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
    return LoadedClassifier(path, loaded, metadata)
