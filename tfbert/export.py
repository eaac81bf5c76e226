"""Export a classifier as a SavedModel that takes raw strings, and load it back.

Exports are versioned the way TF Serving expects: ``saved_models/NAME/1/``,
``2/``... Each version is written to a temporary folder, reloaded and checked
against the in-memory model (max abs difference of probabilities <= 1e-5),
and only then renamed into place, so a failed or interrupted export never
leaves a half-written or silently wrong version behind.

The ``serving_default`` signature takes ``text`` (a batch of strings) and
returns ``probabilities`` (``[batch, classes]``), ``label_id`` and ``label``.
``assets.extra/tfbert.json`` holds the label names and the settings used.

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
from tfbert.errors import ExportError
from tfbert.evaluation import probabilities_from_logits

METADATA_FILE = os.path.join("assets.extra", "tfbert.json")
TOLERANCE = 1e-5
CHECK_TEXTS = (
    "This movie was wonderful, I loved every minute of it!",
    "A dull, tedious film with wooden acting.",
    "",
    "Ein Film über Menschen — « très bien » 😀 映画",
)


class _Serving(tf.Module):
    """What the SavedModel holds: the string model and the label names."""

    def __init__(self, model, label_names):
        super().__init__()
        self.model = model
        self.label_names = tf.constant(label_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        logits = self.model(text, training=False)
        if logits.shape[-1] == 1:
            positive = tf.sigmoid(logits)
            probabilities = tf.concat([1.0 - positive, positive], axis=-1)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "label_id": label_id,
                "label": tf.gather(self.label_names, label_id)}


def _versions(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(int(d) for d in os.listdir(directory)
                  if d.isdigit() and os.path.isfile(os.path.join(directory, d, "saved_model.pb")))


def export_model(model, directory, label_names, settings=None, version=None, check_texts=None):
    """Write ``model`` as ``directory/<version>/`` and return that path.

    Args:
        model: a classifier from :func:`~tfbert.build_classifier` (or training).
        directory: the model's folder, e.g. ``saved_models/imdb``.
        label_names: class names in id order.
        settings: JSON-serialisable settings to keep with the export.
        version: the version number; default one more than the latest. An
            existing version is never overwritten.
        check_texts: texts used to check the reloaded export against ``model``.

    Raises:
        ExportError: the version exists, or the reloaded export does not
            reproduce the in-memory predictions.
    """
    directory = os.path.abspath(directory)
    if len(label_names) != model.config.num_classes:
        raise ExportError(f"{len(label_names)} label names for a model of "
                          f"{model.config.num_classes} classes.")
    version = version if version is not None else (_versions(directory) or [0])[-1] + 1
    target = os.path.join(directory, str(version))
    if os.path.exists(target):
        raise ExportError(f"{target} already exists; exports are never overwritten. "
                          "Choose another version or directory.")
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=directory)
    try:
        module = _Serving(model, list(label_names))
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        metadata = {"label_names": list(label_names), "classifier": dataclasses.asdict(model.config),
                    "settings": settings or {}, "tensorflow": tf.__version__}
        os.makedirs(os.path.join(staging, "assets.extra"))
        with open(os.path.join(staging, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2)
        texts = list(check_texts or CHECK_TEXTS)
        expected = probabilities_from_logits(model(tf.constant(texts), training=False).numpy())
        reloaded = load_model(staging).predict_proba(texts)
        difference = float(np.max(np.abs(reloaded - expected)))
        if not difference <= TOLERANCE:
            raise ExportError(f"the reloaded export differs from the model by {difference:.2e} "
                              f"(tolerance {TOLERANCE:.0e}); nothing was written to {target}.")
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclasses.dataclass
class Prediction:
    """One text's prediction: the top label, its probability, and every label's."""

    text: str
    label: str
    probability: float
    probabilities: dict

    def to_json(self):
        return {"text": self.text, "label": self.label, "probability": self.probability,
                "probabilities": self.probabilities}


class LoadedClassifier:
    """An exported classifier, loaded for inference: strings in, labels out."""

    def __init__(self, path, loaded, metadata):
        self.path = path
        self.label_names = list(metadata["label_names"])
        self.metadata = metadata
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the signature's variables alive

    def predict_proba(self, texts, batch_size=64):
        """``[len(texts), classes]`` probabilities, computed ``batch_size`` texts at a time."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        chunks = [self._serve(text=tf.constant(texts[i:i + batch_size], dtype=tf.string))
                  ["probabilities"].numpy() for i in range(0, len(texts), batch_size)]
        if not chunks:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float64)

    def predict(self, texts, batch_size=64):
        """A :class:`Prediction` for each text, in input order.

        Example::

            for p in classifier.predict(["great", "awful"]):
                print(p.label, round(p.probability, 3))
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        probabilities = self.predict_proba(texts, batch_size)
        return [Prediction(text, self.label_names[int(row.argmax())], float(row.max()),
                           {name: float(p) for name, p in zip(self.label_names, row)})
                for text, row in zip(texts, probabilities)]


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
