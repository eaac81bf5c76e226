"""Containers of labelled texts, and the seeded ways of cutting them.

A :class:`TextSplit` holds one split's texts (and second texts for sentence
pairs) with their labels; a :class:`TextData` holds the train/validation/test
splits and the label names. The task (:mod:`tfbert.tasks`) is read from the
labels, and every task-specific choice here is the task object's:
:func:`carve` (the held-out validation or test part) and
:func:`balanced_subset` stratify by ``task.stratify(labels)`` when it gives
labels (classification) and fall back to a seeded random choice otherwise.

Example::

    from tfbert.data import TextSplit, carve
    split = TextSplit(["good", "bad", "fine", "awful", "great"], [1, 0, 1, 0, 1])
    rest, held_out = carve(split, 0.4, seed=42)
    len(rest), len(held_out)        # (3, 2): one example of each label held out
"""
import dataclasses

import numpy as np

from tfbert.errors import DataError
from tfbert.tasks import task_of_labels

__all__ = ["SPLITS", "TextSplit", "TextData", "balanced_subset", "carve", "map_label_names"]

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class TextSplit:
    """One split: ``texts``, optional second texts ``pairs``, and ``labels``.

    ``labels`` are int64 class ids ``[n]`` (classification), a float32 multi-hot
    matrix ``[n, labels]`` (multi-label) or float32 scores ``[n]`` (regression);
    :attr:`task` reads the task from them.
    """

    texts: np.ndarray
    labels: np.ndarray
    pairs: np.ndarray | None = None

    def __post_init__(self):
        self.texts = np.asarray(self.texts, dtype=object)
        labels = np.asarray(self.labels)
        floating = labels.dtype.kind == "f" or labels.ndim == 2
        self.labels = labels.astype(np.float32 if floating else np.int64)
        if self.pairs is not None:
            self.pairs = np.asarray(self.pairs, dtype=object)
            if len(self.pairs) != len(self.texts):
                raise DataError(f"{len(self.pairs)} second texts for {len(self.texts)} texts.")
        if len(self.labels) != len(self.texts):
            raise DataError(f"{len(self.labels)} labels for {len(self.texts)} texts.")

    @property
    def task(self):
        """The :class:`~tfbert.tasks.Task` the labels imply (it compares equal to its name)."""
        return task_of_labels(self.labels)

    def __len__(self):
        return len(self.texts)

    def take(self, indices):
        pairs = None if self.pairs is None else self.pairs[indices]
        return TextSplit(self.texts[indices], self.labels[indices], pairs)


@dataclasses.dataclass
class TextData:
    """Splits of labelled texts and the names of their labels (id = position).

    For regression ``label_names`` holds one name: the score's.
    """

    train: TextSplit
    validation: TextSplit
    test: TextSplit | None
    label_names: list
    source: str = ""

    @property
    def num_classes(self):
        return len(self.label_names)

    @property
    def task(self):
        """The :class:`~tfbert.tasks.Task` of the training labels."""
        return self.train.task

    @property
    def text_pairs(self):
        """Whether each example is a pair of texts."""
        return self.train.pairs is not None

    def split(self, name):
        """The split called ``name`` (train, validation or test)."""
        found = getattr(self, name, None) if name in SPLITS else None
        if found is None:
            raise DataError(f"{self.source or 'the data'} has no {name!r} split.")
        return found

    def summary(self):
        """A short table: examples per split, and per label (or the score range)."""
        task = self.task
        kind = "text pairs" if self.text_pairs else "texts"
        what = task.describe_label_names(self.label_names)
        lines = [f"{self.source}: {task.name}, {kind}, {what}"]
        for name in SPLITS:
            part = getattr(self, name)
            if part is not None:
                detail = task.describe(part.labels, self.label_names)
                lines.append(f"  {name:<10} {len(part):>7,} ({detail})")
        return "\n".join(lines)


def balanced_subset(split, max_examples, seed=42):
    """At most ``max_examples`` examples, seeded.

    When the task stratifies (classification) labels are taken in turn
    (round-robin over a seeded order of each label's examples) so small
    subsets stay balanced; multi-label and regression data take a seeded
    random subset.

    Example::

        split = TextSplit([f"t{i}" for i in range(10)], [0] * 8 + [1] * 2)
        balanced_subset(split, 4).labels.tolist()       # two of each label
    """
    if max_examples <= 0:
        raise DataError(f"max_examples must be positive, got {max_examples}.")
    if len(split) <= max_examples:
        return split
    rng = np.random.default_rng(seed)
    strata = split.task.stratify(split.labels)
    if strata is None:
        return split.take(np.sort(rng.permutation(len(split))[:max_examples]))
    per_label = [rng.permutation(np.flatnonzero(strata == label))
                 for label in np.unique(strata)]
    rounds = max(len(p) for p in per_label)
    order = [p[i] for i in range(rounds) for p in per_label if i < len(p)]
    return split.take(np.sort(np.asarray(order[:max_examples])))


def carve(split, fraction, seed):
    """Seeded ``(rest, held_out)`` with ``max(1, round(n * fraction))`` examples held out.

    Stratified by the task's strata (classification labels), so each label
    keeps its share in both parts (within one example) — via
    ``sklearn.model_selection.train_test_split(stratify=...)``. When
    stratifying is impossible (a label with a single example, or fewer
    held-out examples than labels) and for multi-label and regression data,
    the split is seeded but not stratified. Both parts keep the source order.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}.")
    n_out = max(1, int(round(len(split) * fraction)))
    if n_out >= len(split):
        raise DataError(f"cannot hold out {fraction:.0%} of {len(split)} examples and keep "
                        "some for training.")
    indices = np.arange(len(split))
    strata = split.task.stratify(split.labels)
    try:
        rest, held_out = train_test_split(indices, test_size=n_out, random_state=seed,
                                          stratify=strata)
    except ValueError:      # sklearn: too few examples of a label (or rows) to stratify
        rest, held_out = train_test_split(indices, test_size=n_out, random_state=seed)
    return split.take(np.sort(rest)), split.take(np.sort(held_out))


def map_label_names(splits, names, label_names, source):
    """Class-id splits re-indexed from their source's ``names`` onto ``label_names``.

    For sources that name their own labels (label folders, TFDS class names):
    ids then follow the order of ``label_names``. A label that occurs in the
    data but is not in ``label_names`` is a :class:`DataError` naming it.

    Returns:
        ``({split: TextSplit}, label_names)``

    Example::

        splits, names = map_label_names({"train": TextSplit(["a", "b"], [0, 1])},
                                        ["neg", "pos"], ["pos", "neg"], "reviews/")
        splits["train"].labels.tolist()        # [1, 0]
    """
    label_names = [str(name) for name in label_names]
    if len(set(label_names)) != len(label_names):
        raise DataError(f"label_names names a label twice: {label_names}.")
    ids = {name: i for i, name in enumerate(label_names)}
    used = sorted({int(i) for part in splits.values() for i in np.unique(part.labels)})
    unknown = [str(names[i]) for i in used if str(names[i]) not in ids]
    if unknown:
        raise DataError(f"{source}: label {unknown[0]!r} is not one of the given label names "
                        f"({', '.join(map(repr, label_names))}).")
    lookup = np.array([ids.get(str(name), -1) for name in names], dtype=np.int64)
    return ({key: TextSplit(part.texts, lookup[part.labels], part.pairs)
             for key, part in splits.items()}, label_names)
