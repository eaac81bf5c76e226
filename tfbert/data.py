"""Text classification data: read it, split it, and feed it to Keras through tf.data.

Every source ends up as a :class:`TextData`: ``train``/``validation``/``test``
splits of texts (and, for sentence-pair tasks, second texts) with their labels,
plus the label names. The labels say the task (see :data:`TASKS`): integer
class ids (classification), multi-hot rows (multi-label) or float scores
(regression). Sources:

- TensorFlow Datasets (``imdb_reviews`` by default): :func:`load_tfds`;
- a folder in the aclImdb layout (``<split>/<label>/*.txt``), or a ``.tar.gz``/
  ``.tar.xz`` archive of one, unpacked safely into a cache folder: :func:`load_folder`;
- CSV/TSV files with named (or, headerless, numbered) text, text-pair and label
  columns: :func:`load_csv` (MRPC's ``.txt`` files are TSVs too);
- TREC's ``LABEL:fine question`` lines: :func:`load_trec`.

:func:`load_data` picks the reader from a source string, as the CLI does.
:func:`make_dataset` turns a split into a shuffled, batched, prefetched
``tf.data.Dataset`` whose texts are tokenized once and cached, each batch padded
only to its own longest text.

Example::

    import tfbert
    data = tfbert.load_data("../shared/data/aclImdb.tar.xz", max_examples=2000)
    print(data.summary())
"""
import csv
import dataclasses
import functools
import hashlib
import io
import math
import os
import shutil
import sys
import tarfile
import tempfile
import warnings

import numpy as np

from tfbert._cache import default_cache_dir
from tfbert.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar")
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
# What spreadsheets and pandas write for a missing value; never a real label.
MISSING_MARKERS = ("nan", "null", "n/a", "#n/a")


TASKS = ("classification", "multilabel", "regression")


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
        """``"classification"``, ``"multilabel"`` or ``"regression"``, from the labels."""
        if self.labels.ndim == 2:
            return "multilabel"
        return "regression" if self.labels.dtype.kind == "f" else "classification"

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
        return self.train.task

    @property
    def text_pairs(self):
        """Whether each example is a pair of texts."""
        return self.train.pairs is not None

    def split(self, name):
        """The split called ``name`` (train, validation or test)."""
        found = getattr(self, name, None) if name in ("train", "validation", "test") else None
        if found is None:
            raise DataError(f"{self.source or 'the data'} has no {name!r} split.")
        return found

    def summary(self):
        """A short table: examples per split, and per label (or the score range)."""
        kind = "text pairs" if self.text_pairs else "texts"
        what = (f"{self.num_classes} labels" if self.task != "regression"
                else f"score {self.label_names[0]!r}")
        lines = [f"{self.source}: {self.task}, {kind}, {what}"]
        for name in ("train", "validation", "test"):
            part = getattr(self, name)
            if part is None:
                continue
            if self.task == "regression":
                detail = (f"mean {part.labels.mean():.3g}, range {part.labels.min():.3g} to "
                          f"{part.labels.max():.3g}")
            else:
                counts = (part.labels.sum(axis=0).astype(int) if self.task == "multilabel"
                          else np.bincount(part.labels, minlength=self.num_classes))
                detail = ", ".join(f"{label}={n}" for label, n in zip(self.label_names, counts))
            lines.append(f"  {name:<10} {len(part):>7,} ({detail})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- sources

def load_data(source="imdb", *, text_column=None, label_column=None, text_pair_column=None,
              test_data=None, validation_data=None, task="auto", label_separator=",",
              label_names=None,
              validation_fraction=0.2, max_examples=None, seed=42, cache_dir=None,
              delimiter=None, tfds_data_dir=None):
    """Read labelled texts from ``source`` and split them into train/validation/test.

    Args:
        source: ``"imdb"``; ``"tfds:NAME"``; a folder or archive in the aclImdb
            layout; a ``.csv``/``.tsv`` file; or a ``.txt`` file: tab-separated
            with a header (MRPC's files) or TREC's ``LABEL:fine text`` lines.
        text_column, label_column: column names, or 0-based positions for a
            headerless file (CSV/TSV); feature keys (TFDS).
        text_pair_column: the column of each example's second text (sentence
            pairs: paraphrase, entailment, similarity).
        test_data: a file of test data in the same format; without it a file
            source is split into train and test (80/20, seeded).
        validation_data: a file of validation data in the same format (an
            official dev split); without it validation is carved from train.
        task: ``"auto"`` (read from the labels, see :func:`load_csv`),
            ``"classification"``, ``"multilabel"`` or ``"regression"``.
        label_separator: separates the labels of a multi-label field.
        label_names: names of the labels in id order (a list, or a file with one
            name a line such as GoEmotions' ``labels.txt``); integer labels in
            the data then index this list.
        validation_fraction: share of the training data held out for validation
            (seeded), unless the source has a validation split.
        max_examples: keep at most this many examples per split (balanced over
            labels for classification; seeded) for quick runs.
        seed: seed of every split and subset.
        cache_dir: where archives are unpacked (default: the user cache folder).

    Example::

        data = load_data("reviews.csv", text_column="review", label_column="sentiment")
        pairs = load_data("../shared/data/mrpc/msr_paraphrase_train.txt",
                          text_column="#1 String", text_pair_column="#2 String",
                          label_column="Quality")
    """
    source = os.fspath(source)
    if task not in ("auto", *TASKS):
        raise DataError(f"task must be 'auto' or one of {', '.join(TASKS)}, got {task!r}.")
    if isinstance(label_names, (str, os.PathLike)):
        label_names = read_label_names(label_names)
    file_format = _file_format(source) if os.path.isfile(source) else None
    if text_pair_column is not None and file_format != "table":
        raise DataError(f"{source}: text pairs (text_pair_column) come from CSV/TSV files only.")
    if source == "imdb" or source.startswith("tfds:"):
        name = "imdb_reviews" if source == "imdb" else source[len("tfds:"):]
        splits, names = load_tfds(name, text_key=text_column or "text",
                                  label_key=label_column or "label", data_dir=tfds_data_dir)
    elif file_format is not None and file_format != "archive":
        if file_format == "table":
            read = functools.partial(
                load_csv, text_column=text_column if text_column is not None else "text",
                label_column=label_column if label_column is not None else "label",
                text_pair_column=text_pair_column, delimiter=delimiter,
                label_separator=label_separator)
        else:
            read = load_trec
        train, names = read(source, task=task, label_names=label_names)
        splits = {"train": train}
        for split_name, other in (("test", test_data), ("validation", validation_data)):
            if other is None:
                continue
            if _file_format(os.fspath(other)) != file_format:
                raise DataError(f"{other} is not in the format of {source} ({file_format}).")
            splits[split_name], _ = read(other, task=train.task, label_names=names)
        if test_data is None:
            splits["train"], splits["test"] = _carve(train, 0.2, seed)
    elif os.path.exists(source):
        if validation_data is not None or test_data is not None:
            raise DataError("test_data and validation_data go with CSV/TSV/TXT sources; a folder "
                            "or archive brings its own train and test splits.")
        splits, names = load_folder(source, cache_dir=cache_dir)
    else:
        raise DataError(f"data source {source!r} does not exist; expected 'imdb', 'tfds:NAME', "
                        "a folder or archive in the aclImdb layout, or a .csv/.tsv/.txt file.")
    return _arrange(splits, names, source, validation_fraction, max_examples, seed)


def _file_format(path):
    """``"archive"``, ``"table"`` (CSV/TSV) or ``"trec"`` for a data file, by name and content."""
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist.")
    lower = path.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    if lower.endswith(TABLE_SUFFIXES):
        return "table"
    if lower.endswith(".txt"):
        with open(path, "rb") as f:
            first_line = f.readline()
        return "table" if b"\t" in first_line else "trec"
    raise DataError(f"{path}: unknown data format; expected a .csv/.tsv (optionally .gz) or "
                    ".txt file, a .tar.gz/.tar.xz archive, or a folder.")


def read_label_names(path):
    """Label names from a file with one name a line (id = line number from 0)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"label names file {path} does not exist.")
    with open(path, "rb") as f:
        names = [line.strip() for line in f.read().decode("utf-8-sig", errors="replace")
                 .splitlines() if line.strip()]
    if not names:
        raise DataError(f"label names file {path} is empty.")
    if len(set(names)) != len(names):
        raise DataError(f"label names file {path} names a label twice.")
    return names


def _arrange(splits, label_names, source, validation_fraction, max_examples, seed):
    if "train" not in splits or len(splits["train"]) == 0:
        raise DataError(f"{source}: the training split is empty.")
    for name, part in splits.items():
        if len(part) == 0:
            raise DataError(f"{source}: the {name} split is empty.")
    if max_examples is not None:
        splits = {name: balanced_subset(part, max_examples, seed) for name, part in splits.items()}
    train, validation = splits["train"], splits.get("validation")
    if validation is None:
        train, validation = _carve(train, validation_fraction, seed)
    return TextData(train, validation, splits.get("test"), list(label_names), source)


def balanced_subset(split, max_examples, seed=42):
    """At most ``max_examples`` examples, seeded.

    Classification takes labels in turn (round-robin over a seeded order of
    each label's examples) so small subsets stay balanced; multi-label and
    regression data take a seeded random subset.
    """
    if max_examples <= 0:
        raise DataError(f"max_examples must be positive, got {max_examples}.")
    if len(split) <= max_examples:
        return split
    rng = np.random.default_rng(seed)
    if split.task != "classification":
        return split.take(np.sort(rng.permutation(len(split))[:max_examples]))
    per_label = [rng.permutation(np.flatnonzero(split.labels == label))
                 for label in np.unique(split.labels)]
    rounds = max(len(p) for p in per_label)
    order = [p[i] for i in range(rounds) for p in per_label if i < len(p)]
    chosen = np.sort(np.asarray(order[:max_examples]))
    return split.take(chosen)


def _carve(split, fraction, seed):
    """Seeded (rest, held-out) partition with ``fraction`` of the examples held out."""
    if not 0 < fraction < 1:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}.")
    order = np.random.default_rng(seed).permutation(len(split))
    n_out = max(1, int(round(len(split) * fraction)))
    if n_out >= len(split):
        raise DataError(f"cannot hold out {fraction:.0%} of {len(split)} examples and keep "
                        "some for training.")
    return split.take(np.sort(order[n_out:])), split.take(np.sort(order[:n_out]))


def load_tfds(name="imdb_reviews", text_key="text", label_key="label", splits=("train", "test"),
              data_dir=None):
    """Read a TFDS text-classification dataset into memory.

    Downloads it when it is not prepared yet; offline, fails within seconds
    with a message saying how to use local data instead.

    Returns:
        ``({split: TextSplit}, label_names)``
    """
    import tensorflow_datasets as tfds
    from tfbert._net import ensure_reachable

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # tfds raises its own DatasetNotFoundError
        raise DataError(f"unknown TFDS dataset {name!r}: {exc}") from None
    if not _tfds_prepared(builder):
        ensure_reachable("https://storage.googleapis.com", what=f"TFDS dataset {name!r}",
                         error=DataError, hint="Offline, pass local data instead: --data /path/to/aclImdb "
                              "(or aclImdb.tar.xz), or a .csv/.tsv file.")
        builder.download_and_prepare()
    features = builder.info.features
    for key in (text_key, label_key):
        if key not in features:
            raise DataError(f"TFDS dataset {name!r} has no feature {key!r}; it has "
                            f"{', '.join(features.keys())}.")
    label_names = list(getattr(features[label_key], "names", None) or [])
    result = {}
    for split in splits:
        if builder.info.splits and split not in builder.info.splits:
            continue
        texts, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            texts.append(_decode(example[text_key]))
            labels.append(int(example[label_key]))
        result[split] = TextSplit(texts, labels)
    if not label_names:
        label_names = [str(i) for i in range(max(int(s.labels.max()) for s in result.values()) + 1)]
    return result, label_names


def _tfds_prepared(builder):
    try:
        return builder.is_prepared()
    except AttributeError:  # older tfds
        return os.path.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def _decode(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def load_folder(path, splits=("train", "test"), cache_dir=None):
    """Read a folder (or archive of one) laid out as ``<split>/<label>/*.txt``.

    Label folders are those present in every split found, so aclImdb's
    ``train/unsup`` (unlabelled reviews) is left out; labels are sorted by name,
    as ``tf.keras.utils.text_dataset_from_directory`` does. An archive may hold
    the layout at its top or inside one folder (``aclImdb/``).

    Returns:
        ``({split: TextSplit}, label_names)``
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        path = extract_archive(path, cache_dir=cache_dir)
    root = _find_split_root(path, splits)
    present = [s for s in splits if os.path.isdir(os.path.join(root, s))]
    label_sets = [{d for d in os.listdir(os.path.join(root, s))
                   if os.path.isdir(os.path.join(root, s, d))} for s in present]
    label_names = sorted(set.intersection(*label_sets))
    if not label_names:
        raise DataError(f"{root}: no label folders common to {', '.join(present)} "
                        "(expected <split>/<label>/*.txt).")
    result = {}
    replaced = []
    for split in present:
        texts, labels = [], []
        for label_id, label in enumerate(label_names):
            folder = os.path.join(root, split, label)
            for file_name in sorted(os.listdir(folder)):
                path = os.path.join(folder, file_name)
                if file_name.startswith(".") or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    raw = f.read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", errors="replace")
                    replaced.append(path)
                if not text.strip():
                    raise DataError(f"{path}: empty text (a label folder holds one text a "
                                    "file); remove the file or give it text.")
                texts.append(text)
                labels.append(label_id)
        result[split] = TextSplit(texts, labels)
    if replaced:
        warnings.warn(f"{len(replaced)} file(s) held bytes that are not UTF-8, replaced with "
                      f"U+FFFD; the first: {replaced[0]}", stacklevel=2)
    return result, label_names


def _find_split_root(path, splits):
    if not os.path.isdir(path):
        raise DataError(f"{path} does not exist.")
    candidates = [path] + [os.path.join(path, d) for d in sorted(os.listdir(path))
                           if os.path.isdir(os.path.join(path, d))]
    for candidate in candidates:
        if any(os.path.isdir(os.path.join(candidate, s)) for s in splits):
            return candidate
    raise DataError(f"{path} is not in the aclImdb layout: no {' or '.join(splits)} folder "
                    "holding one folder per label.")


def extract_archive(archive, cache_dir=None):
    """Unpack a tar archive once into the cache and return the folder.

    Members that are links, devices, absolute paths or that climb out with
    ``..`` are refused (naming the member) before anything is written. The
    archive is unpacked into a temporary folder and renamed into place, so an
    interrupted run leaves no half-unpacked data behind, and processes unpacking
    the same archive at once (the workers of a cluster) all end with the one copy.
    """
    archive = os.path.abspath(archive)
    if not archive.lower().endswith(ARCHIVE_SUFFIXES):
        raise DataError(f"{archive} is not a folder or a .tar.gz/.tar.xz archive.")
    stat = os.stat(archive)
    key = hashlib.sha1(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    stem = os.path.basename(archive).split(".")[0]
    target = os.path.join(cache_dir or os.path.join(default_cache_dir(), "datasets"),
                          f"{stem}-{key}")
    if os.path.isdir(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{stem}-", dir=os.path.dirname(target))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(archive, member)
                print(f"Unpacking {archive} ({len(members):,} files) into {target} ...",
                      file=sys.stderr)
                tar.extractall(staging, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"cannot unpack {archive}: {exc}") from None
        try:
            os.replace(staging, target)
        except OSError:
            if not os.path.isdir(target):
                raise
            # Another process (a second worker, notebook or test run) unpacked the same
            # archive into the same cache meanwhile: its copy is as good as ours.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_member(archive, member):
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in parts:
        raise DataError(f"{archive}: member {name!r} would be written outside its folder; "
                        "refusing to unpack.")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: member {name!r} is a link or special file; refusing to "
                        "unpack.")


def load_csv(path, text_column="text", label_column="label", delimiter=None, label_names=None,
             text_pair_column=None, task="auto", label_separator=",", quoting=None):
    """Read a CSV/TSV file of texts (or text pairs) and labels.

    Columns are named (the first row is a header; a UTF-8 BOM is dropped) or,
    when the text and label columns are integers, 0-based positions in a
    headerless file (google-research/bert's and GoEmotions' TSVs). ``.gz``
    files are read compressed. ``.tsv`` and ``.txt`` files are tab-separated
    and, like GLUE's, MRPC's and GoEmotions' files, read with quoting off
    (``quoting=False``); CSV files honour ``"`` quoting.

    The task, unless given, is read from the labels: fields holding
    ``label_separator`` make it multi-label; numbers with a decimal point or
    exponent (``3.800``) make it regression; anything else is classification.
    Class labels are names or integers, mapped to ids in sorted order (numeric
    order for integers) unless ``label_names`` fixes the mapping, in which case
    an integer label that is not itself a name is a position in that list.

    Returns:
        ``(TextSplit, label_names)``; for regression ``label_names`` is
        ``[label_column]``.

    Raises:
        DataError: naming the file and row of a missing column, an empty text
            or label, a score that is not a number, or a label outside
            ``label_names``.

    Example::

        split, names = load_csv("../shared/data/goemotions/train.tsv", text_column=0,
                                label_column=1, task="multilabel",
                                label_names=read_label_names("labels.txt"))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist.")
    delimiter, quoting = table_dialect(path, delimiter, quoting)
    columns = [text_column, label_column] + ([text_pair_column] if text_pair_column is not None
                                             else [])
    if isinstance(text_column, int) and isinstance(label_column, int) and \
            not isinstance(columns[-1], int):
        raise DataError(f"{path}: the text pair column must be a position too in a "
                        f"headerless file, got {text_pair_column!r}.")
    texts, pairs, raw_labels = [], [], []
    for row_number, cells in select_columns(path, read_table_rows(path, delimiter, quoting),
                                            columns):
        text, label = cells[0], cells[1].strip()
        if label.lower() in MISSING_MARKERS:
            raise DataError(f"{path}, row {row_number}: missing label ({label!r}).")
        for value, what in zip(cells, ("text", "label", "second text")):
            if not value.strip():
                raise DataError(f"{path}, row {row_number}: empty {what}.")
        texts.append(text)
        if len(cells) > 2:
            pairs.append(cells[2])
        raw_labels.append((row_number, label))
    if not texts:
        raise DataError(f"{path} holds no rows of data.")
    labels, names = encode_labels(raw_labels, path, task=task, label_names=label_names,
                                  separator=label_separator,
                                  score_name=str(label_column))
    return TextSplit(texts, labels, pairs if text_pair_column is not None else None), names


def table_dialect(path, delimiter=None, quoting=None):
    """``(delimiter, quoting)`` for a table file, unless given: ``.tsv`` and ``.txt`` files
    are tab-separated with quoting off (GLUE's, MRPC's, GoEmotions'), CSV files honour ``"``."""
    tab_separated = ".tsv" in path.lower() or path.lower().endswith(".txt")
    if delimiter is None:
        delimiter = "\t" if tab_separated else ","
    return delimiter, (not tab_separated) if quoting is None else quoting


def csv_reader(lines, delimiter, quoting):
    """``csv.reader`` over ``lines`` (any field size; ``quoting=False`` reads ``"`` as text)."""
    csv.field_size_limit(sys.maxsize)
    if quoting:
        return csv.reader(lines, delimiter=delimiter)
    return csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)


def select_columns(path, rows, columns):
    """Yield ``(row_number, cells)``: the cells of ``columns`` in each non-blank row.

    Integer columns are 0-based positions in a headerless file; otherwise the
    first row is the header and every column is a name in it. Errors name
    ``path`` and the row (or list the columns there are).
    """
    first_row = 1
    if not all(isinstance(c, int) for c in columns):
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path} is empty.")
        header = [h.strip().lstrip("\ufeff") for h in header]
        for column in columns:
            if column not in header:
                raise DataError(f"{path}: no column {column!r}; the columns are "
                                f"{', '.join(repr(h) for h in header)}.")
        columns = [header.index(c) for c in columns]
        first_row = 2
    for row_number, row in enumerate(rows, start=first_row):
        if not row or all(not cell.strip() for cell in row):
            continue
        if max(columns) >= len(row):
            raise DataError(f"{path}, row {row_number}: {len(row)} columns, expected at least "
                            f"{max(columns) + 1}.")
        yield row_number, [row[c] for c in columns]


def infer_task(raw_labels, separator=","):
    """The task that label strings imply: multilabel, regression or classification."""
    if separator and any(separator in label for label in raw_labels):
        return "multilabel"
    if all(_is_number(label) for label in raw_labels) and any(
            any(mark in label.lower() for mark in (".", "e")) for label in raw_labels):
        return "regression"
    return "classification"


def _is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def encode_labels(raw_labels, path, task="auto", label_names=None, separator=",",
                  score_name="score"):
    """Label strings (``[(row_number, label), ...]``) -> ``(labels, label_names)`` for ``task``.

    Errors name ``path`` and the row of the first label that cannot be read.
    """
    strings = [label for _, label in raw_labels]
    if task == "auto":
        task = infer_task(strings, separator)
    if task == "regression":
        scores = []
        for row_number, label in raw_labels:
            if not _is_number(label):
                raise DataError(f"{path}, row {row_number}: score {label!r} is not a finite "
                                "number.")
            scores.append(float(label))
        return np.asarray(scores, dtype=np.float32), [score_name]
    if task == "multilabel":
        tokens = [[t.strip() for t in label.split(separator) if t.strip()] if separator
                  else [label] for label in strings]
    else:
        tokens = [[label] for label in strings]
    if label_names is None:
        label_names = _sorted_labels(t for row in tokens for t in row)
    label_names = [str(name) for name in label_names]
    ids = {name: i for i, name in enumerate(label_names)}
    encoded = []
    for (row_number, _), row in zip(raw_labels, tokens):
        row_ids = []
        for token in row:
            if token in ids:
                row_ids.append(ids[token])
            elif token.isdigit() and int(token) < len(label_names):
                row_ids.append(int(token))
            else:
                shown = ", ".join(map(repr, label_names[:30])) + (
                    ", ..." if len(label_names) > 30 else "")
                raise DataError(f"{path}, row {row_number}: label {token!r} is not one of "
                                f"{shown}.")
        encoded.append(row_ids)
    if task == "multilabel":
        labels = np.zeros((len(encoded), len(label_names)), dtype=np.float32)
        for i, row_ids in enumerate(encoded):
            labels[i, row_ids] = 1.0
        return labels, label_names
    return np.asarray([row_ids[0] for row_ids in encoded], dtype=np.int64), label_names


def _sorted_labels(labels):
    unique = set(labels)
    try:
        if all(str(int(v)) == v for v in unique):
            return [str(v) for v in sorted(int(v) for v in unique)]
    except ValueError:
        pass
    return sorted(unique)


def load_trec(path, task="classification", label_names=None, fine=False):
    """Read TREC question classification lines: ``COARSE:fine question text``.

    The label is the coarse class (6 of them), or ``COARSE:fine`` (50) with
    ``fine=True``. The original ``train.txt`` is ISO-8859-1 with one byte that
    is not UTF-8: a line that does not decode as UTF-8 is read as ISO-8859-1,
    and a warning names it.

    Returns:
        ``(TextSplit, label_names)``

    Example::

        split, names = load_trec("../shared/data/trec/train.txt")   # names: ABBR, DESC, ...
    """
    path = os.fspath(path)
    if task not in ("auto", "classification"):
        raise DataError(f"{path}: TREC questions have one label each; task {task!r} does not "
                        "apply.")
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    texts, raw_labels = [], []
    for line_number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("latin-1")
            warnings.warn(f"{path}, line {line_number}: not UTF-8; read as ISO-8859-1.",
                          stacklevel=2)
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        coarse, colon, _ = label.partition(":")
        if not colon or not coarse or not text.strip():
            raise DataError(f"{path}, line {line_number}: expected 'COARSE:fine question', got "
                            f"{line[:60]!r}.")
        texts.append(text.strip())
        raw_labels.append((line_number, label if fine else coarse))
    if not texts:
        raise DataError(f"{path} holds no questions.")
    labels, names = encode_labels(raw_labels, path, task="classification",
                                  label_names=label_names, separator=None)
    return TextSplit(texts, labels), names


def read_table_rows(path, delimiter, quoting=True):
    """An iterator over a CSV/TSV file's rows (``.gz`` read compressed, BOM dropped).

    Bytes that are not UTF-8 are replaced with U+FFFD, and a warning names the
    first row where that happened. ``quoting=False`` reads ``"`` as a plain
    character (GLUE-style TSVs).
    """
    import gzip
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[:exc.start].count(b"\n") + 1
        warnings.warn(f"{path}, row {row}: bytes that are not UTF-8 were replaced with "
                      "U+FFFD.", stacklevel=2)
        text = raw.decode("utf-8-sig", errors="replace")
    if "\x00" in text:
        raise DataError(f"{path}: holds NUL bytes; it is not a text table.")
    try:
        rows = list(csv_reader(io.StringIO(text, newline=""), delimiter, quoting))
    except csv.Error as exc:
        raise DataError(f"{path}: not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") \
            from None
    return iter(rows)


# ---------------------------------------------------------------------------- tf.data

def make_dataset(split, preprocessor=None, batch_size=32, shuffle=False, seed=42,
                 drop_remainder=False, label_dtype=None, tokenize_batch_size=256,
                 dynamic_padding=True, bucket_batches=16, epochs=None, start=(0, 0)):
    """A ``tf.data.Dataset`` of ``(inputs, label)`` batches from a :class:`TextSplit`.

    With a ``preprocessor`` (strings -> encoder inputs, e.g. ``model.preprocessor``;
    a pair of string batches for a split with ``pairs``) the texts are tokenized
    in large batches once, cached, and every later epoch reads the cached token
    ids. Shuffling happens after the cache, with a fresh order every epoch.

    ``dynamic_padding`` cuts each batch to its longest text instead of the full
    sequence length (BERT packs real tokens first, so this drops padding only
    and changes no logit); when shuffling, texts of similar length are also
    grouped into the same batches (sorted within windows of ``bucket_batches``
    batches, whose order is then shuffled). Evaluation order is kept. Turn it
    off for TPUs, which want fixed shapes. Without a preprocessor the dataset
    yields raw strings (a tuple of two for pairs).

    With ``epochs`` (and ``shuffle``) the dataset is one stream of that many
    epochs whose order depends on ``seed`` and the epoch number alone, not on
    how often the dataset was iterated before, and it begins at
    ``start=(epoch, batch)``: a run resumed in a new process sees exactly the
    batches the interrupted run had still to see (fit it with
    ``steps_per_epoch``).

    Example::

        train_ds = make_dataset(data.train, model.preprocessor, batch_size=32, shuffle=True)
        model.core.fit(train_ds, epochs=2)
    """
    from tfbert._tf import tf

    if len(split) == 0:
        raise DataError("cannot make a dataset from an empty split.")
    labels = split.labels.astype(label_dtype or split.labels.dtype)
    texts = split.texts.astype(str)
    features = texts if split.pairs is None else (texts, split.pairs.astype(str))
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if preprocessor is not None:
        pack = (lambda f: preprocessor(f)) if split.pairs is None else (
            lambda f: preprocessor(list(f)))
        ds = (ds.batch(tokenize_batch_size)
              .map(lambda f, label: (pack(f), label), num_parallel_calls=tf.data.AUTOTUNE)
              .unbatch()
              .apply(tf.data.experimental.assert_cardinality(len(split))))
    ds = ds.cache()
    trim = preprocessor is not None and dynamic_padding
    bucket = trim and shuffle and bucket_batches > 1

    def batches(seed, reshuffle):
        out = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=reshuffle) if (
            shuffle) else ds
        if bucket:
            out = (out.batch(batch_size * bucket_batches).map(_sort_by_length).unbatch()
                   .apply(tf.data.experimental.assert_cardinality(len(split))))
        out = out.batch(batch_size, drop_remainder=drop_remainder)
        if trim:
            out = out.map(lambda inputs, labels: (trim_padding(inputs), labels),
                          num_parallel_calls=tf.data.AUTOTUNE)
        if bucket:
            out = out.shuffle(bucket_batches, seed=seed, reshuffle_each_iteration=reshuffle)
        return out

    if epochs is None or not shuffle:
        return batches(seed, reshuffle=True).prefetch(tf.data.AUTOTUNE)
    first_epoch, skip = start
    if not 0 <= first_epoch < epochs:
        raise ValueError(f"start epoch {first_epoch} is outside 0..{epochs - 1}")
    stream = batches(_epoch_seed(seed, first_epoch), reshuffle=False).skip(skip)
    for epoch in range(first_epoch + 1, epochs):
        stream = stream.concatenate(batches(_epoch_seed(seed, epoch), reshuffle=False))
    return stream.prefetch(tf.data.AUTOTUNE)


def _epoch_seed(seed, epoch):
    """A shuffle seed for one epoch, distinct for each (seed, epoch)."""
    return (seed * 1_000_003 + epoch) % (2 ** 31 - 1)


def length_order(texts, pairs=None):
    """Indices that sort texts (with their pairs) by length, for predicting in batches of
    similar length; invert with ``np.argsort`` of the result. Stable."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    if pairs is not None:
        lengths += np.fromiter((len(t) for t in pairs), dtype=np.int64, count=len(pairs))
    return np.argsort(lengths, kind="stable")


def _sort_by_length(inputs, labels):
    from tfbert._tf import tf
    order = tf.argsort(token_lengths(inputs))
    return ({key: tf.gather(value, order) for key, value in inputs.items()},
            tf.gather(labels, order))


def trim_padding(inputs):
    """Encoder inputs cut to the batch's longest text (at least one column).

    BERT packing puts every real token before the padding, so the columns cut
    hold padding only and no logit changes.
    """
    from tfbert._tf import tf
    length = tf.maximum(tf.reduce_max(token_lengths(inputs)), 1)
    return {key: value[:, :length] for key, value in inputs.items()}


def token_lengths(inputs):
    """Real tokens of each packed example (``[CLS]``/``[SEP]`` included)."""
    from tfbert._tf import tf
    return tf.reduce_sum(tf.cast(inputs["input_mask"], tf.int32), axis=1)
