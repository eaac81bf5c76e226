"""Feature-based training vs fine-tuning with all-MiniLM-L6-v2, side by side (the BERT
paper's Table 7 question, on these machines): accuracy and wall time.

Approaches (``--rows``), each on one task's data (``sst2``: SST-2 train, evaluated on its
dev set; ``trec``: TREC, evaluated on its test set; the loaders of ``accuracy.py``):

========= =====================================================================
features  ``train(freeze_encoder=True)``: pooled features computed once and cached
          in the run folder, then the head alone trained (head-only defaults)
logreg    scikit-learn ``LogisticRegression`` on the same cached features (C picked
          on the validation split): a reference for the head
finetune  ``train()`` with tfbert's defaults (no flags): the whole encoder trained
========= =====================================================================

Each row appends a record (accuracy, feature extraction time, training time, total wall
time) to ``benchmarks/features.jsonl``; ``--table`` rewrites the "Feature-based vs
fine-tuning" section of BENCHMARKS.md from it. ``logreg`` reads the features ``features``
cached (same run folder), computing them if they are not there.

Examples::

    python benchmarks/features.py sst2 --max-train 2000 --rows features logreg
    python benchmarks/features.py trec --rows features logreg
    python benchmarks/features.py sst2 --max-train 2000 --rows finetune
    python benchmarks/features.py sst2 --rows features logreg finetune   # full 67k: hours
    python benchmarks/features.py trec --rows finetune
    python benchmarks/features.py sst2 --max-train 2000 --grid     # the head-only defaults
    python benchmarks/features.py trec --grid
    python benchmarks/features.py --table
"""
import argparse
import datetime
import json
import os
import platform
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

from accuracy import TASKS, load
from records import REPO, RESULTS_FOLDER, append_record, read_records, replace_section

RESULTS = os.path.join(RESULTS_FOLDER, "features.jsonl")
GRID = os.path.join(RESULTS_FOLDER, "features_grid.jsonl")
MODEL = "all-minilm-l6-v2"
ROWS = ("features", "logreg", "finetune")


def _run_dir(args, row):
    size = args.max_train or "all"
    return os.path.join(REPO, "runs", f"bench-features-{args.task}-{size}",
                        "finetune" if row == "finetune" else "feature-based")


def run_trained(args, data, freeze):
    """Train (feature-based or fine-tuning) and evaluate the whole model on the test split."""
    from tfbert.evaluation import evaluate
    from tfbert.training import train
    settings = {name: getattr(args, name) for name in ("learning_rate", "epochs", "patience")
                if getattr(args, name) is not None}
    run_dir = _run_dir(args, "features" if freeze else "finetune")
    start = time.perf_counter()
    result = train(data, model=MODEL, run_dir=run_dir, freeze_encoder=freeze, seed=args.seed,
                   verbose=2, **settings)
    total = time.perf_counter() - start
    features = sum(info["seconds"] for info in (result.features or {}).values())
    start = time.perf_counter()
    metrics = evaluate(result.model, data.test, data.label_names, verbose=False,
                       report_dir=os.path.join(run_dir, "report"))
    reused = any(info["reused"] for info in (result.features or {}).values())
    # fit_s: Keras' epochs (no validation); the rest of total_s builds the model (loading the
    # encoder and checking its rebuild) and computes or reads the features.
    return {"accuracy": metrics["accuracy"], "feature_s": round(features, 1),
            "fit_s": round(result.train_seconds, 1), "total_s": round(total, 1),
            "eval_s": round(time.perf_counter() - start, 1), "features_reused": reused,
            "epochs_run": len(result.history["loss"]), "epochs": result.config.epochs,
            "learning_rate": result.config.learning_rate,
            "seq_length": result.config.seq_length, "pooling": result.config.pooling}


def run_logreg(args, data):
    """LogisticRegression on the pooled features (cached by the ``features`` row)."""
    from sklearn.linear_model import LogisticRegression
    from tfbert.features import FEATURES_FOLDER, cached_features
    from tfbert.models import build_classifier
    classifier = build_classifier(MODEL, label_names=data.label_names, trainable=False)
    folder = os.path.join(_run_dir(args, "features"), FEATURES_FOLDER)
    features, seconds, reused = {}, 0.0, False
    for name in ("train", "validation", "test"):
        features[name], info = cached_features(classifier, data.split(name), folder, name)
        seconds += info["seconds"] if name != "test" else 0.0
        reused = reused or info["reused"]
    start = time.perf_counter()
    best = None
    for c in (0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(features["train"], data.train.labels)
        score = model.score(features["validation"], data.validation.labels)
        if best is None or score > best[0]:
            best = (score, c, model)
    fit = time.perf_counter() - start
    accuracy = float(best[2].score(features["test"], data.test.labels))
    print(f"LogisticRegression C={best[1]:g}: validation {best[0]:.4f}, test {accuracy:.4f}")
    return {"accuracy": accuracy, "feature_s": round(seconds, 1), "fit_s": round(fit, 1),
            "total_s": round(seconds + fit, 1), "features_reused": reused, "C": best[1],
            "seq_length": classifier.config.seq_length, "pooling": classifier.config.pooling}


def run(args):
    data = load(args.task, args.max_train, args.seed)
    print(data.summary(), flush=True)
    for row in args.rows:
        outcome = (run_logreg(args, data) if row == "logreg"
                   else run_trained(args, data, freeze=row == "features"))
        record = {"task": args.task, "approach": row, "date": datetime.date.today().isoformat(),
                  "split": TASKS[args.task][1], "train_examples": len(data.train),
                  "validation_examples": len(data.validation), "seed": args.seed, **outcome,
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                  "load_average": round(os.getloadavg()[0], 1),     # a shared machine is slower
                  "note": args.note}
        append_record(RESULTS, record)
        print(json.dumps(record), flush=True)


def grid(args):
    """The head-only defaults' measurement: the head (dropout 0.1 + dense, AdamW with warmup
    and linear decay, batch 32, early stopping on val_loss) fitted on the cached features for
    each learning rate x epochs x patience; one record each in features_grid.jsonl."""
    from tfbert._tf import tf, tf_keras
    from tfbert.features import FEATURES_FOLDER, cached_features
    from tfbert.models import build_classifier
    from tfbert.optimizer import create_optimizer
    data = load(args.task, args.max_train, args.seed)
    classifier = build_classifier(MODEL, label_names=data.label_names, trainable=False)
    folder = os.path.join(_run_dir(args, "features"), FEATURES_FOLDER)
    x = {name: cached_features(classifier, data.split(name), folder, name)[0]
         for name in ("train", "validation", "test")}
    y = {name: data.split(name).labels for name in x}
    task, k = data.task, data.num_classes
    for lr, epochs, patience in [(lr, e, p) for lr in (1e-3, 3e-3, 1e-2) for e in (20, 50)
                                 for p in (2, 5)]:
        tf_keras.utils.set_random_seed(args.seed)
        features = tf_keras.Input((x["train"].shape[1],))
        head = tf_keras.Model(features, tf_keras.layers.Dense(task.head_units(k))(
            tf_keras.layers.Dropout(0.1)(features)))
        head.compile(create_optimizer(lr, len(y["train"]), 32, epochs), task.loss(k),
                     task.metrics(k))
        stop = tf_keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
        history = head.fit(tf.data.Dataset.from_tensor_slices((x["train"], y["train"]))
                           .shuffle(len(y["train"]), seed=args.seed).batch(32),
                           validation_data=(x["validation"], y["validation"]), epochs=epochs,
                           callbacks=[stop], verbose=0).history
        test = head.evaluate(x["test"], y["test"], verbose=0, return_dict=True)
        record = {"task": args.task, "n": str(args.max_train or "all"), "lr": lr,
                  "epochs": epochs, "patience": patience, "epochs_run": len(history["loss"]),
                  "best_epoch": stop.best_epoch + 1,
                  "val_loss": round(min(history["val_loss"]), 4),
                  "test_acc": round(test["accuracy"], 4)}
        append_record(GRID, record)
        print(json.dumps(record), flush=True)


def _seconds(value):
    return "" if value is None else f"{value / 60:.1f} min" if value >= 120 else f"{value:.0f} s"


def table():
    """Rewrite BENCHMARKS.md between the features markers from every record, and print it."""
    rows = ["| task | eval split | train ex. | approach | accuracy | features | fit "
            "| total wall | epochs | lr | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    names = {"features": "feature-based (`--freeze-encoder`)",
             "logreg": "LogisticRegression on the same features",
             "finetune": "fine-tuning (defaults)"}
    for r in read_records(RESULTS):
        epochs = f"{r['epochs_run']}/{r['epochs']}" if "epochs" in r else ""
        rate = f"{r['learning_rate']:g}" if r.get("learning_rate") else (
            f"C={r['C']:g}" if "C" in r else "")
        features = ("cached" if r.get("features_reused") else
                    _seconds(r["feature_s"]) if r["feature_s"] else "—")
        rows.append(f"| {r['task']} | {r['split']} | {r['train_examples']:,} | "
                    f"{names[r['approach']]} | **{r['accuracy']:.4f}** | {features} | "
                    f"{_seconds(r['fit_s'])} | {_seconds(r['total_s'])} | {epochs} | {rate} "
                    f"| {r.get('note') or ''} |")
    rows += ["", "Head-only settings on the cached features (`--grid`; val_loss picks, test "
             "accuracy shown; epochs run / best epoch):", "",
             "| task | lr | epochs | patience | epochs run / best | val loss | test accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in read_records(GRID) if os.path.exists(GRID) else []:
        rows.append(f"| {r['task']} ({r['n']}) | {r['lr']:g} | {r['epochs']} | {r['patience']} "
                    f"| {r['epochs_run']} / {r['best_epoch']} | {r['val_loss']:.4f} | "
                    f"{r['test_acc']:.4f} |")
    replace_section("features", "\n".join(rows))
    print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", nargs="?", choices=("sst2", "trec"))
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=["features", "logreg"],
                        help="approaches to run, in order (default: features logreg)")
    parser.add_argument("--max-train", type=int, help="training examples (balanced); "
                        "default all")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--learning-rate", type=float, help="override the default")
    parser.add_argument("--epochs", type=int, help="override the default")
    parser.add_argument("--patience", type=int, help="override the default")
    parser.add_argument("--note", default="")
    parser.add_argument("--table", action="store_true", help="rewrite BENCHMARKS.md's section")
    parser.add_argument("--grid", action="store_true", help="head-only learning rate x epochs "
                        "x patience on the cached features (run the features row first)")
    args = parser.parse_args()
    if args.table:
        return table()
    if args.grid and args.task:
        return grid(args)
    if not args.task:
        parser.error("give a task, or --table")
    run(args)


if __name__ == "__main__":
    main()
