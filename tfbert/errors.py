"""tfbert's error types: one base class, so callers and the CLI can catch ours alone.

Every message names what is at fault (the file, row, argument or handle) and
what to do about it.
"""


class TfbertError(Exception):
    """Base class of every error tfbert raises on purpose."""


class DataError(TfbertError, ValueError):
    """The data cannot be read as asked: a missing file or column, a bad row, an empty split."""


class ModelError(TfbertError, ValueError):
    """A model name, handle or folder that cannot be used."""


class ConversionError(ModelError):
    """A checkpoint that cannot be converted faithfully; the message names what and why."""


class ExportError(TfbertError):
    """An export that could not be written, or does not reproduce the model it came from."""


class SetupError(TfbertError, RuntimeError):
    """The Python environment is wired in a way tfbert cannot work with (Keras 3, tensorflow-text)."""


class TrainingError(TfbertError, RuntimeError):
    """Training stopped on a fault (a NaN or infinite loss); ``result`` holds what was kept."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result
