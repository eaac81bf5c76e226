"""Prediction time against text length, per truncation strategy (README, "Long documents").

One text of 1,000, 10,000 and 50,000 words (IMDB training reviews joined end to end) is
classified by all-MiniLM-L6-v2 (offline; an untrained head: the time, not the answer, is
measured) at 256 tokens, exported and loaded as a service would (``export_model`` +
``load_model().predict_proba``), under each strategy: ``head``, ``head+tail``, ``chunks``
capped at ``--max-chunks`` windows (8) and ``chunks`` uncapped (enough windows for the
longest text). The median of ``--repeats`` calls (one call for texts of more than 20
windows) after one warm-up call on the shortest text is printed as a table and, with
``--output FILE``, appended to it as one JSON line.

Run (about 10 minutes on 2 CPU cores)::

    python benchmarks/long_text.py
    python benchmarks/long_text.py --model /path/to/tiny_bert --words 1000 10000   # quicker
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
ARCHIVE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data",
                       "aclImdb.tar.xz")


def long_text(words, source):
    """``words`` words of IMDB reviews, joined end to end (repeated if need be)."""
    from tfbert.data import load_data
    texts = load_data(source, max_examples=2000).train.texts
    pool = " ".join(texts).split()
    return " ".join((pool * (1 + words // len(pool)))[:words])


def measure(model, seq_length, words, max_chunks, repeats, source):
    """Rows of (strategy, words, word pieces, windows, median seconds)."""
    from tfbert._tf import tf
    from tfbert.export import export_model
    from tfbert.models import build_classifier
    from tfbert.serving import load_model
    texts = {n: long_text(n, source) for n in words}
    sizes = build_classifier(model, seq_length=seq_length).preprocessor.get_layer(
        "tokenize")(tf.constant(list(texts.values()))).row_lengths(axis=2)
    pieces = dict(zip(texts, tf.reduce_sum(sizes, axis=1).numpy().tolist()))
    window = seq_length - 2
    uncapped = 2 + max(pieces.values()) // (window // 2)
    rows = []
    for name, settings in [("head", {}), ("head+tail", {"truncation": "head+tail"}),
                           (f"chunks (max {max_chunks})",
                            {"truncation": "chunks", "max_chunks": max_chunks}),
                           ("chunks (all windows)",
                            {"truncation": "chunks", "max_chunks": uncapped})]:
        classifier = build_classifier(model, seq_length=seq_length, **settings)
        with tempfile.TemporaryDirectory() as folder:
            served = load_model(export_model(classifier, folder, check_texts=["a short one"]))
            served.predict_proba([texts[min(texts)]])               # warm-up
            for n, text in texts.items():
                seconds = []
                for _ in range(repeats if pieces[n] < 20 * window else 1):
                    start = time.perf_counter()
                    served.predict_proba([text])
                    seconds.append(time.perf_counter() - start)
                windows = 1
                if settings.get("truncation") == "chunks":
                    overflow = max(pieces[n] - window, 0)
                    stride = window // 2
                    windows = min(1 + -(-overflow // stride), settings["max_chunks"])
                rows.append({"strategy": name, "words": n, "word_pieces": pieces[n],
                             "windows": windows, "seconds": statistics.median(seconds)})
                print(f"{name:<22} {n:>7,} words {pieces[n]:>8,} pieces {windows:>5} windows "
                      f"{rows[-1]['seconds']:8.3f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--words", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--max-chunks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=ARCHIVE)
    parser.add_argument("--output", help="append the results to this JSON-lines file")
    args = parser.parse_args(argv)
    rows = measure(args.model, args.seq_length, args.words, args.max_chunks, args.repeats,
                   args.data)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as f:
            f.write(json.dumps({"model": args.model, "seq_length": args.seq_length,
                                "cpus": os.cpu_count(), "rows": rows}) + "\n")


if __name__ == "__main__":
    main()
