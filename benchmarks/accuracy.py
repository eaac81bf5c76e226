"""Fine-tune all-MiniLM-L6-v2 with tfbert on real data and record what it reaches.

Tasks (data from ``../shared/data``, evaluated on the official split named):

======== ============================ =============================================
task     kind                         evaluated on
======== ============================ =============================================
imdb     binary                       test (25,000 reviews)
sst2     binary                       dev (872 sentences)
trec     6-class                      test (500 questions)
goemo    28-label multi-label         test (5,427 comments); dev tunes thresholds
mrpc     sentence-pair binary         test (1,725 pairs)
stsb     sentence-pair regression     dev (1,500 pairs)
======== ============================ =============================================

Each run fine-tunes, evaluates, writes the evaluation report to
``runs/bench-<task>/report``, and appends the result (metrics, settings, seed,
wall times, training examples/s) to ``benchmarks/results.jsonl``; ``--table``
rewrites the table in BENCHMARKS.md from that file.

Examples::

    python benchmarks/accuracy.py sst2 --max-train 20000 --epochs 1 --seq-length 64
    python benchmarks/accuracy.py trec --epochs 4 --seq-length 32 --learning-rate 1e-4
    python benchmarks/accuracy.py --table
"""
import argparse
import datetime
import json
import os
import platform
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

from records import DATA, REPO, RESULTS_FOLDER, append_record, read_records, replace_section
from tfbert.config import CHUNK_LOSSES

RESULTS = os.path.join(RESULTS_FOLDER, "results.jsonl")


def _path(*parts):
    return os.path.join(DATA, *parts)


# task -> (load_data arguments, eval split description, headline metric)
TASKS = {
    "imdb": (dict(source=_path("aclImdb.tar.xz")), "test (25,000)", "accuracy"),
    "sst2": (dict(source=_path("sst2", "train.tsv.gz"), text_column="sentence",
                  label_column="label", test_data=_path("sst2", "dev.tsv"),
                  label_names=["negative", "positive"]), "dev (872)", "accuracy"),
    "trec": (dict(source=_path("trec", "train.txt"), test_data=_path("trec", "test.txt")),
             "test (500)", "accuracy"),
    "goemo": (dict(source=_path("goemotions", "train.tsv"), text_column=0, label_column=1,
                   task="multilabel", label_names=_path("goemotions", "labels.txt"),
                   validation_data=_path("goemotions", "dev.tsv"),
                   test_data=_path("goemotions", "test.tsv")), "test (5,427)", "f1"),
    "mrpc": (dict(source=_path("mrpc", "msr_paraphrase_train.txt"), text_column="#1 String",
                  text_pair_column="#2 String", label_column="Quality",
                  label_names=["different", "paraphrase"],
                  test_data=_path("mrpc", "msr_paraphrase_test.txt")), "test (1,725)",
             "accuracy"),
    "stsb": (dict(source=_path("stsb", "train.tsv"), text_column="sentence1",
                  text_pair_column="sentence2", label_column="score",
                  test_data=_path("stsb", "dev.tsv")), "dev (1,500)", "pearson"),
}


def load(task, max_train, seed):
    """The task's data; ``max_train`` caps train + validation (a tenth for validation)."""
    import warnings
    from tfbert.data import load_data, TextSplit, carve, balanced_subset
    import numpy as np
    arguments, _, _ = TASKS[task]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TREC's one ISO-8859-1 line
        data = load_data(seed=seed, **arguments)
    if max_train and "validation_data" not in arguments:
        everything = TextSplit(
            np.concatenate([data.train.texts, data.validation.texts]),
            np.concatenate([data.train.labels, data.validation.labels]),
            None if data.train.pairs is None
            else np.concatenate([data.train.pairs, data.validation.pairs]))
        pool = balanced_subset(everything, int(max_train / 0.9), seed)
        data.train, data.validation = carve(pool, 0.1, seed)
    elif max_train:
        data.train = balanced_subset(data.train, max_train, seed)
    return data


def run(args):
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    from tfbert.data import balanced_subset
    data = load(args.task, args.max_train, args.seed)
    _, split, headline = TASKS[args.task]
    if args.max_test and args.max_test < len(data.test):
        data.test = balanced_subset(data.test, args.max_test, args.seed)
        split += f", a balanced sample of {len(data.test):,}"
    print(data.summary(), flush=True)
    run_dir = args.run_dir or os.path.join(REPO, "runs", f"bench-{args.task}")
    start = time.perf_counter()
    result = train(data, model=args.model, truncation=args.truncation,
                   max_chunks=args.max_chunks, chunk_loss=args.chunk_loss, epochs=args.epochs,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   seq_length=args.seq_length, pooling=args.pooling, seed=args.seed,
                   patience=args.epochs, monitor=args.monitor, mixed_precision=args.mixed_precision,
                   rebuild_encoder=args.rebuild_encoder, run_dir=run_dir, verbose=2)
    train_wall = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(result.model, data.test, data.label_names, thresholds=result.thresholds,
                       report_dir=os.path.join(run_dir, "report"))
    eval_wall = time.perf_counter() - start
    keep = ("accuracy", "f1", "precision", "recall", "pearson", "spearman", "mse",
            "subset_accuracy", "average_precision")
    record = {
        "task": args.task, "date": datetime.date.today().isoformat(), "split": split,
        "train_examples": len(data.train), "validation_examples": len(data.validation),
        "epochs_run": len(result.history["loss"]), "epochs": args.epochs,
        "learning_rate": args.learning_rate, "batch_size": args.batch_size,
        "seq_length": args.seq_length, "pooling": args.pooling, "seed": args.seed,
        "monitor": args.monitor, "model": args.model, "truncation": args.truncation,
        "max_chunks": args.max_chunks if args.truncation == "chunks" else None,
        "chunk_loss": args.chunk_loss if args.truncation == "chunks" else None,
        "mixed_precision": args.mixed_precision or "float32",
        "rebuild_encoder": args.rebuild_encoder,
        "headline": headline, **{k: metrics[k] for k in keep if k in metrics},
        **({"micro_f1": metrics["micro"]["f1"]} if "micro" in metrics else {}),
        "loss": metrics["loss"],
        "train_wall_s": round(train_wall, 1), "eval_wall_s": round(eval_wall, 1),
        "train_examples_per_s": round(result.examples_per_second, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "note": args.note, "run_dir": run_dir,
    }
    append_record(args.results, record)
    print(json.dumps(record, indent=2))


def _metrics_cell(record):
    headline = record.get("headline", "accuracy")
    others = {"accuracy": ("f1",), "f1": ("micro_f1",), "pearson": ("spearman",)}
    cell = f"{headline} **{record[headline]:.4f}**"
    for key in others.get(headline, ()):
        if key in record:
            cell += f", {key} {record[key]:.4f}"
    return cell


def table():
    """Rewrite BENCHMARKS.md between the accuracy markers from every record, and print it."""
    records = read_records(RESULTS)
    rows = ["| task | eval split | train ex. | epochs | lr | seq | pooling | best by | seed | result "
            "| train wall | train ex/s | eval wall | note |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        rows.append(f"| {r['task']} | {r['split']} | {r['train_examples']:,} | "
                    f"{r['epochs_run']}/{r['epochs']} | {r['learning_rate']:g} | "
                    f"{r['seq_length']} | {r['pooling']} | {r.get('monitor', 'val_loss')} | "
                    f"{r['seed']} | "
                    f"{_metrics_cell(r)} | {r['train_wall_s'] / 60:.1f} min | "
                    f"{r['train_examples_per_s']:.1f} | {r['eval_wall_s'] / 60:.1f} min | "
                    f"{r.get('note', '')} |")
    replace_section("accuracy", "\n".join(rows))
    print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", nargs="?", choices=tuple(TASKS))
    parser.add_argument("--max-train", type=int, help="training examples (balanced); default all")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--pooling", default="mean", choices=("cls", "mean"))
    parser.add_argument("--truncation", default="head",
                        help="what of a long text the model reads (tfbert.train's truncation)")
    parser.add_argument("--max-chunks", type=int, default=8,
                        help="windows per text at most, with --truncation chunks")
    parser.add_argument("--chunk-loss", default="text", choices=CHUNK_LOSSES,
                        help="with --truncation chunks: the loss on each text's pooled logits "
                             "or on every window with its text's label")
    parser.add_argument("--model", default="all-minilm-l6-v2",
                        help="a registry name or a TF Hub-format folder, e.g. what "
                             "`tfbert pretrain` wrote")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--monitor", default="val_loss",
                        help="the validation figure that picks the epoch kept (tfbert.train)")
    parser.add_argument("--mixed-precision", choices=("mixed_bfloat16", "mixed_float16"),
                        help="tfbert.train's dtype policy (with --rebuild-encoder it reaches the "
                             "encoder)")
    parser.add_argument("--rebuild-encoder", action="store_true",
                        help="run the encoder as a rebuilt Keras BertEncoder")
    parser.add_argument("--max-test", type=int,
                        help="evaluate on a balanced, seeded sample of this many test examples")
    parser.add_argument("--run-dir", help="training's run folder (default runs/bench-<task>)")
    parser.add_argument("--results", default=RESULTS, help="the JSON-lines file appended to")
    parser.add_argument("--note", default="")
    parser.add_argument("--table", action="store_true", help="rewrite BENCHMARKS.md's table")
    args = parser.parse_args()
    if args.task:
        run(args)
    if args.table:
        table()


if __name__ == "__main__":
    main()
