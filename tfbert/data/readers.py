"""Readers of labelled text: CSV/TSV/TXT tables, TREC lines and label-name files.

Tables are read with ``pandas.read_csv`` (every cell a string, nothing read as
missing, ``.gz`` decompressed, a UTF-8 BOM dropped, bytes that are not UTF-8
replaced with U+FFFD and the first such row named in a warning). The dialect
is today's: ``.tsv`` and ``.txt`` files are tab-separated with quoting off
(GLUE's, MRPC's and GoEmotions' files keep ``"`` as text), CSV files honour
``"`` quoting. Every error names the file and row (row 1 = the header).
:func:`iter_texts` streams a table (or a file of one text a line) in chunks for
``tfbert predict --file``. Folders, archives and TFDS live in
:mod:`tfbert.data.sources`.

Example::

    from tfbert.data.readers import load_csv, read_label_names
    split, names = load_csv("../shared/data/goemotions/dev.tsv", text_column=0, label_column=1,
                            label_names=read_label_names("../shared/data/goemotions/labels.txt"))
"""
import csv
import gzip
import io
import os
import sys
import warnings

import numpy as np

from tfbert.data.splits import TextSplit
from tfbert.errors import DataError
from tfbert.tasks import get_task, resolve_task
from tfbert.tasks.base import MISSING_MARKERS

__all__ = ["TABLE_SUFFIXES", "load_csv", "iter_texts", "load_trec", "read_label_names",
           "table_dialect"]

TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
STREAM_CHUNK_ROWS = 10_000
# Cells a row may have beyond the first row's (ignored); pandas needs a bound.
SURPLUS_CELLS = 32


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


def table_dialect(path, delimiter=None, quoting=None):
    """``(delimiter, quoting)`` for a table file, unless given: ``.tsv`` and ``.txt`` files
    are tab-separated with quoting off (GLUE's, MRPC's, GoEmotions'), CSV files honour ``"``."""
    tab_separated = ".tsv" in path.lower() or path.lower().endswith(".txt")
    if delimiter is None:
        delimiter = "\t" if tab_separated else ","
    return delimiter, (not tab_separated) if quoting is None else quoting


# ------------------------------------------------------------------------ tables

def _read_table(source, path, delimiter, quoting, width, **options):
    """``pandas.read_csv`` of ``source`` into ``width`` string columns, one row a record.

    Blank lines stay (as all-missing rows) so that row numbers hold. A missing
    cell is NaN and an empty one ``""``, so a short row shows its length (this
    needs pandas' python engine; the C engine fills both with ``""``). A row may
    be up to :data:`SURPLUS_CELLS` cells wider than ``width`` (the first row's
    width); a wider one, or a stray quote, is refused as not valid CSV/TSV.
    """
    import pandas as pd
    csv.field_size_limit(sys.maxsize)       # a megabyte review is one cell
    try:
        return pd.read_csv(
            source, sep=delimiter, header=None, names=range(width + SURPLUS_CELLS), dtype=str,
            keep_default_na=False, skip_blank_lines=False, engine="python", index_col=False,
            quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
            encoding="utf-8-sig", encoding_errors="replace", compression="infer", **options)
    except pd.errors.EmptyDataError:
        return None
    except (ValueError, csv.Error) as exc:      # ParserError, or pandas' BOM check
        raise DataError(f"{path}: not valid {'TSV' if delimiter == chr(9) else 'CSV'}: "
                        f"{exc}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _header(source, path, delimiter, quoting):
    """The first record's cells, stripped (None for an empty file)."""
    import pandas as pd
    csv.field_size_limit(sys.maxsize)
    try:
        first = pd.read_csv(source, sep=delimiter, header=None, nrows=1, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, engine="python", index_col=False,
                            quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                            encoding="utf-8-sig", encoding_errors="replace",
                            compression="infer", on_bad_lines="skip")
    except pd.errors.EmptyDataError:
        return None
    except (ValueError, csv.Error) as exc:      # ParserError, or pandas' BOM check
        raise DataError(f"{path}: not valid {'TSV' if delimiter == chr(9) else 'CSV'}: "
                        f"{exc}") from None
    if first.empty:         # a blank first line: a header without columns
        return []
    return [("" if pd.isna(h) else h).strip().lstrip("\ufeff") for h in first.iloc[0]]


def _positions(path, columns, header):
    """``(0-based positions of columns, first data row, columns to read)``: integers are
    positions in a headerless file; names are looked up in ``header`` (the first row)."""
    width = len(header or ())
    if all(isinstance(c, int) for c in columns):
        return list(columns), 1, max(width, max(columns) + 1)
    if header is None:
        raise DataError(f"{path} is empty.")
    for column in columns:
        if column not in header:
            raise DataError(f"{path}: no column {column!r}; the columns are "
                            f"{', '.join(repr(h) for h in header)}.")
    return [header.index(c) for c in columns], 2, width


def _records(frame, positions, first_row):
    """``(row numbers, cells of positions [n, k], short rows)`` of a frame's non-blank rows
    from ``first_row`` on; a row is short when it lacks a cell at one of the positions."""
    frame = frame[frame.index + 1 >= first_row]
    present = frame.notna().to_numpy()
    filled = frame.fillna("")
    blank = np.ones(len(frame), dtype=bool)
    for column in filled.columns:
        blank &= (filled[column].str.strip() == "").to_numpy()
    keep = ~blank
    widths = present.sum(axis=1)[keep]
    cells = filled.to_numpy(dtype=object)[keep][:, positions]
    return (frame.index.to_numpy()[keep] + 1, cells, widths,
            widths < max(positions) + 1)


def _short_row(path, row_number, width, positions):
    return DataError(f"{path}, row {row_number}: {width} columns, expected at least "
                     f"{max(positions) + 1}.")


def _read_bytes(path):
    """The file's bytes (``.gz`` decompressed); NUL bytes refused, the first row holding
    bytes that are not UTF-8 named in a warning."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if b"\x00" in raw:
        raise DataError(f"{path}: holds NUL bytes; it is not a text table.")
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[:exc.start].count(b"\n") + 1
        warnings.warn(f"{path}, row {row}: bytes that are not UTF-8 were replaced with "
                      "U+FFFD.", stacklevel=3)
    return raw


def load_csv(path, text_column="text", label_column="label", delimiter=None, label_names=None,
             text_pair_column=None, task="auto", label_separator=",", quoting=None):
    """Read a CSV/TSV file of texts (or text pairs) and labels.

    Columns are named (the first row is a header; a UTF-8 BOM is dropped) or,
    when the text and label columns are integers, 0-based positions in a
    headerless file (google-research/bert's and GoEmotions' TSVs). ``.gz``
    files are read compressed. ``.tsv`` and ``.txt`` files are tab-separated
    and read with quoting off (``quoting=False``); CSV files honour ``"``.

    The task, unless given, is read from the labels
    (:func:`tfbert.tasks.infer_task`), and the task encodes them: class labels
    are names or integers, mapped to ids in sorted order (numeric order for
    integers) unless ``label_names`` fixes the mapping, in which case an
    integer label that is not itself a name is a position in that list.

    Returns:
        ``(TextSplit, label_names)``; for regression ``label_names`` is
        ``[label_column]``.

    Raises:
        DataError: naming the file and row of a missing column, a short row, an
            empty text or label, a missing label (``nan``, ``NULL``...), a score
            that is not a number, or a label outside ``label_names``.

    Example::

        split, names = load_csv("reviews.csv", text_column="review", label_column="sentiment")
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
    raw = _read_bytes(path)
    positions, first_row, width = _positions(path, columns,
                                             _header(io.BytesIO(raw), path, delimiter, quoting))
    frame = _read_table(io.BytesIO(raw), path, delimiter, quoting, width)
    if frame is None:
        raise DataError(f"{path} holds no rows of data.")
    rows, cells, widths, short = _records(frame, positions, first_row)
    labels = np.array([label.strip() for label in cells[:, 1]], dtype=object)
    missing = np.array([label.lower() in MISSING_MARKERS for label in labels], dtype=bool)
    empty = np.array([any(not cell.strip() for cell in row) for row in cells], dtype=bool)
    bad = np.flatnonzero(short | missing | empty)
    if len(bad):
        i = bad[0]
        if short[i]:
            raise _short_row(path, rows[i], widths[i], positions)
        if missing[i]:
            raise DataError(f"{path}, row {rows[i]}: missing label ({labels[i]!r}).")
        what = ("text", "label", "second text")[next(k for k, cell in enumerate(cells[i])
                                                     if not cell.strip())]
        raise DataError(f"{path}, row {rows[i]}: empty {what}.")
    if not len(rows):
        raise DataError(f"{path} holds no rows of data.")
    task = resolve_task(task, list(labels), label_separator)
    encoded, names = task.encode_labels(list(zip(rows.tolist(), labels)), path,
                                        label_names=label_names, separator=label_separator,
                                        score_name=str(label_column))
    pairs = list(cells[:, 2]) if text_pair_column is not None else None
    return TextSplit(list(cells[:, 0]), encoded, pairs), names


def iter_texts(path, text_column=None, pair_column=None):
    """Yield ``(text, second_text_or_None)`` from a table's columns or a text file's lines,
    reading the file in chunks (memory stays bounded whatever its size).

    A file is a table when it is a ``.csv``/``.tsv`` (optionally ``.gz``) or a
    ``text_column`` is given (a name, or an integer position in a headerless
    file); otherwise each non-blank line is one text. Blank rows are skipped; a
    row without the columns is an error naming it. Bytes that are not UTF-8 are
    replaced with U+FFFD.

    Example::

        for text, _ in iter_texts("reviews.csv", text_column="review"):
            print(text)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist.")
    table = path.lower().endswith(TABLE_SUFFIXES) or text_column is not None
    if not table and pair_column is not None:
        raise DataError(f"{path}: second texts (--text-pair-column) come from a table; say "
                        "which column holds the first (--text-column).")
    if table and text_column is None:
        raise DataError(f"{path} is a table: say which column holds the text (--text-column).")
    if not table:
        yield from _iter_lines(path)
        return
    delimiter, quoting = table_dialect(path)
    columns = [c for c in (text_column, pair_column) if c is not None]
    positions, first_row, width = _positions(path, columns,
                                             _header(path, path, delimiter, quoting))
    chunks = _read_table(path, path, delimiter, quoting, width, chunksize=STREAM_CHUNK_ROWS)
    for frame in _parsed(chunks, path):
        rows, cells, widths, short = _records(frame, positions, first_row)
        if short.any():
            i = np.flatnonzero(short)[0]
            raise _short_row(path, rows[i], widths[i], positions)
        for row in cells:
            yield row[0], (row[1] if len(row) > 1 else None)


def _parsed(chunks, path):
    """The frames of a chunked reader, its parse errors as :class:`DataError`."""
    if chunks is None:      # an empty file
        return
    with chunks:
        while True:
            try:
                frame = next(chunks)
            except StopIteration:
                return
            except (ValueError, csv.Error) as exc:      # ParserError, or pandas' BOM check
                raise DataError(f"{path}: not valid CSV/TSV: {exc}") from None
            yield frame


def _iter_lines(path):
    import codecs
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        for line in codecs.getreader("utf-8-sig")(raw, errors="replace"):
            if line.strip():
                yield line.rstrip("\r\n"), None


# -------------------------------------------------------------------------- TREC

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
    classification = get_task("classification")
    if resolve_task(task, [], None) != classification:
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
    labels, names = classification.encode_labels(raw_labels, path, label_names=label_names,
                                                 separator=None)
    return TextSplit(texts, labels), names
