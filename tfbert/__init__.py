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
    tfbert.evaluate(result.model, data.test, data.label_names)
    path = tfbert.export_model(result.model, "saved_models/imdb", data.label_names)
    tfbert.load_model(path).predict(["What a wonderful film!"])

Importing tfbert is cheap: it puts TensorFlow on the tf-keras path (see
``tfbert._setup``) and loads TensorFlow only when a function needs it.
"""
import importlib

import tfbert._setup  # noqa: F401  (must run before tensorflow is imported)
from tfbert.errors import DataError, ExportError, ModelError, SetupError, TfbertError

__version__ = "0.1.0"

_LAZY = {
    "MODELS": "tfbert.registry",
    "DEFAULT_MODEL": "tfbert.registry",
    "build_classifier": "tfbert.models",
    "build_preprocessor": "tfbert.models",
    "resolve_model": "tfbert.registry",
    "load_data": "tfbert.data",
    "make_dataset": "tfbert.data",
    "TextData": "tfbert.data",
    "TextSplit": "tfbert.data",
    "train": "tfbert.training",
    "TrainResult": "tfbert.training",
    "evaluate": "tfbert.evaluation",
    "compute_metrics": "tfbert.evaluation",
    "write_report": "tfbert.evaluation",
    "plot_history": "tfbert.plots",
    "export_model": "tfbert.export",
    "load_model": "tfbert.export",
    "select_strategy": "tfbert.distribute",
}

__all__ = sorted([*_LAZY, "TfbertError", "DataError", "ModelError", "ExportError",
                  "SetupError", "__version__"])


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfbert' has no attribute {name!r}")


def __dir__():
    return __all__
