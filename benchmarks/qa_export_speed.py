"""Questions/s of a question answering export, plain and with ``--jit-serving``, beside the
in-memory model, on the held-out questions of ``qa_hf.py``.

Reads the model a ``qa_hf.py`` run trained (its ``--run-dir``: ``config.json`` and
``checkpoints/best``), exports it twice into ``RUN_DIR/export`` (a new version each time:
nothing is overwritten) and times ``tfbert.load_model(path).answer`` on the held-out
questions as ``qa_hf.py`` does (:func:`qa_hf.export_answer`: the first pass after a warm-up
call of two questions, which pays the XLA export's compilations, then the faster of two
more), then the in-memory ``QAModel.answer`` (the faster of two passes after a first).
About ten minutes on 2 cores (``--jit-only``: the XLA export only)::

    python benchmarks/qa_hf.py --max-questions 2400 --eval-questions 1000 --seed 7 \\
        --jit-compile --squad2 '' --run-dir /tmp/qa-run-s7
    python benchmarks/qa_export_speed.py --run-dir /tmp/qa-run-s7
"""
import argparse
import json
import os
import sys

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qa_hf import SQUAD, best_of_two, export_answer, split_articles  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, help="a qa_hf.py run's --run-dir")
    parser.add_argument("--eval-articles", type=int, default=12)
    parser.add_argument("--eval-questions", type=int, default=1000)
    parser.add_argument("--infer-batch-size", type=int, default=32)
    parser.add_argument("--jit-only", action="store_true", help="time the XLA export only")
    args = parser.parse_args(argv)

    from tfbert.qa import QAModel
    _, held_out = split_articles(SQUAD, 0, args.eval_articles, 0, args.eval_questions)
    questions = [e.question for e in held_out]
    contexts = [e.context for e in held_out]
    with open(os.path.join(args.run_dir, "config.json")) as f:
        model = QAModel.from_config(json.load(f)["qa_model"])
    model.load_weights(os.path.join(args.run_dir, "checkpoints", "best"))

    for jit_compile in (False, True)[1 if args.jit_only else 0:]:
        cold, warm = export_answer(model, questions, contexts, args, jit_compile=jit_compile)
        print(f"export, jit_serving={jit_compile}: {len(questions) / warm:.2f} questions/s "
              f"(first pass {len(questions) / cold:.2f})", flush=True)
    model.answer(questions, contexts, batch_size=args.infer_batch_size)     # compiles
    warm = best_of_two(lambda: model.answer(questions, contexts,
                                            batch_size=args.infer_batch_size))
    print(f"in memory: {len(questions) / warm:.2f} questions/s")


if __name__ == "__main__":
    main()
