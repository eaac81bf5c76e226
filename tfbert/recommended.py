"""The training settings a model recommends, and the small file a local model keeps them in.

``train`` and ``build_classifier`` take each of :data:`RECOMMENDED_KEYS` the
caller leaves unset from the model (:func:`tfbert.registry.recommended_settings`):
the registry's entry for a named model, or ``tfbert_model.json`` in a local
TF Hub-format folder (``tfbert convert`` writes one). Nothing here imports
TensorFlow.

Example:

>>> SENTENCE_EMBEDDING_SETTINGS["pooling"], TUTORIAL_SETTINGS["learning_rate"]
('mean', 3e-05)
"""
import json
import os

from tfbert.errors import ModelError

__all__ = ["RECOMMENDED_KEYS", "EMBEDDING_SEQ_LENGTH", "TUTORIAL_SETTINGS",
           "SENTENCE_EMBEDDING_SETTINGS", "FINE_TUNING_EPOCHS", "HEAD_ONLY_SETTINGS",
           "CLASSIFIER_DROPOUT", "SPAN_DROPOUT", "MODEL_FILE",
           "read_model_file", "write_model_file"]

RECOMMENDED_KEYS = ("pooling", "learning_rate", "seq_length")
# Not a training setting: the tokens :func:`tfbert.embed` keeps by default (a
# sentence-transformers model's ``max_seq_length``, so its vectors match; else ``seq_length``).
EMBEDDING_SEQ_LENGTH = "embedding_seq_length"
_MODEL_FILE_KEYS = (*RECOMMENDED_KEYS, EMBEDDING_SEQ_LENGTH)
# The TensorFlow tutorial's, for BERTs whose [CLS] pooler was pre-trained (Small BERT, BERT,
# ALBERT, ELECTRA, the experts): also what a model that recommends nothing gets.
TUTORIAL_SETTINGS = {"pooling": "cls", "learning_rate": 3e-5, "seq_length": 128}
# Sentence-embedding models (sentence-transformers) were trained on the mean of their token
# outputs and their pooler dense layer never was: a [CLS] head starts from noise. A higher
# rate suits their small size (measured in BENCHMARKS.md, "Recommended settings").
SENTENCE_EMBEDDING_SETTINGS = {"pooling": "mean", "learning_rate": 1e-4, "seq_length": 128}
# Passes over the data when fine-tuning (the TensorFlow tutorial's 5).
FINE_TUNING_EPOCHS = 5
# Head-only defaults: training the dropout + dense head alone on a frozen encoder's cached
# features (``freeze_encoder=True``), any model. A linear layer wants a far higher rate than
# the encoder's 3e-5-1e-4 and many more (cheap) epochs. Measured on SST-2 (2,000) and TREC
# with all-MiniLM-L6-v2 (BENCHMARKS.md, "Feature-based vs fine-tuning"): 1e-3 was still
# improving after 50 epochs; 3e-3 reached the lowest validation loss, early stopping ending
# it after ~20 epochs; 1e-2 stopped within 10, no better.
HEAD_ONLY_SETTINGS = {"learning_rate": 3e-3, "epochs": 50}
# Dropout before the output layer. BERT's classifiers use 0.1; its SQuAD span layer
# (Google's run_squad.py, tf-models-official's BertSpanLabeler, transformers'
# BertForQuestionAnswering) uses none. On 2,400 SQuAD questions the two rates scored within
# the spread of runs of one setting (BENCHMARKS.md, qa), so the span layer follows BERT.
CLASSIFIER_DROPOUT = 0.1
SPAN_DROPOUT = 0.0
# A local model folder's metadata: ``{"recommended": {...}}`` (the converter writes one).
MODEL_FILE = "tfbert_model.json"


def read_model_file(folder):
    """The recommended settings in ``folder/tfbert_model.json`` ({} without one)."""
    path = os.path.join(folder, MODEL_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            recommended = json.load(f).get("recommended", {})
    except (ValueError, AttributeError) as exc:
        raise ModelError(f"{path} is not a JSON object with a 'recommended' object "
                         f"({exc}).") from None
    unknown = sorted(set(recommended) - set(_MODEL_FILE_KEYS))
    if not isinstance(recommended, dict) or unknown:
        raise ModelError(f"{path}: 'recommended' may only hold {', '.join(_MODEL_FILE_KEYS)}; "
                         f"got {unknown or recommended!r}.")
    return recommended


def write_model_file(folder, recommended, **details):
    """Write ``folder/tfbert_model.json`` recommending ``recommended`` (see
    :data:`RECOMMENDED_KEYS`), with ``details`` (e.g. where the weights came from)."""
    unknown = sorted(set(recommended) - set(_MODEL_FILE_KEYS))
    if unknown:
        raise ModelError(f"unknown recommended setting(s) {', '.join(unknown)}.")
    with open(os.path.join(folder, MODEL_FILE), "w", encoding="utf-8") as f:
        json.dump({"recommended": recommended, **details}, f, indent=2)
