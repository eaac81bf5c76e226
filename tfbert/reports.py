"""Evaluation reports: text, JSON and plots of metrics, and the worst mistakes.

The numbers come from :mod:`tfbert.metrics` through a task object; this module
lays them out. What differs by task (the metric block, how a mistake reads,
which plots) is asked of the task (:class:`tfbert.tasks.Task`), so a report of
a new task needs no change here.

Example::

    from tfbert.tasks import get_task
    task = get_task("classification")
    metrics = task.compute_metrics([1, 0], [[0.2, 0.8], [0.6, 0.4]], ["neg", "pos"])
    paths = write_report("runs/toy/report", metrics, title="toy")    # report.txt, .json, .png
"""
import itertools
import json
import os

import numpy as np

from tfbert.tasks import get_task

__all__ = ["format_mistakes", "write_report", "json_safe", "save_metrics"]


def format_mistakes(mistakes, task="classification", limit=10, width=100, total=None):
    """The worst mistakes (from ``task.worst_mistakes``) as readable plain text.

    ``total``: how many wrong predictions there were in all (default: as many
    as listed), so the heading says how many of them are shown. Texts longer
    than ``width`` characters end in an ellipsis.

    Example::

        print(format_mistakes(task.worst_mistakes(texts, labels, scores, names), task, limit=5,
                              total=93))       # "worst mistakes: the 5 most confident of 93"
    """
    mistakes = list(mistakes)
    if not mistakes:
        return "worst mistakes: none."
    task = get_task(task)
    shown = mistakes[:limit]
    lines = [task.mistakes_heading(len(shown), len(mistakes) if total is None else total)]
    for number, mistake in enumerate(shown, 1):
        lines.append(f"{number:>3}. {task.describe_mistake(mistake)}")
        lines.append(f"     text: {_shorten(mistake['text'], width)}")
        if "text_pair" in mistake:
            lines.append(f"     pair: {_shorten(mistake['text_pair'], width)}")
    return "\n".join(lines)


def _shorten(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:max(width - 1, 0)] + "\u2026"


def write_report(directory, metrics, mistakes=(), title=None, labels=None, scores=None,
                 total_mistakes=None, if_exists="replace"):
    """Write an evaluation report folder at once: JSON, text and the task's plots.

    Files: ``report.json`` (the metrics plus ``"mistakes"``, the worst ones,
    and ``"mistakes_total"``), ``report.txt`` (the task's metric block and the
    worst mistakes) and the task's plots (``confusion_matrix.png`` and
    ``pr_curve.png`` for classification, ``scatter.png`` for regression when
    ``labels`` and ``scores`` are given). The task is the one named in
    ``metrics["task"]``. ``total_mistakes``: how many wrong predictions there
    were in all (default: as many as ``mistakes``).

    The folder is written beside ``directory`` and renamed into place, so
    readers see a whole report or none. ``if_exists`` says what happens when
    ``directory`` exists:

    - ``"replace"``: the old report is replaced once the new one is complete.
    - ``"new"``: the report goes to the first free folder of ``directory``,
      ``directory-2``, ``directory-3``... (``tfbert evaluate``: a report never
      replaces another).

    Returns:
        ``{"json", "text", ...plots}`` -> path, with only the files written.

    Example::

        paths = write_report("runs/imdb_bert/1/report_test", metrics, if_exists="new")
        os.path.dirname(paths["json"])          # .../report_test-2 when report_test exists
    """
    from tfbert._fs import atomic_dir
    if if_exists not in ("replace", "new"):
        raise ValueError(f"if_exists must be 'replace' or 'new', got {if_exists!r}.")
    task = get_task(metrics.get("task", "classification"))
    directory = os.path.abspath(os.fspath(directory))
    mistakes = list(mistakes)
    total = len(mistakes) if total_mistakes is None else total_mistakes
    for target in _targets(directory, if_exists):
        try:
            with atomic_dir(target, policy="replace" if if_exists == "replace"
                            else "refuse") as staging:
                written = _write_report_files(staging, task, metrics, mistakes, total, title,
                                              labels, scores)
        except FileExistsError:       # "new": taken since we looked; take the next one
            continue
        return {key: os.path.join(target, filename) for key, filename in written.items()}


def _targets(directory, if_exists):
    """Where a report may go: ``directory`` itself, or (``"new"``) its free numbered names."""
    if if_exists == "replace":
        yield directory
        return
    for number in itertools.count(1):
        target = directory if number == 1 else f"{directory}-{number}"
        if not os.path.lexists(target):
            yield target


def _write_report_files(folder, task, metrics, mistakes, total, title, labels, scores):
    written = {"json": "report.json", "text": "report.txt"}
    with open(os.path.join(folder, written["json"]), "w", encoding="utf-8") as f:
        json.dump(json_safe({**metrics, "mistakes": mistakes, "mistakes_total": total}), f,
                  indent=2)
        f.write("\n")
    text = task.format_metrics(metrics, title or "Evaluation")
    if mistakes:
        text += "\n\n" + format_mistakes(mistakes, task, total=total)
    with open(os.path.join(folder, written["text"]), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    written.update(task.plots(metrics, folder, labels, scores))
    return written


def json_safe(value):
    """``value`` with NaN/inf floats as ``None``, so strict JSON parsers read the file."""
    if isinstance(value, dict):
        return {key: json_safe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_metrics(metrics, path):
    """Write ``metrics`` as indented JSON to ``path`` (folders are created; NaN -> null)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(json_safe(metrics), f, indent=2)
        f.write("\n")
    return path
