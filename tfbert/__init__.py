"""tfbert: fine-tune BERT-family encoders for text classification with TensorFlow/Keras.

The TensorFlow "Classify text with BERT" tutorial as a library: TF Hub-format
BERT preprocessing + encoder -> dropout -> dense, trained with AdamW (linear
warmup and decay), exported as a SavedModel that takes raw strings.

Binary, multi-class, multi-label, regression and sentence-pair tasks go
through the same calls; the task is read from the labels (see ``tfbert.data``).

Example::

    import tfbert
    data = tfbert.load_data("imdb")                       # or a folder, archive, CSV/TSV
    result = tfbert.train(data, model="small_bert/bert_en_uncased_L-4_H-512_A-8", epochs=5)
    tfbert.evaluate(result.model, data.test)               # the model knows its labels
    result.classifier.predict(["What a wonderful film!"])  # in memory, before exporting
    path = tfbert.export_model(result.model, "saved_models/imdb")
    tfbert.load_model(path).predict(["What a wonderful film!"])
    tfbert.embed(["What a wonderful film!"], model="all-minilm-l6-v2")   # [1, 384] vectors

Importing tfbert is cheap: it puts TensorFlow on the tf-keras path (see
``tfbert._setup``) and loads TensorFlow only when a function needs it.
"""
import importlib
from typing import TYPE_CHECKING

import tfbert._setup  # noqa: F401  (must run before tensorflow is imported)
from tfbert.errors import (ConversionError, DataError, ExportError, ModelError, SetupError,
                           TfbertError, TrainingError)

__version__ = "0.1.0"

# Public names, loaded on first use: importing tfbert loads no TensorFlow (the one
# reason modules import inside functions). Editors and type checkers see them below.
_LAZY = {
    "MODELS": "tfbert.registry",
    "DEFAULT_MODEL": "tfbert.registry",
    "resolve_model": "tfbert.registry",
    "TASKS": "tfbert.tasks",
    "Task": "tfbert.tasks",
    "get_task": "tfbert.tasks",
    "Prediction": "tfbert.tasks",
    "TrainConfig": "tfbert.config",
    "load_data": "tfbert.data",
    "make_dataset": "tfbert.data",
    "TextData": "tfbert.data",
    "TextSplit": "tfbert.data",
    "build_classifier": "tfbert.models",
    "build_preprocessor": "tfbert.models",
    "BertClassifier": "tfbert.models",
    "ClassifierConfig": "tfbert.models",
    "train": "tfbert.training",
    "TrainResult": "tfbert.training",
    "evaluate": "tfbert.evaluation",
    "compute_metrics": "tfbert.evaluation",
    "write_report": "tfbert.reports",
    "plot_history": "tfbert.plots",
    "export_model": "tfbert.export",
    "load_model": "tfbert.serving",
    "Classifier": "tfbert.serving",
    "LoadedClassifier": "tfbert.serving",
    "select_strategy": "tfbert.distribute",
    "embed": "tfbert.embeddings",
    "similarity": "tfbert.embeddings",
    "build_embedder": "tfbert.embeddings",
    "Embedder": "tfbert.embeddings",
    "pretrain": "tfbert.pretraining",
    "PretrainConfig": "tfbert.config",
    "PretrainResult": "tfbert.pretraining",
}

if TYPE_CHECKING:
    from tfbert.config import PretrainConfig, TrainConfig
    from tfbert.data import TextData, TextSplit, load_data, make_dataset
    from tfbert.distribute import select_strategy
    from tfbert.embeddings import Embedder, build_embedder, embed, similarity
    from tfbert.evaluation import compute_metrics, evaluate
    from tfbert.export import export_model
    from tfbert.models import BertClassifier, ClassifierConfig, build_classifier, build_preprocessor
    from tfbert.plots import plot_history
    from tfbert.pretraining import PretrainResult, pretrain
    from tfbert.registry import DEFAULT_MODEL, MODELS, resolve_model
    from tfbert.reports import write_report
    from tfbert.serving import Classifier, LoadedClassifier, load_model
    from tfbert.tasks import TASKS, Prediction, Task, get_task
    from tfbert.training import TrainResult, train

__all__ = sorted([*_LAZY, "TfbertError", "DataError", "ModelError", "ExportError",
                  "SetupError", "TrainingError", "ConversionError", "__version__"])


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfbert' has no attribute {name!r}")


def __dir__():
    return __all__
