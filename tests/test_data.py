"""Data sources on real IMDB reviews and small files made here; splits, subsets, tf.data."""
import io
import os
import tarfile

import numpy as np
import pytest

from tfbert.data import (TextSplit, balanced_subset, carve, extract_archive, infer_task,
                         iter_texts, load_csv, load_data, load_trec, map_label_names,
                         read_label_names, load_folder, make_dataset)
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


def test_an_archive_unpacked_by_another_process_meanwhile_is_used(tmp_path, monkeypatch):
    """Two workers unpacking the same archive into one cache: the later rename finds the
    folder in place and uses it instead of failing."""
    member = tarfile.TarInfo("train/pos/0_1.txt")
    archive = _tar_with(tmp_path, "reviews.tar.gz", member)
    cache = tmp_path / "cache"
    extractall = tarfile.TarFile.extractall

    def extract_while_another_process_does_too(self, path, *args, **kwargs):
        extractall(self, path, *args, **kwargs)
        other = tmp_path / "other"
        extractall(self, str(other), *args, **kwargs)
        (other / "by_the_other_process").write_text("")

    def rename_after_the_other(src, dst, _rename=os.rename):
        if not os.path.isdir(dst):
            _rename(str(tmp_path / "other"), dst)       # the other process wins the rename
        return _rename(src, dst)

    monkeypatch.setattr(tarfile.TarFile, "extractall", extract_while_another_process_does_too)
    monkeypatch.setattr(os, "rename", rename_after_the_other)
    folder = extract_archive(archive, cache_dir=str(cache))
    assert os.path.isfile(os.path.join(folder, "by_the_other_process"))
    assert os.path.isfile(os.path.join(folder, "train", "pos", "0_1.txt"))
    assert [p.name for p in cache.iterdir()] == [os.path.basename(folder)]   # no staging left


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
    import tfbert.data.sources
    # mock_data replaces reading and preparing; the dataset counts as prepared.
    monkeypatch.setattr(tfbert.data.sources, "_tfds_prepared", lambda builder: True)
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
    # [CLS] review number N [SEP]: batches are padded to their longest text, not to 16.
    assert epochs[0][0][0]["input_word_ids"].shape == (4, 5)
    first = sorted(tuple(x) for b in epochs[0] for x in b[0]["input_word_ids"].numpy())
    third = sorted(tuple(x) for b in epochs[2] for x in b[0]["input_word_ids"].numpy())
    assert first == third
    calls.clear()   # the one-stream form train() uses (3 epochs) tokenizes once too
    stream = make_dataset(split, counting, batch_size=4, shuffle=True, tokenize_batch_size=5,
                          epochs=3)
    assert len(list(stream)) == 9 and len(calls) == 2


def test_epoch_stream_replays_from_any_batch(tiny_model):
    """A training stream's order is a function of (seed, epoch), so a run resumed at
    (epoch, batch) in a new process is fed exactly the batches the killed run had left."""
    from tfbert.models import build_preprocessor
    preprocessor = build_preprocessor(tiny_model, seq_length=16)
    n, batch_size, epochs = 22, 4, 3
    split = TextSplit([" ".join(["word"] * (1 + i % 7)) for i in range(n)], list(range(n)))

    def stream(start=(0, 0), seed=42):
        dataset = make_dataset(split, preprocessor, batch_size=batch_size, shuffle=True,
                               seed=seed, bucket_batches=2, epochs=epochs, start=start)
        return [labels.numpy().tolist() for _, labels in dataset]
    batches = stream()
    steps = -(-n // batch_size)
    assert len(batches) == epochs * steps
    orders = [sum(batches[e * steps:(e + 1) * steps], []) for e in range(epochs)]
    assert all(sorted(order) == list(range(n)) for order in orders)   # each example once
    assert len({tuple(order) for order in orders}) == epochs           # a new order each epoch
    assert stream(start=(1, 2)) == batches[steps + 2:]
    assert stream(start=(2, 0)) == batches[2 * steps:]
    assert stream(seed=7) != batches


# ---------------------------------------------------------------- tasks, pairs, real formats

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                      "shared", "data")


def _shared(*parts):
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: the tests read real data from ../shared/data.")
    return path


def test_trec_reads_coarse_labels_and_names_the_latin1_line():
    with pytest.warns(UserWarning, match=r"train.txt, line 66: not UTF-8; read as ISO-8859-1"):
        split, names = load_trec(_shared("trec", "train.txt"))
    assert names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert len(split) == 5452 and split.task == "classification"
    assert split.texts[0] == "How did serfdom develop in and then leave Russia ?"
    assert names[split.labels[0]] == "DESC"
    assert "\ufffd" not in "".join(split.texts)          # decoded, not replaced
    fine, fine_names = load_trec(_shared("trec", "test.txt"), fine=True)
    assert len(fine_names) > 6 and all(":" in name for name in fine_names)


def test_trec_malformed_line_is_named(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text("DESC:def What is a fish ?\nno label here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"questions.txt, line 2: expected 'COARSE:fine"):
        load_data(str(path))


def test_goemotions_multilabel_ids_index_the_label_names_file():
    names = read_label_names(_shared("goemotions", "labels.txt"))
    split, got = load_csv(_shared("goemotions", "dev.tsv"), text_column=0, label_column=1,
                          label_names=names)
    assert got == names and len(names) == 28
    assert split.task == "multilabel" and split.labels.shape == (5426, 28)
    assert (split.labels.sum(axis=1) >= 2).sum() > 500       # rows with several labels
    # Row 1 of the raw file: its ids, mapped through labels.txt.
    with open(_shared("goemotions", "dev.tsv"), encoding="utf-8") as f:
        text, ids, _ = f.readline().rstrip("\n").split("\t")
    assert split.texts[0] == text
    assert np.flatnonzero(split.labels[0]).tolist() == sorted(int(i) for i in ids.split(","))


def test_mrpc_pairs_with_bom_header_and_quotes():
    data = load_data(_shared("mrpc", "msr_paraphrase_train.txt"), text_column="#1 String",
                     text_pair_column="#2 String", label_column="Quality",
                     test_data=_shared("mrpc", "msr_paraphrase_test.txt"))
    assert data.text_pairs and data.task == "classification" and data.label_names == ["0", "1"]
    assert len(data.train) + len(data.validation) == 4076 and len(data.test) == 1725
    assert int(data.test.labels.sum()) == 1147
    # Quoting is off: a sentence that starts with a quote keeps it.
    seconds = np.concatenate([data.train.pairs, data.validation.pairs])
    assert any(t.startswith('Referring to him as only "the witness"') for t in seconds)


def test_stsb_scores_make_a_regression_task():
    data = load_data(_shared("stsb", "train.tsv"), text_column="sentence1",
                     text_pair_column="sentence2", label_column="score",
                     test_data=_shared("stsb", "dev.tsv"))
    assert data.task == "regression" and data.label_names == ["score"]
    assert len(data.test) == 1500 and data.test.labels.dtype == np.float32
    assert data.test.labels.min() >= 0 and data.test.labels.max() <= 5
    assert "score 'score'" in data.summary()


@pytest.mark.parametrize("labels, task", [
    (["a", "b", "a,b"], "multilabel"),
    (["1.5", "0.25", "3"], "regression"),
    (["1", "2", "10"], "classification"),
    (["pos", "neg"], "classification"),
])
def test_task_is_inferred_from_the_labels(labels, task):
    assert infer_task(labels) == task


def test_multilabel_unknown_label_and_bad_score_name_the_row(tmp_path):
    path = tmp_path / "tags.tsv"
    path.write_text("text\tlabel\nfirst\t0,1\nsecond\t1,7\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"tags.tsv, row 3: label '7' is not one of 'x', 'y'"):
        load_csv(str(path), label_names=["x", "y"], task="multilabel")
    scores = tmp_path / "scores.csv"
    scores.write_text("text,label\na,1.5\nb,inf\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"scores.csv, row 3: score 'inf' is not a finite"):
        load_csv(str(scores), task="regression")


def test_custom_label_separator_and_validation_file(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text("text,label\na,x|y\nb,y\nc,x\nd,y\ne,x|y\n", encoding="utf-8")
    dev.write_text("text,label\nf,y\n", encoding="utf-8")
    data = load_data(str(train), validation_data=str(dev), test_data=str(dev),
                     label_separator="|")
    assert data.task == "multilabel" and data.label_names == ["x", "y"]
    assert len(data.train) == 5 and data.validation.labels.tolist() == [[0.0, 1.0]]


def test_empty_second_text_names_the_row(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("a,b,label\none,two,1\nthree, ,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.csv, row 3: empty second text"):
        load_csv(str(path), text_column="a", text_pair_column="b")


def test_dynamic_padding_cuts_batches_and_keeps_logits(tiny_model):
    """Each batch is padded to its longest text; logits equal full padding's (1e-4)."""
    import tensorflow as tf
    from tfbert.models import build_classifier
    model = build_classifier(tiny_model, num_classes=3, seq_length=64)
    texts = ["short", "a somewhat longer review of a film that goes on for a while",
             "mid length text here", "x"] * 3
    split = TextSplit(texts, [0, 1, 2, 0] * 3)
    trimmed = make_dataset(split, model.preprocessor, batch_size=4)
    full = make_dataset(split, model.preprocessor, batch_size=4, dynamic_padding=False)
    widths = [inputs["input_word_ids"].shape[1] for inputs, _ in trimmed]
    assert max(widths) < 64 and all(w == widths[0] for w in widths)
    assert all(inputs["input_word_ids"].shape[1] == 64 for inputs, _ in full)
    a = model.core.predict(trimmed.map(lambda x, y: x), verbose=0)
    b = model.core.predict(full.map(lambda x, y: x), verbose=0)
    assert np.max(np.abs(a - b)) < 1e-4
    # Training batches hold texts of similar length (sorted within windows).
    four_each = TextSplit([t for t in texts[:4] for _ in range(4)], [0] * 16)
    shuffled = make_dataset(four_each, model.preprocessor, batch_size=4, shuffle=True,
                            bucket_batches=4)
    for inputs, _ in shuffled:
        lengths = tf.reduce_sum(inputs["input_mask"], axis=1).numpy()
        assert lengths.min() == lengths.max()


# ---------------------------------------------------------------- carve, label names, streaming

def test_the_carve_is_stratified_seeded_and_sized_as_before():
    labels = [0] * 70 + [1] * 20 + [2] * 10
    split = TextSplit([f"t{i}" for i in range(100)], labels)
    for seed in (1, 2, 3):
        rest, held_out = carve(split, 0.25, seed)
        assert len(held_out) == 25 and len(rest) == 75       # max(1, round(n * fraction))
        counts = np.bincount(held_out.labels, minlength=3)
        assert np.all(np.abs(counts - np.array([70, 20, 10]) * 0.25) <= 1), counts
        assert not set(rest.texts) & set(held_out.texts)
    again = carve(split, 0.25, 1)[1]
    assert list(again.texts) == list(carve(split, 0.25, 1)[1].texts)
    assert list(again.texts) != list(carve(split, 0.25, 2)[1].texts)
    # A label with a single example cannot be stratified: seeded, unstratified, same size.
    lonely = TextSplit([f"t{i}" for i in range(10)], [0] * 9 + [1])
    rest, held_out = carve(lonely, 0.2, 0)
    assert len(held_out) == 2 and len(rest) == 8


def test_a_folder_honours_label_names_and_refuses_a_label_not_in_them(tmp_path):
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "1.txt").write_text(f"{label} text", encoding="utf-8")
    splits, names = load_folder(str(tmp_path), label_names=["pos", "neg", "mixed"])
    assert names == ["pos", "neg", "mixed"]
    assert splits["train"].texts.tolist() == ["neg text", "pos text"]
    assert splits["train"].labels.tolist() == [1, 0]
    data = load_data(str(tmp_path), label_names=["pos", "neg"])
    assert data.label_names == ["pos", "neg"]
    assert all(names[label] == text.split()[0] for part in (data.train, data.validation, data.test)
               for text, label in zip(part.texts, part.labels) for names in [data.label_names])
    with pytest.raises(DataError, match=r"label 'pos' is not one of the given label names "
                                        r"\('neg', 'other'\)"):
        load_data(str(tmp_path), label_names=["neg", "other"])


def test_tfds_label_names_are_mapped_onto_the_given_ones():
    splits = {"train": TextSplit(["a", "b", "c"], [0, 1, 1]), "test": TextSplit(["d"], [0])}
    mapped, names = map_label_names(splits, ["neg", "pos"], ["pos", "neg"], "TFDS dataset 'x'")
    assert names == ["pos", "neg"]
    assert mapped["train"].labels.tolist() == [1, 0, 0] and mapped["test"].labels.tolist() == [1]
    # A source label that never occurs does not need a name; one that occurs does.
    mapped, _ = map_label_names({"train": TextSplit(["a"], [1])}, ["neg", "pos", "unsure"],
                                ["pos"], "x")
    assert mapped["train"].labels.tolist() == [0]
    with pytest.raises(DataError, match=r"TFDS dataset 'x': label 'neg' is not one of"):
        map_label_names(splits, ["neg", "pos"], ["pos"], "TFDS dataset 'x'")


def test_tfds_source_honours_label_names(monkeypatch):
    import tensorflow_datasets as tfds
    import tfbert.data.sources
    from tfbert._tf import tf
    monkeypatch.setattr(tfbert.data.sources, "_tfds_prepared", lambda builder: True)
    texts = [f"review {i}" for i in range(12)]

    def as_dataset(self, split, **kwargs):      # the same 12 reviews every time: 0 neg, 1 pos
        return tf.data.Dataset.from_tensor_slices({"text": texts, "label": [i % 2 for i in
                                                                           range(12)]})
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        data = load_data("imdb", label_names=["pos", "neg"])
        with pytest.raises(DataError, match=r"'imdb_reviews': label 'neg' is not one of"):
            load_data("imdb", label_names=["pos"])
    assert data.label_names == ["pos", "neg"]
    for part in (data.train, data.validation, data.test):
        expected = [1 - int(text.split()[1]) % 2 for text in part.texts]   # odd: pos = id 0
        assert part.labels.tolist() == expected


def test_iter_texts_streams_a_large_table_in_chunks(tmp_path, monkeypatch):
    import pandas as pd
    import tfbert.data.readers as readers
    path = tmp_path / "big.csv"
    n = 25_000
    path.write_text("id,review,other\n" + "".join(
        f'{i},"review, number {i}",x{i}\n' + ("\n" if i % 5000 == 0 else "")
        for i in range(n)), encoding="utf-8")
    chunk_sizes = []
    read_csv = pd.read_csv

    def spy(*args, **kwargs):
        chunk_sizes.append(kwargs.get("chunksize"))
        return read_csv(*args, **kwargs)
    monkeypatch.setattr(pd, "read_csv", spy)
    monkeypatch.setattr(readers, "STREAM_CHUNK_ROWS", 1000)
    stream = iter_texts(str(path), text_column="review", pair_column="other")
    first = next(stream)
    assert first == ("review, number 0", "x0")
    assert chunk_sizes[-1] == 1000           # read in chunks, not as one frame
    rest = list(stream)
    assert len(rest) == n - 1 and rest[-1] == (f"review, number {n - 1}", f"x{n - 1}")
    lines = tmp_path / "lines.txt"
    lines.write_text("one\n\ntwo\n", encoding="utf-8")
    assert list(iter_texts(str(lines))) == [("one", None), ("two", None)]
    short = tmp_path / "short.tsv"
    short.write_text("a\tb\n" * 1500 + "only\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short.tsv, row 1501: 1 columns, expected at least 2"):
        list(iter_texts(str(short), text_column=0, pair_column=1))
