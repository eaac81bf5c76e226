"""What a first run gets: all-MiniLM-L6-v2 fine-tuned with no tuning flags, against the old defaults.

Each run calls ``tfbert.train(data, model="all-minilm-l6-v2", seed=...)`` with
nothing else set, so the model's recommended settings (mean pooling, learning
rate 1e-4, 128 tokens; ``tfbert models``) and TrainConfig's defaults (5 epochs,
batch 32, early stopping on validation loss) decide everything; ``old`` runs set
the tutorial's ``[CLS]`` head and 3e-5 by hand, which were the defaults before.
Data: 2,000 training sentences of SST-2 (balanced, plus 222 for validation),
evaluated on the SST-2 dev set (872); and 2,000 MRPC training pairs, evaluated
on the MRPC test set (1,725 pairs; RTE is not available offline, MRPC is the
sentence-pair task at hand). The runs go one after the other in one process,
so they share the machine's state; results are appended to
``benchmarks/defaults.jsonl`` and ``--table`` rewrites BENCHMARKS.md's
"first run" table.

Examples::

    python benchmarks/defaults.py sst2 --seeds 42 1     # the new defaults, two seeds
    python benchmarks/defaults.py sst2 --old            # the old defaults, for comparison
    python benchmarks/defaults.py mrpc
    python benchmarks/defaults.py sst2 --set learning_rate=5e-5 batch_size=16   # a candidate
    python benchmarks/defaults.py --table
"""
import argparse
import datetime
import json
import os
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

from accuracy import load
from records import REPO, RESULTS_FOLDER, append_record, read_records, replace_section

RESULTS = os.path.join(RESULTS_FOLDER, "defaults.jsonl")
OLD_DEFAULTS = {"pooling": "cls", "learning_rate": 3e-5, "seq_length": 128}
MAX_TRAIN = 2000


def run(task, seed, old, candidate=None):
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    data = load(task, MAX_TRAIN, seed)
    print(data.summary(), flush=True)
    settings = dict(OLD_DEFAULTS) if old else dict(candidate or {})
    kind = "old" if old else "candidate" if candidate else "new"
    run_dir = os.path.join(REPO, "runs", f"defaults-{task}-{kind}-{seed}")
    start = time.perf_counter()
    result = train(data, model="all-minilm-l6-v2", seed=seed, run_dir=run_dir, verbose=2,
                   **settings)
    train_wall = time.perf_counter() - start
    metrics = evaluate(result.model, data.test, verbose=False)
    config = result.config
    record = {
        "task": task, "date": datetime.date.today().isoformat(), "seed": seed,
        "defaults": kind, "set": settings, "train_examples": len(data.train),
        "test_examples": len(data.test), "epochs_run": len(result.history["loss"]),
        "epochs": config.epochs, "batch_size": config.batch_size, "pooling": config.pooling,
        "learning_rate": config.learning_rate, "seq_length": config.seq_length,
        "rebuild_encoder": config.rebuild_encoder,
        "mixed_precision": config.mixed_precision or "float32",
        "accuracy": metrics["accuracy"], "f1": metrics["f1"],
        "best_val_accuracy": max(result.history["val_accuracy"]),
        "majority_rate": max(data.test.labels.mean(), 1 - data.test.labels.mean()),
        "train_wall_s": round(train_wall, 1),
        "train_examples_per_s": round(result.examples_per_second, 2),
    }
    append_record(RESULTS, record)
    print(json.dumps(record, indent=2), flush=True)


LABELS = {"new": "no flags (the defaults)", "old": "old defaults ([CLS], 3e-5)",
          "candidate": "candidate recommendation"}


def _settings_cell(record):
    """The row's kind, and for a candidate what it set (e.g. ``monitor=val_accuracy``)."""
    chosen = ", ".join(f"{name}={value}" for name, value in record.get("set", {}).items())
    return LABELS[record["defaults"]] + (f": {chosen}" if record["defaults"] == "candidate" else "")


def table():
    rows = ["| task | settings | seed | train ex. | epochs run | batch | pooling | lr | seq | encoder "
            "| precision | test accuracy | F1 | best val. accuracy | majority rate | train wall "
            "| train ex/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in read_records(RESULTS):
        rows.append(
            f"| {r['task']} | {_settings_cell(r)} "
            f"| {r['seed']} | {r['train_examples']:,} | {r['epochs_run']}/{r['epochs']} "
            f"| {r.get('batch_size', 32)} "
            f"| {r['pooling']} | {r['learning_rate']:g} | {r['seq_length']} "
            f"| {'rebuilt' if r['rebuild_encoder'] else 'TF Hub layer'} | {r['mixed_precision']} "
            f"| **{r['accuracy']:.4f}** | {r['f1']:.4f} | {r['best_val_accuracy']:.4f} "
            f"| {r['majority_rate']:.4f} | {r['train_wall_s'] / 60:.1f} min "
            f"| {r['train_examples_per_s']:.1f} |")
    replace_section("defaults", "\n".join(rows))
    print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", nargs="?", choices=("sst2", "mrpc"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--old", action="store_true", help="the old defaults ([CLS], 3e-5)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="try candidate settings (e.g. learning_rate=5e-5 batch_size=16) "
                             "instead of the defaults")
    parser.add_argument("--table", action="store_true", help="rewrite BENCHMARKS.md's table")
    args = parser.parse_args()
    candidate = {name: json.loads(value) if value[:1].isdigit() else value
                 for name, value in (item.split("=", 1) for item in args.set)}
    for seed in args.seeds if args.task else ():
        run(args.task, seed, args.old, candidate)
    if args.table:
        table()


if __name__ == "__main__":
    main()
