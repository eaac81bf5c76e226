"""What every system of the throughput benchmark shares: the settings, the seeded sample
of texts, the timing helpers and the :class:`Result` of one run.

Light at import (tfbert and TensorFlow are imported inside the functions).

Example::

    train, infer = load_sample("sst2", train_examples=64, infer_examples=32, seed=42)
    seconds = seconds_per_call(lambda: sum(range(1000)), reps=10)
"""
import dataclasses
import os
import time

from records import DATA, RESULTS_FOLDER

RESULTS = os.path.join(RESULTS_FOLDER, "throughput.jsonl")   # one JSON record per run

MODEL = "all-minilm-l6-v2"
SYSTEMS = ("tfbert", "tfbert-xla", "tfbert-bf16", "recipe", "hf")
DATASETS = ("sst2", "imdb")
LABEL_NAMES = ["negative", "positive"]
LEARNING_RATE = 5e-5
HF_INSTALL = "pip install torch==2.13.0 transformers"
# The command-line settings a measurement runs with (passed on to each child process).
SETTINGS = ("train_examples", "infer_examples", "warmup_steps", "steps", "batch_size",
            "seq_length", "seed")


@dataclasses.dataclass
class Result:
    """One system on one dataset. FLOP counts are totals over the timed part.

    Example: ``Result(**record["results"][0]).train_per_s``.
    """

    system: str
    dataset: str
    warmup_s: float
    train_s: float
    train_examples: int
    train_flops: float
    train_useful_flops: float
    train_tokens_fed: float      # mean per example
    train_tokens_real: float
    infer_s: float
    infer_examples: int
    infer_flops: float
    infer_useful_flops: float
    peak_rss_mib: float
    note: str = ""

    @property
    def train_per_s(self):
        return self.train_examples / self.train_s

    @property
    def infer_per_s(self):
        return self.infer_examples / self.infer_s


def hf_available():
    """Whether torch and transformers import (the ``hf`` system needs both)."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))


def load_sample(dataset, train_examples, infer_examples, seed):
    """The seeded sample every system uses: ``(train TextSplit, inference texts)``."""
    import numpy as np
    from tfbert.data import load_data, load_folder
    if dataset == "imdb":
        splits, _ = load_folder(os.path.join(DATA, "aclImdb.tar.xz"))  # both: no "unsup"
        pool = splits["train"]
    else:
        pool = load_data(os.path.join(DATA, "sst2", "train.tsv.gz"), text_column="sentence",
                         label_column="label", seed=seed).train
    wanted = train_examples + infer_examples
    if wanted > len(pool):
        raise SystemExit(f"{dataset}: {wanted} examples wanted, {len(pool)} available.")
    chosen = np.random.default_rng(seed).permutation(len(pool))[:wanted]
    train = pool.take(chosen[:train_examples])
    train.labels = train.labels.astype(np.float32)
    infer = [str(t) for t in pool.texts[chosen[train_examples:]]]
    return train, infer


def real_lengths(preprocessor, texts, batch_size=256):
    """Tokens per text after packing (with [CLS]/[SEP], at most the sequence length)."""
    import numpy as np
    from tfbert._tf import tf
    lengths = []
    for start in range(0, len(texts), batch_size):
        packed = preprocessor(tf.constant(list(texts[start:start + batch_size])))
        lengths.append(packed["input_mask"].numpy().sum(axis=1))
    return np.concatenate(lengths).astype(int)


def chunks(items, size):
    """``items`` (a list or array) cut into consecutive slices of ``size``, the last shorter."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def mask_batch(mask):
    """``(padded length, [real length per example])`` of a batch's 0/1 input mask (a numpy
    array, or anything with ``.numpy()``): the form :func:`speed.flops.batch_flops` counts."""
    if hasattr(mask, "numpy"):          # a tf or torch tensor
        mask = mask.numpy()
    return mask.shape[1], mask.sum(axis=1).tolist()


def seconds_per_call(function, reps):
    """Mean seconds of ``function()`` over ``reps`` calls, after two untimed ones."""
    function()
    function()
    start = time.perf_counter()
    for _ in range(reps):
        function()
    return (time.perf_counter() - start) / reps
