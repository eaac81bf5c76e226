"""IMDB long documents: head vs tail vs head+tail vs chunks, with and without further pre-training.

Sun et al. (2019)'s two recipes on tfbert's worked example, all-MiniLM-L6-v2 on the fast
path (rebuilt encoder, bfloat16), 256 tokens:

1. **Within-task pre-training (ITPT).** ``tfbert pretrain`` on IMDB's 50,000 unlabelled
   reviews (``../shared/data/aclImdb_unsup.tar.xz``, 128 tokens, batch 32, lr
   ``--pretrain-learning-rate``, 5e-5 unless given) for
   ``--pretrain-steps`` steps into ``--itpt DIR`` (skipped when DIR already holds a model);
   its ``pretraining.json`` (held-out masked-LM loss and accuracy before/after, steps,
   examples/s) goes into the record.
2. **The grid.** For each model (the base, the ITPT one) and each ``--truncation``, a
   fresh process runs ``accuracy.py imdb`` with the same training subset, budget and seed,
   and evaluates on the same balanced, seeded sample of the test split (``--max-test``;
   0 = all 25,000), appending to ``benchmarks/long_documents.jsonl``.
3. **Rescoring.** ``--rescore`` rebuilds the rows already trained from their run folders
   (best checkpoint, recorded config) and scores them on all 25,000 test reviews, after
   checking that they score their first sample as recorded.

``--table`` rewrites BENCHMARKS.md's long-documents table from that file. Run::

    cd benchmarks
    python long_documents.py --itpt /work/itpt/minilm_imdb --pretrain-steps 550 \\
        --pretrain-learning-rate 1e-4 --max-train 2000 --max-test 5000
    python long_documents.py --rescore --models base    # the same models on all 25,000
    python long_documents.py --table
"""
import argparse
import json
import os
import subprocess
import sys
import time

from records import DATA, REPO, RESULTS_FOLDER, append_record, read_records, replace_section
from tfbert.config import CHUNK_LOSSES, TRUNCATIONS

RESULTS = os.path.join(RESULTS_FOLDER, "long_documents.jsonl")
BASE = "all-minilm-l6-v2"


def pretrain(args):
    """Run ``tfbert pretrain`` into ``args.itpt`` unless a model is there, and record its
    report with the wall time."""
    report = os.path.join(args.itpt, "pretraining.json")
    if not os.path.exists(report):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from tfbert.cli import main; main()", "pretrain",
                        "--model", BASE,
                        "--data", os.path.join(DATA, "aclImdb_unsup.tar.xz"),
                        "--output", args.itpt, "--steps", str(args.pretrain_steps),
                        "--seq-length", "128", "--batch-size", "32", "--learning-rate",
                        str(args.pretrain_learning_rate), "--heldout", "500",
                        "--mixed-precision", args.mixed_precision,
                        "--run-dir", os.path.join(REPO, "runs", "long-" + _run_name(args.itpt))],
                       check=True, cwd=REPO)
        wall = time.perf_counter() - start
        with open(report) as f:
            info = json.load(f)
        append_record(RESULTS, {"kind": "pretraining", "date": time.strftime("%Y-%m-%d"),
                                "output": args.itpt, "wall_s": round(wall, 1),
                                "mixed_precision": args.mixed_precision, **info})


def embedding_drift(itpt, count=200):
    """Record how far pre-training moved the encoder: the cosine between each of ``count``
    held-out unlabelled reviews' embeddings (``tfbert.embed``: mean pooling, 256 tokens)
    under the base model and under ``itpt`` (the first texts of pretrain's seeded shuffle,
    which its held-out slice kept out of training)."""
    if any(r.get("kind") == "drift" and r["output"] == itpt for r in read_records(RESULTS)):
        return
    import numpy as np
    import tfbert
    from tfbert.data.unlabelled import load_texts
    texts = load_texts(os.path.join(DATA, "aclImdb_unsup.tar.xz"), seed=42)[:count]
    cosine = np.sum(tfbert.embed(texts, model=BASE, progress=False)
                    * tfbert.embed(texts, model=itpt, progress=False), axis=1)
    append_record(RESULTS, {"kind": "drift", "date": time.strftime("%Y-%m-%d"),
                            "output": itpt, "texts": count,
                            "cosine_mean": round(float(cosine.mean()), 4),
                            "cosine_min": round(float(cosine.min()), 4),
                            "cosine_max": round(float(cosine.max()), 4)})


def _run_name(model):
    """``base``, or ``itpt-<folder>`` for a pre-trained model: one run folder per model."""
    return "base" if model == BASE else f"itpt-{os.path.basename(model.rstrip('/'))}"


def fine_tune(args, model, truncation):
    """One row of the grid, in a fresh process (no graph or memory left over)."""
    name = _run_name(model)
    subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "accuracy.py"), "imdb",
                    "--max-train", str(args.max_train), "--max-test", str(args.max_test),
                    "--epochs", "1", "--seq-length", str(args.seq_length),
                    "--learning-rate", str(args.learning_rate), "--truncation", truncation,
                    "--model", model, "--rebuild-encoder", "--max-chunks", str(args.max_chunks),
                    "--chunk-loss", args.chunk_loss,
                    "--mixed-precision", args.mixed_precision, "--seed", str(args.seed),
                    "--run-dir", os.path.join(REPO, "runs", f"long-{name}-{truncation}" + (
                        "-windows" if args.chunk_loss == "windows" else "")),
                    "--results", RESULTS, "--note", f"{name}: {args.note}".rstrip(": ")],
                   check=True, cwd=os.path.join(REPO, "benchmarks"))


def _run_dir(record):
    """The run folder a grid record trained in (recorded since 2026-12-05; before, the
    driver named it ``long-base|itpt-<truncation>``)."""
    if record.get("run_dir"):
        return record["run_dir"]
    return os.path.join(REPO, "runs", f"long-{'base' if record['model'] == BASE else 'itpt'}-"
                                      f"{record['truncation']}")


def rescore(args):
    """Score the grid's trained models (each run folder's best checkpoint, rebuilt with the
    config it recorded) on all 25,000 test reviews, and append one record per row with the
    new split. Before recording, the same predictions restricted to the 5,000 reviews the
    row was first scored on must give that row's accuracy again, which proves the model
    loaded is the one that was trained."""
    import numpy as np
    from tfbert._tf import dtype_policy, tf_keras
    from tfbert.data import balanced_subset
    from tfbert.evaluation import compute_metrics, evaluate_scores, predict_scores
    from tfbert.models import BertClassifier
    from accuracy import load
    data = load("imdb", args.max_train, args.seed)
    index = {text: i for i, text in reversed(list(enumerate(data.test.texts)))}
    runs = [r for r in read_records(RESULTS) if "kind" not in r]
    done = {(r["model"], _truncation(r)) for r in runs if r.get("rescored_from")}
    models = {BASE if m == "base" else args.itpt for m in args.models}
    for record in runs:
        if (record["train_examples"] != args.max_train or "sample" not in record["split"]
                or record["model"] not in models or record["truncation"] not in args.truncations
                or (record.get("chunk_loss") or "text") != args.chunk_loss
                or (record["model"], _truncation(record)) in done):
            continue
        run_dir = _run_dir(record)
        with open(os.path.join(run_dir, "config.json")) as f:
            config = json.load(f)
        with dtype_policy(config["mixed_precision"] or "float32"):
            model = BertClassifier.from_config(config["classifier"])
        model.core.load_weights(os.path.join(run_dir, "checkpoints", "best")).expect_partial()
        start = time.perf_counter()
        scores = predict_scores(model, data.test)
        wall = time.perf_counter() - start
        sample = balanced_subset(data.test, args.max_test, args.seed)   # as accuracy.py drew it
        rows = np.array([index[text] for text in sample.texts])
        again = compute_metrics(sample.labels, scores[rows], data.label_names)["accuracy"]
        if abs(again - record["accuracy"]) > 0.002:
            raise SystemExit(f"{run_dir}: the loaded model scores {again:.4f} on the first "
                             f"sample, not the recorded {record['accuracy']:.4f}; not recorded.")
        metrics = evaluate_scores(data.test, scores, data.label_names, verbose=False,
                                  report_dir=os.path.join(run_dir, "report_full_test"),
                                  report_if_exists="new")
        append_record(RESULTS, {**record, "date": time.strftime("%Y-%m-%d"),
                                "split": "test (25,000)", "rescored_from": record["split"],
                                "sample_accuracy_again": round(float(again), 4),
                                "accuracy": metrics["accuracy"], "f1": metrics["f1"],
                                "loss": metrics["loss"], "eval_wall_s": round(wall, 1)})
        print(f"{_truncation(record)} ({_run_name(record['model'])}): {metrics['accuracy']:.4f} "
              f"on 25,000 (was {record['accuracy']:.4f} on the sample; {wall / 60:.1f} min)",
              flush=True)
        del model
        tf_keras.backend.clear_session()


def _truncation(record):
    """``chunks (max N)`` for chunks (``, window labels`` when each window was trained on
    its own), else the truncation."""
    if record["truncation"] == "chunks" and record.get("max_chunks"):
        windows = ", window labels" if record.get("chunk_loss") == "windows" else ""
        return f"chunks (max {record['max_chunks']}{windows})"
    return record["truncation"]


def _order(truncation):
    return (TRUNCATIONS.index(truncation.split(" ")[0]), truncation)


def _columns(records):
    """``{model: column name}``: ``base``, then one ``ITPT`` column per pre-trained model (named
    by its pre-training learning rate when there are several)."""
    pretrained = [r for r in records if r.get("kind") == "pretraining"]
    names = {r["output"]: "ITPT" if len(pretrained) == 1 else
             f"ITPT lr {_rate(r['config']['learning_rate'])}" for r in pretrained}
    return {BASE: "base", **names}


def _rate(learning_rate):
    """``1e-4``, ``5e-5``: a learning rate as the tables name it."""
    return f"{learning_rate:.0e}".replace("e-0", "e-")


def table():
    """Rewrite BENCHMARKS.md between the long_documents markers, and print it: for each
    training/test setting, truncation x (base, each ITPT model) accuracy; then every run;
    then the pre-training records."""
    records = read_records(RESULTS)
    runs = [r for r in records if "kind" not in r]
    columns = _columns(records)
    lines = []
    settings = sorted({(r["train_examples"], r["split"], r["seq_length"]) for r in runs},
                      key=lambda key: (key[0], len(key[1])))
    for train_examples, split, seq_length in settings:
        cell = {(_truncation(r), columns.get(r["model"], r["model"])): r["accuracy"]
                for r in runs if (r["train_examples"], r["split"], r["seq_length"]) ==
                (train_examples, split, seq_length)}
        shown = [c for c in columns.values() if any(key[1] == c for key in cell)]
        lines += [f"{train_examples:,} training reviews, {seq_length} tokens; accuracy on "
                  f"{split}:", "",
                  "| truncation | " + " | ".join(shown) + " |"
                  + "".join(f" {c} - base |" for c in shown[1:]),
                  "|---|" + "---|" * (2 * len(shown) - 1)]
        best = max(cell.values())
        for truncation in sorted({t for t, _ in cell}, key=_order):
            values = [cell.get((truncation, c)) for c in shown]
            show = [("—" if a is None else (f"**{a:.4f}**" if a == best else f"{a:.4f}"))
                    for a in values]
            diffs = ["" if None in (values[0], a) else f"{100 * (a - values[0]):+.2f} points"
                     for a in values[1:]]
            lines.append(f"| {truncation} | " + " | ".join(show + diffs) + " |")
        lines.append("")
    lines += ["Every run:", "",
              "| date | model | truncation | train reviews | evaluated on | accuracy | f1 "
              "| train wall | train ex/s | eval wall |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        model = columns.get(r["model"], r["model"])
        lines.append(f"| {r['date']} | {model} | {_truncation(r)} | {r['train_examples']:,} | "
                     f"{r['split']} | {r['accuracy']:.4f} | {r['f1']:.4f} | "
                     f"{r['train_wall_s'] / 60:.1f} min | {r['train_examples_per_s']:.1f} | "
                     f"{r['eval_wall_s'] / 60:.1f} min |")
    lines.append("")
    for r in records:
        if r.get("kind") == "pretraining":
            held, config = r["heldout"], r["config"]
            lines.append(
                f"{columns[r['output']]} ({r['date']}): {r['steps']} steps of "
                f"{config['batch_size']} unlabelled reviews at {config['seq_length']} tokens, "
                f"lr {_rate(config['learning_rate'])}, "
                f"{r['mixed_precision']}, in {r['wall_s'] / 60:.1f} min "
                f"({r['examples_per_second']:.1f} examples/s while training); held-out "
                f"masked-LM loss {held['loss_before']:.2f} -> {held['loss_after']:.2f}, "
                f"accuracy {held['accuracy_before']:.3f} -> {held['accuracy_after']:.3f} "
                f"({held['texts']} reviews).")
        if r.get("kind") == "drift":
            lines.append(
                f"How far it moved the encoder: the cosine between a held-out review's "
                f"embedding (mean pooling) under the base model and under "
                f"{columns[r['output']]} averages {r['cosine_mean']:.2f} over {r['texts']} "
                f"held-out unlabelled reviews "
                f"(from {r['cosine_min']:.2f} to {r['cosine_max']:.2f}).")
    text = "\n".join(lines).rstrip()
    replace_section("long_documents", text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--itpt", help="the further pre-trained model's folder (made if absent)")
    parser.add_argument("--pretrain-steps", type=int, default=550)
    parser.add_argument("--pretrain-learning-rate", type=float, default=5e-5)
    parser.add_argument("--truncations", nargs="*", default=TRUNCATIONS, choices=TRUNCATIONS,
                        help="the fine-tuning rows to run (none: only pre-train and measure)")
    parser.add_argument("--models", nargs="+", default=("base", "itpt"),
                        choices=("base", "itpt"))
    parser.add_argument("--max-chunks", type=int, default=4,
                        help="chunks' windows per text (8 ran out of 24 GB at batch 32)")
    parser.add_argument("--chunk-loss", default="text", choices=CHUNK_LOSSES,
                        help="chunks: train on each text's pooled logits or on every window")
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--max-test", type=int, default=5000, help="0: all 25,000")
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--mixed-precision", default="mixed_bfloat16")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--note", default="")
    parser.add_argument("--rescore", action="store_true",
                        help="score the rows already trained (--models, --truncations, "
                             "--chunk-loss) on all 25,000 test reviews")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.rescore:
        rescore(args)
    elif not args.table:
        if "itpt" in args.models:
            if not args.itpt:
                parser.error("--itpt DIR is needed for the itpt rows")
            pretrain(args)
            embedding_drift(args.itpt)
        for truncation in args.truncations:
            for model in args.models:
                fine_tune(args, BASE if model == "base" else args.itpt, truncation)
    table()


if __name__ == "__main__":
    main()
