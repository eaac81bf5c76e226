"""Fine-tune all-MiniLM-L6-v2 with tfbert on real data and record what it reaches.

Reads IMDB (``aclImdb.tar.xz``) or SST-2 (``sst2/``) from ``../shared/data``,
fine-tunes, evaluates on the full IMDB test split / SST-2 dev set, and appends
the result (metrics, settings, seed, wall time, training examples/s) to
``benchmarks/results.jsonl``; ``--table`` rewrites the table in BENCHMARKS.md
from that file.

Examples::

    python benchmarks/accuracy.py sst2 --max-train 20000 --epochs 1 --seq-length 64
    python benchmarks/accuracy.py imdb --max-train 10000 --epochs 1 --seq-length 256
    python benchmarks/accuracy.py --table
"""
import argparse
import datetime
import json
import os
import platform
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
RESULTS = os.path.join(HERE, "results.jsonl")
TABLE_START, TABLE_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"


def load(task, max_train, seed):
    from tfbert.data import load_data
    if task == "imdb":
        data = load_data(os.path.join(DATA, "aclImdb.tar.xz"), seed=seed)
    else:
        data = load_data(os.path.join(DATA, "sst2", "train.tsv.gz"), text_column="sentence",
                         label_column="label", test_data=os.path.join(DATA, "sst2", "dev.tsv"),
                         seed=seed)
        data.label_names = ["negative", "positive"]
    if max_train:  # a balanced subset of the training data, a tenth of it for validation
        from tfbert.data import TextSplit, _carve, balanced_subset
        import numpy as np
        everything = TextSplit(np.concatenate([data.train.texts, data.validation.texts]),
                               np.concatenate([data.train.labels, data.validation.labels]))
        pool = balanced_subset(everything, int(max_train / 0.9), seed)
        data.train, data.validation = _carve(pool, 0.1, seed)
    return data


def run(args):
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    data = load(args.task, args.max_train, args.seed)
    print(data.summary(), flush=True)
    start = time.perf_counter()
    result = train(data, model="all-minilm-l6-v2", epochs=args.epochs, batch_size=args.batch_size,
                   learning_rate=args.learning_rate, seq_length=args.seq_length,
                   pooling=args.pooling, seed=args.seed, patience=args.epochs,
                   run_dir=os.path.join(REPO, "runs", f"bench-{args.task}"), verbose=2)
    train_wall = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(result.model, data.test, data.label_names)
    eval_wall = time.perf_counter() - start
    record = {
        "task": args.task, "date": datetime.date.today().isoformat(),
        "split": "test (25,000)" if args.task == "imdb" else "dev (872)",
        "train_examples": len(data.train), "validation_examples": len(data.validation),
        "epochs_run": len(result.history["loss"]), "epochs": args.epochs,
        "learning_rate": args.learning_rate, "batch_size": args.batch_size,
        "seq_length": args.seq_length, "pooling": args.pooling, "seed": args.seed,
        "accuracy": metrics["accuracy"], "f1": metrics["f1"], "loss": metrics["loss"],
        "train_wall_s": round(train_wall, 1), "eval_wall_s": round(eval_wall, 1),
        "train_examples_per_s": round(result.examples_per_second, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "note": args.note,
    }
    with open(RESULTS, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))


def table():
    with open(RESULTS) as f:
        records = [json.loads(line) for line in f if line.strip()]
    rows = ["| task | eval split | train ex. | epochs | lr | seq | pooling | seed | accuracy | F1 "
            "| train wall | train ex/s | eval wall | note |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        rows.append(f"| {r['task']} | {r['split']} | {r['train_examples']:,} | "
                    f"{r['epochs_run']}/{r['epochs']} | {r['learning_rate']:g} | "
                    f"{r['seq_length']} | {r['pooling']} | {r['seed']} | "
                    f"**{r['accuracy']:.4f}** | {r['f1']:.4f} | {r['train_wall_s'] / 60:.1f} min | "
                    f"{r['train_examples_per_s']:.1f} | {r['eval_wall_s'] / 60:.1f} min | "
                    f"{r.get('note', '')} |")
    path = os.path.join(REPO, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    head, rest = text.split(TABLE_START)
    _, tail = rest.split(TABLE_END)
    with open(path, "w") as f:
        f.write(head + TABLE_START + "\n" + "\n".join(rows) + "\n" + TABLE_END + tail)
    print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", nargs="?", choices=("imdb", "sst2"))
    parser.add_argument("--max-train", type=int, help="training examples (balanced); default all")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--pooling", default="mean", choices=("cls", "mean"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--note", default="")
    parser.add_argument("--table", action="store_true", help="rewrite BENCHMARKS.md's table")
    args = parser.parse_args()
    if args.task:
        run(args)
    if args.table:
        table()


if __name__ == "__main__":
    main()
