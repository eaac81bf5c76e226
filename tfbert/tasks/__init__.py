"""Tasks: one object per kind of prediction problem, and the registry of them.

Every module asks the task object (:class:`~tfbert.tasks.base.Task`) instead of
comparing task names: :func:`get_task` turns a name into its object,
:func:`infer_task` reads the task from label strings (as a CSV holds them) and
:func:`task_of_labels` from encoded label arrays. Registered:

- ``"classification"``: one label per example (:class:`Classification`);
- ``"multilabel"``: any number of labels per example (:class:`MultiLabel`);
- ``"regression"``: one score per example (:class:`Regression`);
- ``"question-answering"``: an answer span in a context (:class:`QuestionAnswering`; SQuAD
  JSON, :mod:`tfbert.data.squad`, not label strings, so not in :data:`TASKS`).

Adding a kind is one :class:`Task` subclass plus its line in :data:`TASK_TYPES`.

Example:

>>> from tfbert.tasks import get_task, infer_task
>>> infer_task(["joy,love", "anger"]).name
'multilabel'
>>> get_task("regression").head_units(1)
1
"""
from tfbert.errors import DataError
from tfbert.tasks.base import Prediction, Task, is_number
from tfbert.tasks.classification import Classification
from tfbert.tasks.multilabel import MultiLabel
from tfbert.tasks.question_answering import QuestionAnswering
from tfbert.tasks.regression import Regression

TASK_TYPES = {task.name: task for task in (Classification(), MultiLabel(), Regression(),
                                           QuestionAnswering())}
# The tasks of labelled texts (tables, folders, TFDS): what load_data and --task read.
TASKS = tuple(name for name in TASK_TYPES if name != QuestionAnswering.name)

__all__ = ["TASKS", "TASK_TYPES", "AUTO", "Task", "Prediction", "Classification", "MultiLabel",
           "Regression", "QuestionAnswering", "get_task", "resolve_task", "check_task_name", "infer_task",
           "task_of_labels", "monitor_mode"]


def get_task(task):
    """The :class:`Task` object for a name (a Task passes through).

    Raises:
        DataError: the name is not a registered task.
    """
    if isinstance(task, Task):
        return task
    if task not in TASK_TYPES:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}.")
    return TASK_TYPES[task]


AUTO = "auto"


def resolve_task(task, raw_labels, separator=","):
    """``get_task(task)``, or the task the label strings imply when ``task`` is ``"auto"``."""
    if isinstance(task, str) and task == AUTO:
        return infer_task(raw_labels, separator)
    return get_task(task)


def check_task_name(task):
    """Raise :class:`DataError` unless ``task`` is ``"auto"`` or a registered task."""
    if not isinstance(task, Task) and task != AUTO and task not in TASK_TYPES:
        raise DataError(f"task must be 'auto' or one of {', '.join(TASKS)}, got {task!r}.")


def infer_task(raw_labels, separator=","):
    """The task that label strings imply: a separator anywhere makes it multi-label;
    numbers with a decimal point or exponent (``3.800``) regression; else classification."""
    if separator and any(separator in label for label in raw_labels):
        return TASK_TYPES["multilabel"]
    if all(is_number(label) for label in raw_labels) and any(
            any(mark in label.lower() for mark in (".", "e")) for label in raw_labels):
        return TASK_TYPES["regression"]
    return TASK_TYPES["classification"]


def task_of_labels(labels):
    """The task of encoded labels: a 2-D multi-hot matrix is multi-label, floats are
    regression scores, integers are class ids."""
    if labels.ndim == 2:
        return TASK_TYPES["multilabel"]
    return TASK_TYPES["regression" if labels.dtype.kind == "f" else "classification"]


def monitor_mode(monitor):
    """``"min"`` for losses and errors (``val_loss``, ``val_mae``), ``"max"`` for the rest."""
    name = monitor.removeprefix("val_")
    return "min" if name in ("loss", "mae", "mse", "rmse") else "max"
