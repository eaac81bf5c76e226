"""Property-based fuzzing of the file readers: any bytes are read or refused with DataError.

hypothesis writes arbitrary files (random bytes, and CSV/TSV-shaped text with
quotes, separators, BOMs, mixed line endings and non-UTF-8 encodings) and
hands them to the CSV/TSV, TREC and folder readers. Each input must either be
read into a consistent split or be refused with tfbert's own error type;
anything else (an IndexError, a UnicodeDecodeError, a csv.Error...) fails.
"""
import os
import tempfile
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from tfbert.data import load_csv, load_data, load_folder, load_trec
from tfbert.errors import DataError

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

cells = st.one_of(st.text(alphabet=list('ab ,\t"\'\r\n\\é😀\x00\ufeff01.'), max_size=12),
                  st.sampled_from(["0", "1", "2.5", "nan", "1,2", "-3e2", ""]))
rows = st.lists(st.lists(cells, min_size=0, max_size=4), min_size=0, max_size=8)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])
endings = st.sampled_from(["\n", "\r\n", "\r"])


def _consistent(split):
    assert len(split.texts) == len(split.labels) > 0
    assert all(isinstance(t, str) and t.strip() for t in split.texts)
    if split.pairs is not None:
        assert len(split.pairs) == len(split.texts)
    assert np.all(np.isfinite(split.labels))


def _write(data, suffix):
    handle, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(handle, "wb") as f:
        f.write(data)
    return path


def _read_or_refuse(read, path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = read(path)
    except DataError:
        return None
    finally:
        os.unlink(path)
    return result


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv", ".txt"]),
       task=st.sampled_from(["auto", "classification", "multilabel", "regression"]))
def test_arbitrary_bytes_are_read_or_refused(data, suffix, task):
    split_and_names = _read_or_refuse(lambda p: load_csv(p, task=task), _write(data, suffix))
    if split_and_names is not None:
        _consistent(split_and_names[0])


@FUZZ
@given(header=st.booleans(), table=rows, encoding=encodings, ending=endings,
       delimiter=st.sampled_from([",", "\t"]), pair=st.booleans())
def test_table_shaped_text_is_read_or_refused(header, table, encoding, ending, delimiter, pair):
    lines = ([delimiter.join(["text", "label", "other"])] if header else []) + [
        delimiter.join(row) for row in table]
    try:
        data = ending.join(lines).encode(encoding)
    except UnicodeEncodeError:
        data = ending.join(lines).encode("utf-8")
    suffix = ".tsv" if delimiter == "\t" else ".csv"
    columns = (dict(text_column="text", label_column="label",
                    text_pair_column="other" if pair else None) if header
               else dict(text_column=0, label_column=1, text_pair_column=2 if pair else None))
    result = _read_or_refuse(lambda p: load_csv(p, **columns), _write(data, suffix))
    if result is not None:
        split, names = result
        _consistent(split)
        if split.task == "classification":
            assert split.labels.max() < len(names)


@FUZZ
@given(lines=st.lists(st.text(max_size=30), max_size=6), encoding=encodings, ending=endings)
def test_trec_lines_are_read_or_refused(lines, encoding, ending):
    try:
        data = ending.join(lines).encode(encoding)
    except UnicodeEncodeError:
        data = ending.join(lines).encode("utf-8")
    result = _read_or_refuse(load_trec, _write(data, ".txt"))
    if result is not None:
        _consistent(result[0])


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(["train", "test"]), st.sampled_from(["pos", "neg"]),
                                st.binary(max_size=40)), max_size=6))
def test_folders_are_read_or_refused(files):
    with tempfile.TemporaryDirectory() as root:
        for i, (split, label, content) in enumerate(files):
            os.makedirs(os.path.join(root, split, label), exist_ok=True)
            with open(os.path.join(root, split, label, f"{i}.txt"), "wb") as f:
                f.write(content)
        try:
            splits, names = load_folder(root)
        except DataError:
            return
        for split in splits.values():
            assert len(split.texts) == len(split.labels)
            assert set(split.labels.tolist()) <= set(range(len(names)))


def test_load_data_refuses_a_directory_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes").mkdir()
    try:
        load_data(str(tmp_path))
    except DataError as exc:
        assert "not in the aclImdb layout" in str(exc)
    else:
        raise AssertionError("an empty folder was read as data")
