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

    path = tfbert.export_model(result.model, "saved_models/imdb")   # label names: the model's
    classifier = tfbert.load_model("saved_models/imdb")      # latest version
    classifier.predict(["A wonderful film."])[0].label          # 'pos'
"""
import inspect

import numpy as np

from tfbert._tf import tf
from tfbert.errors import ExportError
from tfbert.layers import token_lengths, trim_padding
from tfbert.exports import METADATA_FILE, new_version, write_export_metadata
from tfbert.models import BertClassifier
from tfbert.serving import Classifier, LoadedClassifier, load_model

__all__ = ["export_model", "load_model", "METADATA_FILE", "TOLERANCES"]

TOLERANCES = {"float32": 1e-5, "float16": 1e-3, "bfloat16": 1e-2}
CHECK_TEXTS = (
    "This movie was wonderful, I loved every minute of it!",
    "A dull, tedious film with wooden acting.",
    "",
    "Ein Film über Menschen — « très bien » 😀 映画",
    "A long review that fills every position of the model. " * 120,
)


class _Serving(tf.Module):
    """What the SavedModel holds: the string model's weights, its tokenizer (vocabulary
    tables) and the task's outputs.

    It tracks the preprocessor and the weights, not the Keras model: a compiled model also
    tracks what training attached to it (the optimizer's step and m/v slots, the metrics),
    which would triple the export.
    """

    def __init__(self, model, label_names, thresholds=None, jit_compile=False):
        super().__init__()
        self.preprocessor = model.preprocessor
        self.weights = list(model.core.weights)
        logits = _logits_function(model, jit_compile)
        task, label_names = model.task, list(label_names)
        outputs = lambda text: task.outputs(logits(text), label_names, thresholds)  # noqa: E731
        text = tf.TensorSpec([None], tf.string, name="text")
        if model.config.text_pairs:
            pair = tf.TensorSpec([None], tf.string, name="text_pair")
            self.serve = tf.function(lambda text, text_pair: outputs([text, text_pair]),
                                     input_signature=[text, pair])
        else:
            self.serve = tf.function(outputs, input_signature=[text])


def _logits_function(model, jit_compile):
    """Strings -> logits; with ``jit_compile``, batches that fill the sequence length run
    the encoder and head through XLA."""
    if not jit_compile:
        return lambda text: model(text, training=False)
    compiled_core = tf.function(lambda inputs: model.core(inputs, training=False),
                                jit_compile=True)

    def logits(text):
        packed = model.preprocessor(text)
        fills = tf.reduce_max(token_lengths(packed)) >= model.config.seq_length
        return tf.cond(fills, lambda: compiled_core(packed),
                       lambda: model.core(trim_padding(packed), training=False))
    return logits


def export_model(model, directory, label_names=None, settings=None, version=None,
                 check_texts=None, thresholds=None, jit_compile=False):
    """Write ``model`` as ``directory/<version>/`` and return that path.

    Args:
        model: a :class:`~tfbert.models.BertClassifier` (from training or
            :func:`~tfbert.build_classifier`); its label names and thresholds
            are exported with it. A :class:`~tfbert.qa.QAModel` or
            :class:`~tfbert.Embedder` is handed to its own ``export`` with the
            arguments given here; one that its ``export`` does not take is an
            :class:`~tfbert.errors.ExportError` (an embedder takes no ``jit_compile``).
        directory: the model's folder, e.g. ``saved_models/imdb``.
        label_names: overrides the model's label names (same number).
        settings: JSON-serialisable settings to keep with the export.
        version: the version number; default one more than the latest. An
            existing version is never overwritten.
        check_texts: texts used to check the reloaded export against ``model``
            (each used as both texts of a pair for sentence-pair models).
        thresholds: overrides the model's per-label decision thresholds (multi-label).
        jit_compile: serve batches of long texts through XLA (see above).

    Raises:
        ExportError: the version exists, the reloaded export does not
            reproduce the in-memory predictions, or an argument does not apply to
            the model's kind.
    """
    if not isinstance(model, BertClassifier):    # a QAModel or an Embedder: its own export
        given = {key: value for key, value in dict(
            label_names=label_names, settings=settings, version=version,
            check_texts=check_texts, thresholds=thresholds, jit_compile=jit_compile).items()
            if value is not None and value is not False}
        takes = inspect.signature(model.export).parameters
        unknown = [key for key in given if key not in takes]
        if unknown:
            raise ExportError(f"{type(model).__name__}.export takes no {', '.join(unknown)} "
                              f"(it takes {', '.join(k for k in takes if k != 'directory')}).")
        return model.export(directory, **given)
    label_names, thresholds = _describe(model, label_names, thresholds)
    with new_version(directory, version) as (staging, target):
        module = _Serving(model, label_names, thresholds, jit_compile)
        tf.saved_model.save(module, staging, signatures={"serving_default": module.serve})
        _write_metadata(staging, model, label_names, thresholds, jit_compile, settings)
        _verify(model, staging, check_texts, target)
    return target


def _describe(model, label_names, thresholds):
    """The label names and thresholds to export: the model's, or the overrides, checked."""
    label_names = list(model.config.label_names if label_names is None else label_names)
    if len(label_names) != model.config.num_classes:
        raise ExportError(f"{len(label_names)} label names for a model of "
                          f"{model.config.num_classes} classes.")
    thresholds = model.config.thresholds if thresholds is None else thresholds
    if thresholds is not None:
        thresholds = [float(t) for t in thresholds]
        if len(thresholds) != len(label_names) or not model.task.has_thresholds:
            raise ExportError(f"{len(thresholds)} thresholds for a {model.config.task} model "
                              f"of {len(label_names)} labels; thresholds are one per label of "
                              "a multi-label model.")
    return label_names, thresholds


def _write_metadata(folder, model, label_names, thresholds, jit_compile, settings):
    metadata = {"task": model.config.task, "label_names": label_names,
                "thresholds": thresholds, "text_pairs": model.config.text_pairs,
                "classifier": {**model.config.to_json(), "label_names": label_names,
                               "thresholds": thresholds},
                "jit_compile": jit_compile, "settings": settings or {}}
    write_export_metadata(folder, LoadedClassifier.kind, metadata)


def _verify(model, staging, check_texts, target):
    """Raise unless the export in ``staging`` reproduces the in-memory model's scores."""
    texts = list(check_texts or CHECK_TEXTS)
    pairs = list(reversed(texts)) if model.config.text_pairs else None
    expected = Classifier(model).predict_proba(texts, pairs, batch_size=len(texts))
    # Batches of two, sorted by length: short batches and the long text's batch take
    # different paths through an XLA export; both are checked.
    reloaded = load_model(staging).predict_proba(texts, pairs=pairs, batch_size=2)
    difference = float(np.max(np.abs(reloaded - expected)))
    tolerance = max(TOLERANCES.get(getattr(layer, "compute_dtype", None),
                                   TOLERANCES["float32"]) for layer in model.core.layers)
    if not difference <= tolerance:
        raise ExportError(f"the reloaded export differs from the model by {difference:.2e} "
                          f"(tolerance {tolerance:.0e}); nothing was written to {target}.")
