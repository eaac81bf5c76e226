"""Text classification data: read it, split it, and feed it to Keras through tf.data.

Every source ends up as a :class:`TextData`: ``train``/``validation``/``test``
splits of texts (and, for sentence-pair tasks, second texts) with their labels,
plus the label names. The labels say the task (a :class:`tfbert.tasks.Task`):
integer class ids (classification), multi-hot rows (multi-label) or float
scores (regression). :func:`load_data` picks the reader from a source string,
as the CLI does. The package:

- :mod:`~tfbert.data.readers`: CSV/TSV/TXT tables (pandas), the streaming
  reader ``predict --file`` uses, TREC lines, label-name files;
- :mod:`~tfbert.data.sources`: folders in the aclImdb layout, archives of them,
  TensorFlow Datasets;
- :mod:`~tfbert.data.splits`: the containers, balanced subsets and the
  stratified seeded carve of validation/test data;
- :mod:`~tfbert.data.pipeline`: :func:`make_dataset`, the tf.data pipeline.

Nothing here imports TensorFlow at import time (the pipeline and TFDS reader
import it when called).

Example::

    import tfbert
    data = tfbert.load_data("../shared/data/aclImdb.tar.xz", max_examples=2000)
    print(data.summary())
"""
import functools
import os

from tfbert.data.pipeline import length_order, make_dataset
from tfbert.data.readers import (TABLE_SUFFIXES, iter_texts, load_csv, load_trec,
                                 read_label_names, table_dialect)
from tfbert.data.sources import (ARCHIVE_SUFFIXES, extract_archive, load_folder, load_tfds,
                                 tfds_name)
from tfbert.data.splits import TextData, TextSplit, balanced_subset, carve, map_label_names
from tfbert.errors import DataError
from tfbert.tasks import TASKS, check_task_name, get_task, infer_task, resolve_task
from tfbert.tasks.base import MISSING_MARKERS

__all__ = ["load_data", "TextData", "TextSplit", "make_dataset", "length_order", "load_csv",
           "load_folder", "load_tfds", "load_trec", "iter_texts", "extract_archive",
           "read_label_names", "balanced_subset", "carve", "map_label_names", "table_dialect",
           "encode_labels", "infer_task", "trim_padding", "token_lengths", "TASKS",
           "TABLE_SUFFIXES", "ARCHIVE_SUFFIXES", "MISSING_MARKERS"]

def encode_labels(raw_labels, path, task="auto", label_names=None, separator=",",
                  score_name="score"):
    """Label strings (``[(row_number, label), ...]``) -> ``(labels, label_names)``: the task's
    :meth:`~tfbert.tasks.Task.encode_labels`, the task read from the labels when ``"auto"``."""
    task = resolve_task(task, [label for _, label in raw_labels], separator)
    return task.encode_labels(raw_labels, path, label_names=label_names,
                                        separator=separator, score_name=score_name)


def __getattr__(name):
    # The tensor ops moved to tfbert.layers, which imports TensorFlow: loaded on first use.
    if name in ("trim_padding", "token_lengths"):
        from tfbert import layers
        return getattr(layers, name)
    raise AttributeError(f"module 'tfbert.data' has no attribute {name!r}")


def load_data(source="imdb", *, text_column=None, label_column=None, text_pair_column=None,
              test_data=None, validation_data=None, task="auto", label_separator=",",
              label_names=None, validation_fraction=0.2, max_examples=None, seed=42,
              cache_dir=None, delimiter=None, tfds_data_dir=None):
    """Read labelled texts from ``source`` and split them into train/validation/test.

    Args:
        source: ``"imdb"``; ``"tfds:NAME"``; a folder or archive in the aclImdb
            layout; a ``.csv``/``.tsv`` file; or a ``.txt`` file: tab-separated
            with a header (MRPC's files) or TREC's ``LABEL:fine text`` lines; or a
            SQuAD-format ``.json`` file (question answering): then the result is
            :func:`~tfbert.data.squad.load_squad`'s :class:`~tfbert.data.squad.QAData`
            (validation articles held out; ``test_data`` read whole).
        text_column, label_column: column names, or 0-based positions for a
            headerless file (CSV/TSV); feature keys (TFDS).
        text_pair_column: the column of each example's second text (sentence
            pairs: paraphrase, entailment, similarity).
        test_data: a file of test data in the same format; without it a file
            source is split into train and test (80/20, seeded, stratified).
        validation_data: a file of validation data in the same format (an
            official dev split); without it validation is carved from train.
        task: ``"auto"`` (read from the labels, see :func:`load_csv`),
            ``"classification"``, ``"multilabel"`` or ``"regression"``.
        label_separator: separates the labels of a multi-label field.
        label_names: names of the labels in id order (a list, or a file with one
            name a line such as GoEmotions' ``labels.txt``). Every source honours
            it: integer labels in a file index this list; the label names of a
            folder or TFDS dataset are mapped onto it (ids follow its order; a
            label not in it is an error).
        validation_fraction: share of the training data held out for validation
            (seeded, stratified by label for classification), unless the source
            has a validation split.
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
    if source.lower().endswith(".json"):     # SQuAD-format question answering data
        from tfbert.data.squad import load_squad
        return load_squad(source, test_path=test_data, seed=seed, max_questions=max_examples)
    check_task_name(task)
    if isinstance(label_names, (str, os.PathLike)):
        label_names = read_label_names(label_names)
    file_format = _file_format(source) if os.path.isfile(source) else None
    if text_pair_column is not None and file_format != "table":
        raise DataError(f"{source}: text pairs (text_pair_column) come from CSV/TSV files only.")
    if tfds_name(source) is not None:
        splits, names = load_tfds(tfds_name(source), text_key=text_column or "text",
                                  label_key=label_column or "label", data_dir=tfds_data_dir,
                                  label_names=label_names)
    elif file_format is not None and file_format != "archive":
        splits, names = _load_files(source, file_format, test_data, validation_data, seed,
                                    text_column=text_column, label_column=label_column,
                                    text_pair_column=text_pair_column, delimiter=delimiter,
                                    label_separator=label_separator, task=task,
                                    label_names=label_names)
    elif os.path.exists(source):
        if validation_data is not None or test_data is not None:
            raise DataError("test_data and validation_data go with CSV/TSV/TXT sources; a folder "
                            "or archive brings its own train and test splits.")
        splits, names = load_folder(source, cache_dir=cache_dir, label_names=label_names)
    else:
        raise DataError(f"data source {source!r} does not exist; expected 'imdb', 'tfds:NAME', "
                        "a folder or archive in the aclImdb layout, or a .csv/.tsv/.txt file.")
    return _arrange(splits, names, source, validation_fraction, max_examples, seed)


def _load_files(source, file_format, test_data, validation_data, seed, *, text_column,
                label_column, text_pair_column, delimiter, label_separator, task, label_names):
    """``({split: TextSplit}, label_names)`` of a table or TREC file and its test and
    validation files; without a test file, 20% of ``source`` is carved off as test data."""
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
        splits["train"], splits["test"] = carve(train, 0.2, seed)
    return splits, names


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
        train, validation = carve(train, validation_fraction, seed)
    return TextData(train, validation, splits.get("test"), list(label_names), source)
