"""Unlabelled text for further pre-training: folders or archives of ``.txt`` files, text
files of one document a line, and one column of a CSV/TSV table.

:func:`load_texts` returns the documents as a list of strings in a seeded random
order (so ``max_examples`` takes a fair sample, and the held-out slice
:func:`tfbert.pretrain` carves off the front is one too). A folder is read
recursively: every ``*.txt`` file below it is one document (aclImdb's
``train/unsup`` holds 50,000 reviews that way); an archive is unpacked once into
the cache, like a labelled one. Blank documents are skipped; a source with no
text at all is an error naming it.

Example::

    from tfbert.data.unlabelled import load_texts
    texts = load_texts("../shared/data/aclImdb_unsup.tar.xz", max_examples=5000)
    texts = load_texts("reviews.csv", text_column="review")
    texts = load_texts("notes.txt")                     # one document a line
"""
import os
import random

from tfbert.data.readers import TABLE_SUFFIXES, iter_texts
from tfbert.data.sources import ARCHIVE_SUFFIXES, extract_archive
from tfbert.errors import DataError

__all__ = ["load_texts"]


def load_texts(source, text_column=None, max_examples=None, seed=42, cache_dir=None):
    """The non-blank documents of ``source``, shuffled with ``seed``, at most ``max_examples``.

    Args:
        source: a folder (every ``*.txt`` below it is a document), a ``.tar.gz``/``.tar.xz``
            archive of one, a ``.txt`` file (one document a line) or a CSV/TSV file.
        text_column: the column of a CSV/TSV (a name, or a 0-based position in a headerless
            file); required for tables, and makes any other file be read as one.
        max_examples: keep at most this many documents (a seeded random sample).

    Raises:
        DataError: the source is missing, holds no text, or a table lacks the column.
    """
    source = os.fspath(source)
    if not os.path.exists(source):
        raise DataError(f"{source} does not exist.")
    if max_examples is not None and max_examples < 1:
        raise DataError(f"max_examples must be at least 1, got {max_examples}.")
    if os.path.isdir(source) or source.lower().endswith(ARCHIVE_SUFFIXES):
        texts = _folder_texts(source, max_examples, seed, cache_dir)
    else:
        if text_column is None and source.lower().endswith(TABLE_SUFFIXES):
            raise DataError(f"{source} is a table: say which column holds the text "
                            "(--text-column).")
        texts = [text for text, _ in iter_texts(source, text_column=text_column)
                 if text.strip()]
        random.Random(seed).shuffle(texts)
        texts = texts[:max_examples]
    if not texts:
        raise DataError(f"{source} holds no text to pre-train on (no non-blank "
                        f"{'documents' if os.path.isdir(source) else 'lines or cells'}).")
    return texts


def _folder_texts(source, max_examples, seed, cache_dir):
    """The ``*.txt`` documents below a folder (or an archive's unpacked folder), a seeded
    sample of ``max_examples`` read (the others are never opened)."""
    folder = extract_archive(source, cache_dir=cache_dir) if os.path.isfile(source) else source
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.endswith(".txt") and not name.startswith("."))
    if not paths:
        raise DataError(f"{source} holds no .txt files (a folder of unlabelled text holds one "
                        "document a .txt file).")
    random.Random(seed).shuffle(paths)
    texts = []
    for path in paths:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        if text.strip():
            texts.append(text)
            if max_examples is not None and len(texts) >= max_examples:
                break
    return texts
