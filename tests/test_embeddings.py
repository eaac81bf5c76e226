"""Sentence embeddings: the vectors, their order and shapes, and parity with
sentence-transformers for all-MiniLM-L6-v2."""
import os

import numpy as np
import pytest

from tfbert.errors import ModelError

TEXTS = ["a great film", "", "an awful, awful film that never ends and never ends at all",
         "great", "the film"]


@pytest.fixture(scope="module")
def embedder(tiny_model):
    from tfbert.embeddings import build_embedder
    return build_embedder(tiny_model)


def test_vectors_come_in_input_order_whatever_the_batching(embedder):
    vectors = embedder.embed(TEXTS, batch_size=2)
    assert vectors.shape == (5, embedder.dimension) == (5, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([embedder.embed(text) for text in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    assert np.abs(vectors[0] - vectors[2]).max() > 1e-3          # different texts differ
    assert embedder.embed([]).shape == (0, 128)
    assert embedder.settings == dict(model=embedder.settings["model"], pooling="cls",
                                     normalize=True, seq_length=128)


def test_unnormalised_mean_vectors_are_the_masked_mean_of_the_encoder_outputs(tiny_model):
    import tensorflow_hub as hub
    from tfbert._tf import tf
    from tfbert.embeddings import build_embedder
    vectors = build_embedder(tiny_model, pooling="mean", normalize=False).embed(TEXTS)
    ids = hub.load(f"{tiny_model}/preprocess")(tf.constant(TEXTS))      # 128 tokens, padded
    sequence = hub.load(f"{tiny_model}/encoder")(ids)["sequence_output"].numpy()
    mask = ids["input_mask"].numpy()[:, :, None]
    np.testing.assert_allclose(vectors, (sequence * mask).sum(1) / mask.sum(1), atol=1e-4)


def test_a_classifiers_encoder_embeds_like_its_model_folder(tiny_model):
    from tfbert.embeddings import build_embedder, embed
    from tfbert.models import build_classifier
    classifier = build_classifier(tiny_model, seq_length=32, pooling="mean")
    from_classifier = embed(TEXTS, model=classifier)
    np.testing.assert_allclose(from_classifier, embed(TEXTS, model=tiny_model, pooling="mean",
                                                      seq_length=32), atol=1e-5)
    encoder = classifier.core.get_layer("encoder")
    for variable in encoder.trainable_variables:    # as if fine-tuned: its vectors move
        variable.assign(variable * 1.5)
    assert np.abs(embed(TEXTS, model=classifier) - from_classifier).max() > 1e-3
    cls_classifier = build_classifier(tiny_model, seq_length=32, pooling="cls")
    with pytest.raises(ModelError, match=r"computes \[CLS\] only"):
        build_embedder(cls_classifier, pooling="mean")


def test_similarity_takes_vectors_or_texts():
    from tfbert.embeddings import similarity
    a, b = np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[0.0, 2.0], [1.0, 0.0]])
    np.testing.assert_allclose(similarity(a, b), [[0.8, 0.6], [0.0, 1.0]])
    np.testing.assert_allclose(similarity(a, b, pairwise=True), [0.8, 1.0])
    with pytest.raises(ModelError, match="as many of a as of b"):
        similarity(a, b[:1], pairwise=True)
    with pytest.raises(ModelError, match="2-D array"):
        similarity(np.ones(3), b)


def test_similarity_of_texts_embeds_them(tiny_model):
    from tfbert.embeddings import embed, similarity
    got = similarity(TEXTS[:2], TEXTS, model=tiny_model)
    vectors = embed(TEXTS, model=tiny_model)
    np.testing.assert_allclose(got, vectors[:2] @ vectors.T, atol=1e-5)
    np.testing.assert_allclose(np.diag(got[:, :2]), 1.0, atol=1e-5)


def test_bad_arguments_are_named(embedder, tiny_model):
    from tfbert.embeddings import build_embedder
    with pytest.raises(ModelError, match="pooling must be one of cls, mean, got 'max'"):
        build_embedder(tiny_model, pooling="max")
    with pytest.raises(ModelError, match=r"texts\[1\] is int, not a string"):
        embedder.embed(["fine", 3])
    with pytest.raises(ModelError, match="batch_size must be at least 1"):
        embedder.embed(["fine"], batch_size=0)


def _varied_texts():
    """A hundred texts: SST-2 sentences, IMDB reviews longer than 256 word pieces, an empty
    string, accents, symbols, digits, mixed case, CJK and emoji."""
    import os

    import pandas as pd

    from conftest import SHARED_DATA, SST2
    from tfbert.data import load_data
    sentences = pd.read_csv(os.path.join(SST2, "dev.tsv"), sep="\t")["sentence"].tolist()
    reviews = load_data(os.path.join(SHARED_DATA, "aclImdb.tar.xz"), max_examples=200,
                        cache_dir=os.path.join(os.environ["TFBERT_CACHE_DIR"], "datasets"))
    long = sorted(reviews.train.texts, key=len)[-10:]        # several thousand characters
    special = ["", "Café crème brûlée — naïve façade!", "½ of 10,000 is 5,000™", "HELLO World",
               "東京は日本の首都です。", "Great movie 🎬🍿!!", "  spaces   around  ",
               "<br /><br />tags", "don't won't can't", "x" * 600]
    return special + long + sentences[:100 - len(special) - len(long)]


@pytest.mark.slow   # sentence-transformers on the real weights
def test_minilm_vectors_equal_sentence_transformers(minilm_source):
    """all-MiniLM-L6-v2's vectors equal sentence-transformers' (the oracle), long texts cut
    at 256 word pieces like its max_seq_length."""
    from sentence_transformers import SentenceTransformer
    from tfbert.embeddings import build_embedder
    texts = _varied_texts()
    assert len(texts) == 100 and max(map(len, texts)) > 3000
    oracle = SentenceTransformer(minilm_source, device="cpu")
    assert oracle.max_seq_length == 256
    expected = oracle.encode(texts, batch_size=32, convert_to_numpy=True)
    embedder = build_embedder("all-minilm-l6-v2")
    assert embedder.settings["seq_length"] == 256 and embedder.settings["pooling"] == "mean"
    got = embedder.embed(texts, batch_size=32)
    cosine = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) *
                                               np.linalg.norm(expected, axis=1))
    print(f"\nparity over {len(texts)} texts: min cosine {cosine.min():.7f}, max abs "
          f"difference {np.abs(got - expected).max():.2e}")
    assert cosine.min() >= 0.9999
    assert np.abs(got - expected).max() <= 1e-4


def test_an_embedder_export_serves_the_same_vectors(embedder, tmp_path):
    from tfbert.errors import ExportError
    from tfbert.serving import load_model
    path = embedder.export(tmp_path / "embedder")
    assert path.endswith("embedder/1")
    with pytest.raises(ExportError, match="already exists; exports are never overwritten"):
        embedder.export(tmp_path / "embedder", version=1)
    loaded = load_model(tmp_path / "embedder")
    assert loaded.settings == embedder.settings and loaded.dimension == 128
    np.testing.assert_allclose(loaded.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)
    assert loaded.embed([]).shape == (0, 128)
    assert list(loaded._serve.structured_input_signature[1]) == ["text"]
    assert list(loaded._serve.structured_outputs) == ["embedding"]


def test_export_model_hands_an_embedder_only_the_arguments_its_export_takes(embedder, tmp_path):
    """``tfbert.export_model`` passes an embedder's ``check_texts`` and ``version`` on, and
    an argument of another kind's export is one clear error before anything is written."""
    from tfbert.errors import ExportError
    from tfbert.export import export_model
    path = export_model(embedder, str(tmp_path / "e"), version=3, check_texts=TEXTS[:2])
    assert path.endswith("e/3")
    with pytest.raises(ExportError, match=r"^Embedder.export takes no label_names, "
                                          r"jit_compile \(it takes version, check_texts\)"):
        export_model(embedder, str(tmp_path / "e"), label_names=["a"], jit_compile=True)
    assert sorted(os.listdir(tmp_path / "e")) == ["3"]


@pytest.mark.slow   # the full suite: four command-line processes
def test_cli_embed_writes_npy_or_jsonl_and_never_overwrites(tiny_model, embedder, tmp_path,
                                                            capsys, monkeypatch):
    import io
    import json

    from tfbert import cli
    table = tmp_path / "reviews.csv"
    table.write_text("id,review\n1,a great film\n2,the film\n", encoding="utf-8")
    npy = tmp_path / "out" / "vectors.npy"
    assert cli.main(["embed", tiny_model, "great", "--file", str(table), "--text-column",
                     "review", "--output", str(npy)]) == 0
    assert "3 vectors of 128 dimensions" in capsys.readouterr().out
    texts = ["great", "a great film", "the film"]
    np.testing.assert_allclose(np.load(npy), embedder.embed(texts), atol=1e-5)
    lines = (tmp_path / "out" / "vectors.texts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"index": i, "text": t}
                                                    for i, t in enumerate(texts)]
    before = npy.read_bytes()
    assert cli.main(["embed", tiny_model, "other", "--output", str(npy)]) == 2
    assert "already exists" in capsys.readouterr().err and npy.read_bytes() == before

    monkeypatch.setattr("sys.stdin", io.StringIO("a great film\n\nthe film\n"))
    jsonl = tmp_path / "vectors.jsonl"
    assert cli.main(["embed", tiny_model, "--file", "-", "--output", str(jsonl)]) == 0
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == texts[1:]
    np.testing.assert_allclose([r["embedding"] for r in records], embedder.embed(texts[1:]),
                               atol=1e-5)
    assert not list(tmp_path.rglob("*.partial"))

    export = tmp_path / "export"
    assert cli.main(["export-embedder", tiny_model, "--output", str(export)]) == 0
    assert f"Exported to {export / '1'}" in capsys.readouterr().out
    from_export = tmp_path / "from_export.npy"
    assert cli.main(["embed", str(export), *texts, "--output", str(from_export)]) == 0
    np.testing.assert_allclose(np.load(from_export), embedder.embed(texts), atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--output", "v.csv"], "--output v.csv: the suffix must be .npy"),
    (["--output", "v.npy"], "nothing to embed: give texts"),
    (["--file", "missing.txt", "--output", "v.npy"], "--file: 'missing.txt' does not exist"),
])
def test_cli_embed_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    from tfbert import cli
    monkeypatch.chdir(tmp_path)
    assert cli.main(["embed", "all-minilm-l6-v2", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
