"""Data sources on real IMDB reviews and small files made here; splits, subsets, tf.data."""
import io
import os
import tarfile

import numpy as np
import pytest

from tfbert.data import (TextSplit, balanced_subset, extract_archive, load_csv, load_data,
                         load_folder, make_dataset)
from tfbert.errors import DataError


def test_imdb_archive_reads_every_review(imdb_folder):
    splits, label_names = load_folder(imdb_folder)
    assert label_names == ["neg", "pos"]
    assert len(splits["train"]) == 25000 and len(splits["test"]) == 25000
    assert np.bincount(splits["test"].labels).tolist() == [12500, 12500]
    assert "<br />" in "".join(splits["train"].texts[:200])


def test_load_data_from_archive_is_balanced_seeded_and_split(imdb_archive, cache_dir):
    kwargs = dict(max_examples=500, cache_dir=os.path.join(cache_dir, "datasets"), seed=7)
    data = load_data(imdb_archive, **kwargs)
    again = load_data(imdb_archive, **kwargs)
    assert len(data.train) + len(data.validation) == 500 and len(data.validation) == 100
    assert np.bincount(data.test.labels).tolist() == [250, 250]
    assert list(data.validation.texts) == list(again.validation.texts)
    assert not set(data.train.texts) & set(data.validation.texts)
    other = load_data(imdb_archive, **{**kwargs, "seed": 8})
    assert list(other.validation.texts) != list(data.validation.texts)
    assert "train" in data.summary() and "neg=" in data.summary()


def test_folder_layout_skips_unlabelled_unsup(tmp_path):
    for split, label, n in (("train", "neg", 2), ("train", "pos", 3), ("train", "unsup", 4),
                            ("test", "neg", 1), ("test", "pos", 1)):
        folder = tmp_path / "aclImdb" / split / label
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"{i}_1.txt").write_text(f"{label} review {i}", encoding="utf-8")
    splits, label_names = load_folder(str(tmp_path))
    assert label_names == ["neg", "pos"]
    assert len(splits["train"]) == 5
    assert splits["train"].texts[0] == "neg review 0" and splits["train"].labels[-1] == 1


def _tar_with(tmp_path, name, member):
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        data = b"text"
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return str(path)


@pytest.mark.parametrize("member", [
    tarfile.TarInfo("../escape.txt"),
    tarfile.TarInfo("/tmp/absolute.txt"),
    tarfile.TarInfo("train/pos/../../../up.txt"),
])
def test_archive_members_escaping_the_folder_are_refused(tmp_path, member):
    archive = _tar_with(tmp_path, "evil.tar.gz", member)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="outside its folder"):
        extract_archive(archive, cache_dir=str(cache))
    assert not any(p.name != "." for p in cache.glob("*"))
    assert not (tmp_path / "escape.txt").exists()


def test_archive_links_are_refused(tmp_path):
    link = tarfile.TarInfo("train/pos/link.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive = _tar_with(tmp_path, "links.tar.gz", link)
    with pytest.raises(DataError, match="link or special file"):
        extract_archive(archive, cache_dir=str(tmp_path / "cache"))


def test_csv_named_columns_with_label_names(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('review,sentiment\n"Loved it, truly",good\nAwful,bad\n"Meh\nokay",bad\n',
                    encoding="utf-8")
    split, names = load_csv(str(path), text_column="review", label_column="sentiment")
    assert names == ["bad", "good"]
    assert split.texts.tolist() == ["Loved it, truly", "Awful", "Meh\nokay"]
    assert split.labels.tolist() == [1, 0, 0]


def test_csv_integer_labels_sort_numerically(tmp_path):
    path = tmp_path / "stars.csv"
    path.write_text("text,label\na,10\nb,2\nc,2\n", encoding="utf-8")
    split, names = load_csv(str(path))
    assert names == ["2", "10"] and split.labels.tolist() == [1, 0, 0]


def test_headerless_tsv_by_column_position(tmp_path):
    # google-research/bert's CoLA layout: id, label, original label, sentence
    path = tmp_path / "train.tsv"
    path.write_text("gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe more does.\n",
                    encoding="utf-8")
    split, names = load_csv(str(path), text_column=3, label_column=1)
    assert names == ["0", "1"] and split.texts.tolist()[0] == "The sailors rode the breeze."
    assert split.labels.tolist() == [1, 0]


def test_csv_missing_column_lists_the_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("sentence,label\nhi,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no column 'text'; the columns are 'sentence', 'label'"):
        load_csv(str(path))


def test_csv_test_label_outside_train_labels_names_the_row(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\na,pos\nb,neg\nc,pos\nd,neg\ne,pos\n", encoding="utf-8")
    test.write_text("text,label\nx,pos\ny,meh\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test.csv, row 3: label 'meh' is not one of"):
        load_data(str(train), test_data=str(test))


def test_csv_empty_text_names_the_row(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\nfine,1\n  ,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"data.csv, row 3: empty text"):
        load_csv(str(path))


def test_missing_source_is_named():
    with pytest.raises(DataError, match="'/no/such/data' does not exist"):
        load_data("/no/such/data")


def test_tfds_offline_fails_fast_with_a_local_alternative(monkeypatch, tmp_path):
    import urllib.error

    def offline(request, timeout):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError, match="imdb_reviews.*Offline, pass local data"):
        load_data("imdb", tfds_data_dir=str(tmp_path))


def test_tfds_source_reads_text_label_and_label_names(monkeypatch):
    import tensorflow_datasets as tfds
    import tfbert.data
    # mock_data replaces reading and preparing; the dataset counts as prepared.
    monkeypatch.setattr(tfbert.data, "_tfds_prepared", lambda builder: True)
    with tfds.testing.mock_data(num_examples=12):
        data = load_data("imdb")
    assert data.label_names == ["neg", "pos"]
    assert len(data.train) + len(data.validation) == 12
    assert isinstance(data.train.texts[0], str)


def test_balanced_subset_takes_labels_in_turn():
    split = TextSplit([f"t{i}" for i in range(10)], [0] * 8 + [1] * 2)
    subset = balanced_subset(split, 4, seed=1)
    assert sorted(subset.labels.tolist()) == [0, 0, 1, 1]


def test_make_dataset_tokenizes_once_per_run(tiny_model):
    from tfbert._tf import tf
    from tfbert.models import build_preprocessor
    preprocessor = build_preprocessor(tiny_model, seq_length=16)
    calls = []

    def counting(texts):
        tf.py_function(lambda: calls.append(1) or 0, [], tf.int32)
        return preprocessor(texts)
    split = TextSplit([f"review number {i}" for i in range(10)], [i % 2 for i in range(10)])
    dataset = make_dataset(split, counting, batch_size=4, shuffle=True, tokenize_batch_size=5)
    epochs = [[batch for batch in dataset] for _ in range(3)]
    assert len(calls) == 2  # two tokenize batches of 5, in the first epoch only
    assert epochs[0][0][0]["input_word_ids"].shape == (4, 16)
    first = sorted(tuple(x) for b in epochs[0] for x in b[0]["input_word_ids"].numpy())
    third = sorted(tuple(x) for b in epochs[2] for x in b[0]["input_word_ids"].numpy())
    assert first == third
