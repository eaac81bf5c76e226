"""Where the benchmarks find their data, keep their records and show them in BENCHMARKS.md.

Both benchmarks (``accuracy.py`` and ``throughput.py``) append one JSON line per run to a
``.jsonl`` file next to them and rewrite their own section of BENCHMARKS.md, the text
between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. Standard library only.

Example::

    from records import RESULTS_FOLDER, read_records, replace_section
    records = read_records(os.path.join(RESULTS_FOLDER, "results.jsonl"))
    replace_section("accuracy", "| task | ... |")
"""
import json
import os

RESULTS_FOLDER = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(RESULTS_FOLDER)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
BENCHMARKS_MD = os.path.join(REPO, "BENCHMARKS.md")


def read_records(path):
    """Every record of the JSON-lines file ``path``, oldest first (blank lines skipped)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_record(path, record):
    """Append ``record`` as one JSON line to ``path``."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def markers(name):
    """The two HTML comments around section ``name`` of BENCHMARKS.md."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(name, body, path=BENCHMARKS_MD):
    """Put ``body`` between the ``name`` markers of ``path``, keeping everything around them.

    Raises SystemExit naming the file and the missing markers when the section is not there.
    """
    start, end = markers(name)
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} ... {end} section.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + start + "\n" + body + "\n" + end + tail)
    return path
