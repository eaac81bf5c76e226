"""What the ``tfbert`` commands share: argument types, the input-file check before any model
loads, and the text sources of ``predict`` and ``embed`` (arguments, a file, standard input).
Nothing here imports TensorFlow."""
import argparse
import os
import sys

from tfbert.data.sources import tfds_name
from tfbert.errors import DataError

EXIT_ERROR = 2


def column(value):
    """A column name, or a 0-based position when the value is a number."""
    return int(value) if value is not None and value.isdigit() else value


def positive_int(value):
    """An argparse type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def check_inputs(args, options):
    """Fail at once, naming the option, when an input file given in ``options`` is missing:
    before any model loads or data is read."""
    for option in options:
        path = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if path is None or path == "-" or (option == "--data" and tfds_name(path) is not None):
            continue
        if not os.path.exists(path):
            raise DataError(f"{option}: {path!r} does not exist.")


def chunks(items, size):
    """Lists of ``size`` items (the last may be shorter), so a stream of any length is
    handled a chunk at a time."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stdin_texts():
    """``(text, None)`` for each non-blank line of standard input, read as UTF-8 (bytes
    that are not are replaced), like the lines of a text ``--file``."""
    import codecs
    raw = getattr(sys.stdin, "buffer", None)
    lines = sys.stdin if raw is None else codecs.getreader("utf-8-sig")(raw, errors="replace")
    for line in lines:
        if line.strip():
            yield line.rstrip("\r\n"), None
