"""The throughput benchmark's report: speed ratios against their targets, and the markdown
that ``throughput.py`` prints and writes between the ``throughput`` markers of
BENCHMARKS.md (a paragraph on the run, the figures table, the ratios, the profile).

Standard library only: the table renders from a record without TensorFlow.

Example::

    record = read_records(RESULTS)[-1]
    print(describe(record) + "\\n\\n" + format_tables(record))
"""
import os

from records import read_records, replace_section
from speed.common import RESULTS, Result
from speed.flops import layer_flops, percent_of_bound
from speed.profile import OP_GROUPS

# (numerator, denominator, what, dataset, target): training or inference speed ratios.
RATIO_TARGETS = [
    ("tfbert", "recipe", "train", "sst2", 3.0),
    ("tfbert", "recipe", "train", "imdb", 1.3),
    ("tfbert", "hf", "train", "sst2", 1.0),
    ("tfbert", "hf", "train", "imdb", 1.0),
    ("tfbert", "recipe", "infer", "sst2", 1.5),
    ("tfbert", "recipe", "infer", "imdb", 1.5),
    # The opt-in speed options: XLA serving (--jit-serving), bfloat16 (--mixed-precision).
    ("tfbert-xla", "recipe", "infer", "sst2", 1.5),
    ("tfbert-xla", "recipe", "infer", "imdb", 1.5),
    ("tfbert-bf16", "recipe", "train", "imdb", 1.3),
    ("tfbert-bf16", "hf", "train", "imdb", 1.0),
    ("tfbert-bf16", "recipe", "infer", "imdb", 1.5),
]
FLOP_TARGET = ("tfbert", "imdb", 60.0)   # training FLOP % at seq 128


def ratios(results, gflops):
    """The speed ratios and the FLOP % the targets are about (None where not measured)."""
    found = {(r["system"], r["dataset"]): Result(**r) for r in results}
    rows = []
    for top, bottom, what, dataset, target in RATIO_TARGETS:
        a, b = found.get((top, dataset)), found.get((bottom, dataset))
        value = None
        if a and b:
            value = (a.train_per_s / b.train_per_s if what == "train"
                     else a.infer_per_s / b.infer_per_s)
        rows.append({"name": f"{top}/{bottom} {'training' if what == 'train' else 'inference'}"
                             f" {dataset}", "value": value, "target": target, "unit": "x"})
    system, dataset, target = FLOP_TARGET
    r = found.get((system, dataset))
    rows.append({"name": f"{system} training FLOP % {dataset} (seq 128)",
                 "value": percent_of_bound(r.train_flops, r.train_s, gflops) if r else None,
                 "target": target, "unit": "%"})
    return rows


def _figure_row(r, gflops):
    """One system on one dataset: a row of the figures table."""
    def flop_cell(flops, useful, seconds):
        return (f"{percent_of_bound(flops, seconds, gflops):.1f} "
                f"({percent_of_bound(useful, seconds, gflops):.1f})")

    return (f"| {r.dataset} | {r.system} | {r.warmup_s:.1f} | {r.train_per_s:.1f} | "
            f"{flop_cell(r.train_flops, r.train_useful_flops, r.train_s)} | "
            f"{r.train_tokens_fed:.0f} / {r.train_tokens_real:.0f} | {r.infer_per_s:.1f} | "
            f"{flop_cell(r.infer_flops, r.infer_useful_flops, r.infer_s)} | "
            f"{r.peak_rss_mib:.0f} |")


def _ratio_row(ratio):
    value, target, unit = ratio["value"], ratio["target"], ratio["unit"]
    if value is None:
        shown, mark = "not measured", ""
    else:
        shown = f"{value:.2f}x" if unit == "x" else f"{value:.1f}%"
        mark = "✓" if value >= target else "✗"
    return f"| {ratio['name']} | {shown} | ≥ {target:g}{unit} | {mark} |"


def format_tables(record):
    """Markdown: the figures table, then the ratios against their targets, then the profile
    (when the record has one)."""
    gflops = record["matmul_gflops"]
    rows = ["| data | system | warm-up s | train ex/s | train FLOP % (useful) "
            "| tokens fed / real | infer ex/s | infer FLOP % (useful) | peak MiB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows += [_figure_row(Result(**raw), gflops) for raw in record["results"]]
    rows += ["", "| ratio | measured | target | |", "|---|---:|---:|---|"]
    rows += [_ratio_row(ratio) for ratio in record["ratios"]]
    if record.get("breakdown"):
        fit = [Result(**r) for r in record["results"]
               if r["system"] == "tfbert" and r["dataset"] == "imdb"]
        fit_step_s = fit[0].train_s / (fit[0].train_examples / record["settings"]["batch_size"]) \
            if fit else None
        rows += ["", format_breakdown(record["breakdown"], gflops, fit_step_s)]
    return "\n".join(rows)


def format_breakdown(breakdown, gflops, fit_step_s=None):
    """Markdown rows: each part of the step with its FLOP % of the bound; ``fit_step_s`` is
    the step time of the timed ``fit`` above (tfbert, IMDB)."""
    flops = breakdown["forward_flops"]
    rows = ["| part of a tfbert training step (IMDB, full batch) | s/step | FLOP % |",
            "|---|---:|---:|"]
    for name, key, factor in (("forward (training mode)", "forward_s", 1),
                              ("forward + backward", "forward_backward_s", 3),
                              ("Keras train_on_batch (+ AdamW update, metrics, per-call "
                               "overhead)", "train_step_s", 3),
                              ("a step of the timed fit above", "fit_step_s", 3)):
        seconds = fit_step_s if key == "fit_step_s" else breakdown[key]
        if seconds is None:
            continue
        rows.append(f"| {name} | {seconds:.2f} | "
                    f"{percent_of_bound(factor * flops, seconds, gflops):.1f} |")
    rows += ["", "| tf.matmul at the encoder's shapes | GFLOP/s | % of bound |", "|---|---:|---:|"]
    for name, value in breakdown["matmul_gflops"].items():
        rows.append(f"| {name} | {value:.1f} | {100 * value / gflops:.1f} |")
    if breakdown.get("op_seconds"):
        rows += ["", format_op_seconds(breakdown, gflops)]
    return "\n".join(rows)


def format_op_seconds(breakdown, gflops):
    """Markdown: each op group's share of the op time (``tf.profiler``) in inference and in
    forward + backward, and what the matrix products reach in inference, on one full batch of
    IMDB reviews."""
    dims, batch, length = breakdown["dims"], breakdown["batch_size"], breakdown["seq_length"]
    dense, attention = layer_flops(length, length, dims)
    layers_times_batch = dims[1] * batch
    group_flops = {OP_GROUPS[0][0]: layers_times_batch * attention,
                   OP_GROUPS[1][0]: layers_times_batch * dense}
    parts = breakdown["op_seconds"]
    inference = parts["inference"]
    rows = ["| op group (tf.profiler, one full batch) | "
            + " | ".join(f"{part}: s (share)" for part in parts)
            + " | inference GFLOP/s (% of bound) |", "|---|" + "---:|" * (len(parts) + 1)]
    for group in sorted({g for seconds in parts.values() for g in seconds},
                        key=lambda g: -inference.get(g, 0.0)):
        cells = [f"{seconds.get(group, 0.0):.3f} "
                 f"({100 * seconds.get(group, 0.0) / sum(seconds.values()):.0f}%)"
                 for seconds in parts.values()]
        rate = ""
        if group in group_flops and inference.get(group):
            achieved = group_flops[group] / inference[group] / 1e9
            rate = f"{achieved:.0f} ({100 * achieved / gflops:.0f}%)"
        rows.append(f"| {group} | " + " | ".join(cells) + f" | {rate} |")
    return "\n".join(rows)


def describe(record):
    """One paragraph: when, on what machine and stack, with which settings."""
    m, v, s = record["machine"], record["versions"], record["settings"]
    stack = ", ".join(f"{name} {version}" for name, version in v.items() if version)
    bound = f"{record['matmul_gflops']:.1f} GFLOP/s"
    if record.get("torch_matmul_gflops"):
        bound += f" (torch.matmul: {record['torch_matmul_gflops']:.1f})"
    text = (f"Measured {record['date']} on {m['cpu_model'] or 'an unknown CPU'}, "
            f"{m['cpu_count']} CPU cores ({m['platform']}); Python {m['python']}, {stack}. "
            f"FLOP bound, float32 tf.matmul 2048x2048: {bound}. Settings: "
            f"{s['train_examples']} training / {s['infer_examples']} inference examples per "
            f"dataset, {s['warmup_steps']} warm-up + {s['steps']} timed steps of "
            f"{s['batch_size']}, sequence length {s['seq_length']}, seed {s['seed']}"
            f"{' (quick check)' if s.get('quick') else ''}.")
    return text + (f" {record['note']}." if record.get("note") else "")


def write_table():
    """Rewrite BENCHMARKS.md between the throughput markers from the latest record."""
    if not os.path.isfile(RESULTS):
        raise SystemExit(f"{RESULTS} does not exist yet: run this script first.")
    records = read_records(RESULTS)
    if not records:
        raise SystemExit(f"{RESULTS} holds no records.")
    record = records[-1]
    path = replace_section("throughput", describe(record) + "\n\n" + format_tables(record))
    print(f"Rewrote the throughput section of {path} from the record of {record['date']}.")
