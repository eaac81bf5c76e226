"""The profile behind the FLOP % figures: where tfbert's training step goes on full-length
IMDB batches (forward, forward + backward, the whole Keras step), what ``tf.matmul``
reaches at the encoder's own shapes, and, from a ``tf.profiler`` trace, which op groups
(:data:`OP_GROUPS`) inference and forward + backward spend their time in.

Light at import (TensorFlow and tfbert are imported inside the functions).

Example::

    breakdown = run_breakdown(args)          # a JSON-able dict, rendered by speed.report
    breakdown["op_seconds"]["inference"]     # {"dense layers (...)": 0.41, ...}
"""
import os
import tempfile

from speed.common import MODEL, load_sample, seconds_per_call
from speed.flops import forward_flops, measure_matmul, model_dims
from speed.training import compile_binary

# Op groups of a BERT step, matched on profiler event names ("scope/.../name:OpType"); the
# first pattern that matches wins (the attention's two einsums before the other einsums).
OP_GROUPS = (("attention scores + weighted sum", r"self_attention/einsum"),
             ("dense layers (projections, feed-forward)", r"Einsum|MatMul"),
             ("softmax", r"[Ss]oftmax"), ("layer norm", r"layer_norm|LayerNorm"),
             ("GELU", r"activation|Gelu|Erf"), ("dropout", r"dropout|Dropout|Random"))


def _trace(run, reps):
    """The host CPU plane of a ``tf.profiler`` trace of ``reps`` calls of ``run``."""
    import glob
    from tfbert._tf import tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(reps):
            run()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0],
                  "rb") as f:
            space.ParseFromString(f.read())
    return next(p for p in space.planes if p.name == "/host:CPU")


def op_seconds(function, reps):
    """Seconds per call of ``function`` spent in each of :data:`OP_GROUPS` (and ``other``),
    summed over TensorFlow's compute threads, from a ``tf.profiler`` trace."""
    import collections
    import re
    from tfbert._tf import tf

    def run():
        tf.nest.flatten(function(), expand_composites=True)[-1].numpy()

    run()
    plane = _trace(run, reps)
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


def _full_batch(args):
    """tfbert's compiled classifier and, from 4 batches of IMDB training reviews, the
    ``batch_size`` longest packed ones with their labels: ``(model, inputs, labels)``."""
    import numpy as np
    import tfbert
    from tfbert._tf import tf
    train, _ = load_sample("imdb", 4 * args.batch_size, 0, args.seed)
    texts = [str(t) for t in train.texts]
    model = tfbert.build_classifier(MODEL, num_classes=2, seq_length=args.seq_length)
    compile_binary(model.core, args)
    packed = model.preprocessor(tf.constant(texts))
    fill = packed["input_mask"].numpy().sum(axis=1)
    chosen = np.argsort(-fill)[:args.batch_size]          # the longest reviews: a full batch
    inputs = {key: tf.gather(value, chosen) for key, value in packed.items()}
    return model, inputs, tf.constant(train.labels[chosen].reshape(-1, 1))


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
    from tfbert._tf import tf
    reps = 2 if args.quick else 5
    model, inputs, labels = _full_batch(args)
    core = model.core
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
    matmul = {f"{name} [{rows}x{inner}] x [{inner}x{outer}]":
              measure_matmul(reps=10 * reps, shape=(rows, inner, outer))
              for name, inner, outer in (("attention projection", hidden, hidden),
                                         ("feed-forward", hidden, ffn))}
    return {
        "tokens_per_example": float(tf.reduce_mean(tf.reduce_sum(inputs["input_mask"], 1))),
        "forward_flops": forward_flops([args.seq_length] * args.batch_size, dims),
        "forward_s": seconds_per_call(lambda: forward().numpy(), reps),
        "forward_backward_s": seconds_per_call(lambda: forward_backward()[-1].numpy(), reps),
        "train_step_s": seconds_per_call(lambda: core.train_on_batch(inputs, labels), reps),
        "matmul_gflops": matmul,
        "op_seconds": {"inference": op_seconds(inference, reps),
                       "forward + backward": op_seconds(forward_backward, reps)},
        "dims": list(dims), "batch_size": args.batch_size,
        "seq_length": args.seq_length,
    }
