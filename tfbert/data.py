"""Text classification data: read it, split it, and feed it to Keras through tf.data.

Every source ends up as a :class:`TextData`: ``train``/``validation``/``test``
splits of texts and integer labels, plus the label names. Sources:

- TensorFlow Datasets (``imdb_reviews`` by default): :func:`load_tfds`;
- a folder in the aclImdb layout (``<split>/<label>/*.txt``), or a ``.tar.gz``/
  ``.tar.xz`` archive of one, unpacked safely into a cache folder: :func:`load_folder`;
- CSV/TSV files with named (or, headerless, numbered) text and label columns:
  :func:`load_csv`.

:func:`load_data` picks the reader from a source string, as the CLI does.
:func:`make_dataset` turns a split into a shuffled, batched, prefetched
``tf.data.Dataset`` whose texts are tokenized once and cached.

Example::

    import tfbert
    data = tfbert.load_data("../shared/data/aclImdb.tar.xz", max_examples=2000)
    print(data.summary())
"""
import csv
import dataclasses
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile

import numpy as np

from tfbert._cache import default_cache_dir
from tfbert.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar")
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


@dataclasses.dataclass
class TextSplit:
    """One split: ``texts`` (array of str) and ``labels`` (int64 class ids)."""

    texts: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        self.texts = np.asarray(self.texts, dtype=object)
        self.labels = np.asarray(self.labels, dtype=np.int64)

    def __len__(self):
        return len(self.texts)

    def take(self, indices):
        return TextSplit(self.texts[indices], self.labels[indices])


@dataclasses.dataclass
class TextData:
    """Splits of labelled texts and the names of their labels (id = position)."""

    train: TextSplit
    validation: TextSplit
    test: TextSplit | None
    label_names: list
    source: str = ""

    @property
    def num_classes(self):
        return len(self.label_names)

    def split(self, name):
        """The split called ``name`` (train, validation or test)."""
        found = getattr(self, name, None) if name in ("train", "validation", "test") else None
        if found is None:
            raise DataError(f"{self.source or 'the data'} has no {name!r} split.")
        return found

    def summary(self):
        """A short table: examples per split and label."""
        lines = [f"{self.source}: {self.num_classes} labels"]
        for name in ("train", "validation", "test"):
            part = getattr(self, name)
            if part is None:
                continue
            counts = np.bincount(part.labels, minlength=self.num_classes)
            per_label = ", ".join(f"{label}={n}" for label, n in zip(self.label_names, counts))
            lines.append(f"  {name:<10} {len(part):>7,} ({per_label})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- sources

def load_data(source="imdb", *, text_column=None, label_column=None, test_data=None,
              validation_fraction=0.2, max_examples=None, seed=42, cache_dir=None,
              label_names=None, delimiter=None, tfds_data_dir=None):
    """Read labelled texts from ``source`` and split them into train/validation/test.

    Args:
        source: ``"imdb"``; ``"tfds:NAME"``; a folder or archive in the aclImdb
            layout; or a ``.csv``/``.tsv`` file (training data).
        text_column, label_column: column names, or 0-based positions for a
            headerless file (CSV/TSV); feature keys (TFDS).
        test_data: a CSV/TSV of test data; without it a CSV/TSV source is split
            into train and test.
        validation_fraction: share of the training data held out for validation
            (seeded), unless the source has a validation split.
        max_examples: keep at most this many examples per split, balanced over
            labels and seeded, for quick runs.
        seed: seed of every split and subset.
        cache_dir: where archives are unpacked (default: the user cache folder).
        label_names: names for integer labels (CSV/TSV).

    Example::

        data = load_data("reviews.csv", text_column="review", label_column="sentiment")
    """
    source = os.fspath(source)
    if source == "imdb" or source.startswith("tfds:"):
        name = "imdb_reviews" if source == "imdb" else source[len("tfds:"):]
        splits, names = load_tfds(name, text_key=text_column or "text",
                                  label_key=label_column or "label", data_dir=tfds_data_dir)
    elif source.lower().endswith(TABLE_SUFFIXES):
        table = dict(text_column=text_column if text_column is not None else "text",
                     label_column=label_column if label_column is not None else "label",
                     delimiter=delimiter)
        train, names = load_csv(source, label_names=label_names, **table)
        splits = {"train": train}
        if test_data is not None:
            splits["test"], _ = load_csv(test_data, label_names=names, **table)
        else:
            splits["train"], splits["test"] = _carve(train, 0.2, seed)
    elif os.path.exists(source):
        splits, names = load_folder(source, cache_dir=cache_dir)
    else:
        raise DataError(f"data source {source!r} does not exist; expected 'imdb', 'tfds:NAME', "
                        "a folder or archive in the aclImdb layout, or a .csv/.tsv file.")
    return _arrange(splits, names, source, validation_fraction, max_examples, seed)


def _arrange(splits, label_names, source, validation_fraction, max_examples, seed):
    if "train" not in splits or len(splits["train"]) == 0:
        raise DataError(f"{source}: the training split is empty.")
    if max_examples is not None:
        splits = {name: balanced_subset(part, max_examples, seed) for name, part in splits.items()}
    train, validation = splits["train"], splits.get("validation")
    if validation is None:
        train, validation = _carve(train, validation_fraction, seed)
    return TextData(train, validation, splits.get("test"), list(label_names), source)


def balanced_subset(split, max_examples, seed=42):
    """At most ``max_examples`` examples, taken round-robin over labels in a seeded order."""
    if max_examples <= 0:
        raise DataError(f"max_examples must be positive, got {max_examples}.")
    if len(split) <= max_examples:
        return split
    rng = np.random.default_rng(seed)
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
    for split in present:
        texts, labels = [], []
        for label_id, label in enumerate(label_names):
            folder = os.path.join(root, split, label)
            for file_name in sorted(os.listdir(folder)):
                if file_name.startswith("."):
                    continue
                with open(os.path.join(folder, file_name), "rb") as f:
                    texts.append(f.read().decode("utf-8", errors="replace"))
                labels.append(label_id)
        result[split] = TextSplit(texts, labels)
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
    interrupted run leaves no half-unpacked data behind.
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
        os.replace(staging, target)
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


def load_csv(path, text_column="text", label_column="label", delimiter=None, label_names=None):
    """Read a CSV/TSV file of texts and labels.

    Columns are named (the first row is a header) or, when both are integers,
    0-based positions in a headerless file (google-research/bert's TSVs).
    Labels are names or integers; they are mapped to ids in sorted order
    (numeric order for integers) unless ``label_names`` fixes the mapping.
    ``.gz`` files are read compressed; ``.tsv`` means tab-separated.

    Returns:
        ``(TextSplit, label_names)``

    Raises:
        DataError: naming the file and row of a missing column, an empty text or
            label, or a label outside ``label_names``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist.")
    if delimiter is None:
        delimiter = "\t" if ".tsv" in path.lower() else ","
    positional = isinstance(text_column, int) and isinstance(label_column, int)
    rows = read_table_rows(path, delimiter)
    first_row = 1
    if not positional:
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path} is empty.")
        header = [h.strip().lstrip("\ufeff") for h in header]
        for column in (text_column, label_column):
            if column not in header:
                raise DataError(f"{path}: no column {column!r}; the columns are "
                                f"{', '.join(repr(h) for h in header)}.")
        text_index, label_index = header.index(text_column), header.index(label_column)
        first_row = 2
    else:
        text_index, label_index = text_column, label_column
    texts, raw_labels = [], []
    for row_number, row in enumerate(rows, start=first_row):
        if not row or all(not cell.strip() for cell in row):
            continue
        if max(text_index, label_index) >= len(row):
            raise DataError(f"{path}, row {row_number}: {len(row)} columns, expected at least "
                            f"{max(text_index, label_index) + 1}.")
        text, label = row[text_index], row[label_index].strip()
        if not text.strip():
            raise DataError(f"{path}, row {row_number}: empty text.")
        if not label:
            raise DataError(f"{path}, row {row_number}: empty label.")
        texts.append(text)
        raw_labels.append((row_number, label))
    if not texts:
        raise DataError(f"{path} holds no rows of data.")
    if label_names is None:
        label_names = _sorted_labels(label for _, label in raw_labels)
    ids = {name: i for i, name in enumerate(label_names)}
    labels = []
    for row_number, label in raw_labels:
        if label not in ids:
            raise DataError(f"{path}, row {row_number}: label {label!r} is not one of "
                            f"{', '.join(map(repr, label_names))}.")
        labels.append(ids[label])
    return TextSplit(texts, labels), list(label_names)


def read_table_rows(path, delimiter):
    """An iterator over a CSV/TSV file's rows (``.gz`` read compressed, BOM dropped)."""
    import gzip
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    csv.field_size_limit(sys.maxsize)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"{path}: not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") \
            from None
    return iter(rows)


def _sorted_labels(labels):
    unique = set(labels)
    try:
        return [str(v) for v in sorted(int(v) for v in unique)] \
            if all(str(int(v)) == v for v in unique) else sorted(unique)
    except ValueError:
        return sorted(unique)


# ---------------------------------------------------------------------------- tf.data

def make_dataset(split, preprocessor=None, batch_size=32, shuffle=False, seed=42,
                 drop_remainder=False, label_dtype="int64", tokenize_batch_size=256):
    """A ``tf.data.Dataset`` of ``(inputs, label)`` batches from a :class:`TextSplit`.

    With a ``preprocessor`` (strings -> encoder inputs, e.g. ``model.preprocessor``)
    the texts are tokenized in large batches once, cached, and every later epoch
    reads the cached token ids; without one the dataset yields raw strings.
    Shuffling happens after the cache, with a fresh order every epoch.

    Example::

        train_ds = make_dataset(data.train, model.preprocessor, batch_size=32, shuffle=True)
        model.core.fit(train_ds, epochs=2)
    """
    from tfbert._tf import tf

    if len(split) == 0:
        raise DataError("cannot make a dataset from an empty split.")
    labels = split.labels.astype(label_dtype)
    ds = tf.data.Dataset.from_tensor_slices((split.texts.astype(str), labels))
    if preprocessor is not None:
        ds = (ds.batch(tokenize_batch_size)
              .map(lambda text, label: (preprocessor(text), label),
                   num_parallel_calls=tf.data.AUTOTUNE)
              .unbatch()
              .apply(tf.data.experimental.assert_cardinality(len(split))))
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
